#!/usr/bin/env bash
# Installs the Debian packages cairn needs to build and test, when they are missing.
# As root it runs apt-get itself; otherwise it prints the exact command and fails,
# so `make` never half-builds on a machine that lacks a library.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang-format
      libnng-dev libmbedtls-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
      libyaml-dev libzstd-dev zstd zlib1g-dev libxxhash-dev libisal-dev libcmocka-dev libcurl4-openssl-dev
      libssl-dev openssl libjson-c-dev libxml2-dev python3 python3-prometheus-client
      nodejs npm)
[ "${CAIRN_BENCH_DEPS:-0}" = 1 ] && pkgs+=(rclone restic)
[ "${CAIRN_COVERAGE_DEPS:-0}" = 1 ] && pkgs+=(gcovr)
# make deb, scripts/package_check.sh: the Debian tooling (docs/operations.md says why).
[ "${CAIRN_PACKAGE_DEPS:-0}" = 1 ] && pkgs+=(debhelper dpkg-dev lintian man-db)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from outside Debian on some images; a working npm is enough.
if command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "cairn: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && $cmd" >&2
    exit 1
fi
echo "cairn: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd >/dev/null

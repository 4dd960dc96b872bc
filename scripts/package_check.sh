#!/usr/bin/env bash
# The packaging check (a phase of `make check`): builds the Debian packages, installs
# both on this machine, runs the programs, verifies the installed systemd units and man
# pages, runs lintian, removes and purges the packages and checks that nothing of them
# is left; then checks that `make install DESTDIR=...` (no dpkg) installs the same kinds
# of files. It installs packages, so it needs root and dpkg, and skips with a message
# without them; it refuses to run where cairn's packages are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
deb_dir=${DEB_BUILD:-build-deb}
pkgs=(cairn cairn-agent)

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null 2>&1; then
    echo "package check: skipped: it installs packages, so it needs root and dpkg" >&2
    exit 0
fi
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        echo "package check: $p is installed on this machine, and this check would purge it:" \
             "run it on a machine without cairn's packages (or dpkg --purge ${pkgs[*]} first)" >&2
        exit 1
    fi
done

fail() {
    echo "package check: $*" >&2
    exit 1
}
tmp=$(mktemp -d)
cleanup() {
    dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The unit tests already ran in this `make check`; the package build skips them.
DEB_BUILD_OPTIONS=nocheck "$make" --no-print-directory deb DEB_BUILD="$deb_dir" >/dev/null
version=$(dpkg-parsechangelog -S Version)
debs=()
for p in "${pkgs[@]}"; do
    debs+=("$deb_dir/${p}_${version}_$(dpkg --print-architecture).deb")
    [ -f "${debs[-1]}" ] || fail "make deb made no ${debs[-1]}"
done

out=$(lintian --fail-on error "${debs[@]}" 2>&1) || fail "lintian reports errors: $out"

dpkg -i "${debs[@]}" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "dpkg -i failed"; }
grep -q "Next:" "$tmp/install.log" || fail "postinst printed no next step"
[ "$(cairn version)" = "cairn $version" ] || fail "cairn version says '$(cairn version)', not $version"
[ "$(cairn-agent --version)" = "cairn-agent $version" ] || fail "cairn-agent --version: wrong"

units=(/lib/systemd/system/cairn-agent.service /lib/systemd/system/cairn-backup.service
       /lib/systemd/system/cairn-backup.timer /lib/systemd/system/cairn-backup-incremental.service
       /lib/systemd/system/cairn-backup-incremental.timer)
# systemd-analyze exits 0 on some problems (an unknown key): any output is a failure.
out=$(systemd-analyze verify "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
for page in man1/cairn.1 man5/cairn.yaml.5 man8/cairn-agent.8; do
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -P cat -l "/usr/share/man/$page.gz" 2>&1 >/dev/null)
    [ -z "$out" ] || fail "$page: $out"
done
for u in "${units[@]}"; do
    # Nothing runs before the operator configured it (debian/rules).
    [ ! -e "/etc/systemd/system/timers.target.wants/$(basename "$u")" ] &&
        [ ! -e "/etc/systemd/system/multi-user.target.wants/$(basename "$u")" ] ||
        fail "$(basename "$u") was enabled at install"
done

# Every file the packages installed must be gone after the purge; after the remove,
# only the configuration files (conffiles) may stay.
dpkg -L "${pkgs[@]}" | sort -u | while read -r f; do [ -d "$f" ] || echo "$f"; done >"$tmp/files"
dpkg -r "${pkgs[@]}" >/dev/null
while read -r f; do
    [ -e "$f" ] && echo "$f"
done <"$tmp/files" >"$tmp/after-remove" || true
printf '/etc/cairn/agent.yaml\n/etc/cairn/cluster.yaml\n' >"$tmp/conffiles"
diff -u "$tmp/conffiles" "$tmp/after-remove" || fail "dpkg -r left other files than the conffiles"
dpkg --purge "${pkgs[@]}" >/dev/null
while read -r f; do
    [ -e "$f" ] && echo "$f"
done <"$tmp/files" >"$tmp/after-purge" || true
[ ! -s "$tmp/after-purge" ] || fail "dpkg --purge left: $(cat "$tmp/after-purge")"
for d in /etc/cairn /var/lib/cairn; do
    [ ! -e "$d" ] || fail "dpkg --purge left $d"
done
echo "package check: $(basename "${debs[0]}") and $(basename "${debs[1]}"): lintian clean," \
     "installed, units verified, removed without a trace"

# Without dpkg: make install into a staging directory, the default prefix /usr/local.
"$make" --no-print-directory install DESTDIR="$tmp/root" >/dev/null
root=$tmp/root/usr/local
for f in bin/cairn bin/cairn-agent share/man/man1/cairn.1 share/man/man5/cairn.yaml.5 \
         share/man/man8/cairn-agent.8 etc/cairn/agent.yaml etc/cairn/cluster.yaml \
         lib/systemd/system/cairn-agent.service lib/systemd/system/cairn-backup.timer \
         share/bash-completion/completions/cairn; do
    [ -e "$root/$f" ] || fail "make install did not install $f"
done
grep -q '^ExecStart=/usr/local/bin/cairn-agent --config /usr/local/etc/cairn/agent.yaml$' \
    "$root/lib/systemd/system/cairn-agent.service" ||
    fail "make install: cairn-agent.service does not name the installed program and file"
echo "package check: make install DESTDIR=... installs programs, man pages, samples and units"

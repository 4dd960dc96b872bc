#!/usr/bin/env bash
# `make check`: the format check, then the whole suite in both builds (warnings as
# errors; AddressSanitizer + UBSan), then the Debian packages (scripts/package_check.sh;
# skipped unless root with dpkg). Every phase runs even when an earlier one failed,
# so one run shows everything that is wrong; each phase's time and outcome are printed
# at the end, and the exit status is non-zero when any phase failed.
set -uo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}

names=() results=() times=()
phase() {
    local name=$1
    shift
    echo "== $name"
    local t0=$SECONDS
    "$@"
    local rc=$?
    names+=("$name")
    times+=($((SECONDS - t0)))
    results+=("$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")
    echo "== $name: ${results[-1]} in ${times[-1]} s"
}

phase format "$make" --no-print-directory format-check
phase build "$make" --no-print-directory check-build
phase asan "$make" --no-print-directory check-asan
phase package scripts/package_check.sh

echo
echo "make check:"
failed=0
for i in "${!names[@]}"; do
    printf '  %-8s %-20s %5d s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    [ "${results[$i]}" = ok ] || failed=1
done
exit $failed

#!/usr/bin/env python3
"""Prints the line coverage of a `make coverage` run, by directory and by file.

Reads the .gcda files that the test run left in the build directory through gcovr
(installed by `CAIRN_COVERAGE_DEPS=1 scripts/deps.sh`), keeps cairn's own sources
(common/, agent/, coordinator/: not the generated protobuf code, not the tests) and
writes gcovr's summary to <build>/coverage.json for other tools.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys

ROOTS = ("common/", "agent/", "coordinator/")


def percent(covered, total):
    return 100.0 * covered / total if total else 100.0


def table(title, rows):
    width = max([len(title)] + [len(name) for name, _, _ in rows])
    print(f"{title:<{width}}  {'lines':>7}  {'covered':>7}  {'%':>6}")
    for name, covered, total in rows:
        print(f"{name:<{width}}  {total:>7}  {covered:>7}  {percent(covered, total):>5.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build-cov", help="the instrumented build directory")
    ap.add_argument("--no-files", action="store_true", help="only the table by directory")
    args = ap.parse_args()
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build)
    out = os.path.join(build, "coverage.json")
    if not shutil.which("gcovr"):
        sys.exit("coverage: gcovr is missing: run CAIRN_COVERAGE_DEPS=1 scripts/deps.sh")
    cmd = ["gcovr", "--root", src, "--json-summary", out, "--json-summary-pretty"]
    for root in ROOTS:
        cmd += ["--filter", os.path.join(src, root)]
    cmd.append(build)
    run = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"coverage: gcovr failed: {run.stderr.strip()}")
    with open(out) as f:
        files = json.load(f)["files"]
    if not files:
        sys.exit(f"coverage: no coverage data in {build}: did the tests run?")

    by_dir = collections.defaultdict(lambda: [0, 0])
    by_top = collections.defaultdict(lambda: [0, 0])
    rows = []
    for entry in sorted(files, key=lambda x: x["filename"]):
        name = entry["filename"]
        covered, total = entry["line_covered"], entry["line_total"]
        rows.append((name, covered, total))
        for acc in (by_dir[os.path.dirname(name)], by_top[name.split("/")[0]]):
            acc[0] += covered
            acc[1] += total
    if not args.no_files:
        table("file", rows)
        print()
    table("directory", [(d, c, t) for d, (c, t) in sorted(by_dir.items())])
    print()
    all_c = sum(c for c, _ in by_top.values())
    all_t = sum(t for _, t in by_top.values())
    table("component", [(d, c, t) for d, (c, t) in sorted(by_top.items())] + [("all", all_c, all_t)])


if __name__ == "__main__":
    main()

# The front door. `make demo` runs the main job on a local emulated cluster; `make check`
# runs every test twice (warnings as errors, then AddressSanitizer + UBSan). Both
# install missing Debian packages first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
COV_BUILD ?= build-cov
DEB_BUILD ?= build-deb
JOBS ?= $(shell nproc)
CTEST_JOBS ?= 4
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find common agent coordinator tests -name '*.[ch]')

.PHONY: all deps build check check-build check-asan format format-check demo bench coverage install deb clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Both builds' suites run even when one fails; scripts/check.sh prints each phase's time.
check: deps
	@scripts/check.sh

check-build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j$(CTEST_JOBS)

check-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_WERROR=ON -DCAIRN_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(CTEST_JOBS) -E '^emulator\.'

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run -Werror $(SOURCES) && echo "clang-format: $(words $(SOURCES)) files formatted"

# The build's output goes to a log, shown only when the build fails: a newcomer reads
# the demo, not the compiler.
demo: deps
	@mkdir -p $(BUILD)
	@echo "building cairn (output in $(BUILD)/demo-build.log)"
	@{ cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_WERROR=ON && \
	   cmake --build $(BUILD) -j$(JOBS); } >$(BUILD)/demo-build.log 2>&1 || \
	  { cat $(BUILD)/demo-build.log; echo "demo: the build failed (log: $(BUILD)/demo-build.log)"; exit 1; }
	@python3 tests/demo.py --build $(BUILD)

# Not part of `check`: cairn against cp, rclone and itself on emulated clusters, with an
# optimized build (docs/performance.md). BENCH_SCALE=16 for the large run; BENCH_ARGS for
# bench/run.py's options (--only full,s3 ..., --out FILE).
bench:
	@CAIRN_BENCH_DEPS=1 scripts/deps.sh
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BENCH_BUILD) -j$(JOBS) --target cairn cairn-agent >&2
	@python3 bench/run.py --build-dir $(BENCH_BUILD) $(BENCH_ARGS)

# Not part of `check`: line coverage of the whole ctest suite (unit, emulator and
# integration: the Python suites start the instrumented programs) by directory and by
# file (docs/testing.md). The report is printed even when a test fails; make fails then.
coverage:
	@CAIRN_COVERAGE_DEPS=1 scripts/deps.sh
	@cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_WERROR=ON -DCAIRN_COVERAGE=ON >/dev/null
	@cmake --build $(COV_BUILD) -j$(JOBS)
	@find $(COV_BUILD) -name '*.gcda' -delete
	@ctest --test-dir $(COV_BUILD) --output-on-failure -j$(CTEST_JOBS); rc=$$?; \
	  python3 scripts/coverage.py --build $(COV_BUILD) || rc=1; exit $$rc

install: build
	cmake --install $(BUILD)

# The Debian packages cairn and cairn-agent, built with debhelper from a copy of the
# tree (tracked and new files) in $(DEB_BUILD)/src; the .debs land in $(DEB_BUILD)/.
# DEB_BUILD_OPTIONS=nocheck skips the unit tests of the package build.
deb:
	@CAIRN_PACKAGE_DEPS=1 scripts/deps.sh
	@v=$$(dpkg-parsechangelog -S Version); \
	  c=$$(sed -n 's/^project(cairn VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt); \
	  [ "$$v" = "$$c" ] || { echo "make deb: debian/changelog is at $$v but CMakeLists.txt at $$c:" \
	    "add a debian/changelog entry for $$c" >&2; exit 1; }
	@rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/src
	@git ls-files -z -c -o --exclude-standard | \
	  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C $(DEB_BUILD)/src
	@cd $(DEB_BUILD)/src && dpkg-buildpackage -b -us -uc -j$(JOBS) >../build.log 2>&1 || \
	  { tail -40 ../build.log >&2; echo "make deb: failed; the whole log is $(DEB_BUILD)/build.log" >&2; exit 1; }
	@ls $(DEB_BUILD)/*.deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(COV_BUILD) $(DEB_BUILD)

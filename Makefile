# The front door. `make demo` runs the main job on a local emulated cluster; `make check`
# runs every test twice (warnings as errors, then AddressSanitizer + UBSan). Both
# install missing Debian packages first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
COV_BUILD ?= build-cov
JOBS ?= $(shell nproc)
CTEST_JOBS ?= 2
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find common agent coordinator tests -name '*.[ch]')

.PHONY: all deps build check check-build check-asan format format-check demo bench coverage install clean

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
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(CTEST_JOBS)

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run -Werror $(SOURCES)

demo: build
	python3 tests/demo.py --build $(BUILD)

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

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(COV_BUILD)

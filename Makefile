# Entry points.  `make check` and `make demo` work on a fresh Debian 12
# machine as root: they install what they need first (tools/install-deps).
BUILD_DIR ?= build
export BUILD_DIR

.PHONY: all deps build check check-debug demo lint bench clean

all: build

deps:
	@tools/install-deps

build: deps
	@[ -f $(BUILD_DIR)/CMakeCache.txt ] || \
		cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j $$(nproc)

# Every test: host unit tests, style and static checks, VM tests.
check: build
	@tests/run-tests

# Every VM test on a debug kernel (KASAN, lockdep, UBSAN, kmemleak...):
# any report fails.  Before kernel code lands.  TESTS="a b" runs only the VM
# tests named (tests/vm/a.sh ...).  Documentation/testbed.md: Debug kernel.
check-debug: build
	@tests/run-tests --debug $(TESTS)

# Boot the testbed, show the NTB link on both sides, print the figures.
demo: build
	@tools/demo

# Style and static checks only (also part of `make check`).
lint: build
	@tests/lint/run-lint

clean:
	rm -rf $(BUILD_DIR)

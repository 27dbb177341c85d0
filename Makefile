# vnetcrypt — top-level build. Each area adds its own rules in mk/*.mk and appends
# its targets to TEST_TARGETS / BENCH_TARGETS / FUZZ_TARGETS.
SHELL := /bin/bash
.DEFAULT_GOAL := build
export CARGO_TERM_COLOR ?= never

BUILD     := build
KTARGET   := x86_64-unknown-linux-gnu
# Build outputs every area may depend on; defined before mk/*.mk are included, since
# make expands a rule's prerequisites when it reads the rule.
KERNEL_ELF      := $(BUILD)/vnetcrypt.elf
KERNEL_TEST_ELF := $(BUILD)/vnetcrypt-test.elf
ACCEL     ?= tcg
export ACCEL

TEST_TARGETS  :=
BENCH_TARGETS :=
FUZZ_TARGETS  :=

# Runs cargo-fuzz (nightly) targets of one fuzz package: $(1) its directory, $(2) the
# targets, $(3) seconds per target. The corpus stays in $(1)/corpus (not committed).
# Prints the executed-run count of each target; fails on the first crash.
define run_fuzz
	cd $(1) && cargo +nightly fuzz build -O && \
	for t in $(2); do \
	  mkdir -p corpus/$$t && \
	  echo "fuzz $$t for $(3) s" && \
	  cargo +nightly fuzz run -O $$t corpus/$$t -- -max_total_time=$(3) -print_final_stats=1 2>&1 \
	    | grep -E '^(stat::number_of_executed_units|Done|==|SUMMARY|thread)' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
endef

# Host crates: the whole workspace except the bare-metal binary and the QEMU tests
# (those run in test-qemu, after the kernel is built).
HOST_CARGO_ARGS := --workspace --exclude vnetcrypt --exclude vnetcrypt-tests

.PHONY: deps build run test bench fuzz fmt clippy clean test-host

deps:
	@bash scripts/deps.sh

include $(sort $(wildcard mk/*.mk))

test-host: deps
	cargo test $(HOST_CARGO_ARGS)

test: deps test-host $(TEST_TARGETS)
	@echo "make test: all suites passed"

bench: deps $(BENCH_TARGETS)

fuzz: deps $(FUZZ_TARGETS)

fmt:
	cargo fmt --all

clippy:
	cargo clippy $(HOST_CARGO_ARGS) --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf $(BUILD)

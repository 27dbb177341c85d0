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

# Runs cargo-fuzz (nightly) targets of the one fuzz package (fuzz/, mk/fuzz.mk): $(1) the
# targets, $(2) seconds per target (scripts/fuzz.sh: skips with a notice without nightly).
run_fuzz = bash scripts/fuzz.sh fuzz $(2) $(1)

# Runs one suite of make test and records its time and test count (scripts/suite.sh);
# make test prints the table at its end.
SUITE = bash scripts/suite.sh $@

# Host crates: the whole workspace except the bare-metal binary and the QEMU tests
# (those run in test-qemu, after the kernel is built).
HOST_CARGO_ARGS := --workspace --exclude vnetcrypt --exclude vnetcrypt-tests

.PHONY: deps build run test bench fuzz fmt clippy clean test-host check lint

deps:
	@bash scripts/deps.sh

include $(sort $(wildcard mk/*.mk))

test-host: deps
	$(SUITE) cargo test $(HOST_CARGO_ARGS)

# The summary starts before the first suite and is printed after the last.
.PHONY: test-start
test-start:
	@bash scripts/suite.sh --start

test: test-start deps test-host $(TEST_TARGETS)
	@bash scripts/suite.sh --report
	@echo "make test: all suites passed"

bench: deps $(BENCH_TARGETS)

fuzz: deps $(FUZZ_TARGETS)

fmt:
	cargo fmt --all

clippy:
	cargo clippy $(HOST_CARGO_ARGS) --all-targets -- -D warnings

# The style CI enforces: formatting, and clippy on the host crates and the kernel.
lint: clippy clippy-kernel
	cargo fmt --all -- --check

# Fast feedback, no root and no QEMU: lint, then the host crates' tests (the DTLS
# interop tests among them need openssl and gnutls-bin, which make deps installs).
check: lint
	cargo test $(HOST_CARGO_ARGS)

clean:
	cargo clean
	rm -rf $(BUILD)

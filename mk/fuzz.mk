# Fuzzing (cargo-fuzz, nightly): one fuzz package at fuzz/ holds the targets of every
# pure crate, with one lock file and one target directory, so the heavy dependencies
# (ring, p256, smoltcp) build once. scripts/fuzz.sh skips with a notice without nightly.
# The corpus stays in fuzz/corpus/TARGET (not committed); gateway_dtls writes its own
# seeds there from genuine traffic when the directory is empty.

FUZZ_ALL := \
  dtls_record dtls_handshake_msgs dtls_server dtls_client dtls_pair \
  gateway_wire gateway_engine gateway_dtls \
  console_input config_disk \
  underlay_screen \
  ops_http ops_sntp
# Seconds per target: `make fuzz` runs long, `make test` only a smoke run.
FUZZ_SECONDS       ?= 120
FUZZ_SMOKE_SECONDS ?= 5

TEST_TARGETS += test-fuzz
FUZZ_TARGETS += fuzz-all

.PHONY: test-fuzz fuzz-all

# One build of all targets, then each target's smoke run (about a minute of runs). Cold,
# on a 2-core machine under load from other builds: 6 min 4 s (build 4 min 41 s), where
# the four packages it replaced took 21 min 14 s (one run each, same machine).
test-fuzz: deps
	$(SUITE) $(call run_fuzz,$(FUZZ_ALL),$(FUZZ_SMOKE_SECONDS))

fuzz-all: deps
	$(call run_fuzz,$(FUZZ_ALL),$(FUZZ_SECONDS))

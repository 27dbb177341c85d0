# Console and configuration parsers (kernel/console, kernel/config). Their unit tests run
# in `cargo test --workspace` (make test-host); fuzzing needs nightly and cargo-fuzz.

CONSOLE_FUZZ_TARGETS       := console_input config_disk
CONSOLE_FUZZ_SECONDS       ?= 120
CONSOLE_FUZZ_SMOKE_SECONDS ?= 5

TEST_TARGETS += test-console-fuzz
FUZZ_TARGETS += fuzz-console

.PHONY: test-console-fuzz fuzz-console

test-console-fuzz: deps
	$(SUITE) $(call run_fuzz,kernel/console/fuzz,$(CONSOLE_FUZZ_TARGETS),$(CONSOLE_FUZZ_SMOKE_SECONDS))

fuzz-console: deps
	$(call run_fuzz,kernel/console/fuzz,$(CONSOLE_FUZZ_TARGETS),$(CONSOLE_FUZZ_SECONDS))

# Console and configuration parsers (kernel/console, kernel/config). Their unit tests run
# in `cargo test --workspace` (make test-host); fuzzing needs nightly and cargo-fuzz.

CONSOLE_FUZZ_TARGETS       := console_input config_disk
CONSOLE_FUZZ_SECONDS       ?= 120
CONSOLE_FUZZ_SMOKE_SECONDS ?= 5

TEST_TARGETS += test-console-fuzz
FUZZ_TARGETS += fuzz-console

.PHONY: test-console-fuzz fuzz-console

# $(1): seconds per target. The corpus lives in kernel/console/fuzz/corpus (not committed).
define console_fuzz
	cd kernel/console/fuzz && cargo +nightly fuzz build -O && \
	for t in $(CONSOLE_FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  echo "fuzz $$t for $(1) s" && \
	  cargo +nightly fuzz run -O $$t corpus/$$t -- -max_total_time=$(1) -print_final_stats=1 2>&1 \
	    | grep -E '^(stat::number_of_executed_units|Done|==|SUMMARY|thread)' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
endef

test-console-fuzz: deps
	$(call console_fuzz,$(CONSOLE_FUZZ_SMOKE_SECONDS))

fuzz-console: deps
	$(call console_fuzz,$(CONSOLE_FUZZ_SECONDS))

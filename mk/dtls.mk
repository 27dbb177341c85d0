# The DTLS 1.2 engine (kernel/dtls, package vnetcrypt-dtls).
# Its unit, engine-to-engine and interop tests (OpenSSL s_server/s_client and GnuTLS
# gnutls-serv/gnutls-cli over loopback UDP) run in `cargo test`, so in test-host.
# Fuzzing needs the nightly toolchain and cargo-fuzz (scripts/deps.sh installs it).

DTLS_FUZZ_TARGETS       := dtls_record dtls_handshake_msgs dtls_server dtls_client dtls_pair
# Seconds per target: `make fuzz` runs long, `make test` only a smoke run.
DTLS_FUZZ_SECONDS       ?= 120
DTLS_FUZZ_SMOKE_SECONDS ?= 5

TEST_TARGETS  += test-dtls-fuzz test-dtls-rustcrypto
BENCH_TARGETS += bench-dtls
FUZZ_TARGETS  += fuzz-dtls

.PHONY: test-dtls-fuzz fuzz-dtls bench-dtls test-dtls-rustcrypto

# The RustCrypto AEAD backend, which test-host's `cargo test --workspace` does not enable:
# the known-answer vectors through both backends (the unit tests) and engines on
# RustCrypto against engines on ring, both roles and suites (tests/aead_backends.rs).
test-dtls-rustcrypto: deps
	$(SUITE) cargo test -p vnetcrypt-dtls --features rustcrypto-aead --lib --test aead_backends

test-dtls-fuzz: deps
	$(SUITE) $(call run_fuzz,fuzz,$(DTLS_FUZZ_TARGETS),$(DTLS_FUZZ_SMOKE_SECONDS))

fuzz-dtls: deps
	$(call run_fuzz,fuzz,$(DTLS_FUZZ_TARGETS),$(DTLS_FUZZ_SECONDS))

# Handshakes/s and seal/open ns per record for both suites and both AEAD backends, next
# to raw ring and `openssl speed`, as ratios.
bench-dtls: deps
	cargo bench -p vnetcrypt-dtls --features rustcrypto-aead --bench dtls_bench

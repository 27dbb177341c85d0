# The DTLS 1.2 engine (kernel/dtls, package vnetcrypt-dtls).
# Its unit, engine-to-engine and interop tests (OpenSSL s_server/s_client and GnuTLS
# gnutls-serv/gnutls-cli over loopback UDP) run in `cargo test`, so in test-host.
# Its fuzz targets live in the one fuzz package (mk/fuzz.mk).

TEST_TARGETS  += test-dtls-rustcrypto
BENCH_TARGETS += bench-dtls

.PHONY: test-dtls-rustcrypto bench-dtls

# The RustCrypto AEAD backend, which test-host's `cargo test --workspace` does not enable:
# the known-answer vectors through both backends (the unit tests) and engines on
# RustCrypto against engines on ring, both roles and suites (tests/aead_backends.rs).
test-dtls-rustcrypto: deps
	$(SUITE) cargo test -p vnetcrypt-dtls --features rustcrypto-aead --lib --test aead_backends

# Handshakes/s and seal/open ns per record for both suites and both AEAD backends, next
# to raw ring and `openssl speed`, as ratios.
bench-dtls: deps
	cargo bench -p vnetcrypt-dtls --features rustcrypto-aead --bench dtls_bench

# Gateway data plane (kernel/gateway, package vnetcrypt-gateway). Its unit tests and
# simulations run in `cargo test --workspace` (make test-host); the DTLS adapter's
# tests need the `dtls` feature, and the bench is ours.
TEST_TARGETS  += test-gateway-dtls
BENCH_TARGETS += bench-gateway

.PHONY: test-gateway-dtls bench-gateway
# Two gateways over the real DTLS engine (handshake, restart, rekey); a few seconds.
test-gateway-dtls:
	cargo test -p vnetcrypt-gateway --features dtls --test dtls_adapter

# Encap+decap through two engines vs raw AEAD seal+open, same run: over the test
# double (RustCrypto AES-GCM) and over the real DTLS engine (ring); about a minute.
bench-gateway:
	cargo bench -p vnetcrypt-gateway --features dtls --bench gateway

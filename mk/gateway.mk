# Gateway data plane (kernel/gateway, package vnetcrypt-gateway). Its unit tests and
# simulations run in `cargo test --workspace` (make test-host); the bench is ours.
BENCH_TARGETS += bench-gateway

.PHONY: bench-gateway
# Encap+decap through two engines vs raw AEAD seal+open, same run (about 30 s).
bench-gateway:
	cargo bench -p vnetcrypt-gateway --bench gateway

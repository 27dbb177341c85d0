# Gateway data plane (kernel/gateway, package vnetcrypt-gateway). Its unit tests and
# simulations run in `cargo test --workspace` (make test-host); the DTLS adapter's
# tests need the `dtls` feature; its fuzz targets live in the one fuzz package (mk/fuzz.mk).

TEST_TARGETS  += test-gateway-dtls
BENCH_TARGETS += bench-gateway

.PHONY: test-gateway-dtls bench-gateway

# Two gateways over the real DTLS engine (handshake, restart, rekey) and the attacker
# of issue 12 against it (forged/replayed hellos and alerts, garbage, pin mismatch,
# rekey_records, fallback, keepalives, dead peer), and the copy-free frame path
# (whole wan frames, zero copies, jumbo, DF); a few seconds.
test-gateway-dtls: deps
	$(SUITE) cargo test -p vnetcrypt-gateway --features dtls --test dtls_adapter --test dtls_attacker --test dtls_frames --test roaming

# Encap+decap through two engines vs raw AEAD seal+open, same run: over the test
# double (RustCrypto AES-GCM) and over the real DTLS engine (ring); then the copy-free
# frame path (whole frames in and out, two engines over fake ports, real DTLS with
# ring) vs raw ring seal+open; about a minute and a half. Then (flood) a legitimate
# handshake's time with and without a flood of forged ClientHellos and alerts at the
# responder, in one run.
bench-gateway: deps
	cargo bench -p vnetcrypt-gateway --features dtls --bench gateway --bench frame_path
	cargo bench -p vnetcrypt-gateway --features dtls --bench flood

# Operations (issue 16, items 3 and 4): the Prometheus metrics endpoint and the SNTP
# client on the real image (tests/tests/ops.rs), on one boot of the two-gateway
# topology of the end-to-end tests. Scrapes are parsed by prometheus_client from the
# venv scripts/deps.sh makes under build/; a small SNTP server runs on hostA. Root
# needed. About a minute on two cores under TCG.

.PHONY: test-ops
test-ops: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test ops
TEST_TARGETS += test-ops

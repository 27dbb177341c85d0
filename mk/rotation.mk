# Identity rotation without an outage (issue 16, tests/tests/rotation.rs): two gateways
# under QEMU, B's identity rotated (next, pin both, rotate, pin new, retire) while their
# workload hosts stream numbered datagrams both ways; none lost. Root needed. One boot;
# measured under TCG on 2 shared vCPUs: 14-16 s.

.PHONY: test-rotation
test-rotation: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test rotation -- --test-threads=1
TEST_TARGETS += test-rotation

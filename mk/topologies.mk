# Real networks (issue 14, tests/tests/topologies.rs, built by tests/src/e2e/network.rs):
# three gateways under QEMU, each with a workload host namespace, on a fabric bridge
# where tshark listens; lan routers (pod prefix, VIP) and a gateway behind an iptables
# NAT namespace. Root needed. One boot per network serves several assertions.
# Measured under TCG on 2 shared vCPUs: mesh of three then per-peer enforcement
# 23-39 s, rekey under traffic plus flow export 17-22 s, gateway behind a NAT whose
# port changes 14-19 s, hub-and-spoke 9-14 s, pod prefix and VIP behind lan routers 7-10 s,
# the builder's smoke test 5 s: the suite in 80-105 s.

.PHONY: test-topologies
test-topologies: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test topologies -- --test-threads=1
TEST_TARGETS += test-topologies

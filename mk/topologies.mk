# Real networks (issue 14, tests/tests/topologies.rs, built by tests/src/e2e/network.rs):
# three gateways under QEMU, each with a workload host namespace, on a fabric bridge
# where tshark listens; lan routers (pod prefix, VIP) and a gateway behind an iptables
# NAT namespace. Root needed. One boot per network serves several assertions.

.PHONY: test-topologies
test-topologies: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test topologies -- --test-threads=1
TEST_TARGETS += test-topologies

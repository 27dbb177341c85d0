# Real networks (issue 14, tests/tests/topologies.rs, built by tests/src/e2e/network.rs):
# three gateways under QEMU, each with a workload host namespace, on a fabric bridge
# where tshark listens; lan routers (pod prefix, VIP) and a gateway behind an iptables
# NAT namespace. Root needed. One boot per network serves several assertions:
# a mesh of three then per-peer enforcement (~40 s with KVM), rekey under traffic
# plus flow export through the tunnel (~17 s), the builder's smoke test (~5 s).

.PHONY: test-topologies
test-topologies: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test topologies -- --test-threads=1
TEST_TARGETS += test-topologies

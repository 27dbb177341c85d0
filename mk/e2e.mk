# End to end (issue 7): two gateways under QEMU between two workload hosts in network
# namespaces, tshark on the fabric (tests/tests/e2e.rs, helpers in tests/src/e2e/;
# the same topology as `make run`, which qemu/topology builds). Root needed.
# About 1.5 min on two cores under TCG: tunnel on microvm and q35 with a 4 MiB
# transfer and tshark, DropUnencrypted, AllowUnencrypted, B's reboot, openssl
# s_client, an impaired fabric, the make run demo itself, and nothing left behind.
# Tunnel trust (issue 12, tests/tests/e2e/trust.rs): a forging attacker in the fabric
# namespace (qemu/netns-tools forge) during the first handshake and against an
# established tunnel, and a peer killed with SIGKILL; about 1.5-2 more minutes.

.PHONY: test-e2e
test-e2e: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test e2e -- --test-threads=2
TEST_TARGETS += test-e2e

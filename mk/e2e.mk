# End to end (issue 7): two gateways under QEMU between two workload hosts in network
# namespaces, tshark on the fabric (tests/tests/e2e.rs, helpers in tests/src/e2e/,
# the same topology as `make run`, built there by qemu/topology). Root needed.
#
# test-e2e runs what works with every kernel (topology up, pinned identities, every
# link, nothing left behind). The traffic tests (ignored until the gateway engine
# runs between the kernel's NICs: tunnel on microvm and q35, tshark, DropUnencrypted,
# AllowUnencrypted, reboot, openssl s_client, impaired fabric) run with
# test-e2e-datapath.

E2E_CARGO := cargo test -p vnetcrypt-tests --features nic --test e2e

.PHONY: test-e2e test-e2e-datapath
test-e2e: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(E2E_CARGO) -- --test-threads=2

test-e2e-datapath: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(E2E_CARGO) -- --ignored --test-threads=2 --nocapture
TEST_TARGETS += test-e2e

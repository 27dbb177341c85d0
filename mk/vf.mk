# The igb SR-IOV VF driver (drivers/src/igb, kernel/appliance/src/igb) under QEMU 10:
# `-device igb` on q35, the appliance's test rig enabling a VF (tests/tests/nic_vf.rs).
# Root needed (namespaces, TAP devices). The VF as wan and as lan next to virtio-net
# (ping, ARP, counters, malformed frames, jumbo frames), and two gateways whose wan
# NICs are VFs carrying a 4 MiB transfer with only DTLS on the fabric. About 20 s.
# The driver's logic runs in test-host (cargo test -p vnetcrypt-drivers).

.PHONY: test-vf bench-vf
test-vf: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test nic_vf -- --include-ignored --test-threads=2 --skip bench_
TEST_TARGETS += test-vf

# The same two-gateway transfer with virtio-net wans and with igb VF wans, one after
# the other in the same run, and a ping flood through the VF (frames per second under
# TCG). Prints `bench:` lines.
bench-vf: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	cargo test -p vnetcrypt-tests --features nic --test nic_vf -- --include-ignored --exact bench_vf_paths --nocapture 2>&1 | grep -E '^(bench:|test result)'
BENCH_TARGETS += bench-vf

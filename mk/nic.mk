# The NICs (kernel/appliance/src/virtio, kernel/node/src/net, kernel/underlay) against real Linux
# hosts: network namespaces joined to the appliance's wan and lan through TAP devices
# (root needed). Both machine types (microvm: virtio-mmio, q35: virtio-pci) run in
# parallel, about 30 s. kernel/underlay's host tests run in test-host, its fuzz target in
# test-fuzz (mk/fuzz.mk).

.PHONY: test-nic
test-nic: deps $(KERNEL_ELF)
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test nic -- --include-ignored --test-threads=3 --skip bench_
TEST_TARGETS += test-nic

# Ping round trips, a ping flood and a transit (zero-copy forwarding) flood, on
# microvm and q35; prints `bench:` lines. Under TCG the figures measure the emulator
# as much as the driver: compare runs on one machine, not absolute values.
.PHONY: bench-nic
bench-nic: deps $(KERNEL_ELF)
	cargo test -p vnetcrypt-tests --features nic --test nic -- --include-ignored --exact bench_nic_paths --nocapture 2>&1 | grep -E '^(bench:|test result)'
BENCH_TARGETS += bench-nic

# The NICs (kernel/appliance/src/net, src/virtio) against real Linux hosts: network
# namespaces joined to the appliance's wan and lan through TAP devices (root needed).
# Both machine types (microvm: virtio-mmio, q35: virtio-pci) run in parallel.

.PHONY: test-nic
test-nic: deps $(KERNEL_ELF)
	cargo test -p vnetcrypt-tests --features nic --test nic -- --include-ignored --test-threads=2
TEST_TARGETS += test-nic

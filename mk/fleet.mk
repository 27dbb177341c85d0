# Fleets and upgrades (issue 16): tests/tests/fleet.rs boots the three gateways that
# `vnetcrypt-provision fleet` provisioned from one inventory (root: namespaces, TAP
# devices) and passes traffic between every pair with nothing typed at a console
# (flows X, only DTLS on the fabric), for a mesh and for a hub with two spokes;
# about a minute under TCG. The upgrade test (tests/tests/upgrade.rs: a second build
# of the image, same configuration disk) needs no root and runs in test-qemu.
.PHONY: test-fleet
test-fleet: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test fleet -- --include-ignored --test-threads=1
TEST_TARGETS += test-fleet

# Operations views (issue 16): the health line, the JSON views over the serial console
# and events exported as RFC 5424 syslog to rsyslog in hostA's namespace; one boot of
# the two-gateway topology (tests/tests/ops_views.rs). Root needed; about a minute.

.PHONY: test-ops-views
test-ops-views: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	$(SUITE) cargo test -p vnetcrypt-tests --features nic --test ops_views
TEST_TARGETS += test-ops-views

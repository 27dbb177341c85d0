# vnetcrypt beside Linux gateways (issue 18): the `make run` topology three times --
# vnetcrypt, Debian Linux + WireGuard, Debian Linux + IPsec (ESP, AES-128-GCM) -- under
# the same QEMU and accelerator; TCP throughput, UDP packet rates, ping under load and
# gateway host CPU per GB, best of alternating rounds, with ratios and targets
# (qemu/bench-e2e, docs/bench.md). Root needed. Not part of `make bench` or `make test`:
# about 4 minutes per round with the default 30 s TCP test (3 rounds: 12 minutes).
#   BENCH_E2E_SECONDS=10 BENCH_E2E_ROUNDS=1 make bench-e2e    a quick run
#
# The Linux gateway (Debian's kernel and an initramfs around qemu/linux-gateway-init)
# is built from Debian packages into build/linux-gateway by qemu/linux-gateway-image;
# the downloaded packages stay in build/linux-gateway/debs (about 75 MB).
LINUX_GW := $(BUILD)/linux-gateway

.PHONY: bench-e2e linux-gateway
linux-gateway: $(LINUX_GW)/initrd.gz

$(LINUX_GW)/initrd.gz: qemu/linux-gateway-image qemu/linux-gateway-init
	python3 qemu/linux-gateway-image --out $(LINUX_GW)

bench-e2e: deps $(KERNEL_ELF) $(LINUX_GW)/initrd.gz
	cargo build -q -p vnetcrypt-provision
	python3 qemu/bench-e2e --kernel $(KERNEL_ELF) --linux $(LINUX_GW)

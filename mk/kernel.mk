# The appliance kernel (kernel/appliance), its QEMU launcher and QEMU tests.
# `make build` -> build/vnetcrypt.elf (PVH/multiboot2 kernel) and
# build/vnetcrypt-test.elf (the same with `debug fault <kind>` for the crash tests).

# KERNEL_ELF and KERNEL_TEST_ELF are defined in the top-level Makefile.
# defmt levels are chosen at compile time; frames go to COM2.
DEFMT_LOG       ?= info
# Frame pointers make the fault report's stack trace exact.
# Target rustflags reach only the kernel: build scripts and host crates are unaffected
# because --target is explicit.
KERNEL_CARGO    := RUSTFLAGS="-C relocation-model=static -C force-frame-pointers=yes" DEFMT_LOG=$(DEFMT_LOG) \
                   cargo build -p vnetcrypt --release --target $(KTARGET)
KERNEL_OUT       = $(or $(CARGO_TARGET_DIR),target)/$(KTARGET)/release/vnetcrypt
VM              := qemu/vnetcrypt-vm

.PHONY: kernel kernel-test test-qemu bench-boot run FORCE
FORCE:

build: $(KERNEL_ELF) $(KERNEL_TEST_ELF)

kernel: $(KERNEL_ELF)
kernel-test: $(KERNEL_TEST_ELF)

# Cargo decides whether anything changed; make always asks it.
$(KERNEL_ELF): FORCE
	@mkdir -p $(BUILD)
	$(KERNEL_CARGO)
	cp $(KERNEL_OUT) $@

$(KERNEL_TEST_ELF): FORCE
	@mkdir -p $(BUILD)
	$(KERNEL_CARGO) --features test-faults
	cp $(KERNEL_OUT) $@
# The two ELFs share cargo's output path: build them one after the other.
$(KERNEL_TEST_ELF): | $(KERNEL_ELF)

# The end-to-end demo (qemu/topology): two gateways, two hosts, traffic through the
# tunnel, then gateway A's console (Ctrl-] quits and removes everything). Root needed.
run: deps $(KERNEL_ELF)
	cargo build -q -p vnetcrypt-provision
	python3 qemu/topology demo --machine-a $(or $(MACHINE),microvm) --machine-b $(or $(MACHINE),microvm)

# QEMU tests: boot microvm and q35 through the launcher (tests/tests/*.rs).
test-qemu: deps $(KERNEL_ELF) $(KERNEL_TEST_ELF)
	$(SUITE) cargo test -p vnetcrypt-tests -- --include-ignored
TEST_TARGETS += test-qemu

bench-boot: deps $(KERNEL_ELF)
	python3 qemu/bench-boot --kernel $(KERNEL_ELF)
BENCH_TARGETS += bench-boot

# Idle cost (host CPU of an idle appliance) and loaded cost (a transfer through two
# gateways), sleeping main loop vs `idle=poll`, same run; the loaded part needs root.
.PHONY: bench-idle
bench-idle: deps $(KERNEL_ELF)
	python3 qemu/bench-idle --kernel $(KERNEL_ELF)
BENCH_TARGETS += bench-idle

# `make clippy` covers the host crates; the kernel needs its target and rustflags.
.PHONY: clippy-kernel
clippy-kernel:
	RUSTFLAGS="-C relocation-model=static -C force-frame-pointers=yes" \
	  cargo clippy -p vnetcrypt --release --target $(KTARGET) -- -D warnings
	RUSTFLAGS="-C relocation-model=static -C force-frame-pointers=yes" \
	  cargo clippy -p vnetcrypt --release --target $(KTARGET) --features test-faults -- -D warnings

# Deployable disk images: build/vnetcrypt.{raw,qcow2,vhd} (GPT; GRUB for BIOS and UEFI
# loading the kernel through multiboot2; a configuration partition).
.PHONY: image bench-image
IMAGES := $(BUILD)/vnetcrypt.raw $(BUILD)/vnetcrypt.qcow2 $(BUILD)/vnetcrypt.vhd

image: deps $(IMAGES)

$(IMAGES) &: $(BUILD)/vnetcrypt.elf image/mkimage.sh
	bash image/mkimage.sh $(BUILD)/vnetcrypt.elf $(BUILD)

# The QEMU tests include disk boots (tests/tests/image.rs).
test-qemu: $(IMAGES)

bench-image: deps $(IMAGES)
	python3 image/bench-image --kernel $(BUILD)/vnetcrypt.elf --images $(BUILD)
BENCH_TARGETS += bench-image

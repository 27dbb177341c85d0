# Deployable disk images (issue: BIOS and UEFI disk images, qcow2 and a fixed VHD).
.PHONY: image
IMAGES := $(BUILD)/vnetcrypt.raw $(BUILD)/vnetcrypt.qcow2 $(BUILD)/vnetcrypt.vhd

image: deps $(BUILD)/vnetcrypt.elf
	bash image/mkimage.sh $(BUILD)/vnetcrypt.elf $(BUILD)

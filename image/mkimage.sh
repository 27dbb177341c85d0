#!/usr/bin/env bash
# Builds the deployable disk images of vnetcrypt from the PVH/multiboot2 kernel ELF,
# without root and without loop devices (sgdisk, mtools, grub-mkimage, dd on files).
#
#   image/mkimage.sh KERNEL_ELF OUT_DIR [CONFIG_DISK]
#
# Layout (GPT, 512-byte sectors, 12 MiB):
#   LBA 0            protective MBR carrying GRUB's boot.img (BIOS)
#   part 1  1 MiB    BIOS boot partition: GRUB core.img (i386-pc)
#   part 2  8 MiB    EFI system partition (FAT): EFI/BOOT/BOOTX64.EFI, boot/vnetcrypt.elf
#   part 3  1 MiB    vnetcrypt configuration (two slots; see kernel/config/src/store.rs),
#                    type GUID CONFIG_TYPE below, name "vnetcrypt-config"
# Outputs: vnetcrypt.raw, vnetcrypt.qcow2, vnetcrypt.vhd (fixed VHD, whole MiB).
# The partition serves an appliance booted without a configuration disk. Deployments
# attach a dedicated configuration disk beside the image (a 1 MiB raw file; the
# launcher does so by default): the appliance prefers it, copies the partition's
# configuration onto it while it is blank, and a new image leaves it untouched, so an
# upgrade replaces only this image (README, "Upgrading").
# GRUB loads the ELF through multiboot2 with its console on COM1 (115200 8N1).
set -euo pipefail

ELF=${1:?usage: mkimage.sh KERNEL_ELF OUT_DIR [CONFIG_DISK]}
OUT=${2:?usage: mkimage.sh KERNEL_ELF OUT_DIR [CONFIG_DISK]}
CONFIG=${3:-}

CONFIG_TYPE=0f949086-ed54-4849-8714-99ed7ed93811
MIB=2048                      # sectors per MiB
BIOS_START=$((1 * MIB)); BIOS_END=$((2 * MIB - 1))
ESP_START=$((2 * MIB));  ESP_END=$((10 * MIB - 1))
CFG_START=$((10 * MIB)); CFG_END=$((11 * MIB - 1))
TOTAL_MIB=12

GRUB_PC=/usr/lib/grub/i386-pc
GRUB_EFI=/usr/lib/grub/x86_64-efi
for tool in sgdisk mformat mcopy mmd grub-mkimage qemu-img objcopy; do
  command -v "$tool" >/dev/null || { echo "mkimage: $tool missing (run scripts/deps.sh)" >&2; exit 1; }
done
[ -f "$ELF" ] || { echo "mkimage: no kernel at $ELF (run make build)" >&2; exit 1; }
if [ -n "$CONFIG" ] && [ "$(stat -c %s "$CONFIG")" -gt $(( (CFG_END - CFG_START + 1) * 512 )) ]; then
  echo "mkimage: $CONFIG is larger than the configuration partition" >&2; exit 1
fi

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# GRUB's own configuration, embedded in both core images: serial console, find the
# partition holding the kernel, boot it through multiboot2.
cat > "$work/embed.cfg" <<'CFG'
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input serial
terminal_output serial
search --no-floppy --file --set=root /boot/vnetcrypt.elf
echo "vnetcrypt: loading /boot/vnetcrypt.elf"
multiboot2 /boot/vnetcrypt.elf
boot
CFG
MODULES="part_gpt fat serial terminal search search_fs_file echo multiboot2 boot"

grub-mkimage -O i386-pc -o "$work/core.img" -p /boot/grub -c "$work/embed.cfg" \
  biosdisk $MODULES
grub-mkimage -O x86_64-efi -o "$work/BOOTX64.EFI" -p /boot/grub -c "$work/embed.cfg" \
  $MODULES

core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
if [ "$core_sectors" -gt $((BIOS_END - BIOS_START + 1)) ]; then
  echo "mkimage: core.img does not fit the BIOS boot partition" >&2; exit 1
fi

# The kernel without debug info: what boots is the same code as build/vnetcrypt.elf.
objcopy --strip-debug "$ELF" "$work/vnetcrypt.elf"

# EFI system partition as a FAT image.
esp_sectors=$((ESP_END - ESP_START + 1))
truncate -s $((esp_sectors * 512)) "$work/esp.img"
mformat -i "$work/esp.img" -v VNETCRYPT -T "$esp_sectors" -h 16 -s 32 ::
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/boot
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$work/vnetcrypt.elf" ::/boot/vnetcrypt.elf

raw="$work/vnetcrypt.raw"
truncate -s ${TOTAL_MIB}M "$raw"
sgdisk -o \
  -n 1:$BIOS_START:$BIOS_END -t 1:EF02 -c 1:bios-boot \
  -n 2:$ESP_START:$ESP_END   -t 2:EF00 -c 2:efi-system \
  -n 3:$CFG_START:$CFG_END   -t 3:$CONFIG_TYPE -c 3:vnetcrypt-config \
  "$raw" >/dev/null 2>&1 || { echo "mkimage: sgdisk failed" >&2; exit 1; }

put() { dd if="$1" of="$raw" bs=512 seek="$2" conv=notrunc status=none; }
put "$work/esp.img" $ESP_START
[ -n "$CONFIG" ] && put "$CONFIG" $CFG_START

# BIOS boot, as grub-install would do it on a device:
# - core.img into the BIOS boot partition; its first sector (diskboot.img) holds a
#   blocklist at 0x1f4 (start LBA u64, sector count u16) for the rest of core.img;
# - boot.img's code into the MBR (the partition table at 446.. stays), with the LBA of
#   core.img at 0x5c.
python3 - "$work/core.img" "$GRUB_PC/boot.img" "$raw" $BIOS_START "$core_sectors" <<'PY'
import struct, sys
core_path, boot_path, raw_path, start, sectors = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
core = bytearray(open(core_path, 'rb').read())
core += b'\0' * (sectors * 512 - len(core))
struct.pack_into('<QH', core, 0x1f4, start + 1, sectors - 1)
boot = bytearray(open(boot_path, 'rb').read())
assert len(boot) == 512
struct.pack_into('<Q', boot, 0x5c, start)
with open(raw_path, 'r+b') as f:
    mbr = bytearray(f.read(512))
    mbr[:440] = boot[:440]
    f.seek(0); f.write(mbr)
    f.seek(start * 512); f.write(core)
PY

cp "$raw" "$OUT/vnetcrypt.raw"
qemu-img convert -f raw -O qcow2 "$raw" "$OUT/vnetcrypt.qcow2"
# Fixed VHD: the raw image plus a 512-byte footer; force_size keeps the virtual size
# exactly 12 MiB instead of rounding to CHS geometry.
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$raw" "$OUT/vnetcrypt.vhd"
echo "mkimage: $OUT/vnetcrypt.raw $OUT/vnetcrypt.qcow2 $OUT/vnetcrypt.vhd"
echo "mkimage: attach a configuration disk beside the image to keep identity and configuration across upgrades (README, Upgrading)"

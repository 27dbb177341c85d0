//! Boots the deployable disk images (`make image`) the way a hypervisor or cloud does:
//! firmware, then GRUB from the disk, then the kernel through multiboot2.

use std::path::PathBuf;
use vnetcrypt_tests::{exec, exit, field, kernel, repo_root, LogDir};

fn image(ext: &str) -> PathBuf {
    let p = repo_root().join("build").join(format!("vnetcrypt.{ext}"));
    assert!(p.is_file(), "{} is missing: run `make image`", p.display());
    p
}

/// A private copy: a boot may write the configuration partition.
fn copy(ext: &str, logs: &LogDir) -> String {
    let dst = logs.path().join(format!("disk.{ext}"));
    std::fs::copy(image(ext), &dst).expect("copy image");
    dst.to_string_lossy().into_owned()
}

/// Two free UDP ports on loopback (for QEMU socket backends).
fn free_ports() -> (u16, u16) {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// The `rx packets=N` count of one interface in the `interfaces` view.
fn rx_packets(out: &str, role: &str) -> u64 {
    let block = out
        .split(&format!("{role}: mac "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {role} in:\n{out}"));
    block
        .split("rx packets=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rx count for {role} in:\n{out}"))
}

fn boot(ext: &str, firmware: &str) {
    let logs = LogDir::new(&format!("image-{ext}-{firmware}"));
    let disk = copy(ext, &logs);
    // wan and lan cross-connected over a loopback UDP socket pair: each one's address
    // announcement (gratuitous ARP) arrives at the other, so both NICs send and receive.
    let (p1, p2) = free_ports();
    let wan = format!("socket=udp:127.0.0.1:{p1}:127.0.0.1:{p2}");
    let lan = format!("socket=udp:127.0.0.1:{p2}:127.0.0.1:{p1}");
    let run = exec(
        "q35",
        &kernel(),
        "status; interface wan address 192.0.2.1/24; interface lan address 192.0.2.2/24; \
         version; version; interfaces",
        &[
            "--boot-disk",
            &disk,
            "--firmware",
            firmware,
            "--nic",
            &wan,
            "--nic",
            &lan,
        ],
        &logs,
    );
    assert_eq!(
        run.code,
        exit::OK,
        "{firmware} boot of the .{ext} image failed"
    );
    assert!(
        field(&run.stdout, "machine").is_some_and(|m| m.contains("multiboot2 boot")),
        "GRUB must have loaded the kernel through multiboot2:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("virtio-blk"),
        "the boot disk is seen as virtio-blk"
    );
    assert_eq!(
        run.stdout.matches("driver up").count(),
        2,
        "both NICs up:\n{}",
        run.stdout
    );
    assert!(
        rx_packets(&run.stdout, "wan") >= 1,
        "wan received lan's frames"
    );
    assert!(
        rx_packets(&run.stdout, "lan") >= 1,
        "lan received wan's frames"
    );
    assert!(run.stdout.contains("powering off"));
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after `make image`"]
fn seabios_boots_the_raw_image() {
    boot("raw", "bios");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after `make image`"]
fn ovmf_boots_the_qcow2_image() {
    boot("qcow2", "uefi");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after `make image`"]
fn seabios_boots_the_fixed_vhd() {
    boot("vhd", "bios");
}

#[test]
#[ignore = "needs `make image`"]
fn images_have_the_promised_shape() {
    let raw = std::fs::metadata(image("raw")).unwrap().len();
    assert_eq!(raw % (1 << 20), 0, "raw image is a whole number of MiB");
    // A fixed VHD is the raw disk plus a 512-byte footer that starts with "conectix".
    let vhd = std::fs::read(image("vhd")).unwrap();
    assert_eq!(vhd.len() as u64, raw + 512);
    assert_eq!(&vhd[vhd.len() - 512..vhd.len() - 504], b"conectix");
    // Disk type 2 (fixed) at offset 60 of the footer, big-endian.
    let footer = &vhd[vhd.len() - 512..];
    assert_eq!(u32::from_be_bytes(footer[60..64].try_into().unwrap()), 2);
    // Current size in the footer equals the raw size: a whole number of MiB.
    assert_eq!(u64::from_be_bytes(footer[48..56].try_into().unwrap()), raw);
    // The GPT has the BIOS boot, EFI system and configuration partitions.
    let out = std::process::Command::new("sgdisk")
        .arg("-p")
        .arg(image("raw"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    for want in ["EF02  bios-boot", "EF00  efi-system", "vnetcrypt-config"] {
        assert!(table.contains(want), "{want} missing:\n{table}");
    }
    let qinfo = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(image("qcow2"))
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&qinfo.stdout);
    assert!(info.contains("\"format\": \"qcow2\""), "{info}");
    assert!(info.contains(&format!("\"virtual-size\": {raw}")), "{info}");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after `make image`"]
fn the_image_reads_and_writes_its_configuration_partition() {
    let logs = LogDir::new("image-config");
    let disk = copy("raw", &logs);
    // Without a configuration disk (`--config-disk none`; the launcher attaches one by
    // default) the image's own partition serves. First boot: an empty configuration
    // partition, so the identity is generated and saved there; then a configuration
    // is saved.
    let first = exec(
        "q35",
        &kernel(),
        "enforcement drop; config save",
        &[
            "--boot-disk",
            &disk,
            "--firmware",
            "bios",
            "--config-disk",
            "none",
        ],
        &logs,
    );
    assert_eq!(first.code, exit::OK);
    assert!(
        first
            .stdout
            .contains("configuration disk is empty (partition)"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("saved (slot"), "{}", first.stdout);
    // UEFI boot of the same disk reads it back from the partition.
    let second = exec(
        "q35",
        &kernel(),
        "config show",
        &[
            "--boot-disk",
            &disk,
            "--firmware",
            "uefi",
            "--config-disk",
            "none",
        ],
        &logs,
    );
    assert_eq!(second.code, exit::OK);
    assert!(
        second.stdout.contains("from the partition"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("enforcement drop"),
        "{}",
        second.stdout
    );
    // The partition is where the GPT says: sectors 20480.. of the disk, and the rest of
    // the disk (GRUB, the ESP) still boots.
    let bytes = std::fs::read(&disk).unwrap();
    assert_eq!(&bytes[20480 * 512..20480 * 512 + 8], b"VNCCONF1");
}

//! Upgrades on the host: a configuration saved in an older format is read and the
//! console says what the next save writes; a newer format locks without a write; a
//! dedicated configuration disk wins over a boot image's configuration partition and,
//! when blank, receives the partition's configuration (identity included).

mod sim;

use sha2::{Digest, Sha256};
use sim::bare::{fingerprint, run};
use sim::machine::{FailingDisk, MemDisk};
use vnetcrypt_config::store::{self, Saved, FORMAT, SLOT_SIZE};
use vnetcrypt_node::{choose_config_disk, BlockDevice, Node};

fn boot(disk: Option<Box<dyn BlockDevice>>, seed: u64) -> (Node, String) {
    sim::bare::boot(disk, sim::bare::platform(seed))
}

/// A valid P-256 scalar (any value below the group order works; this one is small).
const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    k[31] = 7;
    k
};

/// Slot 0 of a disk, written with `version` in the header (0: format 1, as appliances
/// before the version field wrote it).
fn disk_with_slot(version: u32, text: &str) -> MemDisk {
    let disk = MemDisk::blank(2 * SLOT_SIZE / 512);
    let saved = Saved {
        identity: Some(KEY),
        next_identity: None,
        text: text.into(),
    };
    let mut slot = vec![0u8; SLOT_SIZE];
    store::encode(3, &saved, &mut slot).unwrap();
    let n = u32::from_le_bytes(slot[16..20].try_into().unwrap()) as usize;
    slot[20..24].copy_from_slice(&version.to_le_bytes());
    let d = Sha256::digest(&slot[..store::HEADER_LEN + n]);
    slot[store::HEADER_LEN + n..store::HEADER_LEN + n + 32].copy_from_slice(&d);
    disk.0.borrow_mut()[..SLOT_SIZE].copy_from_slice(&slot);
    disk
}

#[test]
fn a_format_1_configuration_is_read_and_saved_as_the_current_format() {
    let disk = disk_with_slot(0, "enforcement allow\nlisten port 4600\n");
    let (mut node, out) = boot(Some(Box::new(disk.clone())), 1);
    assert!(
        out.contains(&format!(
            "config: read configuration format 1, will save as {FORMAT}"
        )),
        "{out}"
    );
    assert_eq!(node.config().listen_port, 4600);
    let fp = fingerprint(&mut node).expect("the saved identity");
    assert!(run(&mut node, "config save").contains("saved (slot 1, sequence 4)"));
    let bytes = disk.0.borrow()[SLOT_SIZE..SLOT_SIZE + 24].to_vec();
    assert_eq!(&bytes[20..24], &FORMAT.to_le_bytes(), "saved as {FORMAT}");
    let (mut again, out) = boot(Some(Box::new(disk)), 2);
    assert!(!out.contains("will save as"), "{out}");
    assert_eq!(fingerprint(&mut again), Some(fp));
    assert_eq!(again.config().listen_port, 4600);
}

#[test]
fn a_newer_format_locks_and_is_never_overwritten() {
    let disk = disk_with_slot(FORMAT + 1, "enforcement allow\n");
    let before = disk.0.borrow().clone();
    let (mut node, out) = boot(Some(Box::new(disk.clone())), 3);
    assert!(
        out.contains(&format!("configuration format {}", FORMAT + 1)),
        "{out}"
    );
    assert!(out.contains("LOCKED"), "{out}");
    assert_eq!(fingerprint(&mut node), None, "no identity generated");
    assert!(run(&mut node, "config save").contains("error: refused"));
    assert!(*disk.0.borrow() == before, "the disk was written");
}

fn boxed(d: &MemDisk) -> Box<dyn BlockDevice> {
    Box::new(d.clone())
}

/// A 12 MiB disk with a GPT whose configuration partition starts at 10 MiB, as
/// `image/mkimage.sh` lays it out, holding `text` and the identity.
fn boot_image(text: &str) -> MemDisk {
    use vnetcrypt_config::gpt::CONFIG_PARTITION_TYPE;
    let disk = MemDisk::blank(12 * 2048);
    let (first, last) = (10 * 2048u64, 11 * 2048 - 1u64);
    let mut entries = vec![0u8; 128 * 128];
    entries[..16].copy_from_slice(&CONFIG_PARTITION_TYPE);
    entries[32..40].copy_from_slice(&first.to_le_bytes());
    entries[40..48].copy_from_slice(&last.to_le_bytes());
    let mut h = vec![0u8; 512];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&128u32.to_le_bytes());
    h[84..88].copy_from_slice(&128u32.to_le_bytes());
    let crc = crc32(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    let slot = {
        let mut s = vec![0u8; SLOT_SIZE];
        let saved = Saved {
            identity: Some(KEY),
            next_identity: None,
            text: text.into(),
        };
        store::encode(8, &saved, &mut s).unwrap();
        s
    };
    {
        let mut b = disk.0.borrow_mut();
        b[512..1024].copy_from_slice(&h);
        b[1024..1024 + entries.len()].copy_from_slice(&entries);
        let at = first as usize * 512;
        b[at..at + SLOT_SIZE].copy_from_slice(&slot);
    }
    disk
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xedb8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

#[test]
fn a_blank_config_disk_receives_the_boot_image_configuration_and_wins() {
    let image = boot_image("enforcement allow\nlisten port 4700\n");
    let image_before = image.0.borrow().clone();
    let config = MemDisk::blank(2048);
    let mut out = String::new();
    let chosen = choose_config_disk(vec![boxed(&image), boxed(&config)], &mut out);
    assert!(
        out.contains("copied the configuration (sequence 8"),
        "{out}"
    );
    assert!(
        out.contains("on disk 2 (a dedicated configuration disk)"),
        "{out}"
    );
    assert!(
        *image.0.borrow() == image_before,
        "the boot image was written"
    );
    let (mut node, boot_out) = boot(chosen, 4);
    assert!(boot_out.contains("from the whole disk"), "{boot_out}");
    assert_eq!(node.config().listen_port, 4700);
    let fp = fingerprint(&mut node).expect("the migrated identity");

    // The upgrade: a new boot image (its partition blank) and the same config disk.
    // Order does not matter; nothing is copied again; identity and config are kept.
    run(&mut node, "listen port 4701");
    assert!(run(&mut node, "config save").contains("saved"));
    let new_image = boot_image("");
    new_image.0.borrow_mut()[10 * 2048 * 512..11 * 2048 * 512].fill(0);
    let new_before = new_image.0.borrow().clone();
    let mut out = String::new();
    let chosen = choose_config_disk(vec![boxed(&config), boxed(&new_image)], &mut out);
    assert!(!out.contains("copied"), "{out}");
    assert!(out.contains("on disk 1 (a dedicated"), "{out}");
    let (mut node, _) = boot(chosen, 5);
    assert_eq!(fingerprint(&mut node), Some(fp));
    assert_eq!(node.config().listen_port, 4701);
    assert!(
        *new_image.0.borrow() == new_before,
        "the new image's partition stays untouched"
    );
}

#[test]
fn a_config_disk_that_holds_a_configuration_is_not_overwritten_by_migration() {
    let image = boot_image("listen port 4800\n");
    let config = disk_with_slot(FORMAT, "listen port 4900\n");
    let before = config.0.borrow().clone();
    let mut out = String::new();
    let chosen = choose_config_disk(vec![boxed(&image), boxed(&config)], &mut out);
    assert!(!out.contains("copied"), "{out}");
    assert!(*config.0.borrow() == before);
    let (node, _) = boot(chosen, 6);
    assert_eq!(node.config().listen_port, 4900);
}

#[test]
fn one_disk_is_used_as_it_is_and_a_partition_alone_still_serves() {
    let image = boot_image("listen port 4800\n");
    let mut out = String::new();
    let chosen = choose_config_disk(vec![boxed(&image)], &mut out);
    assert_eq!(out, "", "no choice, nothing said");
    let (node, boot_out) = boot(chosen, 7);
    assert!(boot_out.contains("from the partition"), "{boot_out}");
    assert_eq!(node.config().listen_port, 4800);
    assert!(choose_config_disk(Vec::new(), &mut out).is_none());
}

#[test]
fn an_unreadable_disk_beside_a_boot_image_locks_instead_of_a_new_identity() {
    // The configuration disk fails reads; the new boot image's partition is blank. A
    // fall back to the partition would generate and save a new identity there.
    let image = boot_image("");
    image.0.borrow_mut()[10 * 2048 * 512..11 * 2048 * 512].fill(0);
    let image_before = image.0.borrow().clone();
    let failing = FailingDisk {
        inner: MemDisk::blank(2048),
        fail_reads: true,
        fail_writes: true,
    };
    let mut out = String::new();
    let chosen = choose_config_disk(vec![boxed(&image), Box::new(failing)], &mut out);
    assert!(
        out.contains("on disk 2 (a disk that cannot be read)"),
        "{out}"
    );
    let (mut node, boot_out) = boot(chosen, 8);
    assert!(boot_out.contains("LOCKED"), "{boot_out}");
    assert_eq!(fingerprint(&mut node), None);
    assert!(
        *image.0.borrow() == image_before,
        "the boot image was written"
    );
}

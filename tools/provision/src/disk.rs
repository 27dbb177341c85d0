//! Reading and writing the configuration disk.

use p256::pkcs8::EncodePublicKey;
use p256::SecretKey;
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use vnetcrypt_config::boot::{BootPlan, DiskRead};
use vnetcrypt_config::store::{self, Saved, SLOT_SIZE};
use zeroize::Zeroizing;

/// A configuration disk is the two slots and nothing else (1 MiB, a whole number of
/// MiB so every hypervisor accepts it).
pub const DISK_SIZE: u64 = 1024 * 1024;

/// SHA-256 of the DER SubjectPublicKeyInfo of the identity key, as `identity` shows it.
pub fn fingerprint(secret: &[u8; 32]) -> Result<String, String> {
    let key = SecretKey::from_slice(secret).map_err(|_| "stored identity key is invalid")?;
    let spki = key
        .public_key()
        .to_public_key_der()
        .map_err(|e| format!("cannot encode public key: {e}"))?;
    Ok(Sha256::digest(spki.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn read_slots(path: &Path) -> Result<store::Selection, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let slot = |i: usize| bytes.get(i * SLOT_SIZE..(i + 1) * SLOT_SIZE).unwrap_or(&[]);
    Ok(store::select(slot(0), slot(1)))
}

pub fn build(commands: &Path, disk: &Path) -> Result<(), String> {
    let text = fs::read_to_string(commands).map_err(|e| format!("{}: {e}", commands.display()))?;
    let (config, errors) = store::load_text(&text);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{}:{}: {}", commands.display(), e.line, e.message);
        }
        return Err(format!(
            "{} line(s) rejected; nothing written",
            errors.len()
        ));
    }
    let target = Target::open(disk)?;
    let mut canonical = String::new();
    config
        .write_statements(&mut canonical)
        .map_err(|_| "cannot render configuration")?;
    let (slot, seq) = target.write(&canonical)?;
    println!("identity fingerprint: {}", fingerprint(&target.identity)?);
    println!("wrote slot {slot} (sequence {seq}) of {}", disk.display());
    Ok(())
}

/// A configuration disk about to be written: what it holds now and the identity the
/// new configuration goes out with (the one it holds, or a new one for a new disk).
pub struct Target<'a> {
    path: &'a Path,
    existing: store::Selection,
    pub identity: Zeroizing<[u8; 32]>,
}

impl<'a> Target<'a> {
    /// Reads `path` (absent: a new disk). The appliance's own rule applies: only a
    /// blank disk gets a new identity; one whose slots were written but hold nothing
    /// valid is not silently replaced.
    pub fn open(path: &'a Path) -> Result<Self, String> {
        let existing = read_slots(path)?;
        for (i, e) in existing.damaged() {
            eprintln!("warning: {}: slot {i} {e}", path.display());
        }
        let plan = BootPlan::decide(DiskRead::Read(&existing), |k| {
            SecretKey::from_slice(k).is_ok()
        });
        if let Some(reason) = plan.lock() {
            return Err(format!(
                "{}: {reason}; refusing to replace its identity (remove the file to provision a new appliance)",
                path.display()
            ));
        }
        let identity = Zeroizing::new(
            match existing.newest.as_ref().and_then(|(_, _, s)| s.identity) {
                Some(key) => key,
                None => SecretKey::random(&mut OsRng).to_bytes().into(),
            },
        );
        Ok(Self {
            path,
            existing,
            identity,
        })
    }

    /// Writes `text` (statements) with the identity into the slot the appliance would
    /// write next; returns the slot and sequence number.
    pub fn write(&self, text: &str) -> Result<(usize, u64), String> {
        let disk = self.path;
        let saved = Saved {
            identity: Some(*self.identity),
            // A disk written by this tool starts without a pending rotation.
            next_identity: None,
            text: text.to_string(),
        };
        let (slot, seq) = self.existing.next_write();
        let mut image = Zeroizing::new(vec![0u8; SLOT_SIZE]);
        let n = store::encode(seq, &saved, &mut image).map_err(|e| e.to_string())?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(disk)
            .map_err(|e| format!("{}: {e}", disk.display()))?;
        if f.metadata().map(|m| m.len()).unwrap_or(0) < DISK_SIZE {
            f.set_len(DISK_SIZE).map_err(|e| e.to_string())?;
        }
        f.seek(SeekFrom::Start((slot * SLOT_SIZE) as u64))
            .map_err(|e| e.to_string())?;
        f.write_all(&image[..n]).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        Ok((slot, seq))
    }
}

pub fn show(disk: &Path) -> Result<(), String> {
    let sel = read_slots(disk)?;
    for (i, e) in sel.damaged() {
        eprintln!("warning: slot {i} {e}");
    }
    if let Some(v) = sel.newer_format() {
        eprintln!(
            "warning: a slot holds configuration format {v}, newer than this tool reads ({})",
            store::FORMAT
        );
    }
    let format = sel.newest_format;
    let (slot, seq, saved) = sel.newest.ok_or("no valid configuration on this disk")?;
    match saved.identity {
        Some(k) => println!("identity fingerprint: {}", fingerprint(&k)?),
        None => println!("identity: none yet (generated on first boot)"),
    }
    println!("# slot {slot}, sequence {seq}, configuration format {format}");
    print!("{}", saved.text);
    Ok(())
}

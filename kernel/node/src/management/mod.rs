//! Management: the running configuration, the identity and the configuration disk,
//! and the console commands that read and change them.
//!
//! A statement is applied to the running configuration all-or-nothing (the config
//! crate checks it first); `config save` persists it; at boot the newest valid slot
//! of the disk is loaded, and the first boot on an empty disk generates the identity
//! and saves it at once, so the fingerprint never changes behind the operator's back.
//! A disk that cannot be read (or holds only damaged slots) locks the appliance
//! instead: no identity, no data path, no `config save`, until `config initialize
//! confirm` (`vnetcrypt_config::boot`).

pub mod disk;
mod identity;

use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::string::ToString;
use core::fmt::Write;
use disk::{BlockDevice, ConfigDisk, DiskError};
pub use identity::IdentityKey;
use vnetcrypt_config::boot::{BootPlan, DiskRead, LockReason};
use vnetcrypt_config::gpt::GptError;
use vnetcrypt_config::store::{self, Saved};
use vnetcrypt_config::{Config, Statement};
use vnetcrypt_console::{Command, View};

/// What a handled command changed, so the subsystems that depend on it can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Nothing,
    /// The running configuration (any part of it).
    Config,
    /// The identity key.
    Identity,
    /// The next key became the identity (`identity rotate`): the running engine
    /// presents it from now on and rekeys, without a rebuild.
    IdentityRotated,
}

pub struct Management {
    pub config: Config,
    pub identity: Option<IdentityKey>,
    /// The other key of a rotation: made by `identity next` (peers pin it beside the
    /// identity), or the old identity after `identity rotate` until `identity retire`.
    pub next_identity: Option<IdentityKey>,
    disk: Option<ConfigDisk<Box<dyn BlockDevice>>>,
    /// The configuration differs from what was last saved or loaded.
    pub unsaved: bool,
    /// Set when the disk could not be read (or held nothing valid): no identity is
    /// generated, the data path stays off and `config save` is refused until an
    /// operator runs `config initialize confirm`.
    locked: Option<LockReason>,
    /// Both slots were read, so the disk knows where the next save goes.
    slots_read: bool,
    /// What went wrong with the disk at boot (for the event log).
    pub disk_problems: alloc::vec::Vec<String>,
    /// The outcome of the last `config save` (slot and sequence, or the error), for
    /// the event log; taken by the node.
    pub last_save: Option<Result<(usize, u64), String>>,
}

impl Management {
    /// Loads the configuration and identity from `disk` (if any), reporting what it
    /// finds on the console. Never fails; what it does follows [`BootPlan::decide`]:
    /// a blank or absent disk gets a first identity, an unreadable one locks.
    pub fn boot(dev: Option<Box<dyn BlockDevice>>, p: &dyn Platform, w: &mut dyn Write) -> Self {
        let mut m = Management {
            config: Config::default(),
            identity: None,
            next_identity: None,
            disk: None,
            unsaved: false,
            locked: None,
            slots_read: false,
            disk_problems: alloc::vec::Vec::new(),
            last_save: None,
        };
        let mut selection = None;
        let read = match dev.map(ConfigDisk::open) {
            None => {
                let _ = writeln!(
                    w,
                    "config: no configuration disk; changes will not survive a reboot"
                );
                DiskRead::Absent
            }
            Some(Err(e)) => {
                let _ = writeln!(w, "config: configuration disk unusable: {e}");
                m.disk_problems.push(alloc::format!("unusable: {e}"));
                match e {
                    DiskError::TooSmall | DiskError::Gpt(GptError::NoConfigPartition) => {
                        let _ = writeln!(w, "config: running on defaults");
                        DiskRead::NotConfigDisk
                    }
                    _ => DiskRead::Unreadable,
                }
            }
            Some(Ok(mut d)) => {
                let read = match d.load() {
                    Ok(sel) => {
                        for (slot, e) in sel.damaged() {
                            let _ = writeln!(w, "config: warning: slot {slot} {e}; ignored");
                            m.disk_problems.push(alloc::format!("slot {slot} {e}"));
                        }
                        match &sel.newest {
                            Some((slot, seq, _)) => {
                                let _ = writeln!(
                                    w,
                                    "config: loaded slot {slot} (sequence {seq}) from the {}",
                                    d.layout
                                );
                                if let Some((read, write)) = sel.upgraded_from() {
                                    let _ = writeln!(
                                        w,
                                        "config: read configuration format {read}, will save as {write}"
                                    );
                                }
                            }
                            None if sel.damaged().next().is_none() => {
                                let _ = writeln!(
                                    w,
                                    "config: configuration disk is empty ({})",
                                    d.layout
                                );
                            }
                            None => {}
                        }
                        selection = Some(sel);
                        m.slots_read = true;
                        None
                    }
                    Err(e) => {
                        let _ = writeln!(w, "config: cannot read the configuration disk: {e}");
                        m.disk_problems.push(alloc::format!("cannot be read: {e}"));
                        Some(DiskRead::Unreadable)
                    }
                };
                m.disk = Some(d);
                read.unwrap_or(DiskRead::Absent)
            }
        };
        let read = match &selection {
            Some(sel) => DiskRead::Read(sel),
            None => read,
        };
        let plan = BootPlan::decide(read, |k| IdentityKey::from_secret(k).is_some());
        let saved = selection.as_ref().and_then(|s| s.newest.as_ref());
        match (plan, saved) {
            (BootPlan::Restore | BootPlan::RestoreThenFirstIdentity, Some((_, _, saved))) => {
                m.restore(saved, w);
            }
            (BootPlan::Locked { restore: true, .. }, Some((_, _, saved))) => {
                m.restore_config(saved, w);
            }
            _ => {}
        }
        if let Some(reason) = plan.lock() {
            m.locked = Some(reason);
            m.disk_problems.push(alloc::format!("locked: {reason}"));
            let _ = writeln!(
                w,
                "config: LOCKED: {reason}. No identity was generated, the data path stays off \
                 and 'config save' is refused, so nothing the disk holds is overwritten.\n\
                 config: check the disk and reboot, or start anew with \
                 'config initialize confirm' (see 'help config')"
            );
        } else if plan.generates_identity() && m.identity.is_none() {
            m.first_identity(plan.saves_at_boot(), p, w);
        }
        m
    }

    /// The identity the data path may use, or why there is none.
    pub fn engine_identity(&self) -> Result<&IdentityKey, &'static str> {
        if self.locked.is_some() {
            return Err("locked: the configuration disk could not be used (see the console)");
        }
        self.identity
            .as_ref()
            .ok_or("no identity (no hardware random source)")
    }

    fn restore_config(&mut self, saved: &Saved, w: &mut dyn Write) {
        let (config, errors) = store::load_text(&saved.text);
        for e in &errors {
            let _ = writeln!(
                w,
                "config: warning: saved line {} skipped: {}",
                e.line, e.message
            );
        }
        self.config = config;
    }

    fn restore(&mut self, saved: &Saved, w: &mut dyn Write) {
        self.restore_config(saved, w);
        self.identity = match saved.identity.as_ref().map(IdentityKey::from_secret) {
            Some(Some(key)) => Some(key),
            Some(None) => {
                let _ = writeln!(w, "config: warning: the saved identity key is invalid");
                None
            }
            None => None,
        };
        self.next_identity = saved
            .next_identity
            .as_ref()
            .and_then(IdentityKey::from_secret)
            .filter(|_| self.identity.is_some());
    }

    fn first_identity(&mut self, save: bool, p: &dyn Platform, w: &mut dyn Write) {
        match IdentityKey::generate(p) {
            Ok(key) => {
                let _ = writeln!(w, "identity: generated; fingerprint {}", key.fingerprint());
                self.identity = Some(key);
                if save && self.disk.is_some() {
                    match self.save() {
                        Ok((slot, seq)) => {
                            let _ = writeln!(w, "identity: saved (slot {slot}, sequence {seq})");
                        }
                        Err(e) => {
                            let _ = writeln!(w, "identity: NOT saved: {e}");
                        }
                    }
                }
            }
            Err(_) => {
                let _ = writeln!(
                    w,
                    "identity: none: no hardware random source (RDSEED/RDRAND), key generation refused"
                );
            }
        }
    }

    fn saved(&self) -> Saved {
        let mut text = String::new();
        let _ = self.config.write_statements(&mut text);
        Saved {
            identity: self.identity.as_ref().map(|k| *k.secret()),
            next_identity: self.next_identity.as_ref().map(|k| *k.secret()),
            text,
        }
    }

    fn save(&mut self) -> Result<(usize, u64), disk::DiskError> {
        let saved = self.saved();
        let disk = self.disk.as_mut().ok_or(disk::DiskError::Absent)?;
        if !self.slots_read {
            // The slots could not be read at boot: read them now, or a save could go
            // to the slot holding the newest configuration, or lose to a slot with a
            // higher sequence number at the next boot.
            disk.load()?;
            self.slots_read = true;
        }
        let r = disk.save(&saved)?;
        self.unsaved = false;
        Ok(r)
    }

    /// Carries out the management commands; returns `None` for commands that are
    /// not management's (the caller handles those).
    pub fn handle(
        &mut self,
        cmd: &Command<'_>,
        p: &dyn Platform,
        w: &mut dyn Write,
    ) -> Option<Changed> {
        let changed = match cmd {
            Command::Show(View::Identity) => {
                match &self.identity {
                    Some(k) => {
                        let _ = k.write_show(w);
                        if let Some(n) = &self.next_identity {
                            let _ = writeln!(
                                w,
                                "next         {} ('identity rotate' presents it, \
                                 'identity retire' forgets it)",
                                n.fingerprint()
                            );
                        }
                    }
                    None => match self.locked {
                        Some(reason) => {
                            let _ = writeln!(w, "no identity: locked: {reason}");
                        }
                        None => {
                            let _ = writeln!(w, "no identity (no hardware random source)");
                        }
                    },
                }
                Changed::Nothing
            }
            Command::Show(View::Config) => {
                let _ = self.config.write_statements(w);
                if self.unsaved {
                    let _ = writeln!(w, "# unsaved changes: 'config save' persists them");
                }
                Changed::Nothing
            }
            Command::Set(st) => self.set(st.clone(), w),
            Command::ConfigReset => {
                self.config = Config::default();
                self.unsaved = true;
                let _ = writeln!(
                    w,
                    "configuration reset to defaults (identity kept; 'config save' to persist)"
                );
                Changed::Config
            }
            Command::ConfigSave
            | Command::IdentityNext
            | Command::IdentityRotate
            | Command::IdentityRetire
                if self.locked.is_some() =>
            {
                let _ = writeln!(
                    w,
                    "error: refused: {}; check the disk and reboot, or 'config initialize \
                     confirm' to start anew",
                    self.locked.map(|r| r.to_string()).unwrap_or_default()
                );
                Changed::Nothing
            }
            Command::ConfigInitialize => return Some(self.initialize(p, w)),
            Command::ConfigSave => {
                if self.disk.is_none() {
                    let _ = writeln!(w, "error: no configuration disk attached");
                    return Some(Changed::Nothing);
                }
                match self.save() {
                    Ok((slot, seq)) => {
                        let _ = writeln!(w, "saved (slot {slot}, sequence {seq})");
                        self.last_save = Some(Ok((slot, seq)));
                    }
                    Err(e) => {
                        let _ = writeln!(
                            w,
                            "error: save failed: {e}; the previous configuration is intact"
                        );
                        self.last_save = Some(Err(e.to_string()));
                    }
                }
                Changed::Nothing
            }
            Command::IdentityNext => self.identity_next(p, w),
            Command::IdentityRotate => self.identity_rotate(w),
            Command::IdentityRetire => match self.next_identity.take() {
                Some(k) => {
                    let _ = writeln!(
                        w,
                        "next key {} forgotten; 'config save' to persist",
                        k.fingerprint()
                    );
                    self.unsaved = true;
                    Changed::Nothing
                }
                None => {
                    let _ = writeln!(w, "error: no next key to retire");
                    Changed::Nothing
                }
            },
            _ => return None,
        };
        Some(changed)
    }

    /// `identity next`: a next key beside the identity, which keeps serving.
    fn identity_next(&mut self, p: &dyn Platform, w: &mut dyn Write) -> Changed {
        let Some(current) = self.identity.as_ref().map(IdentityKey::fingerprint) else {
            let _ = writeln!(w, "error: no identity yet");
            return Changed::Nothing;
        };
        if let Some(n) = &self.next_identity {
            let _ = writeln!(
                w,
                "error: a next key exists ({}): 'identity rotate' uses it, 'identity retire' \
                 forgets it",
                n.fingerprint()
            );
            return Changed::Nothing;
        }
        match IdentityKey::generate(p) {
            Ok(key) => {
                let _ = writeln!(w, "next identity; fingerprint {}", key.fingerprint());
                let _ = writeln!(
                    w,
                    "handshakes still present {current}; pin both on every peer \
                     ('peer set NAME fingerprint {current},{}'), then 'identity rotate'; \
                     'config save' keeps the next key",
                    key.fingerprint()
                );
                self.next_identity = Some(key);
                self.unsaved = true;
            }
            Err(_) => {
                let _ = writeln!(
                    w,
                    "error: no hardware random source: key generation refused"
                );
            }
        }
        Changed::Nothing
    }

    /// `identity rotate`: the next key becomes the identity; the old one stays as
    /// the next (so that rotating again goes back) until `identity retire`.
    fn identity_rotate(&mut self, w: &mut dyn Write) -> Changed {
        let Some(next) = self.next_identity.take() else {
            let _ = writeln!(
                w,
                "error: no next key: 'identity next' makes one, peers pin it, then \
                 'identity rotate'"
            );
            return Changed::Nothing;
        };
        let new = next.fingerprint();
        self.next_identity = self.identity.replace(next);
        self.unsaved = true;
        let _ = writeln!(w, "identity rotated; handshakes now present {new}");
        if let Some(old) = &self.next_identity {
            let _ = writeln!(
                w,
                "the previous key {} is kept as the next key ('identity rotate' goes back) \
                 until 'identity retire'; 'config save' to persist",
                old.fingerprint()
            );
        }
        Changed::IdentityRotated
    }

    /// `config initialize confirm`: the operator's decision to abandon what an
    /// unreadable disk holds. Ends the lock; generates an identity if there is none;
    /// the next `config save` writes the disk.
    fn initialize(&mut self, p: &dyn Platform, w: &mut dyn Write) -> Changed {
        let Some(reason) = self.locked else {
            let _ = writeln!(
                w,
                "error: nothing to initialize: the appliance is not locked"
            );
            return Changed::Nothing;
        };
        if self.identity.is_none() {
            match IdentityKey::generate(p) {
                Ok(key) => {
                    let _ = writeln!(w, "new identity; fingerprint {}", key.fingerprint());
                    self.identity = Some(key);
                }
                Err(_) => {
                    let _ = writeln!(
                        w,
                        "error: no hardware random source: key generation refused; still locked"
                    );
                    return Changed::Nothing;
                }
            }
        }
        self.locked = None;
        self.unsaved = true;
        let _ = writeln!(
            w,
            "unlocked (was: {reason}); peers must pin this identity; 'config save' \
             overwrites the configuration disk"
        );
        Changed::Identity
    }

    fn set(&mut self, st: Statement<'_>, w: &mut dyn Write) -> Changed {
        match self.config.apply(st) {
            Ok(()) => {
                self.unsaved = true;
                Changed::Config
            }
            Err(e) => {
                let _ = writeln!(w, "error: {e}");
                Changed::Nothing
            }
        }
    }

    /// Test builds: a save cut short after `sectors` sectors, as a power cut would.
    #[cfg(feature = "test-faults")]
    pub fn torn_save(&mut self, sectors: u64, w: &mut dyn Write) {
        if let Some(reason) = self.locked {
            let _ = writeln!(w, "error: refused: {reason}");
            return;
        }
        let saved = self.saved();
        match self.disk.as_mut() {
            Some(d) => match d.save_partial(&saved, sectors) {
                Ok((slot, seq)) => {
                    let _ = writeln!(
                        w,
                        "torn save: slot {slot} sequence {seq}, {sectors} sector(s) written"
                    );
                }
                Err(e) => {
                    let _ = writeln!(w, "error: {e}");
                }
            },
            None => {
                let _ = writeln!(w, "error: no configuration disk attached");
            }
        }
    }
}

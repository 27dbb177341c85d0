//! What the appliance does at boot with what it read from its configuration disk.
//!
//! The rule: only a disk that is blank (every slot never written) or absent leads to a
//! newly generated identity. A disk that cannot be read, or that holds slots none of
//! which is valid, or whose saved identity is unusable, *locks* the appliance: nothing
//! is generated, the data path stays off and `config save` is refused, so neither the
//! identity peers pinned nor the saved configuration can be replaced behind the
//! operator's back. A slot written in a newer configuration format (by a newer
//! appliance, before a downgrade) locks the same way: this build cannot read it and
//! must not overwrite it. An operator ends the lock on purpose (`config initialize confirm`).

use crate::store::{Selection, SlotError};
use core::fmt;

/// What reading the configuration disk gave.
#[derive(Debug, Clone, Copy)]
pub enum DiskRead<'a> {
    /// No disk attached.
    Absent,
    /// A readable disk that is not a configuration disk (too small for the slots, or
    /// partitioned without a configuration partition): nothing of ours is on it.
    NotConfigDisk,
    /// The device refused a read, or the partition table is damaged: what the disk
    /// holds is unknown.
    Unreadable,
    /// Both slots were read.
    Read(&'a Selection),
}

/// Why the appliance is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockReason {
    /// The disk (or its partition table) could not be read.
    Unreadable,
    /// Slots were written once but none of them is valid now.
    NoValidSlot,
    /// The newest valid slot carries an identity key that is not a valid key.
    InvalidIdentity,
    /// A slot holds a configuration format newer than this build reads.
    NewerFormat(u32),
}

impl fmt::Display for LockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockReason::Unreadable => "the configuration disk cannot be read",
            LockReason::NoValidSlot => "the configuration disk holds no valid configuration",
            LockReason::InvalidIdentity => "the saved identity key is invalid",
            LockReason::NewerFormat(v) => {
                return write!(
                    f,
                    "the configuration disk holds configuration format {v}, newer than this \
                     build reads ({}): boot the newer release again",
                    crate::store::FORMAT
                )
            }
        })
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPlan {
    /// Load the newest valid slot and its identity.
    Restore,
    /// Load the newest valid slot, which was saved without an identity (by an
    /// appliance with no random source): generate the first identity and save it.
    RestoreThenFirstIdentity,
    /// No configuration yet: generate the first identity, and save it at once when
    /// `save` (a blank disk is attached).
    FirstBoot { save: bool },
    /// Generate nothing, keep the data path off, refuse `config save`. `restore`: the
    /// newest valid slot's configuration is still loaded (without its identity), so the
    /// operator can see it.
    Locked { reason: LockReason, restore: bool },
}

impl BootPlan {
    /// Decides. `valid_key` says whether 32 saved bytes are a usable identity key.
    pub fn decide(read: DiskRead<'_>, valid_key: impl Fn(&[u8; 32]) -> bool) -> BootPlan {
        let sel = match read {
            DiskRead::Absent | DiskRead::NotConfigDisk => {
                return BootPlan::FirstBoot { save: false }
            }
            DiskRead::Unreadable => {
                return BootPlan::Locked {
                    reason: LockReason::Unreadable,
                    restore: false,
                }
            }
            DiskRead::Read(sel) => sel,
        };
        if let Some(v) = sel.newer_format() {
            return BootPlan::Locked {
                reason: LockReason::NewerFormat(v),
                restore: false,
            };
        }
        match &sel.newest {
            Some((_, _, saved)) => match &saved.identity {
                Some(k) if valid_key(k) => BootPlan::Restore,
                Some(_) => BootPlan::Locked {
                    reason: LockReason::InvalidIdentity,
                    restore: true,
                },
                None => BootPlan::RestoreThenFirstIdentity,
            },
            None if sel.errors.iter().all(|e| *e == Some(SlotError::Empty)) => {
                BootPlan::FirstBoot { save: true }
            }
            None => BootPlan::Locked {
                reason: LockReason::NoValidSlot,
                restore: false,
            },
        }
    }

    /// Whether this plan generates an identity.
    pub fn generates_identity(&self) -> bool {
        matches!(
            self,
            BootPlan::RestoreThenFirstIdentity | BootPlan::FirstBoot { .. }
        )
    }

    /// Whether the disk may be written at boot (the first identity, saved at once).
    pub fn saves_at_boot(&self) -> bool {
        matches!(
            self,
            BootPlan::RestoreThenFirstIdentity | BootPlan::FirstBoot { save: true }
        )
    }

    /// The lock, if any.
    pub fn lock(&self) -> Option<LockReason> {
        match self {
            BootPlan::Locked { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, Saved, SLOT_SIZE};
    use std::vec;
    use std::vec::Vec;

    fn slot(seq: u64, identity: Option<[u8; 32]>) -> Vec<u8> {
        let mut buf = vec![0u8; SLOT_SIZE];
        let saved = Saved {
            identity,
            next_identity: None,
            text: "enforcement drop\n".into(),
        };
        store::encode(seq, &saved, &mut buf).unwrap();
        buf
    }

    fn blank() -> Vec<u8> {
        vec![0u8; SLOT_SIZE]
    }

    fn damaged(seq: u64) -> Vec<u8> {
        let mut s = slot(seq, Some([7; 32]));
        s[40] ^= 1;
        s
    }

    /// Keys of all 0xEE bytes count as invalid in these tests.
    fn valid(k: &[u8; 32]) -> bool {
        k != &[0xEE; 32]
    }

    fn decide(s0: &[u8], s1: &[u8]) -> BootPlan {
        BootPlan::decide(DiskRead::Read(&store::select(s0, s1)), valid)
    }

    #[test]
    fn only_a_blank_or_absent_disk_gets_a_first_identity() {
        assert_eq!(
            decide(&blank(), &blank()),
            BootPlan::FirstBoot { save: true }
        );
        assert_eq!(
            BootPlan::decide(DiskRead::Absent, valid),
            BootPlan::FirstBoot { save: false }
        );
        assert_eq!(
            BootPlan::decide(DiskRead::NotConfigDisk, valid),
            BootPlan::FirstBoot { save: false }
        );
        assert!(BootPlan::FirstBoot { save: true }.saves_at_boot());
        assert!(!BootPlan::FirstBoot { save: false }.saves_at_boot());
    }

    #[test]
    fn an_unreadable_disk_locks_and_generates_nothing() {
        let plan = BootPlan::decide(DiskRead::Unreadable, valid);
        assert_eq!(plan.lock(), Some(LockReason::Unreadable));
        assert!(!plan.generates_identity());
        assert!(!plan.saves_at_boot());
    }

    #[test]
    fn slots_that_were_written_but_are_all_damaged_lock() {
        for (a, b) in [
            (damaged(1), blank()),
            (blank(), damaged(1)),
            (damaged(1), damaged(2)),
        ] {
            let plan = decide(&a, &b);
            assert_eq!(
                plan,
                BootPlan::Locked {
                    reason: LockReason::NoValidSlot,
                    restore: false
                }
            );
            assert!(!plan.generates_identity() && !plan.saves_at_boot());
        }
    }

    #[test]
    fn a_valid_slot_restores_even_beside_a_damaged_one() {
        assert_eq!(
            decide(&slot(3, Some([1; 32])), &damaged(4)),
            BootPlan::Restore
        );
        assert_eq!(decide(&blank(), &slot(1, Some([1; 32]))), BootPlan::Restore);
    }

    #[test]
    fn an_invalid_saved_identity_locks_but_shows_the_configuration() {
        let plan = decide(&slot(1, Some([0xEE; 32])), &blank());
        assert_eq!(
            plan,
            BootPlan::Locked {
                reason: LockReason::InvalidIdentity,
                restore: true
            }
        );
        assert!(!plan.generates_identity());
    }

    #[test]
    fn a_newer_format_locks_even_beside_a_valid_slot() {
        let mut newer = slot(5, Some([1; 32]));
        let n = u32::from_le_bytes(newer[16..20].try_into().unwrap()) as usize;
        newer[20..24].copy_from_slice(&(store::FORMAT + 1).to_le_bytes());
        let d = <sha2::Sha256 as sha2::Digest>::digest(&newer[..24 + n]);
        newer[24 + n..24 + n + 32].copy_from_slice(&d);
        for (a, b) in [
            (newer.clone(), slot(4, Some([1; 32]))),
            (blank(), newer.clone()),
        ] {
            let plan = decide(&a, &b);
            assert_eq!(
                plan,
                BootPlan::Locked {
                    reason: LockReason::NewerFormat(store::FORMAT + 1),
                    restore: false
                }
            );
            assert!(!plan.generates_identity() && !plan.saves_at_boot());
        }
        let shown = std::format!("{}", LockReason::NewerFormat(store::FORMAT + 1));
        assert!(shown.contains("newer than this build reads"), "{shown}");
    }

    #[test]
    fn a_slot_saved_without_identity_gets_its_first_one() {
        let plan = decide(&slot(1, None), &blank());
        assert_eq!(plan, BootPlan::RestoreThenFirstIdentity);
        assert!(plan.generates_identity() && plan.saves_at_boot());
    }
}

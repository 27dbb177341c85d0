//! The node's management on the host: first identity and its persistence, `identity
//! next`/`rotate`/`retire`, `config reset`, `config save` refusals, the lock of an unreadable disk and
//! `config initialize confirm`, a machine without a random source.

mod sim;

use sim::bare::{boot, fingerprint, platform, run};
use sim::machine::{FailingDisk, MemDisk};
use vnetcrypt_node::Node;

#[test]
fn the_first_identity_is_saved_at_once_and_survives_a_reboot() {
    let disk = MemDisk::blank(512);
    let (mut node, out) = boot(Some(Box::new(disk.clone())), platform(1));
    assert!(out.contains("configuration disk is empty"), "{out}");
    assert!(out.contains("identity: saved"), "{out}");
    let fp = fingerprint(&mut node).expect("an identity");
    drop(node);
    let (mut node, out) = boot(Some(Box::new(disk)), platform(2));
    assert!(out.contains("config: loaded slot"), "{out}");
    assert_eq!(fingerprint(&mut node), Some(fp));
}

fn next_fingerprint(node: &mut Node) -> Option<String> {
    run(node, "identity show")
        .lines()
        .find_map(|l| l.strip_prefix("next"))
        .and_then(|f| f.split_whitespace().next())
        .map(str::to_string)
}

#[test]
fn identity_next_rotate_retire_and_config_save_persists_both_keys() {
    let disk = MemDisk::blank(512);
    let (mut node, _) = boot(Some(Box::new(disk.clone())), platform(3));
    let old = fingerprint(&mut node).expect("an identity");
    let out = run(&mut node, "identity rotate");
    assert!(out.contains("error: no next key"), "{out}");
    let out = run(&mut node, "identity next");
    assert!(out.contains("next identity; fingerprint"), "{out}");
    assert!(
        out.contains(&format!("handshakes still present {old}")),
        "{out}"
    );
    let next = next_fingerprint(&mut node).expect("a next key");
    assert_ne!(next, old);
    assert!(out.contains(&format!("fingerprint {old},{next}")), "{out}");
    assert_eq!(
        fingerprint(&mut node),
        Some(old.clone()),
        "the current key serves"
    );
    assert!(run(&mut node, "identity next").contains("error: a next key exists"));
    // Neither key is ever printed.
    assert!(!run(&mut node, "identity show").contains("private"));
    assert!(run(&mut node, "config show").contains("unsaved changes"));
    // Not saved yet: a reboot has no next key.
    let (mut again, _) = boot(Some(Box::new(disk.clone())), platform(4));
    assert_eq!(next_fingerprint(&mut again), None);
    assert!(run(&mut node, "config save").contains("saved (slot"));
    let (mut again, _) = boot(Some(Box::new(disk.clone())), platform(5));
    assert_eq!(fingerprint(&mut again), Some(old.clone()));
    assert_eq!(next_fingerprint(&mut again), Some(next.clone()));
    // Rotate: the next key serves, the old one becomes the next; saved, both return.
    let out = run(&mut node, "identity rotate");
    assert!(
        out.contains(&format!("handshakes now present {next}")),
        "{out}"
    );
    assert_eq!(fingerprint(&mut node), Some(next.clone()));
    assert_eq!(next_fingerprint(&mut node), Some(old.clone()));
    run(&mut node, "config save");
    let (mut again, _) = boot(Some(Box::new(disk.clone())), platform(6));
    assert_eq!(fingerprint(&mut again), Some(next.clone()));
    assert_eq!(next_fingerprint(&mut again), Some(old.clone()));
    // Retire forgets the old key, for good once saved.
    let out = run(&mut node, "identity retire");
    assert!(out.contains(&format!("next key {old} forgotten")), "{out}");
    assert!(run(&mut node, "identity retire").contains("error: no next key"));
    run(&mut node, "config save");
    let (mut again, _) = boot(Some(Box::new(disk)), platform(7));
    assert_eq!(fingerprint(&mut again), Some(next));
    assert_eq!(next_fingerprint(&mut again), None);
}

#[test]
fn config_reset_returns_to_defaults_and_keeps_the_identity() {
    let (mut node, _) = boot(Some(Box::new(MemDisk::blank(512))), platform(6));
    let fp = fingerprint(&mut node);
    let out = run(&mut node, "listen port 4600");
    assert!(!out.contains("error"), "{out}");
    assert_eq!(node.config().listen_port, 4600);
    let out = run(&mut node, "config reset");
    assert!(out.contains("identity kept"), "{out}");
    assert_ne!(node.config().listen_port, 4600);
    assert_eq!(fingerprint(&mut node), fp);
}

#[test]
fn without_a_disk_the_node_runs_and_refuses_to_save() {
    let (mut node, out) = boot(None, platform(7));
    assert!(out.contains("no configuration disk"), "{out}");
    assert!(fingerprint(&mut node).is_some());
    let out = run(&mut node, "config save");
    assert!(out.contains("error: no configuration disk"), "{out}");
}

#[test]
fn an_unreadable_disk_locks_until_initialize_confirm() {
    let inner = MemDisk::blank(512);
    let disk = FailingDisk {
        inner: inner.clone(),
        fail_reads: true,
        fail_writes: false,
    };
    let (mut node, out) = boot(Some(Box::new(disk)), platform(8));
    assert!(out.contains("LOCKED"), "{out}");
    assert_eq!(fingerprint(&mut node), None, "no identity while locked");
    let out = run(&mut node, "config save");
    assert!(out.contains("error: refused"), "{out}");
    for verb in ["next", "rotate", "retire"] {
        let out = run(&mut node, &format!("identity {verb}"));
        assert!(out.contains("error: refused"), "{out}");
    }
    assert!(run(&mut node, "peers").contains("inactive"));
    // Nothing was written to what the disk holds.
    assert!(inner.0.borrow().iter().all(|&b| b == 0));

    let out = run(&mut node, "config initialize confirm");
    assert!(out.contains("unlocked"), "{out}");
    assert!(fingerprint(&mut node).is_some());
    // The event log kept what happened: the disk error at boot, the new identity.
    let events = run(&mut node, "events");
    assert!(
        events.contains("DISK_ERROR      configuration disk: unusable: disk I/O error"),
        "{events}"
    );
    assert!(
        events.contains("DISK_ERROR      configuration disk: locked"),
        "{events}"
    );
    assert!(
        events.contains("CONFIG_CHANGED  configuration changed: identity "),
        "{events}"
    );
}

#[test]
fn a_failing_write_leaves_the_saved_configuration() {
    let inner = MemDisk::blank(512);
    let (mut node, _) = boot(Some(Box::new(inner.clone())), platform(9));
    let saved = inner.0.borrow().clone();
    drop(node);
    let disk = FailingDisk {
        inner: inner.clone(),
        fail_reads: false,
        fail_writes: true,
    };
    let (mut node2, _) = boot(Some(Box::new(disk)), platform(10));
    run(&mut node2, "listen port 4700");
    let out = run(&mut node2, "config save");
    assert!(out.contains("error: save failed"), "{out}");
    assert_eq!(*inner.0.borrow(), saved);
    let events = run(&mut node2, "events 2");
    assert!(
        events.contains("CONFIG_CHANGED  configuration changed: listen port 4700"),
        "{events}"
    );
    assert!(
        events.contains("DISK_ERROR      configuration save failed: "),
        "{events}"
    );
    assert!(!events.contains("CONFIG_SAVED"), "{events}");
    node = node2;
    assert_eq!(
        node.config().listen_port,
        4700,
        "the running configuration stays"
    );
}

#[test]
fn without_a_random_source_no_key_is_made() {
    let mut p = platform(11);
    p.no_rng = true;
    let (mut node, out) = boot(Some(Box::new(MemDisk::blank(512))), p);
    assert!(
        out.contains("identity: none: no hardware random source"),
        "{out}"
    );
    assert_eq!(fingerprint(&mut node), None);
    let out = run(&mut node, "identity next");
    assert!(out.contains("error: no identity yet"), "{out}");
}

//! `vnetcrypt-provision fleet` as an operator runs it: the disks it writes hold
//! configurations the appliance's grammar accepts, every pin is the fingerprint of the
//! key on the pinned gateway's own disk, and a bad inventory writes nothing.

use p256::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use vnetcrypt_config::{store, Config};

fn provision(args: &[&Path]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vnetcrypt-provision"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fleet(dir: &Path, inventory: &str) -> (bool, String, String) {
    let inv = dir.join("fleet.inv");
    std::fs::write(&inv, inventory).unwrap();
    provision(&[Path::new("fleet"), &inv, &dir.join("out")])
}

/// What a disk holds: its key's fingerprint (computed here, independently of the
/// tool), the key as hex (to look for leaks) and the configuration it loads.
struct Disk {
    fingerprint: String,
    secret_hex: String,
    config: Config,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_disk(path: &Path) -> Disk {
    let bytes = std::fs::read(path).unwrap();
    let sel = store::select(
        &bytes[..store::SLOT_SIZE],
        &bytes[store::SLOT_SIZE..2 * store::SLOT_SIZE],
    );
    let (_, _, saved) = sel.newest.expect("a valid slot");
    let secret = saved.identity.expect("an identity on the disk");
    let key = p256::SecretKey::from_slice(&secret).expect("a valid P-256 key");
    let spki = key.public_key().to_public_key_der().unwrap();
    let (config, errors) = store::load_text(&saved.text);
    assert_eq!(
        errors,
        [],
        "the appliance would skip lines of:\n{}",
        saved.text
    );
    Disk {
        fingerprint: hex(&Sha256::digest(spki.as_bytes())),
        secret_hex: hex(&secret),
        config,
    }
}

fn disks(dir: &Path, names: &[&str]) -> BTreeMap<String, Disk> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                read_disk(&dir.join("out").join(format!("{n}.disk"))),
            )
        })
        .collect()
}

fn peer<'a>(d: &'a Disk, name: &str) -> &'a vnetcrypt_config::PeerConfig {
    d.config
        .peers
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no peer {name}"))
}

fn prefixes(p: &vnetcrypt_config::PeerConfig) -> Vec<String> {
    p.prefixes.iter().map(ToString::to_string).collect()
}

const MESH: &str = "\
# three sites, every one with every other
fleet enforcement drop
fleet keepalive interval 5
gateway a wan 192.0.2.1/24 port 4444 lan 10.1.0.1/24 role mesh
gateway b wan 192.0.2.2/24 port 4444 lan 10.2.0.1/24 protect 10.2.0.0/24,10.20.0.0/16 role mesh
gateway c wan 192.0.2.3/24 lan 10.3.0.1/24 role mesh   # default port
at c proxy-arp on
";

#[test]
fn a_mesh_gets_every_peer_pinned_to_the_key_on_its_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = fleet(dir.path(), MESH);
    assert!(ok, "{err}");
    let d = disks(dir.path(), &["a", "b", "c"]);
    for (name, disk) in &d {
        let others: Vec<&String> = d.keys().filter(|n| *n != name).collect();
        assert_eq!(disk.config.peers.len(), 2, "{name}");
        for o in others {
            assert_eq!(
                peer(disk, o).fingerprint.to_string(),
                d[o].fingerprint,
                "{name} pins {o}"
            );
        }
        // The summary (printed and in the file) names the same fingerprint.
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        assert!(row.contains(&disk.fingerprint), "{row}");
        // No private key anywhere but in the disks.
        let summary = std::fs::read_to_string(dir.path().join("out/summary.txt")).unwrap();
        for text in [&out, &err, &summary] {
            assert!(
                !text.contains(&disk.secret_hex),
                "private key of {name} printed"
            );
        }
        assert_eq!(
            disk.config.enforcement,
            vnetcrypt_config::Enforcement::DropUnencrypted
        );
        assert_eq!(disk.config.liveness.keepalive_s, 5);
    }
    assert_eq!(
        peer(&d["a"], "b")
            .endpoint
            .map(|e| e.to_string())
            .unwrap_or_default(),
        "192.0.2.2:4444",
        "the peer's own port"
    );
    assert_eq!(peer(&d["a"], "c").endpoint.map(|e| e.port()), Some(4433));
    assert_eq!(d["c"].config.listen_port, 4433);
    assert_eq!(d["a"].config.listen_port, 4444);
    assert_eq!(
        prefixes(peer(&d["a"], "b")),
        ["10.2.0.0/24", "10.20.0.0/16"]
    );
    assert!(
        d["c"].config.proxy_arp && !d["a"].config.proxy_arp,
        "'at c' reaches c only"
    );
    assert!(out.contains("wrote 3 disk(s)"), "{out}");

    // Adding a gateway and running again keeps every existing identity.
    let (ok, _, err) = fleet(
        dir.path(),
        &format!("{MESH}gateway d wan 192.0.2.4/24 lan 10.4.0.1/24 role mesh\n"),
    );
    assert!(ok, "{err}");
    let again = disks(dir.path(), &["a", "b", "c", "d"]);
    for n in ["a", "b", "c"] {
        assert_eq!(
            again[n].fingerprint, d[n].fingerprint,
            "{n} kept its identity"
        );
        assert_eq!(
            peer(&again[n], "d").fingerprint.to_string(),
            again["d"].fingerprint
        );
    }
}

#[test]
fn a_spoke_reaches_the_other_spokes_through_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = fleet(
        dir.path(),
        "gateway hub wan 192.0.2.1/24 lan 10.0.0.1/24 role hub\n\
         gateway s1 wan 192.0.2.2/24 lan 10.1.0.1/24 role spoke\n\
         gateway s2 wan 192.0.2.3/24 lan 10.2.0.1/24 role spoke\n",
    );
    assert!(ok, "{err}");
    let d = disks(dir.path(), &["hub", "s1", "s2"]);
    assert_eq!(d["s1"].config.peers.len(), 1);
    assert_eq!(
        prefixes(peer(&d["s1"], "hub")),
        ["10.0.0.0/24", "10.2.0.0/24"]
    );
    assert_eq!(
        prefixes(peer(&d["s2"], "hub")),
        ["10.0.0.0/24", "10.1.0.0/24"]
    );
    assert_eq!(prefixes(peer(&d["hub"], "s1")), ["10.1.0.0/24"]);
    assert_eq!(
        peer(&d["hub"], "s2").fingerprint.to_string(),
        d["s2"].fingerprint
    );
    // The hub relays between its spokes; nobody else does.
    for (gw, to, transit) in [
        ("hub", "s1", true),
        ("hub", "s2", true),
        ("s1", "hub", false),
    ] {
        assert_eq!(peer(&d[gw], to).transit, transit, "{gw} -> {to}");
    }
    assert!(out.contains("hub          hub"), "{out}");
}

#[test]
fn a_bad_inventory_names_its_lines_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = fleet(
        dir.path(),
        "gateway a wan 192.0.2.1/24 lan 10.1.0.1/24 role mesh\n\
         gateway b wan 192.0.2.2/24 lan 10.1.0.2/24 role mesh\n\
         gateway c wan 192.0.2.3/24 lan 10.3.0.1/24 role spoke\n\
         gateway d wan 192.0.2.4/24 lan 10.4.0.1/24 role satellite\n",
    );
    assert!(!ok);
    assert!(
        err.contains("fleet.inv:4: unknown role 'satellite'"),
        "{err}"
    );
    // Parsing stops before the fleet-wide checks; fix line 4 to see them.
    let (ok, _, err) = fleet(
        dir.path(),
        "gateway a wan 192.0.2.1/24 lan 10.1.0.1/24 role mesh\n\
         gateway b wan 192.0.2.2/24 lan 10.1.0.2/24 role mesh\n\
         gateway c wan 192.0.2.3/24 lan 10.3.0.1/24 role spoke\n",
    );
    assert!(!ok);
    assert!(
        err.contains("fleet.inv:2: prefix 10.1.0.0/24 of 'b' overlaps"),
        "{err}"
    );
    assert!(
        err.contains("fleet.inv:3: spoke 'c' but the fleet has no hub"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");

    // A statement the configuration grammar refuses is named by its inventory line,
    // for every gateway it would have reached.
    let (ok, _, err) = fleet(
        dir.path(),
        "gateway a wan 192.0.2.1/24 lan 10.1.0.1/24 role mesh\n\
         fleet enforcement maybe\n\
         gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh\n\
         at b collector 192.0.2.9:2055\n",
    );
    assert!(!ok);
    assert!(
        err.contains("fleet.inv:2: gateway 'a': invalid value 'maybe'"),
        "{err}"
    );
    assert!(
        err.contains("fleet.inv:2: gateway 'b': invalid value 'maybe'"),
        "{err}"
    );
    assert!(
        err.contains("fleet.inv:4: gateway 'b':") && err.contains("in the clear"),
        "{err}"
    );
    let out = dir.path().join("out");
    assert_eq!(
        std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing written"
    );
}

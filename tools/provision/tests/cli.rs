//! The provisioning tool as a user runs it, checked against OpenSSL's idea of the key.

use std::path::Path;
use std::process::Command;

fn provision(args: &[&str]) -> (bool, String, String) {
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

fn fingerprint_line(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("identity fingerprint: "))
        .expect("a fingerprint line")
        .to_string()
}

const FP: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn builds_a_disk_that_shows_back_and_keeps_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(
        dir.path(),
        "a.conf",
        &format!(
            "# gateway A\ninterface lan address 10.1.0.1/24\n\nenforcement drop\n\
             peer add b endpoint 192.0.2.2:4433 fingerprint {FP} prefix 10.2.0.0/24\n"
        ),
    );
    let disk = dir.path().join("a.img");
    let disk = disk.to_str().unwrap();
    let (ok, out, err) = provision(&["build", &cmds, disk]);
    assert!(ok, "{err}");
    let fp = fingerprint_line(&out);
    assert_eq!(fp.len(), 64);
    assert_eq!(std::fs::metadata(disk).unwrap().len(), 1024 * 1024);

    let (ok, shown, err) = provision(&["show", disk]);
    assert!(ok, "{err}");
    assert_eq!(fingerprint_line(&shown), fp);
    assert!(
        shown.contains("# slot 0, sequence 1, configuration format 2\n"),
        "{shown}"
    );
    assert!(shown.contains("enforcement drop\n"), "{shown}");
    assert!(
        shown.contains("interface lan address 10.1.0.1/24\n"),
        "{shown}"
    );
    assert!(shown.contains(&format!(
        "peer add b endpoint 192.0.2.2:4433 fingerprint {FP}"
    )));

    // Re-provisioning keeps the identity and writes the other slot.
    let cmds2 = write(dir.path(), "a2.conf", "enforcement allow\n");
    let (ok, out2, err) = provision(&["build", &cmds2, disk]);
    assert!(ok, "{err}");
    assert_eq!(fingerprint_line(&out2), fp);
    assert!(out2.contains("wrote slot 1 (sequence 2)"), "{out2}");
    let (_, shown, _) = provision(&["show", disk]);
    assert!(!shown.contains("enforcement drop"), "{shown}");
}

#[test]
fn a_bad_line_writes_nothing_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(
        dir.path(),
        "bad.conf",
        "enforcement drop\npeer add b endpoint nowhere\n",
    );
    let disk = dir.path().join("bad.img");
    let (ok, _, err) = provision(&["build", &cmds, disk.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.conf:2: invalid value 'nowhere'"), "{err}");
    assert!(!disk.exists());
}

#[test]
fn private_key_never_appears_in_output_and_fingerprint_matches_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(dir.path(), "c.conf", "");
    let disk = dir.path().join("c.img");
    let (ok, out, err) = provision(&["build", &cmds, disk.to_str().unwrap()]);
    assert!(ok, "{err}");
    let fp = fingerprint_line(&out);

    // Pull the secret out of slot 0 the way the format documents it, and let OpenSSL
    // derive the public key and its SPKI digest independently.
    let bytes = std::fs::read(&disk).unwrap();
    assert_eq!(bytes[24], 1, "identity tag");
    let secret = &bytes[25..57];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        !out.contains(&hex) && !err.contains(&hex),
        "private key printed"
    );
    let (_, shown, shown_err) = provision(&["show", disk.to_str().unwrap()]);
    assert!(
        !shown.contains(&hex) && !shown_err.contains(&hex),
        "private key printed"
    );

    // SEC1 ECPrivateKey DER: SEQUENCE { 1, OCTET STRING secret, [0] prime256v1 }.
    let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(secret);
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    let key = dir.path().join("k.der");
    std::fs::write(&key, &der).unwrap();
    let spki = dir.path().join("spki.der");
    let st = Command::new("openssl")
        .args(["ec", "-inform", "DER", "-in"])
        .arg(&key)
        .args(["-pubout", "-outform", "DER", "-out"])
        .arg(&spki)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed by scripts/deps.sh");
    assert!(st.success());
    let dgst = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(&spki)
        .output()
        .unwrap();
    let openssl_fp = String::from_utf8_lossy(&dgst.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(fp, openssl_fp);
}

#[test]
fn show_on_an_empty_disk_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("empty.img");
    std::fs::write(&disk, vec![0u8; 1024 * 1024]).unwrap();
    let (ok, _, err) = provision(&["show", disk.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("no valid configuration"), "{err}");
}

#[test]
fn a_disk_whose_slots_are_all_damaged_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(dir.path(), "d.conf", "enforcement drop\n");
    let disk = dir.path().join("d.img");
    let disk = disk.to_str().unwrap();
    let (ok, _, err) = provision(&["build", &cmds, disk]);
    assert!(ok, "{err}");
    // Damage the only written slot: a new identity must not replace the lost one.
    let mut bytes = std::fs::read(disk).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(disk, &bytes).unwrap();
    let (ok, out, err) = provision(&["build", &cmds, disk]);
    assert!(!ok, "{out}");
    assert!(err.contains("holds no valid configuration"), "{err}");
    assert_eq!(std::fs::read(disk).unwrap(), bytes, "the disk was written");
}

#[test]
fn liveness_rekey_and_collector_statements_provision_and_show_back() {
    let dir = tempfile::tempdir().unwrap();
    // The collector comes first here: it is applied after the peer that protects it.
    let text = format!(
        "collector 10.2.0.9:2055 interval 30\nkeepalive interval 5\ndead-peer after 15\n\
         fallback after 60\nrekey records 5000\n\
         peer add b endpoint 192.0.2.2:4433 fingerprint {FP} prefix 10.2.0.0/24\n"
    );
    let cmds = write(dir.path(), "l.conf", &text);
    let disk = dir.path().join("l.img");
    let disk = disk.to_str().unwrap();
    let (ok, _, err) = provision(&["build", &cmds, disk]);
    assert!(ok, "{err}");
    let (ok, shown, err) = provision(&["show", disk]);
    assert!(ok, "{err}");
    for line in [
        "enforcement drop\n",
        "rekey records 5000\n",
        "keepalive interval 5\n",
        "dead-peer after 15\n",
        "fallback after 60\n",
        "collector 10.2.0.9:2055 interval 30\n",
    ] {
        assert!(shown.contains(line), "{line:?} missing from:\n{shown}");
    }
    // A collector that only wan could reach is refused, and nothing is written.
    let bad = write(dir.path(), "bad.conf", "collector 192.0.2.9:2055\n");
    let fresh = dir.path().join("bad.img");
    let (ok, _, err) = provision(&["build", &bad, fresh.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("in the clear"), "{err}");
    assert!(!fresh.exists());
}

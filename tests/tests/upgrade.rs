//! The upgrade procedure of README "Upgrading", under QEMU (q35, SeaBIOS, GRUB): a
//! gateway whose configuration lives in its boot image's partition gets a blank
//! configuration disk and moves onto it; then its boot image is replaced by a second
//! build of the image and it comes back with the same identity and configuration,
//! reading an older configuration format and saying so; an older format reader meets
//! a newer format and locks without writing.

use std::path::{Path, PathBuf};
use std::process::Command;
use vnetcrypt_tests::{exec, exit, field, kernel, repo_root, LogDir, Run};

fn image() -> PathBuf {
    let p = repo_root().join("build/vnetcrypt.raw");
    assert!(p.is_file(), "{} is missing: run `make image`", p.display());
    p
}

/// Boots `boot_image` (and, unless `config` is "none", the configuration disk the
/// launcher puts beside it) and runs `commands`.
fn boot(boot_image: &Path, config: &str, commands: &str, logs: &LogDir) -> Run {
    let img = boot_image.to_str().unwrap();
    let mut extra = vec!["--boot-disk", img, "--firmware", "bios"];
    if config == "none" {
        extra.extend(["--config-disk", "none"]);
    }
    let run = exec("q35", &kernel(), commands, &extra, logs);
    assert_eq!(run.code, exit::OK, "the boot failed:\n{}", run.stdout);
    run
}

fn fingerprint(run: &Run) -> String {
    field(&run.stdout, "fingerprint")
        .unwrap_or_else(|| panic!("no fingerprint in:\n{}", run.stdout))
        .to_string()
}

/// Rewrites the format field of the newest slot of a configuration disk (and its
/// checksum), as an older or a newer release would have written it.
fn set_newest_format(disk: &Path, version: u32) {
    const SCRIPT: &str = r#"
import hashlib, struct, sys
path, version = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, 'rb').read())
SLOT = 64 * 1024
slots = [i * SLOT for i in (0, 1) if data[i * SLOT:i * SLOT + 8] == b'VNCCONF1']
at = max(slots, key=lambda o: struct.unpack_from('<Q', data, o + 8)[0])
n = struct.unpack_from('<I', data, at + 16)[0]
struct.pack_into('<I', data, at + 20, version)
data[at + 24 + n:at + 56 + n] = hashlib.sha256(data[at:at + 24 + n]).digest()
open(path, 'wb').write(data)
"#;
    let st = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(disk)
        .arg(version.to_string())
        .status()
        .expect("python3");
    assert!(st.success());
}

#[test]
#[ignore = "boots QEMU: run by `make test-fleet` after `make image`"]
fn a_new_boot_image_keeps_identity_and_configuration() {
    let logs = LogDir::new("upgrade");
    let gw = logs.path().join("gw.raw");
    let config_disk = logs.path().join("gw.config");
    std::fs::copy(image(), &gw).expect("copy image");

    // The old way: the configuration in the image's partition.
    let first = boot(
        &gw,
        "none",
        "listen port 4555; private 10.0.0.0/8; config save; identity",
        &logs,
    );
    assert!(first.stdout.contains("saved (slot"), "{}", first.stdout);
    let fp = fingerprint(&first);
    assert!(!config_disk.exists());

    // A blank configuration disk beside the image (the launcher's default): the
    // appliance copies configuration and identity onto it.
    let moved = boot(&gw, "default", "identity; config show", &logs);
    assert!(
        moved
            .stdout
            .contains("copied the configuration (sequence 2, identity included)"),
        "{}",
        moved.stdout
    );
    assert!(config_disk.is_file());
    assert_eq!(fingerprint(&moved), fp);
    assert!(
        moved.stdout.contains("listen port 4555"),
        "{}",
        moved.stdout
    );

    // The upgrade: a second build of the image replaces the boot image. The old
    // release wrote format 1 (simulated: the newest slot rewritten so).
    let fresh = logs.path().join("new-build");
    let st = Command::new("bash")
        .arg(repo_root().join("image/mkimage.sh"))
        .arg(kernel())
        .arg(&fresh)
        .output()
        .expect("image/mkimage.sh");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::copy(fresh.join("vnetcrypt.raw"), &gw).expect("replace the boot image");
    std::fs::remove_dir_all(&fresh).ok();
    set_newest_format(&config_disk, 0);
    let upgraded = boot(&gw, "default", "identity; config show; config save", &logs);
    let out = &upgraded.stdout;
    assert!(out.contains("from the whole disk"), "{out}");
    assert!(
        out.contains("config: read configuration format 1, will save as 2"),
        "{out}"
    );
    assert!(!out.contains("copied"), "{out}");
    assert_eq!(
        fingerprint(&upgraded),
        fp,
        "the identity survived the upgrade"
    );
    assert!(out.contains("listen port 4555"), "{out}");
    assert!(out.contains("private 10.0.0.0/8"), "{out}");

    // A later release's format met by this one (a rollback): refused, locked, and
    // the disk stays as it was.
    set_newest_format(&config_disk, 3);
    let before = std::fs::read(&config_disk).unwrap();
    let rolled_back = boot(&gw, "default", "identity; config save", &logs);
    let out = &rolled_back.stdout;
    assert!(
        out.contains("LOCKED: the configuration disk holds configuration format 3"),
        "{out}"
    );
    assert!(out.contains("error: refused"), "{out}");
    assert_eq!(
        std::fs::read(&config_disk).unwrap(),
        before,
        "the disk was written"
    );
}

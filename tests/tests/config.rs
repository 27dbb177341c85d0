//! The configuration disk: what an operator sets and saves survives a reboot, a save
//! cut short at any sector (a power cut) leaves the old or the new configuration, a
//! corrupt slot is reported and recovered from, and the identity never changes unless
//! rotated.

use std::time::Duration;
use vnetcrypt_tests::{exec, exit, kernel, test_kernel, Console, LogDir, Run};

fn blank_disk(logs: &LogDir, name: &str) -> String {
    let p = logs.path().join(name);
    std::fs::write(&p, vec![0u8; 1 << 20]).expect("write disk");
    p.to_string_lossy().into_owned()
}

fn run(machine: &str, disk: &str, commands: &str, logs: &LogDir) -> Run {
    let r = exec(machine, &kernel(), commands, &["--disk", disk], logs);
    assert_eq!(r.code, exit::OK, "appliance run failed");
    r
}

fn fingerprint(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint  "))
        .unwrap_or_else(|| panic!("no fingerprint in:\n{out}"))
        .trim()
        .to_string()
}

/// The lines `config show` printed (between the command and the next prompt).
fn shown_config(out: &str) -> Vec<String> {
    out.split("vnetcrypt> config show")
        .nth(1)
        .unwrap_or_else(|| panic!("no config show in:\n{out}"))
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("vnetcrypt> "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

const FP_B: &str = "abababababababababababababababababababababababababababababababab";

fn survives_reboot(machine: &str) {
    let logs = LogDir::new(&format!("config-reboot-{machine}"));
    let disk = blank_disk(&logs, "cfg.img");
    let first = run(
        machine,
        &disk,
        &format!(
            "identity; enforcement drop; interface lan address 10.1.0.1/24; rekey interval 600; \
             peer add gw-b endpoint 192.0.2.2:4433 fingerprint {FP_B} prefix 10.2.0.0/24,10.3.0.0/24; \
             config show; config save"
        ),
        &logs,
    );
    assert!(
        first.stdout.contains("identity: generated"),
        "first boot generates the identity"
    );
    assert!(
        first.stdout.contains("saved (slot"),
        "config save reports the slot"
    );
    let fp = fingerprint(&first.stdout);
    let before = shown_config(&first.stdout);
    assert!(
        before.contains(&"enforcement drop".to_string()),
        "{before:?}"
    );

    let second = run(machine, &disk, "identity; config show", &logs);
    assert!(
        second.stdout.contains("config: loaded slot"),
        "{}",
        second.stdout
    );
    assert!(
        !second.stdout.contains("identity: generated"),
        "the identity must be loaded, not regenerated"
    );
    assert_eq!(fingerprint(&second.stdout), fp, "identity survives reboot");
    let after: Vec<String> = shown_config(&second.stdout)
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let before: Vec<String> = before.into_iter().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(after, before, "the configuration survives reboot");
    // The private key is never printed, in any of it: take it from the disk where
    // the store format puts it (the newest slot: identity tag, then 32 bytes) and look
    // for it, in hex either case, in everything both boots printed.
    let bytes = std::fs::read(&disk).unwrap();
    let slots = [&bytes[..64 * 1024], &bytes[64 * 1024..128 * 1024]];
    let newest = slots
        .iter()
        .filter(|s| &s[..8] == b"VNCCONF1")
        .max_by_key(|s| u64::from_le_bytes(s[8..16].try_into().unwrap()))
        .expect("a saved slot");
    assert_eq!(newest[24], 1, "the saved slot carries the identity");
    let hex: String = newest[25..57].iter().map(|b| format!("{b:02x}")).collect();
    for out in [&first.stdout, &first.stderr, &second.stdout, &second.stderr] {
        assert!(
            !out.to_lowercase().contains(&hex),
            "the identity private key was printed"
        );
    }
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn configuration_and_identity_survive_reboot_microvm() {
    survives_reboot("microvm");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn configuration_and_identity_survive_reboot_q35() {
    survives_reboot("q35");
}

/// Peers enough that a saved configuration spans several sectors.
fn many_peers() -> String {
    (0..8)
        .map(|i| {
            format!(
                "peer add gateway-number-{i} endpoint 192.0.2.{}:4433 fingerprint {:064x} prefix 10.{}.0.0/16",
                10 + i,
                i + 1,
                20 + i
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn a_save_cut_short_at_any_sector_leaves_old_or_new() {
    let logs = LogDir::new("config-torn");
    let base = blank_disk(&logs, "base.img");
    // The old configuration: saved completely.
    run("microvm", &base, "enforcement drop; config save", &logs);
    let new_cmds = format!("enforcement allow; listen port 5000; {}", many_peers());
    // The new configuration spans several sectors: cut its save after each of them.
    let mut saw_old = false;
    let mut saw_new = false;
    for sectors in 0..=4u64 {
        let disk = logs.path().join(format!("torn-{sectors}.img"));
        std::fs::copy(&base, &disk).unwrap();
        let disk = disk.to_string_lossy().into_owned();
        let cut = exec(
            "microvm",
            &test_kernel(),
            &format!("{new_cmds}; debug torn-save {sectors}"),
            &["--disk", &disk],
            &logs,
        );
        assert!(cut.stdout.contains("simulated power cut"), "{}", cut.stdout);
        let after = run("microvm", &disk, "config show", &logs);
        let shown = shown_config(&after.stdout);
        let old = shown.contains(&"enforcement drop".to_string()) && shown.len() == 1;
        let new = shown.contains(&"listen port 5000".to_string())
            && shown.iter().filter(|l| l.starts_with("peer add")).count() == 8
            && !shown.contains(&"enforcement drop".to_string());
        assert!(
            old || new,
            "after a save cut at {sectors} sectors: neither old nor new:\n{shown:#?}"
        );
        if old {
            // The torn slot is reported, not loaded (nothing was written at 0 sectors).
            if sectors > 0 {
                assert!(after.stdout.contains("warning: slot"), "{}", after.stdout);
            }
            saw_old = true;
        }
        saw_new |= new;
    }
    assert!(saw_old, "some cut must leave the old configuration");
    assert!(
        saw_new,
        "a cut after the last sector leaves the new configuration"
    );
}

/// The 512-byte sectors in which two disk images differ (both slots live in the first
/// 128 KiB).
fn changed_sectors(base: &[u8], disk: &str) -> Vec<usize> {
    let now = std::fs::read(disk).expect("read the disk");
    let end = (128 << 10).min(base.len()).min(now.len());
    (0..end / 512)
        .filter(|s| base[s * 512..(s + 1) * 512] != now[s * 512..(s + 1) * 512])
        .collect()
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn killing_qemu_during_save_never_breaks_the_configuration() {
    let logs = LogDir::new("config-kill");
    let base = blank_disk(&logs, "base.img");
    run("microvm", &base, "enforcement drop; config save", &logs);
    let base_bytes = std::fs::read(&base).unwrap();
    let new_cmds = format!("enforcement allow; listen port 5000; {}", many_peers());
    // The sectors a whole save changes, from a save left to finish.
    let whole = logs.path().join("whole.img");
    std::fs::copy(&base, &whole).unwrap();
    let whole = whole.to_string_lossy().into_owned();
    run(
        "microvm",
        &whole,
        &format!("{new_cmds}; config save"),
        &logs,
    );
    let full = changed_sectors(&base_bytes, &whole);
    assert!(
        full.len() >= 2,
        "a save changes {full:?}: too few sectors to cut one in the middle"
    );
    // Pull the plug once k of them are on the disk, for each k short of all: QEMU
    // writes at most 5 requests a second (one sector each), so the kill, a
    // millisecond after the host sees sector k land, comes long before the next one.
    for k in 1..full.len().min(5) {
        let disk = logs.path().join(format!("kill-{k}.img"));
        std::fs::copy(&base, &disk).unwrap();
        let disk = disk.to_string_lossy().into_owned();
        let throttled = format!("{disk},write-iops=5");
        let mut con = Console::boot_with("microvm", &kernel(), &["--disk", &throttled], &logs);
        con.wait_for("vnetcrypt> ", Duration::from_secs(60));
        for cmd in new_cmds.split("; ") {
            con.send(format!("{cmd}\r").as_bytes());
            con.wait_for("vnetcrypt> ", Duration::from_secs(30));
        }
        con.send(b"config save\r");
        let start = std::time::Instant::now();
        while changed_sectors(&base_bytes, &disk).len() < k {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the save never wrote {k} of {full:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        con.kill();
        let landed = changed_sectors(&base_bytes, &disk);
        assert!(
            !landed.is_empty() && landed.len() < full.len(),
            "the kill after sector {k} did not land mid-save: {landed:?} of {full:?} changed"
        );
        let after = run("microvm", &disk, "config show", &logs);
        let shown = shown_config(&after.stdout);
        let old = shown == ["enforcement drop"];
        let new = shown.contains(&"listen port 5000".to_string())
            && shown.iter().filter(|l| l.starts_with("peer add")).count() == 8;
        eprintln!(
            "kill after {landed:?} of {full:?}: {}",
            if old { "old configuration" } else { "new" }
        );
        assert!(
            old || new,
            "kill with {landed:?} of {full:?} written: neither old nor new:\n{shown:#?}"
        );
    }
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn a_corrupt_slot_is_reported_and_the_other_one_loads() {
    let logs = LogDir::new("config-corrupt");
    let disk = blank_disk(&logs, "cfg.img");
    // Slot 0: the identity saved at first boot; slot 1: this configuration.
    run("microvm", &disk, "enforcement drop; config save", &logs);
    let mut bytes = std::fs::read(&disk).unwrap();
    // Damage slot 1's payload (slot size 64 KiB, header 24 bytes).
    bytes[64 * 1024 + 30] ^= 0xff;
    std::fs::write(&disk, &bytes).unwrap();
    let after = run("microvm", &disk, "config show; identity", &logs);
    assert!(
        after
            .stdout
            .contains("config: warning: slot 1 corrupt (checksum mismatch"),
        "{}",
        after.stdout
    );
    assert!(
        after.stdout.contains("config: loaded slot 0"),
        "{}",
        after.stdout
    );
    assert!(
        !after.stdout.contains("identity: generated"),
        "slot 0 still has the identity"
    );
    // The next save goes to the damaged slot, and then both are good again.
    let fixed = run("microvm", &disk, "enforcement drop; config save", &logs);
    assert!(fixed.stdout.contains("saved (slot 1"), "{}", fixed.stdout);
    let again = run("microvm", &disk, "config show", &logs);
    assert!(!again.stdout.contains("warning: slot"), "{}", again.stdout);
    assert_eq!(shown_config(&again.stdout), ["enforcement drop"]);
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn malformed_lines_leave_the_running_configuration_unchanged() {
    let logs = LogDir::new("config-malformed");
    let disk = blank_disk(&logs, "cfg.img");
    let r = run(
        "microvm",
        &disk,
        &format!(
            "enforcement drop; config show; enforcement sometimes; peer add x endpoint 1.2.3.4:0 \
             fingerprint {FP_B} prefix 10.9.0.0/16; peer remove nobody; interface eth9 mtu 1500; \
             private 10.0.0.1/8; config show"
        ),
        &logs,
    );
    for err in [
        "error: invalid value 'sometimes': expected allow or drop",
        "error: invalid value '1.2.3.4:0'",
        "error: no peer named 'nobody'",
        "error: invalid value 'eth9': expected wan or lan",
        "error: invalid value '10.0.0.1/8': expected a prefix with host bits zero",
    ] {
        assert!(r.stdout.contains(err), "missing {err:?} in:\n{}", r.stdout);
    }
    let shows: Vec<&str> = r.stdout.split("vnetcrypt> config show").skip(1).collect();
    assert_eq!(shows.len(), 2);
    let first = shown_config(&format!("vnetcrypt> config show{}", shows[0]));
    let last = shown_config(&format!("vnetcrypt> config show{}", shows[1]));
    assert_eq!(first, last, "rejected lines changed the configuration");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn without_a_disk_the_appliance_says_changes_will_not_persist() {
    let logs = LogDir::new("config-nodisk");
    let r = exec("microvm", &kernel(), "config save", &[], &logs);
    assert_eq!(r.code, exit::OK);
    assert!(r.stdout.contains("no configuration disk"), "{}", r.stdout);
    assert!(
        r.stdout.contains("error: no configuration disk attached"),
        "{}",
        r.stdout
    );
}

/// Builds a configuration disk with the host provisioning tool; returns its fingerprint.
pub fn provision(commands: &str, disk: &std::path::Path, logs: &LogDir) -> String {
    let conf = logs.path().join("provision.conf");
    std::fs::write(&conf, commands).unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "vnetcrypt-provision", "--", "build"])
        .arg(&conf)
        .arg(disk)
        .output()
        .expect("run vnetcrypt-provision");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("identity fingerprint: "))
        .expect("fingerprint line")
        .to_string()
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn a_provisioned_disk_boots_with_its_identity_and_configuration() {
    let logs = LogDir::new("config-provisioned");
    let disk = logs.path().join("prov.img");
    let fp = provision(
        "# pre-configured before first boot\nenforcement drop\ninterface wan address 192.0.2.1/24\n",
        &disk,
        &logs,
    );
    let r = run(
        "q35",
        &disk.to_string_lossy(),
        "identity; config show",
        &logs,
    );
    assert_eq!(
        fingerprint(&r.stdout),
        fp,
        "the appliance uses the provisioned identity"
    );
    assert!(!r.stdout.contains("identity: generated"));
    assert_eq!(
        shown_config(&r.stdout),
        ["enforcement drop", "interface wan address 192.0.2.1/24"]
    );
}

/// The `wan: mac ...` line of the `interfaces` view.
fn mac_of<'a>(out: &'a str, role: &str) -> &'a str {
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{role}: mac ")))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no {role} line in:\n{out}"))
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu`"]
fn nic_roles_can_be_swapped_and_the_choice_survives_reboot() {
    let logs = LogDir::new("config-roles");
    let disk = blank_disk(&logs, "cfg.img");
    let first_nic = "socket=udp:127.0.0.1:42101:127.0.0.1:42102,mac=52:54:00:00:00:01";
    let second_nic = "socket=udp:127.0.0.1:42103:127.0.0.1:42104,mac=52:54:00:00:00:02";
    let nics = ["--disk", &disk, "--nic", first_nic, "--nic", second_nic];
    let by_default = exec("microvm", &kernel(), "interfaces", &nics, &logs);
    assert_eq!(by_default.code, exit::OK);
    assert_eq!(
        mac_of(&by_default.stdout, "wan"),
        "52:54:00:00:00:01",
        "the first NIC is wan"
    );
    let swapped = exec(
        "microvm",
        &kernel(),
        "interface roles lan-wan; interfaces; config save",
        &nics,
        &logs,
    );
    assert_eq!(swapped.code, exit::OK);
    assert_eq!(
        mac_of(&swapped.stdout, "wan"),
        "52:54:00:00:00:02",
        "{}",
        swapped.stdout
    );
    assert_eq!(mac_of(&swapped.stdout, "lan"), "52:54:00:00:00:01");
    let rebooted = exec(
        "microvm",
        &kernel(),
        "interfaces; config show",
        &nics,
        &logs,
    );
    assert_eq!(
        mac_of(&rebooted.stdout, "wan"),
        "52:54:00:00:00:02",
        "{}",
        rebooted.stdout
    );
    assert!(rebooted.stdout.contains("interface roles lan-wan"));
}

//! Boots the product kernel on both machine types through the launcher and checks
//! what `status` reports and how the run ends.

use vnetcrypt_tests::{exec, exit, field, kernel, repo_root, LogDir};

fn scratch_disk(logs: &LogDir) -> String {
    let p = logs.path().join("disk.img");
    std::fs::write(&p, vec![0u8; 1 << 20]).expect("write scratch disk");
    p.to_string_lossy().into_owned()
}

/// The total of the `memory` field ("... of 63 MiB" or "... of 7807 KiB"), in KiB.
fn memory_total_kib(status: &str) -> u64 {
    let mem = field(status, "memory").expect("memory field");
    let mut words = mem.split(" of ").nth(1).unwrap_or("").split_whitespace();
    let n: u64 = words
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{mem:?}"));
    match words.next() {
        Some("KiB") => n,
        Some("MiB") => n * 1024,
        Some("GiB") => n * 1024 * 1024,
        _ => panic!("unit in {mem:?}"),
    }
}

/// Checks the fields every machine type must report.
fn check_common_status(out: &str) {
    assert_eq!(
        field(out, "version"),
        Some(env!("CARGO_PKG_VERSION")),
        "version field"
    );
    let boot = field(out, "boot").expect("boot field");
    let ms: u64 = boot
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .expect("boot ms is a number");
    assert!(boot.contains("kernel entry to prompt"), "{boot}");
    assert!(ms < 60_000, "boot time {ms} ms is not plausible");
    assert!(field(out, "uptime").is_some(), "uptime field");
    // A calibrated TSC of some hundreds of MHz at least (never 0 = uncalibrated).
    let tsc = field(out, "tsc").expect("tsc field");
    let mhz: u64 = tsc.split('.').next().unwrap().parse().expect("tsc MHz");
    assert!(mhz >= 100, "TSC {tsc}");
    // 64 MiB of guest RAM: the memory map reports a little less as usable.
    let total = memory_total_kib(out);
    assert!((60 * 1024..=64 * 1024).contains(&total), "{total} KiB");
    let cpu = field(out, "cpu").expect("cpu field");
    // QEMU's `-cpu max` under TCG offers AES-NI, PCLMULQDQ and RDRAND.
    for feature in ["aes-ni=yes", "pclmulqdq=yes", "rdrand=yes"] {
        assert!(cpu.contains(feature), "{cpu}");
    }
    let rng = field(out, "rng").expect("rng field");
    assert!(rng.contains("RDRAND") || rng.contains("RDSEED"), "{rng}");
    assert!(
        field(out, "clock").is_some_and(|c| c.contains("(RTC)")),
        "RTC clock"
    );
    assert!(out.contains("powering off"), "poweroff was run");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn microvm_status_lists_virtio_mmio_devices() {
    let logs = LogDir::new("microvm-status");
    let disk = scratch_disk(&logs);
    let run = exec("microvm", &kernel(), "status", &["--disk", &disk], &logs);
    assert_eq!(run.code, exit::OK, "clean poweroff");
    check_common_status(&run.stdout);
    assert!(
        field(&run.stdout, "machine").is_some_and(|m| m.starts_with("microvm")),
        "machine"
    );
    // The disk appears on the command line as virtio_mmio.device=512@0xfeb00e00:12.
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("mmio") && l.contains("0xfeb0") && l.contains("virtio-blk")),
        "virtio-mmio disk discovered"
    );
    // The defmt stream on COM2 was decoded against the ELF.
    let log = logs.defmt_log();
    assert!(log.contains("console ready"), "defmt log:\n{log}");
    assert!(log.contains("poweroff requested"), "defmt log:\n{log}");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn q35_status_lists_pci_devices() {
    let logs = LogDir::new("q35-status");
    let disk = scratch_disk(&logs);
    let run = exec("q35", &kernel(), "status", &["--disk", &disk], &logs);
    assert_eq!(run.code, exit::OK, "clean poweroff");
    check_common_status(&run.stdout);
    assert!(
        field(&run.stdout, "machine").is_some_and(|m| m.starts_with("q35")),
        "machine"
    );
    let pci = |id: &str, kind: &str| {
        run.stdout
            .lines()
            .any(|l| l.contains("pci") && l.contains(id) && l.contains(kind))
    };
    assert!(pci("8086:29c0", "host bridge"), "q35 host bridge");
    assert!(pci("1af4:", "virtio-blk"), "virtio-blk on PCI");
    assert!(logs.defmt_log().contains("console ready"));
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn version_help_and_reboot() {
    let logs = LogDir::new("reboot");
    // With --exec the launcher runs QEMU with -no-reboot, so a reset ends the run.
    let run = exec("microvm", &kernel(), "version; help; reboot", &[], &logs);
    assert_eq!(run.code, exit::OK);
    assert!(run
        .stdout
        .contains(&format!("vnetcrypt {}", env!("CARGO_PKG_VERSION"))));
    assert!(run.stdout.contains("poweroff"), "help lists poweroff");
    assert!(run.stdout.contains("rebooting"));
    assert!(
        !run.stdout.contains("powering off"),
        "the reset ended the run before poweroff"
    );
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn unknown_command_is_an_error_not_a_crash() {
    let logs = LogDir::new("unknown");
    let run = exec("microvm", &kernel(), "frobnicate now; status", &[], &logs);
    assert_eq!(run.code, exit::OK);
    let errors: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("frobnicate"),
        "names the bad token: {}",
        errors[0]
    );
    assert!(field(&run.stdout, "version").is_some(), "status still ran");
}

#[test]
fn launcher_help_documents_the_options() {
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("qemu/vnetcrypt-vm"))
        .arg("--help")
        .output()
        .expect("run the launcher");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--machine",
        "--memory",
        "--nic",
        "--disk",
        "--exec",
        "--timeout",
        "--log-dir",
        "ACCEL",
    ] {
        assert!(help.contains(option), "--help mentions {option}");
    }
}

#[test]
fn launcher_refuses_user_networking() {
    let logs = LogDir::new("nic-user");
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("qemu/vnetcrypt-vm"))
        .args(["--nic", "user", "--exec", "status", "--kernel"])
        .arg(repo_root().join("Cargo.toml")) // any file: the NIC is rejected first
        .arg("--log-dir")
        .arg(logs.path())
        .output()
        .expect("run the launcher");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nic"));
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn without_rdrand_and_rdseed_the_rng_is_unavailable_and_says_so() {
    let logs = LogDir::new("no-rng");
    // A later -cpu wins: the same CPU model without the two entropy instructions.
    let run = exec(
        "microvm",
        &kernel(),
        "status",
        &["--qemu-arg=-cpu", "--qemu-arg=max,-rdrand,-rdseed"],
        &logs,
    );
    assert_eq!(run.code, exit::OK);
    assert!(
        run.stdout.contains("neither RDSEED nor RDRAND"),
        "boot warning"
    );
    let cpu = field(&run.stdout, "cpu").expect("cpu field");
    assert!(
        cpu.contains("rdrand=no") && cpu.contains("rdseed=no"),
        "{cpu}"
    );
    let rng = field(&run.stdout, "rng").expect("rng field");
    assert!(rng.contains("UNAVAILABLE"), "{rng}");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn boots_with_little_ram() {
    let logs = LogDir::new("small-ram");
    let run = exec("microvm", &kernel(), "status", &["--memory", "8M"], &logs);
    assert_eq!(run.code, exit::OK);
    // 8 MiB of guest RAM, less what firmware and the memory map hold back.
    let total = memory_total_kib(&run.stdout);
    assert!((7 * 1024..8 * 1024).contains(&total), "{total} KiB");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn nics_from_the_launcher_appear_as_virtio_net() {
    // A socket NIC listening on loopback: nothing connects, the device just exists.
    for (machine, port, bus) in [("microvm", "47613", "mmio"), ("q35", "47614", "pci")] {
        let logs = LogDir::new(&format!("nic-{machine}"));
        let nic = format!("socket=listen:127.0.0.1:{port},mac=52:54:00:12:34:56");
        let run = exec(machine, &kernel(), "status", &["--nic", &nic], &logs);
        assert_eq!(run.code, exit::OK, "{machine}");
        assert!(
            run.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(bus) && l.contains("virtio-net")),
            "{machine}: virtio-net on {bus}"
        );
    }
}

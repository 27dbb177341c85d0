//! An idle appliance halts instead of spinning: its QEMU process uses a small share of
//! one host core, the kernel's idle counters (logged to COM2 once a second) show halts
//! and timer wake-ups, and a byte typed on the console wakes the CPU through COM1's
//! interrupt. The CPU bound is generous (half a core, against one full core for the
//! polling build) so that a loaded host cannot make it flake; `make bench` prints the
//! real figures (`qemu/bench-idle`).

use std::path::Path;
use std::time::{Duration, Instant};
use vnetcrypt_tests::{exit, kernel, Console, LogDir, PROMPT};

const WAIT: Duration = Duration::from_secs(60);
const MEASURE: Duration = Duration::from_secs(4);

/// The QEMU process whose command line names this test's log directory (the launcher
/// puts COM2's chardev file there).
fn qemu_pid(logs: &Path) -> u32 {
    let needle = logs.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline
            .split_whitespace()
            .next()
            .is_some_and(|a| a.contains("qemu-system"))
            && cmdline.contains(&needle)
        {
            return pid;
        }
    }
    panic!("no QEMU process with {needle} on its command line");
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_name = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted after the name: indices 11 and 12.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn clock_ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf CLK_TCK");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

/// The counters of the last `idle:` line in the decoded defmt log.
fn last_idle_counters(defmt_log: &str) -> Option<Vec<(String, u64)>> {
    let line = defmt_log
        .lines()
        .rev()
        .find(|l| l.contains("idle: sleeps="))?;
    let counters = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    Some(counters)
}

fn counter(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(k, _)| k == name)
        .map_or_else(|| panic!("no {name} in {counters:?}"), |(_, v)| *v)
}

fn idle_appliance_sleeps(machine: &str) {
    let logs = LogDir::new(&format!("idle-{machine}"));
    let mut con = Console::boot(machine, &kernel(), &logs);
    con.wait_for(PROMPT, WAIT);
    let pid = qemu_pid(logs.path());
    std::thread::sleep(Duration::from_millis(500));
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(MEASURE);
    let (secs, used) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid) - c0);
    let share = used as f64 / clock_ticks_per_second() as f64 / secs;
    println!(
        "idle {machine}: QEMU used {:.1} % of one host core over {secs:.1} s",
        share * 100.0
    );

    // The console still answers, woken by COM1's interrupt.
    con.send(b"version\r");
    con.wait_for(&format!("vnetcrypt {}", env!("CARGO_PKG_VERSION")), WAIT);
    con.wait_for(PROMPT, WAIT);
    // The next once-a-second report includes the typed line's wake-ups.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(con.poweroff(), exit::OK);

    let log = logs.defmt_log();
    let counters = last_idle_counters(&log)
        .unwrap_or_else(|| panic!("no idle counters in the defmt log:\n{log}"));
    println!("idle {machine}: {counters:?}");
    assert!(
        share < 0.5,
        "an idle {machine} appliance used {:.1} % of a host core",
        share * 100.0
    );
    assert!(counter(&counters, "sleeps") > 0, "{counters:?}");
    assert!(counter(&counters, "timer") > 0, "{counters:?}");
    assert!(
        counter(&counters, "console") > 0,
        "typed bytes did not wake the CPU: {counters:?}"
    );
    assert_eq!(counter(&counters, "spurious"), 0, "{counters:?}");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn idle_microvm_appliance_halts_and_wakes_on_console_input() {
    idle_appliance_sleeps("microvm");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn idle_q35_appliance_halts_and_wakes_on_console_input() {
    idle_appliance_sleeps("q35");
}

/// The switch the benchmarks compare against: `idle=poll` never halts.
#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn idle_poll_on_the_command_line_keeps_busy_polling() {
    let logs = LogDir::new("idle-poll");
    let mut con = Console::boot_with("microvm", &kernel(), &["--append", "idle=poll"], &logs);
    con.wait_for(PROMPT, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(con.poweroff(), exit::OK);
    let log = logs.defmt_log();
    assert!(log.contains("idle: Poll"), "{log}");
    assert!(last_idle_counters(&log).is_none(), "{log}");
}

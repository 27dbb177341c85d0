//! One gateway under the launcher, its console on pipes. Everything the console
//! prints is also appended to `<log-dir>/console-transcript.log`, so a failed test leaves the
//! transcript next to the decoded defmt log (`<log-dir>/defmt.log`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use vnetcrypt_tests::{repo_root, Output, PROMPT};

/// How one gateway boots.
pub struct GatewaySpec<'a> {
    pub name: &'a str,
    pub machine: &'a str,
    pub kernel: &'a Path,
    pub disk: &'a Path,
    pub wan_nic: String,
    pub lan_nic: String,
}

pub struct Gateway {
    pub name: String,
    log_dir: PathBuf,
    child: Child,
    stdin: ChildStdin,
    output: Output,
}

impl Gateway {
    pub fn boot(spec: &GatewaySpec<'_>, log_dir: &Path) -> Self {
        std::fs::create_dir_all(log_dir).expect("create the gateway's log dir");
        let mut child = Command::new("python3")
            .arg(repo_root().join("qemu/vnetcrypt-vm"))
            .args([
                "--machine",
                spec.machine,
                "--memory",
                "64M",
                "--timeout",
                "1200",
            ])
            .arg("--kernel")
            .arg(spec.kernel)
            .arg("--log-dir")
            .arg(log_dir)
            .arg("--disk")
            .arg(spec.disk)
            .args(["--nic", &spec.wan_nic, "--nic", &spec.lan_nic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(log_dir.join("launcher.stderr")).expect("launcher log"))
            .spawn()
            .expect("run qemu/vnetcrypt-vm");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let transcript =
            File::create(log_dir.join("console-transcript.log")).expect("console-transcript.log");
        let mut gw = Self {
            name: spec.name.into(),
            log_dir: log_dir.into(),
            child,
            stdin,
            output: Output::collect(stdout, Some(transcript)),
        };
        gw.wait_for(PROMPT, Duration::from_secs(90));
        gw
    }

    /// Where to look when something about this gateway went wrong.
    pub fn logs(&self) -> String {
        format!(
            "gateway {}: console {}, defmt {} (decoded when the gateway stops)",
            self.name,
            self.log_dir.join("console-transcript.log").display(),
            self.log_dir.join("defmt.log").display()
        )
    }

    fn send(&mut self, bytes: &[u8]) {
        let r = self
            .stdin
            .write_all(bytes)
            .and_then(|()| self.stdin.flush());
        assert!(
            r.is_ok(),
            "gateway {} console closed; {}",
            self.name,
            self.logs()
        );
    }

    /// Waits for `needle` after what earlier waits consumed; returns the text up to
    /// and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(text) = self.output.take_until(needle) {
                return text;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // the reader's last bytes
                if let Some(text) = self.output.take_until(needle) {
                    return text;
                }
                let launcher = self.launcher_log();
                panic!(
                    "gateway {} stopped ({status}) before {needle:?}:\n{launcher}\n{}",
                    self.name,
                    self.logs()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "no {needle:?} from gateway {} within {timeout:?}; {}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types one console line; returns the answer up to the next prompt.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r").as_bytes());
        self.wait_for(PROMPT, Duration::from_secs(30))
    }

    /// Like `cmd`, and fails on an `error` answer.
    pub fn set(&mut self, line: &str) -> String {
        let out = self.cmd(line);
        assert!(
            !out.contains("error"),
            "gateway {} refused {line:?}:\n{out}\n{}",
            self.name,
            self.logs()
        );
        out
    }

    /// Types `reboot` and waits for the prompt of the next boot.
    pub fn reboot(&mut self) {
        self.send(b"reboot\r");
        self.wait_for("boot: kernel entry to prompt", Duration::from_secs(90));
        self.wait_for(PROMPT, Duration::from_secs(30));
    }

    /// Kills the appliance the way a power cut would: SIGKILL to the QEMU process
    /// (the launcher's child), so it sends nothing more, not even a goodbye. Returns
    /// once the launcher has noticed (it then decodes the defmt log and exits).
    pub fn kill_vm(&mut self) {
        let qemu = children(self.child.id());
        assert!(
            !qemu.is_empty(),
            "gateway {} has no QEMU process to kill; {}",
            self.name,
            self.logs()
        );
        for pid in qemu {
            signal(pid, "KILL");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "the launcher of gateway {} did not exit after its QEMU was killed",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails the test if the appliance stopped by itself (a panic, a CPU exception,
    /// a reset: the launcher then exits, with 2, 3 or 5).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "gateway {} stopped ({status}):\n{}\n{}",
                self.name,
                self.launcher_log(),
                self.logs()
            );
        }
    }

    fn launcher_log(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("launcher.stderr")).unwrap_or_default()
    }

    /// Stops the gateway: SIGINT to the launcher, which kills QEMU and decodes the
    /// defmt log; SIGKILL if it does not exit soon. An appliance that had already
    /// stopped on a panic or a CPU exception fails the test here, even when no
    /// console command noticed.
    pub fn stop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let crashed = matches!(status.code(), Some(EXIT_PANIC | EXIT_EXCEPTION));
            if crashed && !std::thread::panicking() {
                panic!(
                    "gateway {} crashed ({status}):\n{}\n{}",
                    self.name,
                    self.launcher_log(),
                    self.logs()
                );
            }
            return;
        }
        signal(self.child.id(), "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The launcher's exit codes for an appliance that panicked or took a CPU exception
/// (`qemu/vnetcrypt-vm --help`).
const EXIT_PANIC: i32 = 2;
const EXIT_EXCEPTION: i32 = 3;

/// The processes whose parent is `pid` (from /proc).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let child: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the `)`.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == pid).then_some(child)
    })
    .collect()
}

/// Sends `sig` (`INT`, `TERM`) to `pid` through the shell's `kill` builtin (no
/// procps needed).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status();
}

/// The command lines of all running processes (from /proc).
pub fn command_lines() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .collect()
}

//! Helpers for the QEMU tests in `tests/tests/`: run the launcher
//! (`qemu/vnetcrypt-vm`) the way a user does, either with `--exec` or with the console
//! on pipes, and look at what came back.
//!
//! The tests need `build/vnetcrypt.elf` and `build/vnetcrypt-test.elf`; `make
//! test-qemu` builds them first. They are `#[ignore]`d so that a plain
//! `cargo test --workspace` (run before the kernel is built) does not boot QEMU.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The launcher's exit codes (see `qemu/vnetcrypt-vm --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const PANIC: i32 = 2;
    pub const CPU_EXCEPTION: i32 = 3;
    pub const TIMEOUT: i32 = 4;
}

pub const PROMPT: &str = "vnetcrypt> ";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn elf(name: &str) -> PathBuf {
    let p = repo_root().join("build").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make build` (or `make test-qemu`)",
        p.display()
    );
    p
}

/// The product kernel.
pub fn kernel() -> PathBuf {
    elf("vnetcrypt.elf")
}

/// The test build, with `debug fault <kind>`.
pub fn test_kernel() -> PathBuf {
    elf("vnetcrypt-test.elf")
}

/// A fresh directory for one run's logs, removed when dropped.
pub struct LogDir(PathBuf);

impl LogDir {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("vnetcrypt-tests-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create log dir");
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The decoded defmt log of the run.
    pub fn defmt_log(&self) -> String {
        std::fs::read_to_string(self.0.join("defmt.log")).unwrap_or_default()
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What one `--exec` run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn launcher(machine: &str, kernel: &Path, logs: &LogDir) -> Command {
    let mut c = Command::new("python3");
    c.arg(repo_root().join("qemu/vnetcrypt-vm"))
        .args(["--machine", machine, "--memory", "64M"])
        .arg("--kernel")
        .arg(kernel)
        .arg("--log-dir")
        .arg(logs.path());
    c
}

/// Runs `qemu/vnetcrypt-vm --exec <commands>` plus `extra` arguments.
pub fn exec(machine: &str, kernel: &Path, commands: &str, extra: &[&str], logs: &LogDir) -> Run {
    let out = launcher(machine, kernel, logs)
        .args(["--exec", commands, "--timeout", "120"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run qemu/vnetcrypt-vm");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "--- launcher exit {} ---\n{}\n--- stderr ---\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}

/// What a child process prints: a thread reads it into a buffer (and, if given, a
/// transcript file); [`Output::take_until`] consumes it needle by needle.
pub struct Output {
    buf: Arc<Mutex<Vec<u8>>>,
    /// How much of `buf` earlier takes consumed.
    seen: usize,
}

impl Output {
    pub fn collect(mut from: impl Read + Send + 'static, mut copy: Option<std::fs::File>) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Some(f) = copy.as_mut() {
                    let _ = f.write_all(&chunk[..n]);
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&chunk[..n]);
            }
        });
        Self { buf, seen: 0 }
    }

    /// The text from where the last take stopped up to and including `needle`, once
    /// it has arrived.
    pub fn take_until(&mut self, needle: &str) -> Option<String> {
        let out = self.buf.lock().expect("output lock");
        let tail = &out[self.seen..];
        let end = tail
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())?
            + needle.len();
        let text = String::from_utf8_lossy(&tail[..end]).into_owned();
        drop(out);
        self.seen += end;
        Some(text)
    }

    /// Everything printed so far, for failure messages.
    pub fn all(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("output lock")).into_owned()
    }
}

/// The console on pipes, as a program (or a person) on the other end sees it.
pub struct Console {
    child: Child,
    stdin: ChildStdin,
    output: Output,
}

impl Console {
    pub fn boot(machine: &str, kernel: &Path, logs: &LogDir) -> Self {
        Self::boot_with(machine, kernel, &[], logs)
    }

    /// As `boot`, with more launcher arguments (disks, NICs).
    pub fn boot_with(machine: &str, kernel: &Path, extra: &[&str], logs: &LogDir) -> Self {
        let mut child = launcher(machine, kernel, logs)
            .args(["--timeout", "120"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run qemu/vnetcrypt-vm");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            stdin,
            output: Output::collect(stdout, None),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write to the console");
        self.stdin.flush().expect("flush the console");
    }

    /// Waits for `needle` after what earlier waits consumed; returns the text from
    /// there up to and including the needle.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(text) = self.output.take_until(needle) {
                return text;
            }
            if start.elapsed() > timeout {
                panic!(
                    "no {needle:?} within {timeout:?}; console output so far:\n{}",
                    self.output.all()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `poweroff` and returns the launcher's exit code.
    pub fn poweroff(mut self) -> i32 {
        self.send(b"poweroff\r");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the launcher") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the appliance did not power off");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Console {
    /// Pulls the plug: SIGKILL to the launcher, whose QEMU dies with it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A deterministic pseudo-random byte stream (xorshift), for garbage input.
pub fn garbage(len: usize, seed: u32, exclude: &[u8]) -> Vec<u8> {
    let mut s = seed.max(1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let b = (s >> 11) as u8;
        if !exclude.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// The value of a `status` field line (`name   value`).
pub fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        rest.starts_with(' ').then(|| rest.trim())
    })
}

//! The appliance under the launcher, its console on pipes (killed when dropped; the
//! launcher takes QEMU down with it).

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Vm {
    child: Child,
    stdin: ChildStdin,
    output: vnetcrypt_tests::Output,
}

impl Vm {
    pub fn boot(launcher: &Path, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(launcher)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run qemu/vnetcrypt-vm");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            stdin,
            output: vnetcrypt_tests::Output::collect(stdout, None),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write to the console");
        self.stdin.flush().expect("flush the console");
    }

    /// Waits for `needle` after what earlier waits consumed; returns the text up to
    /// and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(text) = self.output.take_until(needle) {
                return text;
            }
            assert!(
                start.elapsed() < timeout,
                "no {needle:?} within {timeout:?}; console so far:\n{}",
                self.output.all()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `poweroff`; returns the launcher's exit code (again, if it has exited).
    pub fn poweroff(&mut self) -> i32 {
        // Ignored if the appliance is already gone.
        let _ = self.stdin.write_all(b"poweroff\r");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the launcher") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the appliance did not power off");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Untrusted console input -- binary garbage, 10 KB lines -- gets a one-line error
//! and the prompt back; the appliance keeps serving.

use std::time::Duration;
use vnetcrypt_tests::{exit, garbage, kernel, Console, LogDir, PROMPT};

const WAIT: Duration = Duration::from_secs(60);

/// The lines the console printed in answer to one submitted line (after the echo).
fn answer_lines(text: &str) -> Vec<String> {
    text.split("\r\n")
        .skip(1)
        .map(str::to_owned)
        .filter(|l| !l.is_empty() && l != PROMPT)
        .collect()
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn binary_garbage_gets_one_line_error_and_prompt() {
    let logs = LogDir::new("garbage");
    let mut con = Console::boot("microvm", &kernel(), &logs);
    con.wait_for(PROMPT, WAIT);

    // Garbage without any editing or line-ending byte: one line, one error.
    let quiet = garbage(300, 7, &[b'\r', b'\n', 0x03, 0x15, 0x1b, 0x7f, 0x08]);
    con.send(&quiet);
    con.send(b"\r");
    let answer = con.wait_for(PROMPT, WAIT);
    let lines = answer_lines(&answer);
    assert_eq!(lines.len(), 1, "one line of answer: {lines:?}");
    assert!(lines[0].starts_with("error: "), "{lines:?}");

    // Any bytes at all, line endings included, 4 KB of them: the console survives.
    con.send(&garbage(4096, 99, &[]));
    con.send(b"\x15\rversion\r");
    con.wait_for(&format!("vnetcrypt {}", env!("CARGO_PKG_VERSION")), WAIT);
    con.wait_for(PROMPT, WAIT);
    assert_eq!(con.poweroff(), exit::OK);
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn ten_kilobyte_line_gets_one_line_error_and_prompt() {
    let logs = LogDir::new("long-line");
    let mut con = Console::boot("q35", &kernel(), &logs);
    con.wait_for(PROMPT, WAIT);
    let mut line = vec![b'a'; 10 * 1024];
    line.push(b'\r');
    con.send(&line);
    let answer = con.wait_for(PROMPT, WAIT);
    let lines = answer_lines(&answer);
    assert_eq!(lines.len(), 1, "one line of answer: {lines:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("long"),
        "{lines:?}"
    );
    // The echo stops at the line capacity instead of scrolling 10 KB back.
    assert!(answer.len() < 2048, "echo of {} bytes", answer.len());

    con.send(b"status\r");
    let status = con.wait_for(PROMPT, WAIT);
    assert!(status.contains("uptime"), "{status}");
    assert_eq!(con.poweroff(), exit::OK);
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn console_works_over_a_socket_chardev() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let logs = LogDir::new("socket");
    let path = logs.path().join("console.sock");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(
        std::process::Command::new("python3")
            .arg(vnetcrypt_tests::repo_root().join("qemu/vnetcrypt-vm"))
            .arg("--kernel")
            .arg(kernel())
            .arg("--log-dir")
            .arg(logs.path())
            .arg("--console-socket")
            .arg(&path)
            .args(["--timeout", "120"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("run the launcher"),
    );
    let start = std::time::Instant::now();
    let mut sock = loop {
        match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("no console socket: {e}"),
        }
    };
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut seen = Vec::new();
    let mut read_until = |sock: &mut UnixStream, needle: &str| {
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = sock.read(&mut buf).expect("read the console socket");
            assert!(
                n > 0,
                "console closed; got {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        seen.clear();
        text
    };
    read_until(&mut sock, PROMPT);
    sock.write_all(b"status\r").unwrap();
    let status = read_until(&mut sock, PROMPT);
    assert!(status.contains("uptime"), "{status}");
    sock.write_all(b"poweroff\r").unwrap();
    let code = child.0.wait().expect("launcher exit").code();
    assert_eq!(code, Some(exit::OK));
}

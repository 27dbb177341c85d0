//! A node with no NICs, only its disk and console: what the management and upgrade
//! tests boot.

use super::machine::{Clock, FakePlatform};
use vnetcrypt_node::{BlockDevice, Node, Options};

/// A platform on its own clock, seeded.
pub fn platform(seed: u64) -> FakePlatform {
    FakePlatform::new(&Clock::default(), seed)
}

/// Boots a node on `disk` (if any); returns it and what it said at boot.
pub fn boot(disk: Option<Box<dyn BlockDevice>>, platform: FakePlatform) -> (Node, String) {
    let mut out = String::new();
    let node = Node::boot(
        Box::new(platform),
        Vec::new(),
        disk,
        Options::default(),
        &mut out,
    );
    (node, out)
}

/// Runs one console line that the node owns; returns its output.
pub fn run(node: &mut Node, line: &str) -> String {
    let cmd = vnetcrypt_console::parse(line).expect("a valid command");
    let mut out = String::new();
    assert!(node.execute(&cmd, &mut out), "{line:?} is the node's");
    out
}

/// The identity's fingerprint as `identity show` prints it.
pub fn fingerprint(node: &mut Node) -> Option<String> {
    run(node, "identity show")
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint"))
        .map(|f| f.trim().to_string())
}

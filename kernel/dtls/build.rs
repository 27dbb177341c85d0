//! Declares the `fuzzing` cfg that cargo-fuzz sets (it lets fuzzers past the cookie check).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}

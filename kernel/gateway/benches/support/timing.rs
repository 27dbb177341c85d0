//! Timing shared by the benches: on-CPU time per packet of two workloads measured in
//! alternating rounds, best of `ROUNDS`.

use std::time::{Duration, Instant};

pub const RUN: Duration = Duration::from_millis(200);
pub const ROUNDS: usize = 5;

pub fn imix() -> Vec<usize> {
    let mut v = vec![64; 7];
    v.extend([576; 4]);
    v.push(1400);
    v
}

/// Nanoseconds per packet over the packet mix `sizes` for two workloads, measured in
/// alternating rounds (so that load from elsewhere hits both alike); best of `ROUNDS`.
pub fn time_pair(
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
    sizes: &[usize],
) -> (f64, f64) {
    let round = |one: &mut dyn FnMut(usize)| {
        let start = Instant::now();
        let cpu_start = cpu_ns();
        let mut n = 0u64;
        while start.elapsed() < RUN {
            for i in 0..64 {
                one(i % sizes.len());
            }
            n += 64;
        }
        // On-CPU time when the kernel tells it (this machine's cores are shared), else
        // wall time.
        let ns = match (cpu_start, cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64,
            _ => start.elapsed().as_nanos() as f64,
        };
        ns / n as f64
    };
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        best_a = best_a.min(round(&mut a));
        best_b = best_b.min(round(&mut b));
    }
    (best_a, best_b)
}

/// This thread's time on a CPU, in ns (Linux `/proc/thread-self/schedstat`).
pub fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

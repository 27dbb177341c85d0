//! The kernel CSPRNG: ChaCha20 seeded with 256 bits from RDSEED (or RDRAND where
//! RDSEED is missing). Without either the RNG stays unavailable and every request is
//! refused: it is never seeded from anything weaker.

use crate::arch::cpu::{rdrand, rdseed, Features};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use spin::Mutex;

static RNG: Mutex<Option<(ChaCha20Rng, &'static str)>> = Mutex::new(None);

/// Why random bytes were refused.
#[allow(dead_code)] // first user: identity key generation (a later issue)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngUnavailable;

/// Retries per 64-bit word, as Intel recommends for RDRAND (RDSEED may need more).
const RETRIES: usize = 64;

fn seed_from(source: fn() -> Option<u64>) -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    let mut words = [0u64; 4];
    for w in words.iter_mut() {
        *w = (0..RETRIES).find_map(|_| source())?;
    }
    // A source that repeats itself is broken (some CPUs return all ones forever).
    if words.iter().all(|&w| w == words[0]) {
        return None;
    }
    for (chunk, w) in seed.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Some(seed)
}

/// Seeds the RNG if the CPU can. Returns the source used.
pub fn init(cpu: &Features) -> Option<&'static str> {
    let seeded = cpu
        .rdseed
        .then(|| seed_from(rdseed).map(|s| (s, "RDSEED")))
        .flatten()
        .or_else(|| {
            cpu.rdrand
                .then(|| seed_from(rdrand).map(|s| (s, "RDRAND")))
                .flatten()
        });
    let (seed, source) = seeded?;
    *RNG.lock() = Some((ChaCha20Rng::from_seed(seed), source));
    Some(source)
}

/// The seed source, or `None` if the RNG is unavailable.
pub fn source() -> Option<&'static str> {
    RNG.lock().as_ref().map(|(_, s)| *s)
}

/// Fills `buf` with random bytes, or refuses.
#[allow(dead_code)] // first user: identity key generation (a later issue)
pub fn fill(buf: &mut [u8]) -> Result<(), RngUnavailable> {
    match RNG.lock().as_mut() {
        Some((rng, _)) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(RngUnavailable),
    }
}

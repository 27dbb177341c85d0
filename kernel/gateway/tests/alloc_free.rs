//! Forwarding an established flow allocates nothing: a counting global allocator
//! watches the engine while frames go A(lan) → A(wan) → B(wan) → B(lan).
//!
//! This test binary holds the only `unsafe` of the crate's tests: a `GlobalAlloc` must
//! be implemented with `unsafe impl`; it forwards to the system allocator unchanged.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::pair::Pair;

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    // Per thread, so that tests running in parallel do not count each other's.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if WATCHING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only const-initialised
// thread-local `Cell`s of plain integers (no destructor to register, so no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours (layout has non-zero size), forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (all our allocations are).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr`/`layout` come from `System` through us; forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn established_flows_forward_without_allocating() {
    let mut pair = Pair::new(61);
    let mut buf = vec![0u8; 4096];
    let off = Pair::FRAME_OFFSET;
    // The counter works: a Vec allocates.
    let (_, n) = watched(|| vec![1u8; 10]);
    assert_eq!(n, 1, "the counting allocator sees allocations");

    for size in [64usize, 512, 1400] {
        let frame = pair.frame(size, 4000);
        // First packet of the flow (creates the flow entry; not allocating either, but
        // not what this test is about).
        buf[off..off + frame.len()].copy_from_slice(&frame);
        assert_eq!(pair.encap_decap(&mut buf, frame.len()), frame.len());
        let (delivered, allocs) = watched(|| {
            let mut ok = 0;
            for _ in 0..1000 {
                buf[off..off + frame.len()].copy_from_slice(&frame);
                if pair.encap_decap(&mut buf, frame.len()) == frame.len() {
                    ok += 1;
                }
            }
            ok
        });
        assert_eq!(delivered, 1000, "size {size}");
        assert_eq!(allocs, 0, "size {size}: allocations while forwarding");
    }
    // Many flows: creating flow entries does not allocate either (fixed table).
    let frames: Vec<_> = (0..200).map(|i| pair.frame(100, 10_000 + i)).collect();
    let (delivered, allocs) = watched(|| {
        let mut ok = 0;
        for f in &frames {
            buf[off..off + f.len()].copy_from_slice(f);
            if pair.encap_decap(&mut buf, f.len()) == f.len() {
                ok += 1;
            }
        }
        ok
    });
    assert_eq!((delivered, allocs), (200, 0));
}

#[test]
fn whole_frames_forward_without_allocating_or_copying() {
    use common::frames::{host_ip, FramePair};
    use common::sim::World;
    use vnetcrypt_gateway::Enforcement;

    let w = World::new(2, 1, Enforcement::DropUnencrypted, 62);
    let now = w.now;
    let mut gws = w.nodes.into_iter().map(|n| n.gw);
    let mut p = FramePair::new([gws.next().unwrap(), gws.next().unwrap()], now);
    p.establish();
    let off = common::sim::Gw::FRAME_OFFSET;
    let mut buf = vec![0u8; p.sides[0].gw.frame_buffer_len()];
    for from in [0, 1] {
        let ip = common::pkt::udp(host_ip(from), host_ip(1 - from), 5, 6, &[7; 1372], false);
        let frame = FramePair::<common::double::TestLayer>::lan_frame(from, &ip);
        let ((delivered, copied), allocs) = watched(|| {
            let (mut ok, mut copied) = (0, 0);
            for _ in 0..1000 {
                buf[off..off + frame.len()].copy_from_slice(&frame);
                let (out, c) = p.carry_in_place(from, &mut buf, frame.len());
                ok += usize::from(out.is_some());
                copied += c[0] + c[1];
            }
            (ok, copied)
        });
        assert_eq!(
            (delivered, copied, allocs),
            (1000, 0, 0),
            "from side {from}"
        );
    }
}

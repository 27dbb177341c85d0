//! The VF driver and the PF rig against the device model (`model.rs`).

use super::mailbox::{Mailbox, MailboxError};
use super::model::{card, Handle};
use super::pf::Pf;
use super::regs::*;
use super::ring::RxDone;
use super::vf::{Vf, VfError};
use super::Regs;
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0x00, 0x01];
const BUF: usize = 9050;

fn identity(p: *const u8, _len: usize) -> Option<u64> {
    Some(p as u64)
}

/// A card whose PF is set up with `MAC` for VF 0, and the VF brought up through it.
fn up() -> (Pf<Handle>, Vf<Handle>, Handle) {
    let (pf_regs, vf_regs) = card();
    let mut pf = Pf::new(pf_regs.clone(), 1, 9018);
    pf.assign_mac(0, MAC);
    let pf_cell = core::cell::RefCell::new(pf);
    let vf = Vf::new(vf_regs, 128, BUF, &identity, &mut || {
        pf_cell.borrow_mut().serve();
    })
    .expect("the VF comes up");
    (pf_cell.into_inner(), vf, pf_regs)
}

fn frame(dst: [u8; 6], len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

/// Posts `n` buffers; returns them (the caller keeps them alive and unmoved).
fn post(vf: &mut Vf<Handle>, n: usize) -> Vec<Box<[u8]>> {
    let mut bufs: Vec<Box<[u8]>> = (0..n).map(|_| vec![0u8; BUF].into_boxed_slice()).collect();
    for (i, b) in bufs.iter_mut().enumerate() {
        assert_eq!(vf.rx_post(b.as_mut_ptr() as u64), Some(i as u16));
    }
    bufs
}

#[test]
fn reset_gets_the_mac_from_the_pf_and_enables_the_pool() {
    let (pf, vf, mut pf_regs) = up();
    assert_eq!(vf.mac(), MAC);
    assert_eq!(pf.answered, 1);
    assert_eq!(pf_regs.read(PF_VFRE) & 1, 1, "receive enabled for VF 0");
    assert_eq!(pf_regs.read(PF_VFTE) & 1, 1, "transmit enabled for VF 0");
    let rah = pf_regs.read(pf_rah(1));
    assert_eq!(rah & RAH_AV, RAH_AV);
    assert_eq!(
        rah >> RAH_POOL_SHIFT & 0xff,
        1,
        "filter 1 selects pool 0 only"
    );
    assert_eq!(
        pf_regs.read(pf_ral(1)).to_le_bytes(),
        [0x52, 0x54, 0x00, 0xaa]
    );
}

#[test]
fn a_pf_that_stays_in_reset_gives_an_error_not_a_hang() {
    let (_pf_regs, vf_regs) = card();
    let mut waits = 0u32;
    let r = Vf::new(vf_regs, 128, BUF, &identity, &mut || waits += 1);
    assert_eq!(r.err(), Some(VfError::PfResetting));
    assert_eq!(waits, super::MAX_POLLS);
}

#[test]
fn a_pf_without_a_mac_for_the_vf_refuses_the_reset() {
    let (pf_regs, vf_regs) = card();
    let pf = core::cell::RefCell::new(Pf::new(pf_regs, 1, 1518));
    let r = Vf::new(vf_regs, 128, BUF, &identity, &mut || {
        pf.borrow_mut().serve();
    });
    assert!(
        matches!(r.err(), Some(VfError::Mailbox(MailboxError::Refused(w))) if w & MSG_NACK != 0)
    );
    assert_eq!(pf.borrow().refused, 1);
}

#[test]
fn unknown_requests_are_refused_and_the_filter_stays() {
    let (mut pf, _vf, mut pf_regs) = up();
    let mut vf_regs = vf_handle(&pf_regs);
    let mut mbx = Mailbox::new();
    let mut reply = [0u32; 1];
    let r = mbx.request(&mut vf_regs, &[0x77, 1, 2], &mut reply, &mut || {
        pf.serve();
    });
    assert!(matches!(r, Err(MailboxError::Refused(_))));
    // A multicast "MAC" is refused; the filter keeps the assigned address.
    let r = mbx.request(
        &mut vf_regs,
        &[MSG_SET_MAC_ADDR, 0x0000_0001, 0],
        &mut reply,
        &mut || {
            pf.serve();
        },
    );
    assert!(matches!(r, Err(MailboxError::Refused(_))));
    assert_eq!(
        pf_regs.read(pf_ral(1)).to_le_bytes(),
        [0x52, 0x54, 0x00, 0xaa]
    );
    assert_eq!(pf.refused, 2);
}

fn vf_handle(pf: &Handle) -> Handle {
    // The model's VF view of the same card.
    let mut h = pf.clone();
    h.set_vf();
    h
}

#[test]
fn frames_for_the_vf_arrive_in_its_buffers_others_do_not() {
    let (_pf, mut vf, pf_regs) = up();
    let bufs = post(&mut vf, 4);
    let model = pf_regs.model.clone();
    model.borrow_mut().receive(&frame(MAC, 60, 1));
    model
        .borrow_mut()
        .receive(&frame([0x52, 0x54, 0, 0, 0, 0x99], 60, 2));
    model.borrow_mut().receive(&frame([0xff; 6], 342, 3));
    assert_eq!(vf.rx_poll(), Some((0, RxDone::Frame(60))));
    assert_eq!(bufs[0][14], 1);
    assert_eq!(
        vf.rx_poll(),
        Some((1, RxDone::Frame(342))),
        "broadcast reaches the pool"
    );
    assert_eq!(bufs[1][14], 3);
    assert_eq!(
        vf.rx_poll(),
        None,
        "the frame for another MAC was not switched to the VF"
    );
}

#[test]
fn a_frame_longer_than_a_buffer_is_dropped_whole() {
    let (_pf, mut vf, pf_regs) = up();
    let _bufs = post(&mut vf, 6);
    let model = pf_regs.model.clone();
    assert_eq!(vf.rx_buf_len(), 8192);
    model.borrow_mut().receive(&frame(MAC, 9000, 4));
    model.borrow_mut().receive(&frame(MAC, 1514, 5));
    assert_eq!(vf.rx_poll(), Some((0, RxDone::Dropped)));
    assert_eq!(
        vf.rx_poll(),
        Some((1, RxDone::Dropped)),
        "its last piece too"
    );
    assert_eq!(vf.rx_poll(), Some((2, RxDone::Frame(1514))));
    assert_eq!(vf.rx_poll(), None);
}

#[test]
fn a_full_receive_ring_refuses_more_buffers_and_drops_at_the_device() {
    let (_pf, mut vf, pf_regs) = up();
    let (rx_cap, _) = vf.capacity();
    let _bufs = post(&mut vf, usize::from(rx_cap));
    assert!(!vf.rx_has_room());
    assert_eq!(vf.rx_post(0x1000), None);
    let model = pf_regs.model.clone();
    for i in 0..=rx_cap {
        model.borrow_mut().receive(&frame(MAC, 60, i as u8));
    }
    assert_eq!(model.borrow().delivered, usize::from(rx_cap));
    assert_eq!(model.borrow().no_descriptor, 1);
    for slot in 0..rx_cap {
        assert_eq!(vf.rx_poll(), Some((slot, RxDone::Frame(60))));
    }
    assert!(vf.rx_has_room());
}

#[test]
fn sent_frames_leave_as_queued_and_their_slots_come_back() {
    let (_pf, mut vf, pf_regs) = up();
    let frames: Vec<Vec<u8>> = (0..3).map(|i| frame([0xff; 6], 60 + i, i as u8)).collect();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(vf.tx_send(f.as_ptr() as u64, f.len()), Some(i as u16));
    }
    assert_eq!(pf_regs.model.borrow().sent, frames);
    assert_eq!(vf.tx_reclaim(), Some(0));
    assert_eq!(vf.tx_reclaim(), Some(1));
    assert_eq!(vf.tx_reclaim(), Some(2));
    assert_eq!(vf.tx_reclaim(), None);
    assert_eq!(
        vf.tx_send(frames[0].as_ptr() as u64, 0),
        None,
        "empty frame"
    );
    assert_eq!(
        vf.tx_send(frames[0].as_ptr() as u64, 0x4000),
        None,
        "too long for a descriptor"
    );
}

#[test]
fn a_stopped_device_keeps_transmit_slots_until_it_sends() {
    let (_pf, mut vf, mut pf_regs) = up();
    pf_regs.write(PF_VFTE, 0);
    let f = frame([0xff; 6], 60, 9);
    let (_, tx_cap) = vf.capacity();
    for _ in 0..tx_cap {
        assert!(vf.tx_send(f.as_ptr() as u64, f.len()).is_some());
    }
    assert!(!vf.tx_has_room());
    assert_eq!(vf.tx_send(f.as_ptr() as u64, f.len()), None);
    assert_eq!(vf.tx_reclaim(), None, "nothing was sent");
    assert!(pf_regs.model.borrow().sent.is_empty());
}

#[test]
fn link_state_is_the_port_status() {
    let (_pf, mut vf, pf_regs) = up();
    assert!(vf.link_up());
    pf_regs.model.borrow_mut().set_pf(VF_STATUS, 0);
    assert!(!vf.link_up());
}

#[test]
fn interrupts_map_both_queues_to_one_vector() {
    let (_pf, mut vf, pf_regs) = up();
    vf.enable_interrupts(0);
    let mut h = vf_handle(&pf_regs);
    assert_eq!(h.read(VF_IVAR0), 0x8080);
    assert_eq!(h.read(VF_EIMS), 1);
    assert_eq!(h.read(VF_EIAC), 1);
}

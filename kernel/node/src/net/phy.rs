//! The NIC offered to smoltcp as a `phy::Device`. Tokens borrow the NIC's queues and
//! buffer pool: a receive token carries a frame already screened into the stack's
//! backlog; a transmit token exists only when the transmit queue has a free
//! descriptor and the pool a free buffer. Nothing is allocated per packet.

use crate::packet::{PacketBuf, MAX_FRAME};
use crate::platform::{Direction, Platform};
use crate::port::NetPort;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use vnetcrypt_underlay::Counters;

/// One poll's view of a NIC.
pub struct Phy<'a> {
    pub queues: &'a mut dyn NetPort,
    pub backlog: &'a mut VecDeque<PacketBuf>,
    pub pool: &'a RefCell<Vec<PacketBuf>>,
    pub counters: &'a RefCell<Counters>,
    pub mtu: u16,
    pub role: &'static str,
    /// Where frames are traced (`net.trace`), if they are.
    pub trace: Option<&'a dyn Platform>,
}

pub struct RxToken<'a> {
    buf: PacketBuf,
    pool: &'a RefCell<Vec<PacketBuf>>,
}

pub struct TxToken<'a> {
    queues: &'a mut dyn NetPort,
    mtu: u16,
    pool: &'a RefCell<Vec<PacketBuf>>,
    counters: &'a RefCell<Counters>,
    role: &'static str,
    trace: Option<&'a dyn Platform>,
}

impl Phy<'_> {
    fn can_transmit(&self) -> bool {
        self.queues.tx_has_room() && !self.pool.borrow().is_empty()
    }
}

impl phy::Device for Phy<'_> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Without room to answer, leave the frame in the backlog for the next poll.
        if !self.can_transmit() {
            return None;
        }
        let buf = self.backlog.pop_front()?;
        Some((
            RxToken {
                buf,
                pool: self.pool,
            },
            TxToken {
                queues: &mut *self.queues,
                mtu: self.mtu,
                pool: self.pool,
                counters: self.counters,
                role: self.role,
                trace: self.trace,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.can_transmit().then_some(TxToken {
            queues: &mut *self.queues,
            mtu: self.mtu,
            pool: self.pool,
            counters: self.counters,
            role: self.role,
            trace: self.trace,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp reads this once, when the interface is made; the configured MTU,
        // which can change at run time, is enforced by the screen (receive) and the
        // transmit token instead.
        caps.max_transmission_unit = MAX_FRAME - 4;
        caps.max_burst_size = Some(1);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.buf.frame());
        self.pool.borrow_mut().push(self.buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // `transmit`/`receive` checked that the pool has a buffer and only one token
        // lives at a time; the fallback allocation is for a broken invariant only.
        let mut buf = self.pool.borrow_mut().pop().unwrap_or_default();
        buf.reset();
        let len = len.min(MAX_FRAME);
        buf.set_len(len);
        let r = f(buf.frame_mut());
        if len > usize::from(self.mtu) + 14 {
            // Only echo replies could be this long, and their requests were
            // screened against the same MTU: a bug, counted rather than sent.
            self.counters.borrow_mut().tx_errors += 1;
            self.pool.borrow_mut().push(buf);
            return r;
        }
        if let Some(p) = self.trace {
            p.trace_frame(self.role, Direction::Out, buf.frame());
        }
        match self.queues.send(buf) {
            Ok(()) => self.counters.borrow_mut().sent(len),
            Err((buf, _)) => {
                self.counters.borrow_mut().tx_errors += 1;
                self.pool.borrow_mut().extend(buf);
            }
        }
        r
    }
}

//! Turning a flight into datagrams: fragmenting each handshake message to the MTU and
//! packing several records into one datagram.

use crate::handshake::fragment::{Message, HANDSHAKE_HEADER_LEN};
use crate::handshake::FlightItem;
use crate::record::header::RecordHeader as Header;
use crate::record::{
    ContentType, SealingKey, DTLS_1_0, DTLS_1_2, HEADER_LEN, HEADER_ROOM, TAG_ROOM,
};
use alloc::vec::Vec;

/// Smallest useful fragment body; below it a new datagram is started.
const MIN_FRAGMENT: usize = 16;

/// Record writer state shared by all flights of a connection.
#[derive(Debug, Default)]
pub struct Writer {
    /// Next epoch-0 record sequence number.
    pub epoch0_seq: u64,
}

/// Packs records into datagrams of at most `mtu` bytes.
pub struct Packer<'a> {
    pub mtu: usize,
    pub out: &'a mut Vec<Vec<u8>>,
    pub current: Vec<u8>,
}

impl Packer<'_> {
    fn room(&self) -> usize {
        self.mtu.saturating_sub(self.current.len())
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.out.push(core::mem::take(&mut self.current));
        }
    }

    fn ensure(&mut self, need: usize) {
        if self.room() < need {
            self.flush();
        }
    }
}

impl Writer {
    /// Appends one record holding `payload` to the packer.
    pub fn record(
        &mut self,
        p: &mut Packer<'_>,
        ct: ContentType,
        epoch: u16,
        payload: &[u8],
        key: Option<&mut SealingKey>,
        version: u16,
    ) {
        match (epoch, key) {
            (0, _) => {
                p.ensure(HEADER_LEN + payload.len());
                Header {
                    content_type: ct,
                    version,
                    epoch: 0,
                    seq: self.epoch0_seq,
                    length: payload.len() as u16,
                }
                .encode(&mut p.current);
                p.current.extend_from_slice(payload);
                self.epoch0_seq += 1;
            }
            (_, Some(key)) => {
                let total = HEADER_ROOM + payload.len() + TAG_ROOM;
                p.ensure(total);
                let start = p.current.len();
                p.current.resize(start + total, 0);
                p.current[start + HEADER_ROOM..start + HEADER_ROOM + payload.len()]
                    .copy_from_slice(payload);
                if key
                    .seal_in_place(ct, &mut p.current[start..], payload.len())
                    .is_err()
                {
                    p.current.truncate(start);
                }
            }
            // No key for a protected epoch: nothing can be sent.
            (_, None) => {}
        }
    }

    /// Appends a handshake message, fragmented to fit.
    pub fn message(&mut self, p: &mut Packer<'_>, m: &Message, mut key: Option<&mut SealingKey>) {
        let overhead = if m.epoch == 0 {
            HEADER_LEN
        } else {
            HEADER_ROOM + TAG_ROOM
        } + HANDSHAKE_HEADER_LEN;
        let version = if m.msg_type == crate::handshake::msgs::msg_type::HELLO_VERIFY_REQUEST {
            DTLS_1_0
        } else {
            DTLS_1_2
        };
        let mut offset = 0usize;
        loop {
            let mut room = p.room().saturating_sub(overhead);
            if room < MIN_FRAGMENT.min(m.body.len() - offset)
                || (room == 0 && !p.current.is_empty())
            {
                p.flush();
                room = p.mtu.saturating_sub(overhead).max(1);
            }
            let n = (m.body.len() - offset).min(room.max(1));
            let mut payload = Vec::with_capacity(HANDSHAKE_HEADER_LEN + n);
            crate::handshake::fragment::FragmentHeader {
                msg_type: m.msg_type,
                length: m.body.len() as u32,
                message_seq: m.message_seq,
                fragment_offset: offset as u32,
                fragment_length: n as u32,
            }
            .encode(&mut payload);
            payload.extend_from_slice(&m.body[offset..offset + n]);
            self.record(
                p,
                ContentType::Handshake,
                m.epoch,
                &payload,
                key.as_deref_mut(),
                version,
            );
            offset += n;
            if offset >= m.body.len() {
                return;
            }
        }
    }

    /// Serializes a whole flight into datagrams.
    pub fn flight(
        &mut self,
        items: &[FlightItem],
        mtu: usize,
        mut key: Option<&mut SealingKey>,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut p = Packer {
            mtu,
            out: &mut out,
            current: Vec::new(),
        };
        for item in items {
            match item {
                FlightItem::ChangeCipherSpec => self.record(
                    &mut p,
                    ContentType::ChangeCipherSpec,
                    0,
                    &[1],
                    None,
                    DTLS_1_2,
                ),
                FlightItem::Handshake(m) => self.message(&mut p, m, key.as_deref_mut()),
            }
        }
        p.flush();
        out
    }
}

//! Azure VNet flow log version 4: flow tuples and JSON records.
//!
//! A tuple is `time,srcIP,dstIP,srcPort,dstPort,protocol,direction,state,encryption,
//! packetsSent,bytesSent,packetsReceived,bytesReceived`, with `time` in Unix epoch
//! milliseconds, protocol the IP protocol number, direction `I`/`O`, state `B` (begin),
//! `C` (continue), `E` (end) or `D` (deny), and counters since the flow's previous tuple.
//! A record (one JSON line) nests the tuples as Azure does:
//! `records[].flowRecords.flows[].flowGroups[].flowTuples[]`.

use core::fmt::{self, Write};
use core::net::Ipv4Addr;

/// Azure's encryption values, plus none of our own so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// `X`: carried in a DTLS session.
    Encrypted,
    /// `NX`: not encrypted, and not ours to encrypt (no peer owns the destination).
    NotEncrypted,
    /// `NX_NOT_ACCEPTED`: dropped because DropUnencrypted applies and encryption was not
    /// possible (no peer for a private destination, failed handshake, or plaintext
    /// arriving on wan for a protected prefix).
    NotAccepted,
    /// `NX_FALLBACK`: encryption was attempted, failed, and AllowUnencrypted let it pass.
    Fallback,
}

impl Encryption {
    /// The value written in tuples.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Encrypted => "X",
            Encryption::NotEncrypted => "NX",
            Encryption::NotAccepted => "NX_NOT_ACCEPTED",
            Encryption::Fallback => "NX_FALLBACK",
        }
    }
}

/// Who opened the flow, seen from the appliance: `O` a lan workload, `I` the wan side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Flow state letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowState {
    Begin,
    Continue,
    End,
    Deny,
}

/// One version-4 flow tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub direction: Direction,
    pub state: FlowState,
    pub encryption: Encryption,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
}

impl fmt::Display for FlowTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            Direction::Inbound => 'I',
            Direction::Outbound => 'O',
        };
        let state = match self.state {
            FlowState::Begin => 'B',
            FlowState::Continue => 'C',
            FlowState::End => 'E',
            FlowState::Deny => 'D',
        };
        write!(
            f,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.time_ms,
            self.src,
            self.dst,
            self.src_port,
            self.dst_port,
            self.protocol,
            dir,
            state,
            self.encryption.as_str(),
            self.packets_sent,
            self.bytes_sent,
            self.packets_received,
            self.bytes_received
        )
    }
}

/// The fixed fields of an exported record: who produced it.
#[derive(Clone, Copy, Debug)]
pub struct RecordMeta<'a> {
    /// Record time, ISO 8601 UTC (`2026-11-28T10:00:00.000Z`), formatted by the caller
    /// that owns the wall clock.
    pub time: &'a str,
    /// A GUID identifying this appliance's flow log.
    pub flow_log_guid: &'a str,
    /// The lan interface's MAC, as 12 upper-case hex digits (Azure's form).
    pub mac_address: &'a str,
    /// Resource identifiers (free text for us: the appliance's name).
    pub flow_log_resource_id: &'a str,
    pub target_resource_id: &'a str,
    /// The rule the tuples are grouped under (for us: the enforcement mode).
    pub rule: &'a str,
    /// The ACL identifier field (for us: the appliance's name).
    pub acl_id: &'a str,
}

/// Writes one JSON line (`{"records":[...]}` + `\n`) holding `tuples` in Azure's layout.
/// Returns the formatter error if `w` runs out of room; nothing else can fail.
pub fn write_record<W: Write>(
    w: &mut W,
    meta: &RecordMeta<'_>,
    tuples: &[FlowTuple],
) -> fmt::Result {
    w.write_str("{\"records\":[{\"time\":")?;
    json_str(w, meta.time)?;
    w.write_str(",\"flowLogVersion\":4,\"flowLogGUID\":")?;
    json_str(w, meta.flow_log_guid)?;
    w.write_str(",\"macAddress\":")?;
    json_str(w, meta.mac_address)?;
    w.write_str(",\"category\":\"FlowLogFlowEvent\",\"flowLogResourceID\":")?;
    json_str(w, meta.flow_log_resource_id)?;
    w.write_str(",\"targetResourceID\":")?;
    json_str(w, meta.target_resource_id)?;
    w.write_str(",\"operationName\":\"FlowLogFlowEvent\",\"flowRecords\":{\"flows\":[{\"aclID\":")?;
    json_str(w, meta.acl_id)?;
    w.write_str(",\"flowGroups\":[{\"rule\":")?;
    json_str(w, meta.rule)?;
    w.write_str(",\"flowTuples\":[")?;
    for (i, t) in tuples.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        // Tuples contain only digits, dots, letters, '_' and ',': no escaping needed.
        write!(w, "\"{t}\"")?;
    }
    w.write_str("]}]}]}}]}\n")
}

/// Packs `tuples` into JSON-line records of at most `max_len` bytes each (one UDP
/// datagram to the collector each), calling `send` with each record. Returns how many
/// tuples were sent; a tuple that cannot fit even alone (a `max_len` too small for the
/// record's fixed fields) is skipped and not counted.
pub fn pack_records(
    meta: &RecordMeta<'_>,
    tuples: &[FlowTuple],
    scratch: &mut [u8],
    max_len: usize,
    mut send: impl FnMut(&[u8]),
) -> usize {
    let max_len = max_len.min(scratch.len());
    let fits = |scratch: &mut [u8], ts: &[FlowTuple]| -> Option<usize> {
        let mut w = SliceWriter::new(&mut scratch[..max_len]);
        write_record(&mut w, meta, ts).ok().map(|_| w.len())
    };
    let (mut start, mut sent) = (0, 0);
    while start < tuples.len() {
        // Grow the record while it fits.
        let mut end = start;
        while end < tuples.len() && fits(scratch, &tuples[start..=end]).is_some() {
            end += 1;
        }
        if end == start {
            start += 1; // this tuple alone does not fit: skip it
            continue;
        }
        if let Some(n) = fits(scratch, &tuples[start..end]) {
            send(&scratch[..n]);
            sent += end - start;
        }
        start = end;
    }
    sent
}

fn json_str<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(w, "\\u{:04x}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

/// A `fmt::Write` into a byte slice (no allocation); fails when full.
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};

    fn tuple() -> FlowTuple {
        FlowTuple {
            time_ms: 1_663_146_003_599,
            src: Ipv4Addr::new(10, 1, 0, 6),
            dst: Ipv4Addr::new(10, 2, 0, 7),
            src_port: 45448,
            dst_port: 443,
            protocol: 6,
            direction: Direction::Outbound,
            state: FlowState::Continue,
            encryption: Encryption::Encrypted,
            packets_sent: 3,
            bytes_sent: 180,
            packets_received: 2,
            bytes_received: 120,
        }
    }

    #[test]
    fn tuple_format() {
        assert_eq!(
            tuple().to_string(),
            "1663146003599,10.1.0.6,10.2.0.7,45448,443,6,O,C,X,3,180,2,120"
        );
        let mut t = tuple();
        t.direction = Direction::Inbound;
        t.state = FlowState::Deny;
        t.encryption = Encryption::NotAccepted;
        assert!(t.to_string().contains(",I,D,NX_NOT_ACCEPTED,"));
        t.state = FlowState::Begin;
        t.encryption = Encryption::Fallback;
        assert!(t.to_string().contains(",I,B,NX_FALLBACK,"));
        t.state = FlowState::End;
        t.encryption = Encryption::NotEncrypted;
        assert!(t.to_string().contains(",I,E,NX,"));
    }

    #[test]
    fn record_layout() {
        let meta = RecordMeta {
            time: "2026-11-28T10:00:00.000Z",
            flow_log_guid: "00000000-0000-4000-8000-000000000001",
            mac_address: "020000000001",
            flow_log_resource_id: "vnetcrypt/a",
            target_resource_id: "vnetcrypt/a/lan",
            rule: "DropUnencrypted",
            acl_id: "vnetcrypt \"a\"",
        };
        let mut s = String::new();
        write_record(&mut s, &meta, &[tuple(), tuple()]).unwrap();
        let t = tuple().to_string();
        let expected = alloc::format!(
            "{{\"records\":[{{\"time\":\"2026-11-28T10:00:00.000Z\",\"flowLogVersion\":4,\
             \"flowLogGUID\":\"00000000-0000-4000-8000-000000000001\",\"macAddress\":\"020000000001\",\
             \"category\":\"FlowLogFlowEvent\",\"flowLogResourceID\":\"vnetcrypt/a\",\
             \"targetResourceID\":\"vnetcrypt/a/lan\",\"operationName\":\"FlowLogFlowEvent\",\
             \"flowRecords\":{{\"flows\":[{{\"aclID\":\"vnetcrypt \\\"a\\\"\",\"flowGroups\":[{{\
             \"rule\":\"DropUnencrypted\",\"flowTuples\":[\"{t}\",\"{t}\"]}}]}}]}}}}]}}\n"
        );
        assert_eq!(s, expected);
    }

    #[test]
    fn packs_tuples_into_bounded_datagrams() {
        let meta = RecordMeta {
            time: "2026-11-28T10:00:00.000Z",
            flow_log_guid: "g",
            mac_address: "020000000001",
            flow_log_resource_id: "r",
            target_resource_id: "t",
            rule: "DropUnencrypted",
            acl_id: "a",
        };
        let tuples: alloc::vec::Vec<FlowTuple> = (0..40)
            .map(|i| {
                let mut t = tuple();
                t.src_port = i;
                t
            })
            .collect();
        let mut scratch = [0u8; 2048];
        let mut records: alloc::vec::Vec<String> = alloc::vec::Vec::new();
        let n = pack_records(&meta, &tuples, &mut scratch, 600, |r| {
            records.push(String::from_utf8(r.to_vec()).unwrap())
        });
        assert_eq!(n, 40);
        assert!(records.len() > 1);
        let mut seen = 0;
        for r in &records {
            assert!(r.len() <= 600 && r.ends_with("]}]}]}}]}\n") && r.starts_with("{\"records\""));
            seen += r.matches(",O,C,X,").count();
        }
        assert_eq!(seen, 40);
        // Too small for even one tuple: nothing sent, nothing counted.
        assert_eq!(
            pack_records(&meta, &tuples, &mut scratch, 100, |_| panic!()),
            0
        );
    }

    #[test]
    fn slice_writer_refuses_overflow() {
        let mut buf = [0u8; 8];
        let mut w = SliceWriter::new(&mut buf);
        assert!(w.write_str("12345").is_ok());
        assert!(w.write_str("6789").is_err());
        assert_eq!(w.len(), 5);
    }
}

//! Periodic export of flow records to the configured collector: JSON lines in Azure's
//! VNet flow log record layout, one UDP datagram each, from the interface on whose
//! subnet the collector sits (wan otherwise).

use super::{now, Datapath};
use crate::net::Interfaces;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use vnetcrypt_console::config::{Config, Enforcement, Iface};
use vnetcrypt_gateway::RecordMeta;

/// A record must fit one datagram without IP fragmentation on a 1500-byte path.
const MAX_RECORD: usize = 1400;

/// What the exporter has done, for `counters`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExportStats {
    pub records: u64,
    pub tuples: u64,
    /// Records the collector socket could not take (buffer full, no route yet).
    pub failed: u64,
}

/// `2026-11-28T10:00:00.000Z` for a Unix time in milliseconds.
fn iso8601(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let rem = ms % 86_400_000;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

impl Datapath {
    /// Sends the flow tuples due now, if a collector is configured and its interval
    /// has passed.
    pub(super) fn export_flows(&mut self, net: &mut Interfaces, cfg: &Config) {
        let Some(collector) = cfg.collector else {
            return;
        };
        let t = crate::clock::uptime_us();
        if t < self.next_export_us {
            return;
        }
        self.next_export_us = t + u64::from(collector.interval_s) * 1_000_000;
        let Some(gw) = self.engine.as_mut() else {
            return;
        };
        let lan = net.nic(Iface::Lan);
        let on_lan = lan.and_then(|n| n.address()).is_some_and(|(a, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(*collector.endpoint.ip()) & mask == u32::from(a) & mask
        });
        let mut mac = String::new();
        for b in lan.map(|n| n.mac.0).unwrap_or_default() {
            let _ = write!(mac, "{b:02X}");
        }
        let fp = self
            .built
            .as_ref()
            .map(|b| format!("{}", b.identity))
            .unwrap_or_default();
        let guid = format!(
            "{}-{}-{}-{}-{}",
            fp.get(0..8).unwrap_or(""),
            fp.get(8..12).unwrap_or(""),
            fp.get(12..16).unwrap_or(""),
            fp.get(16..20).unwrap_or(""),
            fp.get(20..32).unwrap_or("")
        );
        let name = format!("vnetcrypt/{}", fp.get(..16).unwrap_or(""));
        let time = iso8601(self.epoch_ms + t / 1000);
        let rule = match cfg.enforcement {
            Enforcement::AllowUnencrypted => "AllowUnencrypted",
            Enforcement::DropUnencrypted => "DropUnencrypted",
        };
        let meta = RecordMeta {
            time: &time,
            flow_log_guid: &guid,
            mac_address: &mac,
            flow_log_resource_id: &name,
            target_resource_id: &name,
            rule,
            acl_id: &name,
        };
        let role = if on_lan { Iface::Lan } else { Iface::Wan };
        let stats = &mut self.export;
        let tuples = gw.export_flow_records(now(), self.epoch_ms, &meta, MAX_RECORD, |record| {
            let sent = net
                .nic_for_dataplane(role)
                .is_some_and(|nic| nic.collector_send(record, collector.endpoint));
            if sent {
                stats.records += 1;
            } else {
                stats.failed += 1;
            }
        });
        self.export.tuples += tuples as u64;
    }
}

//! The `interfaces` console view.
//!
//! Format (one block per role; counters as `name=value` so that tests and operators
//! can pick them out):
//! ```text
//! wan: mac 52:54:00:00:00:01, driver up, mtu 1500, at pci 00:01.0
//!   ipv4 192.0.2.1/24, gateway 192.0.2.254, dhcp off
//!   rx packets=10 bytes=980 errors=0
//!   tx packets=10 bytes=980 errors=0
//!   drops runt=0 oversized=0 ...
//! lan: absent
//! ```

use super::nic::DhcpState;
use super::Interfaces;
use core::fmt::{self, Write};
use vnetcrypt_console::config::Iface;
use vnetcrypt_underlay::DropReason;

impl Interfaces {
    pub fn write_view(&self, w: &mut dyn Write) -> fmt::Result {
        for role in Iface::ALL {
            let Some(nic) = self.nic(role) else {
                writeln!(
                    w,
                    "{}: absent (no virtio-net device for this role)",
                    role.name()
                )?;
                continue;
            };
            writeln!(
                w,
                "{}: mac {}, driver {}, mtu {}, at {}",
                role.name(),
                Mac(nic.mac.0),
                if nic.is_broken() {
                    "BROKEN (the device returned an inconsistent descriptor; NIC stopped)"
                } else {
                    "up"
                },
                nic.config.mtu,
                nic.location
            )?;
            match nic.address() {
                Some((a, len)) => write!(w, "  ipv4 {a}/{len}")?,
                None => write!(w, "  ipv4 none")?,
            }
            match nic.gateway() {
                Some(g) => write!(w, ", gateway {g}")?,
                None => write!(w, ", gateway none")?,
            }
            match nic.dhcp_state {
                DhcpState::Off => writeln!(w, ", dhcp off")?,
                DhcpState::Discovering => writeln!(w, ", dhcp discovering")?,
                DhcpState::Bound { server, .. } => writeln!(w, ", dhcp bound (server {server})")?,
            }
            let c = nic.counters.borrow();
            writeln!(
                w,
                "  rx packets={} bytes={} errors={}",
                c.rx_packets, c.rx_bytes, c.rx_errors
            )?;
            writeln!(
                w,
                "  tx packets={} bytes={} errors={}",
                c.tx_packets, c.tx_bytes, c.tx_errors
            )?;
            write!(w, "  drops")?;
            for why in DropReason::ALL {
                write!(w, " {}={}", why.name(), c.drops(why))?;
            }
            writeln!(w)?;
        }
        writeln!(w, "buffers free: {}", self.pool_free())
    }
}

/// A MAC address the way Linux tools print it (`52:54:00:12:34:56`).
struct Mac([u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

//! `config show`: the statements that rebuild the running configuration from defaults.

use crate::model::{default_private, Config, Iface, InterfaceConfig, Liveness};
use core::fmt::{self, Write};

impl Config {
    /// Writes one statement per line (`\n`-terminated). Applying them in order to
    /// `Config::default()` gives back `self`. Settings at their default are omitted,
    /// except the enforcement: whether clear traffic may cross is always stated.
    /// The collector and the syslog server come last, after the lan address and peers
    /// that protect them.
    pub fn write_statements(&self, w: &mut dyn Write) -> fmt::Result {
        let d = Config::default();
        writeln!(w, "enforcement {}", self.enforcement.keyword())?;
        if self.listen_port != d.listen_port {
            writeln!(w, "listen port {}", self.listen_port)?;
        }
        if self.roles_swapped {
            writeln!(w, "interface roles lan-wan")?;
        }
        for iface in Iface::ALL {
            write_interface(iface, self.interface(iface), w)?;
        }
        if self.proxy_arp {
            writeln!(w, "proxy-arp on")?;
        }
        if self.private != default_private() {
            w.write_str("private ")?;
            write_list(&self.private, w)?;
            w.write_str("\n")?;
        }
        if self.rekey.interval_s != d.rekey.interval_s {
            writeln!(w, "rekey interval {}", self.rekey.interval_s)?;
        }
        if self.rekey.records != d.rekey.records {
            writeln!(w, "rekey records {}", self.rekey.records)?;
        }
        write_liveness(&self.liveness, &d.liveness, w)?;
        // Routes after the lan address that their next hops lie on.
        for r in &self.routes {
            writeln!(w, "route add {} via {}", r.prefix, r.via)?;
        }
        for p in &self.peers {
            write!(w, "peer add {}", p.name)?;
            if let Some(e) = p.endpoint {
                write!(w, " endpoint {e}")?;
            }
            write!(w, " fingerprint {}", p.fingerprint)?;
            if let Some(second) = p.second_pin {
                write!(w, ",{second}")?;
            }
            w.write_str(" prefix ")?;
            write_list(&p.prefixes, w)?;
            if let Some(e) = p.enforcement {
                write!(w, " enforcement {}", e.keyword())?;
            }
            if p.transit {
                w.write_str(" transit on")?;
            }
            w.write_str("\n")?;
        }
        if let Some(c) = self.collector {
            writeln!(w, "collector {} interval {}", c.endpoint, c.interval_s)?;
        }
        if let Some(s) = self.syslog {
            writeln!(w, "syslog {s}")?;
        }
        if let Some(port) = self.metrics {
            writeln!(w, "metrics on port {port}")?;
        }
        if let Some(ip) = self.ntp {
            writeln!(w, "ntp {ip}")?;
        }
        Ok(())
    }
}

/// The keepalive and dead-peer settings in an order that is valid at every step
/// (dead-peer after must stay longer than the keepalive interval): a keepalive
/// interval that the default dead-peer time would not allow comes after it.
fn write_liveness(l: &Liveness, d: &Liveness, w: &mut dyn Write) -> fmt::Result {
    let keepalive = |w: &mut dyn Write| {
        if l.keepalive_s != d.keepalive_s {
            writeln!(w, "keepalive interval {}", l.keepalive_s)?;
        }
        Ok(())
    };
    let dead = |w: &mut dyn Write| {
        if l.dead_after_s != d.dead_after_s {
            writeln!(w, "dead-peer after {}", l.dead_after_s)?;
        }
        Ok(())
    };
    if l.keepalive_s < d.dead_after_s {
        keepalive(w)?;
        dead(w)?;
    } else {
        dead(w)?;
        keepalive(w)?;
    }
    if l.fallback_after_s != d.fallback_after_s {
        writeln!(w, "fallback after {}", l.fallback_after_s)?;
    }
    Ok(())
}

fn write_interface(iface: Iface, c: &InterfaceConfig, w: &mut dyn Write) -> fmt::Result {
    let name = iface.name();
    if let Some((a, l)) = c.address {
        writeln!(w, "interface {name} address {a}/{l}")?;
    }
    if let Some(g) = c.gateway {
        writeln!(w, "interface {name} gateway {g}")?;
    }
    if c.dhcp {
        writeln!(w, "interface {name} dhcp on")?;
    }
    if c.mtu != InterfaceConfig::default().mtu {
        writeln!(w, "interface {name} mtu {}", c.mtu)?;
    }
    Ok(())
}

fn write_list(list: &[crate::Ipv4Prefix], w: &mut dyn Write) -> fmt::Result {
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            w.write_str(",")?;
        }
        write!(w, "{p}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statement;
    use std::string::String;

    fn rebuild(text: &str) -> Config {
        let mut c = Config::default();
        for line in text.lines() {
            c.apply(Statement::parse(line).unwrap_or_else(|e| panic!("{line}: {e}")))
                .unwrap();
        }
        c
    }

    #[test]
    fn default_config_shows_only_the_enforcement() {
        let mut out = String::new();
        Config::default().write_statements(&mut out).unwrap();
        assert_eq!(out, "enforcement drop\n");
        assert_eq!(rebuild(&out), Config::default());
    }

    #[test]
    fn liveness_settings_round_trip_in_any_combination() {
        for (k, d) in [
            (1, 2),
            (5, 20),
            (10, 30),
            (29, 31),
            (30, 31),
            (60, 120),
            (3600, 86400),
        ] {
            let mut c = Config::default();
            c.liveness.keepalive_s = k;
            c.liveness.dead_after_s = d;
            c.liveness.fallback_after_s = 90;
            let mut out = String::new();
            c.write_statements(&mut out).unwrap();
            assert_eq!(rebuild(&out), c, "{out}");
        }
    }

    #[test]
    fn show_round_trips_every_setting() {
        let fp = "ab".repeat(32);
        let (fp2, fp3) = ("cd".repeat(32), "ef".repeat(32));
        let text = std::format!(
            "enforcement drop\n\
             listen port 5000\n\
             interface roles lan-wan\n\
             interface wan address 192.0.2.1/24\n\
             interface wan gateway 192.0.2.254\n\
             interface wan dhcp on\n\
             interface wan mtu 9000\n\
             interface lan address 10.1.0.1/24\n\
             interface lan mtu 1400\n\
             proxy-arp on\n\
             private 10.0.0.0/8,100.64.0.0/10\n\
             rekey interval 600\n\
             rekey records 1000000\n\
             keepalive interval 5\n\
             dead-peer after 20\n\
             fallback after 120\n\
             route add 10.244.1.0/24 via 10.1.0.20\n\
             route add 10.96.0.10/32 via 10.1.0.21\n\
             peer add b endpoint 192.0.2.2:4433 fingerprint {fp} prefix 10.2.0.0/24,10.3.0.0/24 enforcement allow transit on\n\
             peer add c fingerprint {fp2},{fp3} prefix 10.4.0.0/24\n\
             collector 10.2.0.9:2055 interval 30\n\
             syslog 10.2.0.7:514\n\
             metrics on port 9200\n\
             ntp 10.1.0.5\n"
        );
        let c = rebuild(&text);
        let mut out = String::new();
        c.write_statements(&mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(rebuild(&out), c);
    }
}

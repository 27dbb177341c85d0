//! Building the engine from the running configuration, and keeping it in step.

use super::{Datapath, Engine};
use crate::management::IdentityKey;
use crate::net::Interfaces;
use crate::platform::Platform;
use alloc::vec::Vec;
use core::fmt::Write;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use vnetcrypt_console::config::{self as cfg, Config, Iface};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::{GatewayConfig, Ipv4Prefix, PeerConfig, PeerId, PrivateSet};

/// What the engine is built from; any change rebuilds it (peers, routes and
/// enforcement are applied to the running engine instead). Rekey and liveness settings are here: the
/// engine reads them from its `GatewayConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Base {
    pub lan: (Ipv4Addr, u8),
    pub lan_mac: [u8; 6],
    pub wan_ip: Ipv4Addr,
    pub port: u16,
    pub wan_mtu: u16,
    pub identity: cfg::Fingerprint,
    pub private: Vec<cfg::Ipv4Prefix>,
    pub proxy_arp: bool,
    pub rekey: cfg::Rekey,
    pub liveness: cfg::Liveness,
}

fn peer(p: &cfg::PeerConfig) -> PeerConfig {
    PeerConfig {
        name: p.name.clone(),
        endpoint: p.endpoint,
        fingerprint: p.fingerprint,
        second_pin: p.second_pin,
        prefixes: p.prefixes.clone(),
        enforcement: p.enforcement,
        transit: p.transit,
    }
}

impl Datapath {
    /// Brings the engine in line with the configuration; says on `w` what changed
    /// when it starts, stops or refuses something.
    pub fn reconfigure(
        &mut self,
        config: &Config,
        identity: Result<&IdentityKey, &'static str>,
        net: &mut Interfaces,
        p: &dyn Platform,
        w: &mut dyn Write,
    ) {
        let (base, identity) = match self.base(config, identity, net) {
            Ok(b) => b,
            Err(why) => {
                if self.engine.take().is_some() {
                    let _ = writeln!(w, "data plane: stopped ({why})");
                    net.enable_dataplane(false);
                }
                self.built = None;
                self.inactive = why;
                return;
            }
        };
        if self.built.as_ref() != Some(&base) || self.engine.is_none() {
            match start(&base, config, identity, net, p) {
                Ok(engine) => {
                    self.engine = Some(engine);
                    let _ = writeln!(
                        w,
                        "data plane: running on {}:{} (lan {}/{})",
                        base.wan_ip, base.port, base.lan.0, base.lan.1
                    );
                }
                Err(why) => {
                    self.engine = None;
                    self.inactive = why;
                    let _ = writeln!(w, "data plane: not started: {why}");
                    return;
                }
            }
            self.built = Some(base);
        }
        self.sync_peers(config, super::now(p), w);
        self.sync_routes(config, w);
    }

    /// Gives the running engine the configured routes (sessions are kept).
    fn sync_routes(&mut self, config: &Config, w: &mut dyn Write) {
        let Some(gw) = self.engine.as_mut() else {
            return;
        };
        if gw.routes().count() == config.routes.len()
            && config
                .routes
                .iter()
                .all(|r| gw.routes().any(|have| have == *r))
        {
            return;
        }
        if let Err(e) = gw.set_routes(&config.routes) {
            // The configuration checks the same rules, so this means they disagree.
            let _ = writeln!(w, "data plane: routes not applied: {e}");
        }
    }

    /// Presents `identity` in every new handshake of the running engine and rekeys
    /// every up tunnel (make before break: nothing is lost); the engine is not
    /// rebuilt, so no session ends. Without a running engine, as `reconfigure`.
    pub fn rotate_identity(
        &mut self,
        config: &Config,
        identity: Result<&IdentityKey, &'static str>,
        net: &mut Interfaces,
        p: &dyn Platform,
        w: &mut dyn Write,
    ) {
        let (Ok(key), Some(engine), Some(base)) =
            (identity, self.engine.as_mut(), self.built.as_mut())
        else {
            return self.reconfigure(config, identity, net, p, w);
        };
        let Ok(dtls_identity) = dtls_identity(key) else {
            let _ = writeln!(w, "data plane: the new identity is unusable");
            return;
        };
        engine.layer_mut().set_identity(dtls_identity);
        base.identity = key.fingerprint();
        let n = engine.rekey_all(super::now(p));
        let _ = writeln!(
            w,
            "data plane: new handshakes present {}; {n} tunnel(s) rekeying",
            key.fingerprint()
        );
    }

    /// What the engine would be built from now, and the identity to build it with.
    fn base<'k>(
        &self,
        config: &Config,
        identity: Result<&'k IdentityKey, &'static str>,
        net: &Interfaces,
    ) -> Result<(Base, &'k IdentityKey), &'static str> {
        let identity = identity?;
        let lan = net.nic(Iface::Lan).ok_or("no lan NIC")?;
        let wan = net.nic(Iface::Wan).ok_or("no wan NIC")?;
        let lan_addr = lan.address().ok_or("lan has no address")?;
        let wan_addr = wan.address().ok_or("wan has no address")?;
        let base = Base {
            lan: lan_addr,
            lan_mac: lan.mac.0,
            wan_ip: wan_addr.0,
            port: config.listen_port,
            wan_mtu: config.interface(Iface::Wan).mtu,
            identity: identity.fingerprint(),
            private: config.private.clone(),
            proxy_arp: config.proxy_arp,
            rekey: config.rekey,
            liveness: config.liveness,
        };
        Ok((base, identity))
    }

    /// Adds, removes and updates peers and the global enforcement to match `config`.
    /// Enforcement, transit, endpoint and pins change on the running engine (sessions go on:
    /// a pin added for a rotation must not cut the tunnel); other changes re-add the
    /// peer.
    fn sync_peers(&mut self, config: &Config, now: vnetcrypt_gateway::Instant, w: &mut dyn Write) {
        let Some(gw) = self.engine.as_mut() else {
            return;
        };
        gw.set_enforcement(config.enforcement);
        // Peers gone or changed (other than what changes in place) leave the engine.
        let stale: Vec<PeerId> = gw
            .peers()
            .filter(|(_, have)| {
                config.peer(&have.name).map(peer).is_none_or(|want| {
                    PeerConfig {
                        enforcement: have.enforcement,
                        transit: have.transit,
                        endpoint: have.endpoint,
                        fingerprint: have.fingerprint,
                        second_pin: have.second_pin,
                        ..want
                    } != **have
                })
            })
            .map(|(id, _)| id)
            .collect();
        for id in stale {
            let _ = gw.remove_peer(id);
        }
        for p in &config.peers {
            match super::engine_id(gw, &p.name) {
                Some(id) => {
                    let _ = gw.set_peer_enforcement(id, p.enforcement);
                    let _ = gw.set_peer_transit(id, p.transit);
                    let have = gw.peer(id).cloned();
                    if have.as_ref().is_some_and(|h| h.endpoint != p.endpoint) {
                        if let Err(e) = gw.set_peer_endpoint(id, p.endpoint) {
                            let _ = writeln!(w, "data plane: peer '{}' endpoint: {e:?}", p.name);
                        }
                    }
                    let pins_changed = have.as_ref().is_some_and(|h| {
                        (h.fingerprint, h.second_pin) != (p.fingerprint, p.second_pin)
                    });
                    if pins_changed {
                        let _ = gw.set_peer_pins(now, id, p.fingerprint, p.second_pin);
                    }
                }
                None => match gw.add_peer(peer(p)) {
                    Ok(_) => {}
                    Err(e) => {
                        let _ = writeln!(w, "data plane: peer '{}' not added: {e:?}", p.name);
                    }
                },
            }
        }
    }
}

fn start(
    base: &Base,
    config: &Config,
    identity: &IdentityKey,
    net: &mut Interfaces,
    p: &dyn Platform,
) -> Result<Engine, &'static str> {
    let dtls_identity = dtls_identity(identity)?;
    let mut dtls = vnetcrypt_dtls::Config::new(
        dtls_identity,
        vnetcrypt_dtls::PeerPolicy::Pinned(Vec::new()),
    );
    // Records must fit the wan MTU after the outer IPv4 and UDP headers.
    dtls.mtu = usize::from(base.wan_mtu).saturating_sub(28);
    let mut seed = [0u8; 32];
    p.fill_random(&mut seed)
        .map_err(|_| "no hardware random source")?;
    let lan_prefix = Ipv4Prefix::new(base.lan.0, base.lan.1).map_err(|_| "lan prefix invalid")?;
    let mut gc = GatewayConfig::new(
        smoltcp::wire::EthernetAddress(base.lan_mac),
        base.lan.0,
        alloc::vec![lan_prefix],
        SocketAddrV4::new(base.wan_ip, base.port),
    );
    gc.wan_mtu = usize::from(base.wan_mtu);
    gc.enforcement = config.enforcement;
    let mut private = PrivateSet::empty();
    for &p in &config.private {
        private.add(p);
    }
    gc.private = private;
    gc.proxy_arp = base.proxy_arp;
    gc.rekey_interval = Duration::from_secs(u64::from(base.rekey.interval_s));
    gc.rekey_records = base.rekey.records;
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    gc.keepalive_interval = secs(base.liveness.keepalive_s);
    gc.dead_after = secs(base.liveness.dead_after_s);
    gc.fallback_after = secs(base.liveness.fallback_after_s);
    let wan = net.nic_for_dataplane(Iface::Wan).ok_or("no wan NIC")?;
    wan.udp_open(base.port);
    net.enable_dataplane(true);
    Ok(Engine::new(gc, DtlsLayer::new(dtls, seed)))
}

/// The DTLS identity (key and self-signed certificate) of an identity key.
fn dtls_identity(identity: &IdentityKey) -> Result<vnetcrypt_dtls::Identity, &'static str> {
    let key = p256::ecdsa::SigningKey::from_bytes(identity.secret().into())
        .map_err(|_| "identity key unusable")?;
    vnetcrypt_dtls::Identity::from_signing_key(key, "vnetcrypt")
        .map_err(|_| "cannot build the identity certificate")
}

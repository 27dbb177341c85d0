//! The node: boots from its configuration disk, moves packets when polled, says when
//! it next needs a poll, and carries out the console commands that are its own.

use crate::datapath::Datapath;
use crate::events::{self, EventKind, EventLog};
use crate::management::disk::BlockDevice;
use crate::management::{Changed, Management};
use crate::net::{Interfaces, PortSlot};
use crate::ops::Ops;
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;
use vnetcrypt_console::{write_health, Command, JsonView, View};
use vnetcrypt_gateway::Instant;

/// Switches from the kernel command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `net.trace`: every frame goes to [`Platform::trace_frame`].
    pub trace: bool,
    /// `net.bridge` (tests): transit frames cross to the other NIC unchanged.
    pub bridge: bool,
}

pub struct Node {
    platform: Box<dyn Platform>,
    net: Interfaces,
    mgmt: Management,
    dp: Datapath,
    events: EventLog,
    ops: Ops,
}

impl Node {
    /// Loads the configuration and identity from `disk`, brings up `ports` (the first
    /// `wan`, the second `lan`, unless the configuration swaps them) and starts the data
    /// plane if the configuration allows; says what it finds on `w` (the console).
    pub fn boot(
        platform: Box<dyn Platform>,
        ports: Vec<PortSlot>,
        disk: Option<Box<dyn BlockDevice>>,
        options: Options,
        w: &mut dyn Write,
    ) -> Self {
        let p = &*platform;
        let mut net = Interfaces::new(ports, p, options.trace, options.bridge);
        let mgmt = Management::boot(disk, p, w);
        if let Err((role, e)) = net.apply(&mgmt.config, p) {
            let _ = writeln!(w, "config: interface {}: {e}", role.name());
        }
        let mut dp = Datapath::new(p);
        dp.reconfigure(&mgmt.config, mgmt.engine_identity(), &mut net, p, w);
        let ops = Ops::new(p);
        let mut node = Self {
            platform,
            net,
            mgmt,
            dp,
            ops,
            events: EventLog::default(),
        };
        let version = env!("CARGO_PKG_VERSION");
        let fingerprint = node
            .mgmt
            .identity
            .as_ref()
            .map(|k| k.fingerprint().to_string())
            .unwrap_or_else(|| "none".into());
        node.record(
            EventKind::Boot,
            vec![
                ("version", version.into()),
                ("fingerprint", fingerprint.clone()),
            ],
            alloc::format!("vnetcrypt {version} booted; identity {fingerprint}"),
        );
        for problem in core::mem::take(&mut node.mgmt.disk_problems) {
            node.record(
                EventKind::DiskError,
                vec![("error", problem.clone())],
                alloc::format!("configuration disk: {problem}"),
            );
        }
        node
    }

    /// Records an event now.
    fn record(&mut self, kind: EventKind, data: Vec<(&'static str, String)>, message: String) {
        let t = self.platform.now_us();
        self.events.push(t, self.dp.unix_ms(t), kind, data, message);
    }

    /// Writes the one-line health summary `status` starts with.
    pub fn write_health(&self, w: &mut dyn Write) -> core::fmt::Result {
        let now = Instant::from_micros(self.platform.now_us());
        write_health(&self.dp.health(&self.mgmt.config, now), w)
    }

    /// Moves every frame and packet that is waiting and runs what is due. Returns
    /// whether anything arrived or left the data plane (poll again soon: more may
    /// follow).
    pub fn poll(&mut self) -> bool {
        let p = &*self.platform;
        let received = self.net.poll(p);
        let moved = self.dp.poll(
            &mut self.net,
            &self.mgmt.config,
            self.mgmt.engine_identity(),
            &mut self.events,
            p,
        );
        let ops = self
            .ops
            .poll(&mut self.net, &mut self.dp, &self.mgmt.config, p);
        received + moved > 0 || ops
    }

    /// When the node next needs [`Self::poll`] if no frame arrives, in microseconds
    /// of uptime (`None`: only when a frame arrives). A time not after now means now.
    pub fn poll_at(&mut self) -> Option<u64> {
        let p = &*self.platform;
        let net = self.net.poll_at(p);
        let dp = self.dp.poll_at(&self.mgmt.config, &self.events);
        let ops = self.ops.poll_at(&self.net);
        [net, dp, ops].into_iter().flatten().min()
    }

    /// The running configuration.
    pub fn config(&self) -> &vnetcrypt_config::Config {
        &self.mgmt.config
    }

    /// The platform the node runs on.
    pub fn platform(&self) -> &dyn Platform {
        &*self.platform
    }

    /// Carries out `cmd` if it is the node's (interfaces, data plane views,
    /// configuration, identity, persistence); `false` leaves it to the caller.
    pub fn execute(&mut self, cmd: &Command<'_>, w: &mut dyn Write) -> bool {
        let changes = matches!(
            cmd,
            Command::Set(_)
                | Command::ConfigReset
                | Command::ConfigInitialize
                | Command::IdentityRotate
        );
        let before = changes.then(|| self.statements());
        let identity = self
            .mgmt
            .identity
            .as_ref()
            .map(|k| k.fingerprint().to_string());
        let handled = self.carry_out(cmd, w);
        if let Some(before) = before {
            self.record_config_change(&before, identity);
        }
        match self.mgmt.last_save.take() {
            Some(Ok((slot, seq))) => self.record(
                EventKind::ConfigSaved,
                vec![("slot", slot.to_string()), ("sequence", seq.to_string())],
                alloc::format!("configuration saved (slot {slot}, sequence {seq})"),
            ),
            Some(Err(e)) => self.record(
                EventKind::DiskError,
                vec![("error", e.clone())],
                alloc::format!("configuration save failed: {e}"),
            ),
            None => {}
        }
        handled
    }

    /// The running configuration as `config show` prints it (never the key).
    fn statements(&self) -> String {
        let mut s = String::new();
        let _ = self.mgmt.config.write_statements(&mut s);
        s
    }

    /// Records which statements a command added or removed, and a new identity.
    fn record_config_change(&mut self, before: &str, identity: Option<String>) {
        let after = self.statements();
        let lines = |text: &str, other: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !other.lines().any(|o| o == *l))
                .map(String::from)
                .collect()
        };
        let (added, removed) = (lines(&after, before), lines(before, &after));
        let new_identity = self
            .mgmt
            .identity
            .as_ref()
            .map(|k| k.fingerprint().to_string());
        let rotated = new_identity != identity;
        if added.is_empty() && removed.is_empty() && !rotated {
            return;
        }
        let mut data = Vec::new();
        let mut message = String::from("configuration changed:");
        if !added.is_empty() {
            data.push(("added", added.join(" | ")));
            message.push_str(&alloc::format!(" {}", added.join("; ")));
        }
        if !removed.is_empty() {
            data.push(("removed", removed.join(" | ")));
            message.push_str(&alloc::format!(" (removed: {})", removed.join("; ")));
        }
        if rotated {
            let fp = new_identity.unwrap_or_else(|| "none".into());
            message.push_str(&alloc::format!(" identity {fp}"));
            data.push(("identity", fp));
        }
        self.record(EventKind::ConfigChanged, data, message);
    }

    fn carry_out(&mut self, cmd: &Command<'_>, w: &mut dyn Write) -> bool {
        let p = &*self.platform;
        let Self {
            net,
            mgmt,
            dp,
            ops,
            events,
            ..
        } = self;
        if crate::net::execute(cmd, &mut mgmt.config, net, p, w) {
            if matches!(cmd, Command::Set(_)) {
                mgmt.unsaved = true;
                dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, p, w);
            }
            return true;
        }
        let now = Instant::from_micros(p.now_us());
        let shown = match cmd {
            Command::Show(View::Peers) => Some(dp.write_peers(&mgmt.config, None, now, w)),
            Command::Show(View::Peer(name)) => {
                Some(dp.write_peers(&mgmt.config, Some(name), now, w))
            }
            Command::Show(View::Routes) => Some(dp.write_routes(&mgmt.config, now, w)),
            Command::Show(View::Sessions) => Some(dp.write_sessions(&mgmt.config, now, w)),
            Command::Show(View::Counters) => Some(dp.write_counters(net, now, w)),
            Command::Show(View::Flows) => Some(dp.write_flows(now, w)),
            Command::Show(View::Events(n)) => Some(events::write_events(events, *n, w)),
            Command::Show(View::Json(v)) => Some(match v {
                JsonView::Peers => dp.write_peers_json(&mgmt.config, now, w),
                JsonView::Sessions => dp.write_sessions_json(&mgmt.config, now, w),
                JsonView::Counters => dp.write_counters_json(net, w),
                JsonView::Flows => dp.write_flows_json(now, w),
                JsonView::Events => events::write_events_json(events, w),
            }),
            Command::Show(View::Time) => Some(ops.write_time(p.now_us(), w)),
            _ => None,
        };
        if shown.is_some() {
            return true;
        }
        match mgmt.handle(cmd, p, w) {
            Some(Changed::Config) => {
                if let Err((role, e)) = net.apply(&mgmt.config, p) {
                    let _ = writeln!(w, "error: interface {}: {e}", role.name());
                }
                dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, p, w);
            }
            Some(Changed::Identity) => {
                dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, p, w)
            }
            Some(Changed::IdentityRotated) => {
                dp.rotate_identity(&mgmt.config, mgmt.engine_identity(), net, p, w)
            }
            Some(Changed::Nothing) => {}
            None => return false,
        }
        true
    }

    /// Test builds: a save cut short after `sectors` sectors, as a power cut would.
    #[cfg(feature = "test-faults")]
    pub fn torn_save(&mut self, sectors: u64, w: &mut dyn Write) {
        self.mgmt.torn_save(sectors, w);
    }
}

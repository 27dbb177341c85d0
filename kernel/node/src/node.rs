//! The node: boots from its configuration disk, moves packets when polled, says when
//! it next needs a poll, and carries out the console commands that are its own.

use crate::datapath::Datapath;
use crate::management::disk::BlockDevice;
use crate::management::{Changed, Management};
use crate::net::{Interfaces, PortSlot};
use crate::ops::Ops;
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::Write;
use vnetcrypt_console::{Command, View};
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
        Self {
            platform,
            net,
            mgmt,
            dp,
            ops,
        }
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
        let dp = self.dp.poll_at(&self.mgmt.config);
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
        let p = &*self.platform;
        let Self {
            net, mgmt, dp, ops, ..
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
            Command::Show(View::Sessions) => Some(dp.write_sessions(now, w)),
            Command::Show(View::Counters) => Some(dp.write_counters(net, now, w)),
            Command::Show(View::Flows) => Some(dp.write_flows(now, w)),
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

//! One vnetcrypt appliance as a network node: its two NICs with the smoltcp underlay
//! (`net`), the gateway data plane between them (`datapath`), the running
//! configuration, identity and configuration disk (`management`), and the console
//! commands about them (`node`).
//!
//! The node touches no hardware: NICs are [`NetPort`]s, the configuration disk a
//! [`BlockDevice`], time, randomness, the wall clock and logging a [`Platform`]. The
//! appliance implements those over virtio and the CPU; host tests over fakes.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod datapath;
mod events;
mod management;
mod net;
mod node;
mod ops;
pub mod packet;
pub mod platform;
pub mod port;

pub use management::disk::{choose_config_disk, BlockDevice, IoError, SECTOR};
pub use net::{PortSlot, QUEUE_SIZE};
pub use node::{Node, Options};
pub use packet::PacketBuf;
pub use platform::{Direction, LogWriter, Platform, RngUnavailable};
pub use port::{NetPort, PortError, Refused};

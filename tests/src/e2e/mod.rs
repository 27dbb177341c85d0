//! Helpers for the end-to-end tests (`tests/tests/e2e.rs`): two gateways under QEMU
//! between two workload hosts in network namespaces, and `tshark` on the fabric.
//! They reuse the NIC tests' namespace, TAP and process guards
//! (`tests/tests/nic/netns.rs`), which the test crate includes as `crate::netns`.

pub mod attacker;
pub mod capture;
pub mod gateway;
pub mod topology;

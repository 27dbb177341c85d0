//! Helpers for the end-to-end tests (`tests/tests/e2e.rs`, `tests/tests/topologies.rs`):
//! gateways under QEMU between workload hosts in network namespaces, and `tshark` on
//! the fabric. `network` builds networks of two or three gateways (lan routers, a NAT
//! namespace); `topology` is its two-gateway form the first e2e tests use. They reuse
//! the NIC tests' namespace, TAP and process guards (`tests/tests/nic/netns.rs`), which
//! the test crate includes as `crate::netns`.

pub mod attacker;
pub mod capture;
pub mod gateway;
pub mod network;
pub mod topology;

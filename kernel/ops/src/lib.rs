//! The pure parts of the appliance's operations endpoints, sans-IO:
//! - [`http`]: the metrics endpoint's HTTP/1.1 request parser and its answer (path,
//!   method and size checks), over a bounded buffer;
//! - [`prom`]: a Prometheus text exposition (format 0.0.4) writer, with a fixed-bucket
//!   [`prom::Histogram`];
//! - [`metrics`]: the appliance's metrics families, rendered from a plain snapshot;
//! - [`sntp`]: the SNTPv4 (RFC 4330) request and reply codec with the checks that reject
//!   spoofed and unusable replies;
//! - [`wallclock`]: the wall clock the appliance keeps from the RTC and SNTP samples
//!   (step, slew, poll interval and backoff), on a caller-given uptime.
//!
//! Guarantees: no input panics (every parser takes any byte string); nothing allocates;
//! time is always an argument (microseconds of uptime), so a fake clock drives the tests.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod http;
pub mod metrics;
pub mod prom;
pub mod sntp;
pub mod wallclock;

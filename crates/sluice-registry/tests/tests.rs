//! sluice-registry's integration tests: one binary, one module per area.
//!
//! Everything runs against real servers: a sluice broker in-process on `127.0.0.1:0`
//! (`sluice_testkit::TestBroker`) and the registry's HTTP server on another free port.

mod common;
mod compat_table;
mod converter;
mod http;
mod restart;

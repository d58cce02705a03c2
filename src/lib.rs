//! octaverify: proves whether a firewall export lets an Octalarm alarm dialler work.
//!
//! Data flows one way: vendor front-ends ([`frontend`]) → the vendor-neutral
//! policy model ([`model`]) → the packet-set engine ([`space`], [`eval`]) →
//! requirement checks ([`check`]) → report renderers ([`report`]).

pub mod capture;
pub mod check;
pub mod cli;
pub mod diag;
pub mod diff;
pub mod eval;
pub mod frontend;
pub mod graph;
pub mod lint;
pub mod model;
pub mod report;
pub mod requirements;
pub mod site;
pub mod space;
pub mod stages;

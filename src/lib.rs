//! octaverify: proves whether a firewall export lets an Octalarm alarm dialler work.
//!
//! Data flows one way: vendor front-ends ([`frontend`]) → the vendor-neutral
//! policy model ([`model`]) → the packet-set engine ([`space`], [`eval`]) →
//! requirement checks ([`check`]) → report renderers ([`report`]).

pub mod space;
pub mod eval;
pub mod model;
pub mod diag;
pub mod frontend;
pub mod graph;
pub mod requirements;
pub mod site;
pub mod check;
pub mod report;
pub mod cli;

//! Evaluation of a policy on the forward path: one packet at a time
//! ([`concrete`], the reference) and whole packet sets at once ([`symbolic`]).
//!
//! Both follow the same semantics: base chains in path order; `accept` ends only
//! its own base chain, `drop`/`reject` is final; NAT chains see only packets
//! that open a connection; a rule with unmodelled parts may or may not match,
//! and a packet whose fate depends on that is `unknown`.

pub mod concrete;
pub mod symbolic;

use crate::model::{BaseChain, ChainKind, Hook};
use crate::space::{Cube, Dim, IntervalSet, PacketSet, State};

/// The final fate of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
    Unknown,
}

/// The packets a base chain sees out of those that reach its hook: those of its
/// family, of its devices (ingress, egress), of its own scope (stateful
/// access lists) and, for chains of opening packets, only those that open a
/// connection.
fn base_chain_scope(b: &BaseChain) -> PacketSet {
    let mut c = Cube::full();
    if let Some(f) = b.family {
        c = Cube::family(f);
    }
    if let Some(devices) = &b.devices {
        let d = if b.hook == Hook::Egress {
            Dim::Out
        } else {
            Dim::In
        };
        c = match c.restrict(d, devices) {
            Some(c) => c,
            None => return PacketSet::empty(),
        };
    }
    if b.kind == ChainKind::Opening {
        c = c
            .with(Dim::State, IntervalSet::point(State::NEW))
            .expect("a state is never empty");
    }
    match &b.scope {
        Some(scope) => scope.intersect(&c.into()),
        None => c.into(),
    }
}

//! Where on a packet's path a chain runs, and what its matches see there.
//!
//! Chains that run before connection tracking find every packet INVALID;
//! chains that run before routing find no output interface (netfilter
//! compares `oifname` / `-o` with the empty name there). A user chain that
//! base chains of different stages jump to sees different packets from each,
//! so [`settle`] gives each stage its own copy of it: one chain, one stage,
//! and every match lowered for the stage it runs in.

use crate::model::{Action, BaseChain, CONNTRACK_PRIORITY, ChainId, Hook, Policy};
use crate::space::{Dim, IntervalSet, PacketSet, State};
use rustc_hash::FxHashMap;

/// What a chain's matches cannot see yet where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stage {
    /// Before connection tracking: no state.
    pub untracked: bool,
    /// Before routing: no output interface.
    pub unrouted: bool,
}

impl Stage {
    /// Where every packet's state and output interface are known: the
    /// least stage (fields compare in order, `false` first).
    const ROUTED: Stage = Stage {
        untracked: false,
        unrouted: false,
    };

    pub fn of(b: &BaseChain) -> Stage {
        Stage {
            untracked: b.hook == Hook::Ingress
                || (matches!(b.hook, Hook::Prerouting | Hook::Output)
                    && b.priority < CONNTRACK_PRIORITY),
            unrouted: matches!(b.hook, Hook::Ingress | Hook::Prerouting),
        }
    }

    /// A match as a chain of this stage sees it.
    fn lower(self, mut set: PacketSet) -> PacketSet {
        if self.untracked {
            set = before_conntrack(&set);
        }
        if self.unrouted {
            set = before_routing(&set);
        }
        set
    }
}

/// A match as a chain before connection tracking sees it: a state condition
/// finds every packet INVALID there (no connection is known yet), so it
/// matches all packets when it accepts INVALID and none otherwise.
fn before_conntrack(matches: &PacketSet) -> PacketSet {
    let all = IntervalSet::range(0, State::MAX);
    PacketSet::from_cubes(
        matches
            .cubes()
            .iter()
            .filter(|c| c.get(Dim::State).contains(State::INVALID))
            .map(|c| c.clone().with(Dim::State, all.clone()).expect("not empty")),
    )
}

/// A match as a chain before routing sees it: the output interface is not
/// known yet, so a cube counts for every output interface when it holds the
/// empty name, and for none otherwise.
fn before_routing(matches: &PacketSet) -> PacketSet {
    let unrouted = crate::space::dim::iface::encode("");
    let all = IntervalSet::range(0, Dim::Out.max());
    PacketSet::from_cubes(
        matches
            .cubes()
            .iter()
            .filter(|c| c.get(Dim::Out).contains(unrouted))
            .map(|c| c.clone().with(Dim::Out, all.clone()).expect("not empty")),
    )
}

/// Whether no rule of each chain, nor of the chains it reaches, reads the
/// state or the output interface: such chains mean the same at every stage,
/// and are neither copied nor lowered (kube-proxy's nat chains, which
/// PREROUTING and OUTPUT both jump to, are of them).
fn stage_free(policy: &Policy) -> Vec<bool> {
    let reads = |r: &crate::model::Rule| {
        r.matches.cubes().iter().any(|c| {
            [Dim::Out, Dim::State]
                .iter()
                .any(|&d| c.get(d).ranges() != [(0, d.max())])
        })
    };
    let mut free: Vec<bool> = policy
        .chains
        .iter()
        .map(|c| !c.rules.iter().any(reads))
        .collect();
    for id in crate::graph::callers_first(policy).into_iter().rev() {
        let targets_free = policy.chains[id]
            .rules
            .iter()
            .all(|r| r.target().is_none_or(|t| free[t]));
        free[id] &= targets_free;
    }
    free
}

/// Gives every chain one stage (copying user chains that base chains of
/// several stages reach, the copy keeping name and rules' spans), then
/// lowers each rule's match for its chain's stage. The chain graph must be
/// free of loops ([`crate::graph::flaw`]); copies are appended, one per
/// chain and stage at most, and [`Chain::copy_of`] names their original.
///
/// [`Chain::copy_of`]: crate::model::Chain::copy_of
pub fn settle(policy: &mut Policy) {
    let n = policy.chains.len();
    let free = stage_free(policy);
    // The stage each original serves: the least of those that reach it,
    // which is the routed one where that reaches it (so that most chains
    // keep their matches as written).
    let mut home: Vec<Option<Stage>> = vec![None; n];
    for (b, chain) in policy.chains.iter().enumerate() {
        let Some(s) = chain.base.as_deref().map(Stage::of) else {
            continue;
        };
        for c in crate::graph::reached(policy, b) {
            home[c] = Some(home[c].map_or(s, |h| h.min(s)));
        }
    }
    // The copy of each original for each other stage it serves (an original
    // serves its home itself: a large ruleset's chains need no entry).
    let mut copies: FxHashMap<(ChainId, Stage), ChainId> = FxHashMap::default();
    let mut stage_of: Vec<Option<Stage>> = home.clone();
    let mut work: Vec<ChainId> = (0..n).filter(|&id| home[id].is_some()).collect();
    while let Some(id) = work.pop() {
        let stage = stage_of[id].expect("queued chains have a stage");
        for i in 0..policy.chains[id].rules.len() {
            let (Action::Jump(t) | Action::Goto(t)) = policy.chains[id].rules[i].action else {
                continue;
            };
            // A copy made of a chain already settled jumps to the instances
            // of the original's stage: its targets are taken back to theirs.
            let t = policy.chains[t].copy_of.unwrap_or(t);
            let found = if home[t] == Some(stage) {
                Some(t)
            } else {
                copies.get(&(t, stage)).copied()
            };
            let target = match found {
                Some(c) => c,
                None if free[t] => t,
                None => {
                    let mut copy = policy.chains[t].clone();
                    copy.index = Default::default();
                    copy.copy_of = Some(t);
                    let c = policy.chains.len();
                    policy.chains.push(copy);
                    stage_of.push(Some(stage));
                    copies.insert((t, stage), c);
                    work.push(c);
                    c
                }
            };
            let action = &mut policy.chains[id].rules[i].action;
            *action = match action {
                Action::Jump(_) => Action::Jump(target),
                _ => Action::Goto(target),
            };
        }
    }
    for ((chain, stage), free) in policy
        .chains
        .iter_mut()
        .zip(stage_of)
        .zip(free.into_iter().chain(std::iter::repeat(false)))
    {
        let Some(stage) = stage.filter(|&s| s != Stage::ROUTED && !free) else {
            continue;
        };
        for rule in &mut chain.rules {
            rule.matches = stage.lower(std::mem::take(&mut rule.matches));
        }
    }
    policy.roots = Default::default();
}

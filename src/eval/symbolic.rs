//! Symbolic evaluation: pushes a whole packet set through the forward path and
//! partitions it by fate, remembering which rule decided each part.

use super::{Verdict, base_chain_scope};
use crate::model::{Action, ChainId, Policy, RuleRef};
use crate::space::{IntervalSet, Packet, PacketSet};

/// A part of the input set and the rule that decided it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub set: PacketSet,
    pub verdict: Verdict,
    pub rule: RuleRef,
}

/// Where source NAT rewrote part of the set (its replies return to `to`).
#[derive(Debug, Clone)]
pub struct Translation {
    pub set: PacketSet,
    pub to: Option<IntervalSet>,
    pub rule: RuleRef,
}

/// The fate of every packet of the evaluated set.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Drops, unknown actions and accepts, in the order they were met.
    pub decisions: Vec<Decision>,
    /// Packets that may reach the end of the path (accepted by every base chain).
    pub reached_end: PacketSet,
    pub translations: Vec<Translation>,
}

impl Outcome {
    /// Appends the decisions of a later stage and takes its end.
    pub fn extend(&mut self, later: Outcome) {
        self.decisions.extend(later.decisions);
        self.translations.extend(later.translations);
        self.reached_end = self.reached_end.union(&later.reached_end);
    }

    fn union_of(&self, v: Verdict) -> PacketSet {
        self.decisions
            .iter()
            .filter(|d| d.verdict == v)
            .fold(PacketSet::empty(), |acc, d| acc.union(&d.set))
    }

    /// Packets whose fate is unknown: touched by an unknown action, or both
    /// accepted and dropped depending on unmodelled matches.
    pub fn unknown(&self) -> PacketSet {
        let dropped = self.union_of(Verdict::Drop);
        self.union_of(Verdict::Unknown)
            .union(&dropped.intersect(&self.reached_end))
    }

    /// Packets that are accepted for sure.
    pub fn accepted(&self) -> PacketSet {
        self.reached_end
            .difference(&self.union_of(Verdict::Drop))
            .difference(&self.union_of(Verdict::Unknown))
    }

    /// Packets dropped for sure, each part with the first rule that drops it.
    pub fn dropped(&self) -> Vec<(PacketSet, RuleRef)> {
        let unknown = self.unknown();
        let mut seen = PacketSet::empty();
        let mut out = Vec::new();
        for d in self.decisions.iter().filter(|d| d.verdict == Verdict::Drop) {
            let part = d.set.difference(&unknown).difference(&seen);
            if !part.is_empty() {
                seen = seen.union(&part);
                out.push((part, d.rule));
            }
        }
        out
    }

    /// The verdict of one packet, as the symbolic partition says.
    pub fn verdict_of(&self, p: &Packet) -> Verdict {
        let possible = |v| {
            self.decisions
                .iter()
                .any(|d| d.verdict == v && d.set.contains(p))
        };
        let end = self.reached_end.contains(p);
        if possible(Verdict::Unknown) || (end && possible(Verdict::Drop)) {
            Verdict::Unknown
        } else if end {
            Verdict::Accept
        } else {
            Verdict::Drop
        }
    }
}

/// What leaves one chain evaluation.
#[derive(Default)]
struct ChainResult {
    accepted: PacketSet,
    returned: PacketSet,
}

pub struct Evaluator<'p> {
    policy: &'p Policy,
    /// A rule to leave out, to see what would happen without it.
    skip: Option<RuleRef>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Evaluator { policy, skip: None }
    }

    /// The same policy with one rule taken out (a policy rule cannot be).
    pub fn without(policy: &'p Policy, rule: RuleRef) -> Self {
        Evaluator {
            policy,
            skip: Some(rule),
        }
    }

    /// Evaluates `input` along the forward path.
    pub fn forward(&self, input: &PacketSet) -> Outcome {
        self.path(input, &self.policy.forward_path())
    }

    /// Evaluates `input` through the given base chains, in order.
    pub fn path(&self, input: &PacketSet, chains: &[ChainId]) -> Outcome {
        let mut out = Outcome::default();
        let mut alive = input.clone();
        for &id in chains {
            let base = self.policy.chains[id]
                .base
                .as_ref()
                .expect("path chains are base chains");
            let scope = base_chain_scope(base);
            let seen = alive.intersect(&scope);
            if seen.is_empty() {
                continue;
            }
            let bypass = alive.difference(&scope);
            let r = self.chain(id, seen, &mut out);
            let mut passed = r.accepted;
            if !r.returned.is_empty() {
                passed = passed.union(&self.policy_of(id, r.returned, &mut out));
            }
            alive = bypass.union(&passed);
        }
        out.reached_end = alive;
        out
    }

    /// Applies a base chain's policy to the packets that fall off its end.
    fn policy_of(&self, id: ChainId, set: PacketSet, out: &mut Outcome) -> PacketSet {
        let policy = self.policy.chains[id]
            .base
            .as_ref()
            .and_then(|b| b.policy.as_ref());
        let rule = RuleRef {
            chain: id,
            index: None,
        };
        match policy.map(|p| &p.action) {
            Some(Action::Drop | Action::Reject) => {
                out.decisions.push(Decision {
                    set,
                    verdict: Verdict::Drop,
                    rule,
                });
                PacketSet::empty()
            }
            _ => set,
        }
    }

    fn chain(&self, id: ChainId, input: PacketSet, out: &mut Outcome) -> ChainResult {
        let mut res = ChainResult::default();
        let mut remaining = input;
        for (i, rule) in self.policy.chains[id].rules.iter().enumerate() {
            if remaining.is_empty() {
                break;
            }
            let matches = self.policy.matches(id, rule);
            if !remaining.intersects(matches)
                || self.skip
                    == Some(RuleRef {
                        chain: id,
                        index: Some(i),
                    })
            {
                continue;
            }
            let hit = remaining.intersect(matches);
            let r = RuleRef {
                chain: id,
                index: Some(i),
            };
            let certain = rule.opaque.is_none();
            // Packets that continue past this rule, besides those it does not match.
            let mut rejoin = PacketSet::empty();
            match &rule.action {
                Action::Accept => {
                    res.accepted = res.accepted.union(&hit);
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Accept,
                        rule: r,
                    });
                }
                Action::SourceNat(to) => {
                    res.accepted = res.accepted.union(&hit);
                    out.translations.push(Translation {
                        set: hit.clone(),
                        to: to.clone(),
                        rule: r,
                    });
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Accept,
                        rule: r,
                    });
                }
                Action::Drop | Action::Reject => {
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Drop,
                        rule: r,
                    });
                }
                Action::Return => res.returned = res.returned.union(&hit),
                Action::Continue => continue,
                Action::Jump(target) => {
                    let sub = self.chain(*target, hit.clone(), out);
                    res.accepted = res.accepted.union(&sub.accepted);
                    rejoin = sub.returned;
                }
                Action::Goto(target) => {
                    let sub = self.chain(*target, hit.clone(), out);
                    res.accepted = res.accepted.union(&sub.accepted);
                    res.returned = res.returned.union(&sub.returned);
                }
                Action::Unknown(_) => {
                    // Whatever it does, the packet may also go on.
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Unknown,
                        rule: r,
                    });
                    res.accepted = res.accepted.union(&hit);
                    rejoin = hit.clone();
                }
            }
            if certain {
                remaining = remaining.difference(&hit).union(&rejoin);
            }
        }
        // Falling off the end returns (to the caller, or to a base chain's policy).
        res.returned = res.returned.union(&remaining);
        res
    }
}

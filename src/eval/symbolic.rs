//! Symbolic evaluation: pushes a whole packet set through the forward path and
//! partitions it by fate, remembering which rule decided each part.

use super::{Verdict, base_chain_scope};
use crate::model::{Action, ChainId, Policy, RuleRef};
use crate::space::{Dim, IntervalSet, Packet, PacketSet};
use std::cell::RefCell;
use std::collections::HashMap;

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
    /// Whether an unmodelled condition or action was met. Without one, every
    /// packet has exactly one fate, decisions are disjoint, and the queries
    /// below need no set algebra (which matters for fragmented sets).
    pub uncertain: bool,
}

impl Outcome {
    /// Adds the outcome of evaluating a set disjoint from this one's input.
    pub fn extend(&mut self, other: Outcome) {
        self.decisions.extend(other.decisions);
        self.translations.extend(other.translations);
        self.uncertain |= other.uncertain;
        self.reached_end.append_disjoint(other.reached_end);
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
        if !self.uncertain {
            return PacketSet::empty();
        }
        let dropped = self.union_of(Verdict::Drop);
        self.union_of(Verdict::Unknown)
            .union(&dropped.intersect(&self.reached_end))
    }

    /// Packets that are accepted for sure.
    pub fn accepted(&self) -> PacketSet {
        if !self.uncertain {
            return self.reached_end.clone();
        }
        self.reached_end
            .difference(&self.union_of(Verdict::Drop))
            .difference(&self.union_of(Verdict::Unknown))
    }

    /// Packets dropped for sure, each part with the first rule that drops it.
    pub fn dropped(&self) -> Vec<(PacketSet, RuleRef)> {
        let drops = self.decisions.iter().filter(|d| d.verdict == Verdict::Drop);
        if !self.uncertain {
            return drops.map(|d| (d.set.clone(), d.rule)).collect();
        }
        let unknown = self.unknown();
        let mut seen = PacketSet::empty();
        let mut out = Vec::new();
        for d in drops {
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
    /// Whether an unmodelled rule let some packets both match and go on, so
    /// that parts added below may overlap and must be joined as sets.
    overlap: bool,
}

impl ChainResult {
    fn accept(&mut self, part: PacketSet) {
        add(&mut self.accepted, part, self.overlap);
    }

    fn give_back(&mut self, part: PacketSet) {
        add(&mut self.returned, part, self.overlap);
    }
}

/// Adds `part` to `set`: by appending when they cannot overlap (every part a
/// chain sends on is cut from what remained of its input), by union otherwise.
fn add(set: &mut PacketSet, part: PacketSet, overlap: bool) {
    if overlap {
        *set = set.union(&part);
    } else {
        set.append_disjoint(part);
    }
}

pub struct Evaluator<'p> {
    policy: &'p Policy,
    /// A rule to leave out, to see what would happen without it.
    skip: Option<RuleRef>,
    /// Where to note what each rule and chain saw (for lint).
    watch: Option<&'p RefCell<Watch>>,
}

/// The most pieces a watched walk carries on with (see [`Watch::budget`]).
const MAX_PIECES: usize = 20_000;

/// What an evaluation saw: the packets that entered each chain, those each
/// rule matched, and those it took (did not send on to the next rule). Each
/// as the pieces of every visit: a chain entered from many jumps would
/// otherwise pay a growing union at each of them.
#[derive(Debug, Default)]
pub struct Watch {
    pub entered: HashMap<ChainId, Vec<PacketSet>>,
    pub hit: HashMap<RuleRef, Vec<PacketSet>>,
    pub taken: HashMap<RuleRef, Vec<PacketSet>>,
    /// Work left (pieces of the packet space met at rules); once spent the
    /// walk stops, every chain at the rule it has reached.
    pub budget: Option<usize>,
    /// The first rule the walk stopped at for want of budget.
    pub cut: Option<RuleRef>,
    /// Whether to note `taken` too (it costs a set difference per rule).
    pub takes: bool,
    /// Only keep to the budget: note nothing.
    pub budget_only: bool,
}

fn note<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Vec<PacketSet>>, key: K, set: &PacketSet) {
    if !set.is_empty() {
        map.entry(key).or_default().push(set.clone());
    }
}

/// The union of the pieces a [`Watch`] noted.
pub fn joined(pieces: &[PacketSet]) -> PacketSet {
    pieces
        .iter()
        .fold(PacketSet::empty(), |acc, p| acc.union(p))
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Evaluator {
            policy,
            skip: None,
            watch: None,
        }
    }

    /// The same policy with one rule taken out (a policy rule cannot be).
    pub fn without(policy: &'p Policy, rule: RuleRef) -> Self {
        Evaluator {
            policy,
            skip: Some(rule),
            watch: None,
        }
    }

    /// An evaluator that notes what each chain and rule sees in `watch`.
    pub fn watching(policy: &'p Policy, watch: &'p RefCell<Watch>) -> Self {
        Evaluator {
            policy,
            skip: None,
            watch: Some(watch),
        }
    }

    /// The packets of `input` that rule `start` of chain `id` and those
    /// after it accept, and those that fall off the chain's end (to its
    /// caller, or its policy), with the decisions on the way.
    pub fn rest_of_chain(
        &self,
        id: ChainId,
        start: usize,
        input: PacketSet,
    ) -> (Outcome, PacketSet, PacketSet) {
        let mut out = Outcome::default();
        let r = self.chain_from(id, start, input, &mut out);
        (out, r.accepted, r.returned)
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
            let mut bypass = alive.difference(&scope);
            let mut r = self.chain(id, seen, &mut out);
            if !r.returned.is_empty() {
                let fell_through = self.policy_of(id, std::mem::take(&mut r.returned), &mut out);
                add(&mut r.accepted, fell_through, r.overlap);
            }
            // What the chain let through was cut from what it saw, which
            // excludes what bypassed it.
            bypass.append_disjoint(r.accepted);
            alive = bypass;
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
        if let Some(w) = self.watch.filter(|w| !w.borrow().budget_only) {
            note(&mut w.borrow_mut().entered, id, &input);
        }
        self.chain_from(id, 0, input, out)
    }

    fn chain_from(
        &self,
        id: ChainId,
        start: usize,
        input: PacketSet,
        out: &mut Outcome,
    ) -> ChainResult {
        let mut res = ChainResult::default();
        let mut remaining = input;
        for (i, rule) in self.policy.chains[id].rules.iter().enumerate().skip(start) {
            if remaining.is_empty() {
                break;
            }
            let r = RuleRef {
                chain: id,
                index: Some(i),
            };
            if self.skip == Some(r) {
                continue;
            }
            if let Some(w) = self.watch {
                let mut w = w.borrow_mut();
                if let Some(b) = w.budget {
                    // Each piece meets each range the rule's match is made
                    // of (long address lists are many ranges).
                    let ranges: usize = self
                        .policy
                        .matches(id, rule)
                        .cubes()
                        .iter()
                        .map(|c| c.get(Dim::Src).ranges().len() + c.get(Dim::Dst).ranges().len())
                        .sum();
                    let pieces = remaining.cubes().len();
                    let cost = pieces * ranges.max(1);
                    // A set in very many pieces costs at every later rule.
                    if b < cost || pieces > MAX_PIECES {
                        w.cut.get_or_insert(r);
                        w.budget = Some(0);
                        break;
                    }
                    w.budget = Some(b - cost);
                }
            }
            let hit = remaining.split_off(self.policy.matches(id, rule));
            if hit.is_empty() {
                continue;
            }
            let certain = rule.opaque.is_none();
            if !certain || matches!(rule.action, Action::Unknown(_)) {
                out.uncertain = true;
                res.overlap = true;
            }
            let watched = self.watch.filter(|w| !w.borrow().budget_only).map(|w| {
                note(&mut w.borrow_mut().hit, r, &hit);
                (w, hit.clone())
            });
            // Packets that continue past this rule, besides those it does not match.
            let mut rejoin = PacketSet::empty();
            match &rule.action {
                Action::Accept => {
                    res.accept(hit.clone());
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Accept,
                        rule: r,
                    });
                }
                Action::SourceNat(to) => {
                    res.accept(hit.clone());
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
                Action::Return => res.give_back(hit.clone()),
                Action::Continue => {
                    remaining.append_disjoint(hit);
                    continue;
                }
                Action::Jump(target) => {
                    let sub = self.chain(*target, hit.clone(), out);
                    res.overlap |= sub.overlap;
                    res.accept(sub.accepted);
                    rejoin = sub.returned;
                }
                Action::Goto(target) => {
                    let sub = self.chain(*target, hit.clone(), out);
                    res.overlap |= sub.overlap;
                    res.accept(sub.accepted);
                    res.give_back(sub.returned);
                }
                Action::Unknown(_) => {
                    // Whatever it does, the packet may also go on.
                    out.decisions.push(Decision {
                        set: hit.clone(),
                        verdict: Verdict::Unknown,
                        rule: r,
                    });
                    res.accept(hit.clone());
                    rejoin = hit.clone();
                }
            }
            // A rule that may not match leaves its hit in place.
            let back = if certain { rejoin } else { hit };
            if let Some((w, hit)) = watched.filter(|(w, _)| w.borrow().takes) {
                note(&mut w.borrow_mut().taken, r, &hit.difference(&back));
            }
            remaining.append_disjoint(back);
        }
        // Falling off the end returns (to the caller, or to a base chain's policy).
        res.give_back(remaining);
        res
    }
}

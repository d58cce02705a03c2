//! Concrete evaluation of one packet: the reference the symbolic engine is
//! tested against, and the engine of `octaverify trace`.
//!
//! Where a rule has unmodelled parts the evaluation explores both branches
//! (matches, does not match) and collects every verdict that can follow.

use super::{Verdict, base_chain_scope};
use crate::model::{Action, ChainId, ChainKind, Policy, RuleRef};
use crate::space::Packet;
use std::collections::{BTreeSet, HashMap};

/// How a chain can end for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Accept,
    /// Accepted by a source NAT, which binds the connection's addresses.
    Bound,
    Drop,
    Return,
    Unknown,
}

/// One step of a packet's path, for `trace`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub rule: RuleRef,
    pub effect: Effect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The rule matched and its action applied.
    Matched,
    /// The rule's modelled part matched; whether it matches depends on the unmodelled rest.
    MayMatch,
}

/// The possible verdicts of one packet and the rules it met on the way.
#[derive(Debug, Clone)]
pub struct Trace {
    pub verdict: Verdict,
    pub steps: Vec<Step>,
}

pub struct Evaluator<'p> {
    policy: &'p Policy,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Evaluator { policy }
    }

    pub fn verdict(&self, p: &Packet) -> Verdict {
        self.trace(p).verdict
    }

    pub fn trace(&self, p: &Packet) -> Trace {
        let mut steps = Vec::new();
        let mut possible = BTreeSet::new();
        // The ways the packet may still be on its path: whether a NAT chain
        // of the current hook has bound its connection (the hook's later NAT
        // chains then let it by).
        let mut alive: BTreeSet<bool> = [false].into();
        let mut hook = None;
        for id in self.policy.forward_path() {
            let base = self.policy.chains[id]
                .base
                .as_ref()
                .expect("path chains are base chains");
            if hook != Some(base.hook) {
                hook = Some(base.hook);
                alive = [false].into();
            }
            if !base_chain_scope(base).contains(p) {
                continue;
            }
            let opening = base.kind == ChainKind::Opening;
            let mut next: BTreeSet<bool> = BTreeSet::new();
            if opening && alive.remove(&true) {
                next.insert(true);
            }
            if alive.is_empty() {
                alive = next;
                continue;
            }
            let mut run = ChainRun {
                policy: self.policy,
                packet: p,
                memo: HashMap::new(),
                steps: &mut steps,
            };
            let mut ends = run.outcomes(id, 0);
            if ends.remove(&End::Return) {
                let policy_drops = matches!(
                    base.policy.as_ref().map(|r| &r.action),
                    Some(Action::Drop | Action::Reject)
                );
                if base.policy.is_some() {
                    steps.push(Step {
                        rule: RuleRef {
                            chain: id,
                            index: None,
                        },
                        effect: Effect::Matched,
                    });
                }
                ends.insert(if policy_drops { End::Drop } else { End::Accept });
            }
            if ends.contains(&End::Drop) {
                possible.insert(Verdict::Drop);
            }
            if ends.contains(&End::Unknown) {
                possible.insert(Verdict::Unknown);
            }
            if ends.contains(&End::Accept) || ends.contains(&End::Unknown) {
                next.extend(alive.iter().copied());
            }
            if ends.contains(&End::Bound) {
                next.extend(alive.iter().map(|&bound| bound || opening));
            }
            alive = next;
            if alive.is_empty() {
                break;
            }
        }
        if !alive.is_empty() {
            possible.insert(Verdict::Accept);
        }
        let verdict = if possible.contains(&Verdict::Unknown) || possible.len() > 1 {
            Verdict::Unknown
        } else {
            *possible
                .iter()
                .next()
                .expect("a packet always meets some end")
        };
        Trace { verdict, steps }
    }
}

struct ChainRun<'a, 'p> {
    policy: &'p Policy,
    packet: &'a Packet,
    /// Ends reachable from (chain, rule index); the packet is fixed, so they are too.
    memo: HashMap<(ChainId, usize), BTreeSet<End>>,
    steps: &'a mut Vec<Step>,
}

impl ChainRun<'_, '_> {
    fn outcomes(&mut self, chain: ChainId, from: usize) -> BTreeSet<End> {
        if let Some(m) = self.memo.get(&(chain, from)) {
            return m.clone();
        }
        let result = self.compute(chain, from);
        self.memo.insert((chain, from), result.clone());
        result
    }

    fn compute(&mut self, chain: ChainId, from: usize) -> BTreeSet<End> {
        let rules = &self.policy.chains[chain].rules;
        for (i, rule) in rules.iter().enumerate().skip(from) {
            if !rule.matches.contains(self.packet) {
                continue;
            }
            let certain = rule.opaque().is_none();
            let effect = if certain {
                Effect::Matched
            } else {
                Effect::MayMatch
            };
            self.steps.push(Step {
                rule: RuleRef {
                    chain,
                    index: Some(i),
                },
                effect,
            });
            let on_match: BTreeSet<End> = match &rule.action {
                Action::Accept => [End::Accept].into(),
                Action::SourceNat(_) => [End::Bound].into(),
                Action::Drop | Action::Reject => [End::Drop].into(),
                Action::Return => [End::Return].into(),
                Action::Continue => continue,
                Action::Jump(t) => {
                    let mut sub = self.outcomes(*t, 0);
                    if sub.remove(&End::Return) {
                        sub.extend(self.outcomes(chain, i + 1));
                    }
                    sub
                }
                Action::Goto(t) => self.outcomes(*t, 0),
                Action::Unknown(_) => {
                    let mut s = self.outcomes(chain, i + 1);
                    s.insert(End::Unknown);
                    s
                }
            };
            if certain {
                return on_match;
            }
            let mut both = on_match;
            both.extend(self.outcomes(chain, i + 1));
            return both;
        }
        [End::Return].into()
    }
}

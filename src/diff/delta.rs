//! The packets whose fate two versions of a firewall may treat differently:
//! those some changed rule matches. The rest meet the same rules, in the
//! same order, in both, so their fate is the same and the diff need not walk
//! them (a pre-change review touches a handful of rules in a list of 100k).
//!
//! Chains pair up by table and name; in each pair the rules the two
//! versions have in common ([`super::align`]) are the same rules where their
//! matches, unmodelled constructs, DNS names and action (a jump by its
//! target's name) are the same. Where the versions' base chains on the
//! forward path differ in kind, order or policy, or too many rules changed
//! for their union to be cheaper than the whole space, every packet may
//! differ.

use std::collections::HashMap;
use std::mem::Discriminant;

use super::align;
use crate::model::{Action, ByName, Chain, ChainId, Policy, Rule, RuleRef};
use crate::space::{IntervalSet, PacketSet};

/// Changed rules past which their union is not worth building: the diff
/// walks the whole space instead.
const MAX_CHANGED: usize = 2000;

/// Jumps into a chain past which what enters it is not worth narrowing.
const MAX_CALLERS: usize = 64;

/// A superset of the packets whose fate on the forward path may differ
/// between `old` and `new`.
pub fn space(old: &Policy, new: &Policy) -> PacketSet {
    let (ok, nk) = (chain_keys(old), chain_keys(new));
    if !same_path(old, &ok, new, &nk) {
        return PacketSet::universe();
    }
    let by_key: HashMap<ChainKey<'_>, ChainId> =
        nk.iter().enumerate().map(|(id, &k)| (k, id)).collect();
    let (mut oe, mut ne) = (Entry::new(old), Entry::new(new));
    let mut changed: Vec<PacketSet> = Vec::new();
    for (oid, (oc, key)) in old.chains.iter().zip(&ok).enumerate() {
        // A chain of one version only is reached only by jumps to its name,
        // which are changed rules of the other.
        let Some(&nid) = by_key.get(key) else {
            continue;
        };
        let nc = &new.chains[nid];
        let (a, b) = (rule_keys(oc, &ok), rule_keys(nc, &nk));
        let kept = align::common(&a, &b);
        if oc.rules.len() + nc.rules.len() - 2 * kept.len() + changed.len() > MAX_CHANGED {
            return PacketSet::universe();
        }
        let (mut ka, mut kb) = (vec![false; a.len()], vec![false; b.len()]);
        for (i, j) in kept {
            (ka[i], kb[j]) = (true, true);
        }
        // A changed rule decides only the packets that reach it.
        for (entry, id, rules, kept) in
            [(&mut oe, oid, &oc.rules, ka), (&mut ne, nid, &nc.rules, kb)]
        {
            let gone: Vec<&Rule> = rules
                .iter()
                .zip(kept)
                .filter(|(_, k)| !k)
                .map(|(r, _)| r)
                .collect();
            if gone.is_empty() {
                continue;
            }
            let enters = entry.of(id);
            changed.extend(gone.iter().map(|r| r.matches.intersect(enters)));
        }
    }
    PacketSet::union_all(&changed)
}

/// A superset of the packets that enter each chain: every packet for a
/// base chain; for another, what the jumps to it match of what enters
/// theirs (every packet, past [`MAX_CALLERS`] jumps), none when nothing
/// jumps to it.
struct Entry<'p> {
    policy: &'p Policy,
    /// The jump rules to each chain.
    callers: Vec<Vec<RuleRef>>,
    known: Vec<Option<PacketSet>>,
}

impl<'p> Entry<'p> {
    fn new(policy: &'p Policy) -> Self {
        Entry {
            policy,
            known: vec![None; policy.chains.len()],
            callers: crate::graph::callers(policy),
        }
    }

    /// What may enter chain `id`, worked out once (the chain graph has no
    /// loops and bounded depth: [`crate::graph::flaw`]).
    fn of(&mut self, id: ChainId) -> &PacketSet {
        if self.known[id].is_none() {
            let wide =
                self.policy.chains[id].base.is_some() || self.callers[id].len() > MAX_CALLERS;
            let set = if wide {
                PacketSet::universe()
            } else {
                for k in 0..self.callers[id].len() {
                    self.of(self.callers[id][k].chain);
                }
                let parts: Vec<PacketSet> = self.callers[id]
                    .iter()
                    .map(|&r| {
                        let enters = self.known[r.chain].as_ref().expect("worked out above");
                        self.policy.rule(r).matches.intersect(enters)
                    })
                    .collect();
                PacketSet::union_all(&parts)
            };
            self.known[id] = Some(set);
        }
        self.known[id].as_ref().expect("just set")
    }
}

/// A chain as the two versions share it: by table and name, and among
/// chains of the same name (the copies of [`crate::stages::settle`]) by
/// its place.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ChainKey<'p> {
    table: &'p str,
    name: &'p str,
    copy: usize,
}

fn chain_keys(p: &Policy) -> Vec<ChainKey<'_>> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    p.chains
        .iter()
        .map(|c| {
            let n = seen.entry((&c.table, &c.name)).or_default();
            *n += 1;
            ChainKey {
                table: &c.table,
                name: &c.name,
                copy: *n - 1,
            }
        })
        .collect()
}

/// Whether both versions walk the same base chains in the same order, each
/// seeing the same packets and with the same default verdict.
fn same_path(old: &Policy, ok: &[ChainKey<'_>], new: &Policy, nk: &[ChainKey<'_>]) -> bool {
    let (op, np) = (old.forward_path(), new.forward_path());
    op.len() == np.len()
        && op.iter().zip(&np).all(|(&o, &n)| {
            let (a, b) = (old.chains[o].base.as_deref(), new.chains[n].base.as_deref());
            let (Some(a), Some(b)) = (a, b) else {
                return false;
            };
            let drops = |p: Option<&Rule>| {
                p.is_some_and(|r| matches!(r.action, Action::Drop | Action::Reject))
            };
            ok[o] == nk[n]
                && (a.hook, a.priority, a.kind, a.family) == (b.hook, b.priority, b.kind, b.family)
                && drops(a.policy.as_ref()) == drops(b.policy.as_ref())
                && a.devices == b.devices
                && a.scope == b.scope
        })
}

/// What makes a rule the same rule in either version: everything the
/// evaluation reads of it.
#[derive(PartialEq, Eq, Hash)]
struct RuleKey<'p> {
    matches: &'p PacketSet,
    opaque: Option<&'p str>,
    action: ActionKey<'p>,
    /// The DNS names it matches by, as the binding of each version reads them.
    by_name: Option<&'p ByName>,
}

#[derive(PartialEq, Eq, Hash)]
enum ActionKey<'p> {
    Plain(Discriminant<Action>),
    SourceNat(Option<&'p IntervalSet>),
    Unknown(&'p str),
    Jump(ChainKey<'p>),
    Goto(ChainKey<'p>),
}

fn rule_keys<'p>(c: &'p Chain, keys: &[ChainKey<'p>]) -> Vec<RuleKey<'p>> {
    c.rules
        .iter()
        .map(|r| RuleKey {
            matches: &r.matches,
            opaque: r.opaque(),
            action: match &r.action {
                Action::Jump(t) => ActionKey::Jump(keys[*t]),
                Action::Goto(t) => ActionKey::Goto(keys[*t]),
                Action::SourceNat(to) => ActionKey::SourceNat(to.as_deref()),
                Action::Unknown(why) => ActionKey::Unknown(why),
                a => ActionKey::Plain(std::mem::discriminant(a)),
            },
            by_name: r.by_name(),
        })
        .collect()
}

//! Lint: for every rule, whether any packet can reach it and match it (a
//! shadowed rule, with the earlier rules that cover it), whether leaving it
//! out changes no packet's fate (redundant), and whether what it does depends
//! on unmodelled matches. Works on the policy model, per chain and across
//! jumps: every base chain is evaluated over every packet it sees.

use crate::eval::symbolic::{Budget, Evaluator, Took, Watch, joined};
use crate::model::{Action, ChainId, Policy, RuleKind, RuleRef};
use crate::space::{Cube, Dim, PacketSet};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// No packet that reaches the rule matches it.
    Shadowed,
    /// Every packet it decides would meet the same fate without it.
    Redundant,
    /// What it does depends on constructs that are not modelled.
    Unmodelled,
    /// A chain with rules that no packet enters.
    UnreachableChain,
}

impl Kind {
    /// The code reports and `explain` use.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Shadowed => "shadowed-rule",
            Kind::Redundant => "redundant-rule",
            Kind::Unmodelled => "unmodelled-rule",
            Kind::UnreachableChain => "unreachable-chain",
        }
    }
}

/// One lint finding: the rule, and the rules that explain it.
#[derive(Debug, Clone)]
pub struct Lint {
    pub kind: Kind,
    pub rule: RuleRef,
    /// For a shadowed rule, the earlier rules that take every packet it
    /// matches (the largest one with another action first); for a redundant
    /// one, the rules that decide its packets the same way without it; for a
    /// chain no packet enters, the jumps to it.
    pub because: Vec<RuleRef>,
    pub detail: String,
}

/// Rule visits the redundancy checks may make in all, so that a large
/// export with many overlapping rules is linted in bounded time.
const REDUNDANCY_BUDGET: usize = 2_000_000;

/// The lint of a policy, and the rules it could not check within its work
/// bounds (the first of them, and how many).
pub struct Linted {
    pub lints: Vec<Lint>,
    pub unchecked: Option<(RuleRef, usize)>,
}

pub fn lint(policy: &Policy) -> Linted {
    // What each rule takes is noted in the same walk, so that a shadowed
    // rule finds the rules that take its packets without a walk of its own.
    let watch = RefCell::new(Watch {
        takes: true,
        ..Watch::default()
    });
    let bases: Vec<ChainId> = (0..policy.chains.len())
        .filter(|&c| policy.chains[c].base.is_some())
        .collect();
    // Each base chain over every packet, within its own budget; a chain
    // walk that runs out leaves its rules from there on (and every chain it
    // reaches) unchecked.
    let mut cuts: Vec<(ChainId, RuleRef)> = Vec::new();
    for &b in &bases {
        let budget = Budget::whole_space();
        Evaluator::watching(policy, &watch)
            .within(&budget)
            .path(&PacketSet::universe(), &[b]);
        if let Some(cut) = budget.cut() {
            cuts.push((b, cut));
        }
    }
    let seen = watch.into_inner();
    // The base chains each chain is reached from, once per chain.
    let roots: Vec<Vec<ChainId>> = if cuts.is_empty() {
        Vec::new()
    } else {
        (0..policy.chains.len())
            .map(|c| policy.roots(c).to_vec())
            .collect()
    };
    let checked = |r: RuleRef| {
        cuts.iter().all(|&(b, cut)| {
            !roots[r.chain].contains(&b) || (r.chain == b && cut.chain == b && r.index < cut.index)
        })
    };
    let mut out = Vec::new();
    let mut unchecked: Option<(RuleRef, usize)> = None;
    let mut budget = REDUNDANCY_BUDGET;
    let taken = Taken {
        pieces: &seen.taken,
        joined: seen.taken.keys().map(|&r| (r, OnceLock::new())).collect(),
    };
    for (id, chain) in policy.chains.iter().enumerate() {
        for i in 0..chain.rules.len() {
            let r = RuleRef {
                chain: id,
                index: Some(i),
            };
            if !checked(r) {
                let u = unchecked.get_or_insert((r, 0));
                u.1 += 1;
            }
        }
        let Some(entered) = seen.entered.get(&id) else {
            let first = RuleRef {
                chain: id,
                index: Some(0),
            };
            if chain.rules.is_empty() || !checked(first) {
                continue;
            }
            out.push(Pending::Found(Lint {
                kind: Kind::UnreachableChain,
                rule: first,
                because: jumps_to(policy, id),
                detail: format!(
                    "no packet enters chain {} (nothing jumps to it, or only jumps that no packet reaches), so none of its {} rules applies",
                    chain.name,
                    chain.rules.len()
                ),
            }));
            continue;
        };
        for (i, rule) in chain.rules.iter().enumerate() {
            let r = RuleRef {
                chain: id,
                index: Some(i),
            };
            if rule.kind() != RuleKind::Rule || !checked(r) {
                continue;
            }
            match seen.hit.get(&r) {
                None => {
                    let disjoint = !seen.uncertain.contains(&id);
                    out.push(Pending::Shadowed(r, entered, disjoint));
                }
                Some(pieces) => {
                    if let Some(why) = rule.unknown_reason() {
                        out.push(Pending::Found(Lint {
                            kind: Kind::Unmodelled,
                            rule: r,
                            because: Vec::new(),
                            detail: format!("whether it applies, or what it does, depends on what octaverify does not model: {why}"),
                        }));
                    } else if let Some(cost) = redundancy_cost(policy, r, pieces)
                        && cost <= budget
                    {
                        budget -= cost;
                        out.push(Pending::Redundant(r, pieces));
                    }
                }
            }
        }
    }
    // The shadowed rules' covers and the redundancy checks (walks of their
    // own) are worked out in parallel, in order.
    let lints = out
        .into_par_iter()
        .filter_map(|p| match p {
            Pending::Found(l) => Some(l),
            Pending::Shadowed(r, entered, disjoint) => {
                Some(shadowed(policy, r, entered, disjoint, &taken))
            }
            Pending::Redundant(r, pieces) => redundant(policy, r, pieces),
        })
        .collect();
    Linted {
        lints: across_copies(policy, lints),
        unchecked,
    }
}

/// The lints of chains copied for another stage ([`crate::stages`]), on
/// their originals: a rule of such a chain is shadowed (redundant, …) when
/// it is so in every copy, where each sees its own packets.
fn across_copies(policy: &Policy, lints: Vec<Lint>) -> Vec<Lint> {
    let original = |c: ChainId| policy.chains[c].copy_of.unwrap_or(c);
    let mut copies: FxHashMap<ChainId, usize> = FxHashMap::default();
    for c in &policy.chains {
        if let Some(o) = c.copy_of {
            *copies.entry(o).or_default() += 1;
        }
    }
    if copies.is_empty() {
        return lints;
    }
    // For each rule of a copied chain, how many of its instances say each kind.
    let mut said: FxHashMap<(ChainId, Option<usize>, Kind), usize> = FxHashMap::default();
    for l in &lints {
        *said
            .entry((original(l.rule.chain), l.rule.index, l.kind))
            .or_default() += 1;
    }
    lints
        .into_iter()
        .filter(|l| {
            let c = l.rule.chain;
            policy.chains[c].copy_of.is_none()
                && copies
                    .get(&c)
                    .is_none_or(|&n| said[&(c, l.rule.index, l.kind)] == n + 1)
        })
        .collect()
}

/// A finding, or a rule whose shadowing (with what entered its chain, and
/// whether its chain's walk was certain) or redundancy is still to be
/// worked out.
enum Pending<'w> {
    Found(Lint),
    Shadowed(RuleRef, &'w [PacketSet], bool),
    Redundant(RuleRef, &'w [PacketSet]),
}

/// The jump and goto rules into a chain.
fn jumps_to(policy: &Policy, target: ChainId) -> Vec<RuleRef> {
    let mut out = Vec::new();
    for (c, chain) in policy.chains.iter().enumerate() {
        for (i, rule) in chain.rules.iter().enumerate() {
            if rule.target() == Some(target) {
                out.push(RuleRef {
                    chain: c,
                    index: Some(i),
                });
            }
        }
    }
    out
}

/// What each rule took in the walk, joined once a shadowed rule asks (on
/// whichever thread asks first).
struct Taken<'w> {
    pieces: &'w FxHashMap<RuleRef, Vec<Took>>,
    joined: FxHashMap<RuleRef, OnceLock<PacketSet>>,
}

impl Taken<'_> {
    fn of(&self, r: RuleRef) -> Option<&PacketSet> {
        let pieces = self.pieces.get(&r)?;
        Some(
            self.joined[&r]
                .get_or_init(|| joined(&pieces.iter().map(Took::set).collect::<Vec<_>>())),
        )
    }
}

/// Why no packet reaches and matches rule `r`: it matches none at all, none
/// of those that enter its chain, or earlier rules take them all (what the
/// walk saw them take: a packet that reaches `r`'s chain meets its rules
/// the same way whichever of the chain's packets it walks with). Where
/// what the rules took is `disjoint` (the walk of the chain was certain),
/// every rule that took some of the packets is needed to cover them.
fn shadowed(
    policy: &Policy,
    r: RuleRef,
    entered: &[PacketSet],
    disjoint: bool,
    taken: &Taken<'_>,
) -> Lint {
    let chain = &policy.chains[r.chain];
    let matches = &policy.rule(r).matches;
    let lint = |because, detail| Lint {
        kind: Kind::Shadowed,
        rule: r,
        because,
        detail,
    };
    if matches.is_empty() {
        return lint(
            Vec::new(),
            "it can match no packet at all (its conditions contradict each other, or exclude this table's family)".into(),
        );
    }
    let reaching = joined(
        &entered
            .iter()
            .map(|e| matches.intersect(e))
            .collect::<Vec<_>>(),
    );
    if reaching.is_empty() {
        return lint(
            jumps_to(policy, r.chain),
            format!(
                "no packet it matches enters chain {}: the jumps to the chain send none of them",
                chain.name
            ),
        );
    }
    // Which earlier rules take the packets it matches: of those whose
    // matches meet them, which the chain's index finds without a pass over
    // every earlier rule (a rule takes only packets it matches).
    let index = r.index.expect("rules, not policies");
    let mut parts: Vec<(RuleRef, PacketSet)> = policy
        .rule_index(r.chain)
        .candidates(&reaching, 0)
        .into_iter()
        .take_while(|&i| i < index)
        .map(|i| RuleRef {
            chain: r.chain,
            index: Some(i),
        })
        .filter_map(|e| {
            let part = taken.of(e)?.intersect(&reaching);
            (!part.is_empty()).then_some((e, part))
        })
        .collect();
    let action = &policy.rule(r).action;
    let differs = |e: &RuleRef| !same_action(&policy.rule(*e).action, action);
    // The largest blocker with another action first, then the largest of the
    // rest, until every packet is covered; then none that is not needed.
    let mut cover: Vec<(RuleRef, PacketSet)> = Vec::new();
    if let Some(k) = (0..parts.len())
        .filter(|&k| differs(&parts[k].0))
        .max_by(|&a, &b| size(&parts[a].1).total_cmp(&size(&parts[b].1)))
    {
        cover.push(parts.swap_remove(k));
    }
    if disjoint {
        // Each part holds packets no other does: every one is needed.
        cover.append(&mut parts);
    } else {
        minimal_cover(&reaching, &mut cover, parts);
    }
    // The blocker with another action (found first) leads; the rest in order.
    let lead = usize::from(cover.first().is_some_and(|(e, _)| differs(e)));
    cover[lead..].sort_by_key(|(e, _)| e.index);
    let because: Vec<RuleRef> = cover.iter().map(|(e, _)| *e).collect();
    let detail = if because.is_empty() {
        "no packet it matches reaches it".to_string()
    } else {
        format!(
            "the earlier rule{} take every packet it matches, so it never applies",
            if because.len() == 1 { "" } else { "s" }
        )
    };
    lint(because, detail)
}

/// Adds to `cover` (which holds the lead part, if any) parts that may
/// overlap until they hold `reaching`, greedily, then drops any part the
/// others hold.
fn minimal_cover(
    reaching: &PacketSet,
    cover: &mut Vec<(RuleRef, PacketSet)>,
    mut parts: Vec<(RuleRef, PacketSet)>,
) {
    let mut left = match cover.first() {
        Some(lead) => reaching.difference(&lead.1),
        None => reaching.clone(),
    };
    // Greedy, lazily: what a part holds of `left` only shrinks as `left`
    // does, so a part's last measure bounds it; the part with the largest
    // bound is measured again, and taken once its measure is current. The
    // choice is the one measuring every part each round would make (the
    // last of equals), at a measure or two per round instead of one per part.
    let mut bound: Vec<f64> = parts.iter().map(|p| size(&p.1)).collect();
    while !left.is_empty() && !parts.is_empty() {
        let k = (0..parts.len())
            .max_by(|&a, &b| bound[a].total_cmp(&bound[b]))
            .expect("not empty");
        let held = size(&parts[k].1.intersect(&left));
        if held < bound[k] {
            bound[k] = held;
            continue;
        }
        bound.swap_remove(k);
        let p = parts.swap_remove(k);
        left = left.difference(&p.1);
        cover.push(p);
    }
    // Where the cover is whole, a part is not needed when the others hold
    // it (which asks less than whether they hold all of `reaching`).
    let mut k = if left.is_empty() { cover.len() } else { 0 };
    while k > 1 {
        k -= 1;
        let rest: Vec<&Cube> = cover
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != k)
            .flat_map(|(_, p)| p.1.cubes())
            .collect();
        if cover[k].1.without_cubes(&rest).is_empty() {
            cover.remove(k);
        }
    }
}

/// Whether two actions give a packet the same fate.
fn same_action(a: &Action, b: &Action) -> bool {
    match (a, b) {
        (Action::Jump(x), Action::Jump(y)) | (Action::Goto(x), Action::Goto(y)) => x == y,
        (Action::SourceNat(x), Action::SourceNat(y)) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// What checking whether rule `r` is redundant costs (rule visits, about),
/// for a terminal rule; other rules are not checked.
fn redundancy_cost(policy: &Policy, r: RuleRef, pieces: &[PacketSet]) -> Option<usize> {
    let rules = policy.chains[r.chain].rules.len();
    let index = r.index.expect("rules, not policies");
    matches!(
        policy.rule(r).action,
        Action::Accept | Action::Drop | Action::Reject
    )
    .then(|| (rules - index) * pieces.iter().map(|p| p.cubes().len()).sum::<usize>())
}

/// Whether rule `r` (which `hit` reaches and matches) is redundant: a
/// terminal rule whose packets the rest of its chain (or a base chain's
/// policy) decides the same way anyway. Packets that would fall back to a
/// calling chain are not followed there, so such a rule is not reported.
fn redundant(policy: &Policy, r: RuleRef, pieces: &[PacketSet]) -> Option<Lint> {
    let chain = &policy.chains[r.chain];
    let index = r.index.expect("rules, not policies");
    let action = &policy.rule(r).action;
    let hit = &joined(pieces);
    let (outcome, accepted, fell) =
        Evaluator::new(policy).rest_of_chain(r.chain, index + 1, hit.clone());
    if outcome.uncertain {
        return None;
    }
    // What falls off the end meets the policy of a base chain; a user chain
    // would return it to its caller, which is not followed.
    let policy_rule = chain.base.as_ref().and_then(|b| b.policy.as_ref());
    let falls_ok = fell.is_empty() || policy_rule.is_some_and(|p| same_action(&p.action, action));
    if !falls_ok {
        return None;
    }
    let same = match action {
        Action::Accept => {
            accepted.union(&fell).is_subset(hit) && hit.is_subset(&accepted.union(&fell))
        }
        _ => {
            accepted.is_empty()
                && outcome.decisions.iter().all(|d| {
                    d.verdict != crate::eval::Verdict::Accept
                        && same_action(&policy.rule(d.rule()).action, action)
                })
        }
    };
    if !same {
        return None;
    }
    // Again, noting which rules decide its packets.
    let watch = RefCell::new(Watch {
        takes: true,
        ..Watch::default()
    });
    Evaluator::watching(policy, &watch).rest_of_chain(r.chain, index + 1, hit.clone());
    let taken = watch.into_inner().taken;
    let mut because: Vec<RuleRef> = (index + 1..chain.rules.len())
        .map(|i| RuleRef {
            chain: r.chain,
            index: Some(i),
        })
        .filter(|e| {
            taken
                .get(e)
                .is_some_and(|t| t.iter().any(|p| p.set().intersects(hit)))
        })
        .collect();
    if !fell.is_empty() {
        because.push(RuleRef {
            chain: r.chain,
            index: None,
        });
    }
    Some(Lint {
        kind: Kind::Redundant,
        rule: r,
        because,
        detail: "leaving it out changes no packet's fate: the rules after it decide every packet it matches the same way".into(),
    })
}

/// A rough measure of a set's size (for choosing the largest cover first).
fn size(s: &PacketSet) -> f64 {
    s.cubes()
        .iter()
        .map(|c| {
            Dim::ALL
                .iter()
                .map(|&d| c.get(d).len() as f64)
                .product::<f64>()
        })
        .sum()
}

/// The lint report of a policy: findings in chain and rule order, one per
/// rule line (a Cisco list bound in two places is one list).
pub fn report(policy: &Policy, linted: &Linted) -> crate::report::lint::LintReport {
    let lints = &linted.lints;
    use crate::check::cite;
    use crate::report::Role;
    use crate::report::lint::{LintFinding, LintReport, LintSummary};
    let mut seen = std::collections::HashSet::new();
    let mut summary = LintSummary {
        rules: policy
            .chains
            .iter()
            .filter(|c| c.copy_of.is_none())
            .flat_map(|c| &c.rules)
            .filter(|r| r.kind() == RuleKind::Rule)
            .count(),
        ..LintSummary::default()
    };
    let mut findings = Vec::new();
    for l in lints {
        let span = policy.rule(l.rule).span;
        if !seen.insert((l.kind, span.file, span.start)) {
            continue;
        }
        *match l.kind {
            Kind::Shadowed => &mut summary.shadowed,
            Kind::Redundant => &mut summary.redundant,
            Kind::Unmodelled => &mut summary.unmodelled,
            Kind::UnreachableChain => &mut summary.unreachable_chains,
        } += 1;
        findings.push(LintFinding {
            kind: l.kind.code(),
            message: l.detail.clone(),
            rule: cite(policy, l.rule, Role::Subject),
            because: l
                .because
                .iter()
                .map(|&b| cite(policy, b, crate::check::role_of(b, Role::Covering)))
                .collect(),
        });
    }
    if let Some((first, n)) = linted.unchecked {
        summary.unchecked = n;
        summary.unchecked_from = Some(cite(policy, first, Role::Subject));
    }
    LintReport {
        schema: crate::report::lint::SCHEMA,
        input: crate::report::Input {
            file: policy.files[0].path.clone(),
            format: policy.format.name(),
        },
        findings,
        summary,
    }
}

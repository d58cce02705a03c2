//! Symbolic evaluation: pushes a whole packet set through the forward path and
//! partitions it by fate, remembering which rule decided each part.

use super::{Verdict, base_chain_scope};
use crate::model::{Action, ChainId, ChainKind, Policy, RuleRef};
use crate::space::{Cube, CubeIndex, Dim, IntervalSet, Packet, PacketSet};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A part of the input set and the rule that decided it. The rule is kept
/// in 32-bit parts (a text of at most [`crate::model::MAX_TEXT`] bytes holds
/// fewer chains and rules than that): a 1M-rule dump's walk makes about
/// 300k decisions, in a vector grown to 524k places, and 40 bytes each
/// rather than 72 is 17 MB less while the check runs.
#[derive(Debug, Clone)]
pub struct Decision {
    pub set: PacketSet,
    pub verdict: Verdict,
    chain: u32,
    /// The rule's index, [`NONE`] for the chain's policy.
    first: u32,
    /// Where a run of rules decided the part together (see
    /// [`Evaluator::by_runs`]): the last rule of the run; else [`NONE`].
    last: u32,
}

/// The absent index of a [`Decision`]'s rule parts.
const NONE: u32 = u32::MAX;

/// An index of a rule or chain as a [`Decision`] keeps it.
fn narrow(i: usize) -> u32 {
    u32::try_from(i)
        .ok()
        .filter(|&i| i != NONE)
        .expect("fewer chains and rules than a text of MAX_TEXT bytes can hold")
}

impl Decision {
    /// `rule` deciding `set` (alone, or from a run's first rule to its `last`).
    pub fn new(set: PacketSet, verdict: Verdict, rule: RuleRef, last: Option<usize>) -> Self {
        Decision {
            set,
            verdict,
            chain: narrow(rule.chain),
            first: rule.index.map_or(NONE, narrow),
            last: last.map_or(NONE, narrow),
        }
    }

    /// The same decision of another part.
    pub fn with_set(&self, set: PacketSet) -> Self {
        Decision { set, ..*self }
    }

    /// The rule that decided the part (the first of its run).
    pub fn rule(&self) -> RuleRef {
        RuleRef {
            chain: self.chain as usize,
            index: (self.first != NONE).then_some(self.first as usize),
        }
    }

    /// The last rule of the run that decided the part, if a run did.
    pub fn through(&self) -> Option<usize> {
        (self.last != NONE).then_some(self.last as usize)
    }

    /// Each rule that decided some of the part, with what it decided.
    pub fn parts(&self, policy: &Policy) -> Vec<(RuleRef, PacketSet)> {
        if self.through().is_none() {
            return vec![(self.rule(), self.set.clone())];
        }
        self.rules(policy)
            .into_iter()
            .map(|r| (r, self.set.intersect(&policy.rule(r).matches)))
            .collect()
    }

    /// The rules that decided some of the part: its rule, or those of its
    /// run whose match meets it.
    pub fn rules(&self, policy: &Policy) -> Vec<RuleRef> {
        let rule = self.rule();
        let (Some(last), Some(first)) = (self.through(), rule.index) else {
            return vec![rule];
        };
        let runs = policy.runs(rule.chain);
        let run = &runs[runs.partition_point(|r| r.first < first)];
        debug_assert!(run.first == first && run.last == last);
        run.rules_meeting(&self.set)
            .into_iter()
            .map(|i| RuleRef {
                chain: rule.chain,
                index: Some(i),
            })
            .collect()
    }
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

    /// The union of the parts of verdict `v`.
    fn union_of(&self, v: Verdict) -> PacketSet {
        PacketSet::union_all(
            self.decisions
                .iter()
                .filter(|d| d.verdict == v)
                .map(|d| &d.set),
        )
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
        // What reaches the end is small next to the decisions (a DNAT per
        // service endpoint): it loses the cubes of those that meet it, with
        // no union of them all.
        let not_accepted = self
            .decisions
            .iter()
            .filter(|d| d.verdict != Verdict::Accept)
            .flat_map(|d| d.set.cubes());
        self.reached_end.without_all(not_accepted)
    }

    /// Packets dropped for sure, each part with the first rule (or run) that drops it.
    pub fn dropped(&self) -> Vec<Decision> {
        let drops = self.decisions.iter().filter(|d| d.verdict == Verdict::Drop);
        if !self.uncertain {
            return drops.cloned().collect();
        }
        let unknown = self.unknown();
        let drops: Vec<&Decision> = drops.collect();
        let sets: Vec<&PacketSet> = drops.iter().map(|d| &d.set).collect();
        crate::space::set::ordered_pieces(&sets, |_| true)
            .into_iter()
            .zip(drops)
            .map(|(part, d)| d.with_set(part.difference(&unknown)))
            .filter(|d| !d.set.is_empty())
            .collect()
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

/// What leaves one chain evaluation, as parts: joined once at the end, not
/// at every rule (a union per rule is quadratic in a long chain).
#[derive(Default)]
struct ChainResult {
    accepted: Vec<PacketSet>,
    returned: Vec<PacketSet>,
    /// Whether an unmodelled rule let some packets both match and go on, so
    /// that the parts may overlap and must be joined as sets.
    overlap: bool,
}

impl ChainResult {
    fn accept(&mut self, part: PacketSet) {
        if !part.is_empty() {
            self.accepted.push(part);
        }
    }

    fn give_back(&mut self, part: PacketSet) {
        if !part.is_empty() {
            self.returned.push(part);
        }
    }

    /// Takes in what another walk of the same chain left.
    fn merge(&mut self, other: ChainResult) {
        self.accepted.extend(other.accepted);
        self.returned.extend(other.returned);
        self.overlap |= other.overlap;
    }

    fn accepted(&mut self) -> PacketSet {
        join(std::mem::take(&mut self.accepted), self.overlap)
    }

    fn returned(&mut self) -> PacketSet {
        join(std::mem::take(&mut self.returned), self.overlap)
    }
}

/// The union of parts: appended when they cannot overlap (every part a
/// chain sends on is cut from what remained of its input), joined otherwise.
fn join(parts: Vec<PacketSet>, overlap: bool) -> PacketSet {
    if overlap {
        return PacketSet::union_all(&parts);
    }
    let mut all = PacketSet::empty();
    for p in parts {
        all.append_disjoint(p);
    }
    all
}

pub struct Evaluator<'p> {
    policy: &'p Policy,
    /// Rules to leave out (of one chain, first to last), to see what would
    /// happen without them.
    skip: Option<(ChainId, usize, usize)>,
    /// Where to note what each rule and chain saw (for lint).
    watch: Option<&'p RefCell<Watch>>,
    /// The work the walks may do, if bounded.
    budget: Option<&'p Budget>,
    /// Whether runs of rules are taken in one step (see [`Evaluator::by_runs`]).
    runs: bool,
}

/// Work that walks may do (pieces of the packet space met at rules, by the
/// ranges of their address lists), shared by every walk given it, on any
/// thread; once spent, the walks stop, every chain at the rule it has
/// reached, and what they found is incomplete.
#[derive(Debug)]
pub struct Budget {
    left: AtomicUsize,
    /// The most pieces a walk's set may be in (a set in very many pieces
    /// costs at every later rule), if bounded.
    max_pieces: Option<usize>,
    /// The first rule a walk stopped at for want of budget.
    cut: Mutex<Option<RuleRef>>,
}

impl Budget {
    /// For a walk of the whole packet space (lint's of a base chain,
    /// diff's of a version), which rules that cut it finely (many distinct
    /// addresses and ports) make meet more pieces at every later rule.
    pub fn whole_space() -> Self {
        Budget::new(12_000_000, Some(20_000))
    }

    pub fn new(work: usize, max_pieces: Option<usize>) -> Self {
        Budget {
            left: AtomicUsize::new(work),
            max_pieces,
            cut: Mutex::new(None),
        }
    }

    /// Where the walks stopped, if they ran out.
    pub fn cut(&self) -> Option<RuleRef> {
        *self.cut.lock().expect("not poisoned")
    }

    /// Takes `cost` for rule `r`; false once it is spent.
    fn take(&self, r: RuleRef, cost: usize, pieces: usize) -> bool {
        let taken = self.max_pieces.is_none_or(|m| pieces <= m)
            && self
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                    l.checked_sub(cost)
                })
                .is_ok();
        if !taken {
            self.left.store(0, Ordering::Relaxed);
            self.cut.lock().expect("not poisoned").get_or_insert(r);
        }
        taken
    }
}

/// What an evaluation saw: the packets that entered each chain, those each
/// rule matched, and those it took (did not send on to the next rule). Each
/// as the pieces of every visit: a chain entered from many jumps would
/// otherwise pay a growing union at each of them.
#[derive(Debug, Default)]
pub struct Watch {
    pub entered: FxHashMap<ChainId, Vec<PacketSet>>,
    pub hit: FxHashMap<RuleRef, Vec<PacketSet>>,
    pub taken: FxHashMap<RuleRef, Vec<Took>>,
    /// Whether to note `taken` too.
    pub takes: bool,
    /// The chains a visit of which sent on parts that may overlap (an
    /// unmodelled match or action of theirs, or of a chain they jump to):
    /// in every other chain, what one rule took no other rule took.
    pub uncertain: rustc_hash::FxHashSet<ChainId>,
}

/// What a rule took at one visit: what it hit less what came back of it
/// (from a jump), worked out when asked. A jump to a chain that returns
/// its packets in many pieces would cost a difference at every visit,
/// which few lints need.
#[derive(Debug, Clone)]
pub struct Took {
    hit: PacketSet,
    back: PacketSet,
}

impl Took {
    pub fn set(&self) -> PacketSet {
        if self.back.is_empty() {
            self.hit.clone()
        } else {
            self.hit.difference(&self.back)
        }
    }
}

fn note<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Vec<PacketSet>>, key: K, set: &PacketSet) {
    if !set.is_empty() {
        map.entry(key).or_default().push(set.clone());
    }
}

/// The union of the pieces a [`Watch`] noted.
pub fn joined(pieces: &[PacketSet]) -> PacketSet {
    PacketSet::union_all(pieces)
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Evaluator {
            policy,
            skip: None,
            watch: None,
            budget: None,
            runs: false,
        }
    }

    /// The same policy with one rule taken out (a policy rule cannot be).
    pub fn without(policy: &'p Policy, rule: RuleRef) -> Self {
        Evaluator {
            policy,
            skip: rule.index.map(|i| (rule.chain, i, i)),
            watch: None,
            budget: None,
            runs: false,
        }
    }

    /// The same policy without the rules that made a decision: its rule,
    /// or all of its run.
    pub fn without_decider(policy: &'p Policy, d: &Decision) -> Self {
        let rule = d.rule();
        let skip = rule
            .index
            .map(|i| (rule.chain, i, d.through().unwrap_or(i)));
        Evaluator {
            skip,
            ..Evaluator::without(policy, rule)
        }
    }

    /// An evaluator that notes what each chain and rule sees in `watch`.
    pub fn watching(policy: &'p Policy, watch: &'p RefCell<Watch>) -> Self {
        Evaluator {
            policy,
            skip: None,
            watch: Some(watch),
            budget: None,
            runs: false,
        }
    }

    /// The same evaluator, its walks bounded by `budget`.
    pub fn within(self, budget: &'p Budget) -> Self {
        Evaluator {
            budget: Some(budget),
            ..self
        }
    }

    /// The same evaluator, taking each run of rules ([`crate::model::Run`])
    /// in one step: a ban list of 50k addresses then costs a cut per piece
    /// of the set, not one per rule and piece. Each decision of a run's
    /// names its first and last rule, not the rule that decided each part
    /// ([`Decision::rules`] names those that decided some): for callers that
    /// need no more. A watched walk (lint's, which notes each rule's hit)
    /// takes rules one by one.
    pub fn by_runs(self) -> Self {
        Evaluator { runs: true, ..self }
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
        let mut r = self.chain_from(id, start, input, &mut out);
        (out, r.accepted(), r.returned())
    }

    /// Evaluates `input` along the forward path.
    pub fn forward(&self, input: &PacketSet) -> Outcome {
        self.path(input, &self.policy.forward_path())
    }

    /// Evaluates `input` through the given base chains, in order.
    pub fn path(&self, input: &PacketSet, chains: &[ChainId]) -> Outcome {
        let mut out = Outcome::default();
        let mut alive = input.clone();
        // The packets whose connection a NAT chain of the current hook bound
        // (for sure, and perhaps): the hook's later NAT chains let them by.
        let mut hook = None;
        let mut bound = PacketSet::empty();
        let mut maybe_bound = PacketSet::empty();
        for &id in chains {
            let base = self.policy.chains[id]
                .base
                .as_ref()
                .expect("path chains are base chains");
            if hook != Some(base.hook) {
                hook = Some(base.hook);
                bound = PacketSet::empty();
                maybe_bound = PacketSet::empty();
            }
            let opening = base.kind == ChainKind::Opening;
            let mut scope = base_chain_scope(base);
            if opening && !bound.is_empty() {
                scope = scope.difference(&bound);
            }
            let seen = alive.intersect(&scope);
            if seen.is_empty() {
                continue;
            }
            let mut bypass = alive.difference(&scope);
            let (translated, decided) = (out.translations.len(), out.decisions.len());
            let mut r = self.chain(id, seen, &mut out);
            let returned = r.returned();
            // The packets a NAT chain bound: for sure where the walk was
            // certain, or where no other fate in the chain was open to them.
            let mut nat = PacketSet::empty();
            let mut other_fates = PacketSet::empty();
            if opening && out.translations.len() > translated {
                nat = PacketSet::union_all(out.translations[translated..].iter().map(|t| &t.set));
                if r.overlap {
                    let others = out.decisions[decided..]
                        .iter()
                        .filter(|d| {
                            !matches!(self.policy.rule(d.rule()).action, Action::SourceNat(_))
                        })
                        .map(|d| &d.set);
                    other_fates = PacketSet::union_all(others.chain([&returned]));
                }
            }
            if !returned.is_empty() {
                let fell_through = self.policy_of(id, returned, &mut out);
                r.accept(fell_through);
            }
            // What the chain let through was cut from what it saw, which
            // excludes what bypassed it.
            bypass.append_disjoint(r.accepted());
            if opening && !maybe_bound.is_empty() {
                // Perhaps bound before: perhaps not in this chain at all.
                bypass = bypass.union(&alive.intersect(&maybe_bound));
            }
            if !nat.is_empty() {
                maybe_bound = maybe_bound.union(&nat.intersect(&other_fates));
                bound = bound.union(&nat.difference(&other_fates));
            }
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
                out.decisions
                    .push(Decision::new(set, Verdict::Drop, rule, None));
                PacketSet::empty()
            }
            _ => set,
        }
    }

    fn chain(&self, id: ChainId, input: PacketSet, out: &mut Outcome) -> ChainResult {
        if let Some(w) = self.watch {
            note(&mut w.borrow_mut().entered, id, &input);
        }
        self.chain_from(id, 0, input, out)
    }

    /// Walks `input` through the rules of chain `id` from `start` on. A set
    /// of few cubes in a long chain meets only the rules its index finds.
    fn chain_from(
        &self,
        id: ChainId,
        start: usize,
        input: PacketSet,
        out: &mut Outcome,
    ) -> ChainResult {
        // Where the chain's index exists already (what jumps return walked
        // it), a small set takes the rules it finds; otherwise it meets the
        // rules in order and stops where nothing is left.
        let all: Vec<usize> = (start..self.policy.chains[id].rules.len()).collect();
        let order = self.rules_met(id, &input, &all, false);
        let res = self.walk(id, &order, input, out);
        if res.overlap
            && let Some(w) = self.watch
        {
            w.borrow_mut().uncertain.insert(id);
        }
        res
    }

    /// The rules of `order` (ascending, from some rule on to the chain's
    /// end) that `set` may match: for a set of few cubes in a long stretch,
    /// those the chain's rule index finds (built here if `build`), else all.
    fn rules_met<'o>(
        &self,
        id: ChainId,
        set: &PacketSet,
        order: &'o [usize],
        build: bool,
    ) -> std::borrow::Cow<'o, [usize]> {
        let (Some(&from), true) = (order.first(), set.cubes().len() <= 4 && order.len() > 32)
        else {
            return order.into();
        };
        let chain = &self.policy.chains[id];
        match chain.index.get() {
            Some(index) => index.candidates(set, from).into(),
            None if build => self.policy.rule_index(id).candidates(set, from).into(),
            None => order.into(),
        }
    }

    /// The rules `order` of chain `id` (ascending; any rule left out matches
    /// nothing of `input`) applied to `input` by first match.
    ///
    /// The rules go in blocks that double in size. Within a block, what
    /// each rule matches is found at once from the block's input (through an
    /// index of its cubes), and a rule's hit is what it matches minus what
    /// earlier rules of the block took; the block's leftover is its input
    /// minus all it took, computed once. A long chain of small matches (a
    /// kube-proxy service list, a ban list) so costs about its length, not
    /// its length times the pieces the input was cut into. Packets a jump
    /// returns go on at the next rule, in a walk of their own.
    fn walk(
        &self,
        id: ChainId,
        order: &[usize],
        input: PacketSet,
        out: &mut Outcome,
    ) -> ChainResult {
        if input.cubes().len() <= 2 && order.len() <= 8 {
            return self.walk_short(id, order, input, out);
        }
        let rules = &self.policy.chains[id].rules;
        let runs = if self.runs && self.watch.is_none() {
            self.policy.runs(id)
        } else {
            &[]
        };
        let mut res = ChainResult::default();
        let mut remaining = input;
        let (mut at, mut block) = (0, 8);
        let mut cut = false;
        while at < order.len() && !remaining.is_empty() && !cut {
            // A run from here is taken whole; a block of rules stops short of the next.
            let after = runs.partition_point(|r| r.first <= order[at]);
            if let Some(run) = after
                .checked_sub(1)
                .map(|k| &runs[k])
                .filter(|r| self.whole(id, r, order, at))
            {
                at += run.last - run.first + 1;
                cut = !self.take_run(id, run, &mut remaining, out, &mut res);
                continue;
            }
            let stop = runs
                .get(after)
                .map_or(order.len(), |r| order.partition_point(|&i| i < r.first));
            let end = (at + block).min(stop);
            block *= 2;
            // A set in many pieces meets a block's rules, and its pieces are
            // cut, on every core (in order, so that the result is the same).
            let parallel = remaining.cubes().len() >= PARALLEL_PIECES;
            // What each rule matches of each cube of `remaining`, by the
            // cube it came from.
            let mut met: Vec<(usize, Vec<(usize, Cube)>)> = Vec::new();
            {
                let reach = Reach::new(&remaining);
                // In steps, each rule's cost charged in order after the
                // step: a walk that runs out does at most a step too much.
                for step in order[at..end].chunks(BUDGET_STEP) {
                    let step: Vec<(usize, RuleRef, &PacketSet)> = step
                        .iter()
                        .filter_map(|&i| self.rule_met(id, i).map(|(r, m)| (i, r, m)))
                        .collect();
                    let matches: Vec<&PacketSet> = step.iter().map(|&(.., m)| m).collect();
                    let parts = in_order(matches, parallel, |m| reach.meet(m));
                    for ((i, r, matches), parts) in step.into_iter().zip(parts) {
                        let cubes = parts.iter().map(|(_, c)| c);
                        if !self.spend(r, matches.cubes(), cubes, remaining.cubes().len()) {
                            cut = true;
                            break;
                        }
                        if !parts.is_empty() {
                            met.push((i, parts));
                        }
                    }
                    if cut {
                        break;
                    }
                }
            }
            at = end;
            let taking: Vec<bool> = met.iter().map(|(i, _)| self.takes(&rules[*i])).collect();
            // Parts of different cubes are disjoint: a rule's hit is what it
            // matched of each cube minus what earlier taking rules matched of
            // the same cube, and each cube loses what the taking rules matched.
            let mut by_cube: Vec<Vec<(usize, usize)>> = vec![Vec::new(); remaining.cubes().len()];
            for (k, (_, parts)) in met.iter().enumerate() {
                for (p, (cube, _)) in parts.iter().enumerate() {
                    by_cube[*cube].push((k, p));
                }
            }
            let cubes: Vec<(Cube, &Vec<(usize, usize)>)> = std::mem::take(&mut remaining)
                .into_cubes()
                .into_iter()
                .zip(&by_cube)
                .collect();
            // Each cube's pieces: what each rule of its group hit of it, and
            // what is left of it.
            let cut_cubes = in_order(cubes, parallel, |(cube, group)| {
                if group.is_empty() {
                    return (Vec::new(), vec![cube]);
                }
                let parts: Vec<&Cube> = group.iter().map(|&(k, p)| &met[k].1[p].1).collect();
                let pieces = crate::space::set::ordered_cube_pieces(&parts, |g| taking[group[g].0]);
                let taken: Vec<&Cube> = group
                    .iter()
                    .zip(&parts)
                    .filter(|((k, _), _)| taking[*k])
                    .map(|(_, c)| *c)
                    .collect();
                (pieces, crate::space::set::minus_parts(&cube, &taken))
            });
            let mut hit_cubes: Vec<Vec<Cube>> = vec![Vec::new(); met.len()];
            let mut kept = Vec::with_capacity(cut_cubes.len());
            for ((pieces, left), group) in cut_cubes.into_iter().zip(&by_cube) {
                for (&(k, _), piece) in group.iter().zip(pieces) {
                    hit_cubes[k].extend(piece);
                }
                kept.extend(left);
            }
            remaining = PacketSet::from_pieces(kept);
            let hits: Vec<PacketSet> = hit_cubes.into_iter().map(PacketSet::from_pieces).collect();
            let mut returns = Vec::new();
            for ((i, _), hit) in met.iter().zip(hits) {
                if hit.is_empty() {
                    continue;
                }
                let back = self.apply(id, *i, hit, out, &mut res);
                if !back.is_empty() && self.takes(&rules[*i]) {
                    returns.push((*i, back));
                }
            }
            for (i, back) in returns {
                let later = &order[order.partition_point(|&j| j <= i)..];
                let later = self.rules_met(id, &back, later, true);
                let sub = self.walk(id, &later, back, out);
                res.merge(sub);
            }
        }
        // Falling off the end returns (to the caller, or to a base chain's policy).
        res.give_back(remaining);
        res
    }

    /// [`walk`](Self::walk) for a set of a cube or two in a few rules (a
    /// kube-proxy service or endpoint chain, met once per service): rule by
    /// rule, what a jump returns joining what goes on, without the indexes
    /// and per-cube bookkeeping that pay off only on long chains.
    fn walk_short(
        &self,
        id: ChainId,
        order: &[usize],
        input: PacketSet,
        out: &mut Outcome,
    ) -> ChainResult {
        let rules = &self.policy.chains[id].rules;
        let mut res = ChainResult::default();
        let mut remaining = input;
        for &i in order {
            if remaining.is_empty() {
                break;
            }
            let Some((r, matches)) = self.rule_met(id, i) else {
                continue;
            };
            let hit = remaining.intersect(matches);
            if !self.spend(r, matches.cubes(), hit.cubes(), remaining.cubes().len()) {
                break;
            }
            if hit.is_empty() {
                continue;
            }
            let takes = self.takes(&rules[i]);
            if takes {
                remaining = remaining.difference(&hit);
            }
            let back = self.apply(id, i, hit, out, &mut res);
            if takes {
                remaining.append_disjoint(back);
            }
        }
        res.give_back(remaining);
        res
    }

    /// Whether rule `rule` takes the packets it matches out of the walk
    /// ([`takes_rule`]). An unmodelled action takes them too unless the walk
    /// is watched: a packet that may meet one has an unknown fate whatever
    /// else happens to it (see [`Outcome::unknown`]), so following it on
    /// changes no verdict, only costs (in a kube-proxy dump every packet to
    /// a service meets a DNAT, and would walk the rest of the service list
    /// and the node ports on). Lint follows it, to see which rules it reaches.
    fn takes(&self, rule: &crate::model::Rule) -> bool {
        takes_rule(rule) || (self.watch.is_none() && matches!(rule.action, Action::Unknown(_)))
    }

    /// Rule `i` of chain `id` and what it matches, unless it is the rule
    /// left out.
    fn rule_met(&self, id: ChainId, i: usize) -> Option<(RuleRef, &'p PacketSet)> {
        let r = RuleRef {
            chain: id,
            index: Some(i),
        };
        (!self.skips(id, i, i)).then(|| (r, &self.policy.chains[id].rules[i].matches))
    }

    /// Whether some of rules `first..=last` of chain `id` are left out.
    fn skips(&self, id: ChainId, first: usize, last: usize) -> bool {
        self.skip
            .is_some_and(|(c, a, b)| c == id && a <= last && first <= b)
    }

    /// Charges the walk's budget, if it has one, for rule `r`, whose match
    /// is `matches`, meeting the cubes `met` of a set in `pieces` pieces;
    /// false once it is spent (the walk stops there).
    fn spend<'c>(
        &self,
        r: RuleRef,
        matches: &[Cube],
        met: impl IntoIterator<Item = &'c Cube>,
        pieces: usize,
    ) -> bool {
        let Some(budget) = self.budget else {
            return true;
        };
        // Each piece met meets each range the rule's match is made of (long
        // address lists are many ranges).
        let ranges: usize = matches.iter().map(address_ranges).sum();
        // And the pieces' own lists are copied and cut (an nft set of 100k
        // prefixes is a list that long in every piece that holds it).
        let (parts, held) = met
            .into_iter()
            .fold((0, 0), |(n, h), c| (n + 1, h + address_ranges(c)));
        budget.take(r, (parts + 1) * ranges.max(1) + held, pieces)
    }

    /// Whether all of `run`, of chain `id`, is in `order` from position
    /// `at` on (a walk that found its rules by index may have left some
    /// out), and none of it is the rule left out.
    fn whole(&self, id: ChainId, run: &crate::model::Run, order: &[usize], at: usize) -> bool {
        order[at] == run.first
            && order.get(at + run.last - run.first) == Some(&run.last)
            && !self.skips(id, run.first, run.last)
    }

    /// Takes the packets of `remaining` that the rules of `run`, of chain
    /// `id`, match, as one decision; false where the budget ran out (and
    /// `remaining` is as it was).
    fn take_run(
        &self,
        id: ChainId,
        run: &crate::model::Run,
        remaining: &mut PacketSet,
        out: &mut Outcome,
        res: &mut ChainResult,
    ) -> bool {
        let r = RuleRef {
            chain: id,
            index: Some(run.first),
        };
        let hits: Vec<Option<Cube>> = remaining
            .cubes()
            .iter()
            .map(|c| c.intersect(&run.cube))
            .collect();
        let met = hits.iter().flatten();
        if !self.spend(
            r,
            std::slice::from_ref(&run.cube),
            met,
            remaining.cubes().len(),
        ) {
            return false;
        }
        let mut kept = Vec::new();
        for (c, h) in std::mem::take(remaining)
            .into_cubes()
            .into_iter()
            .zip(&hits)
        {
            match h {
                None => kept.push(c),
                Some(h) => kept.extend(crate::space::set::minus_parts(&c, &[h])),
            }
        }
        *remaining = PacketSet::from_pieces(kept);
        let hit = PacketSet::from_pieces(hits.into_iter().flatten().collect());
        if !hit.is_empty() {
            let verdict = match self.policy.chains[id].rules[run.first].action {
                Action::Accept => {
                    res.accept(hit.clone());
                    Verdict::Accept
                }
                _ => Verdict::Drop,
            };
            out.decisions
                .push(Decision::new(hit, verdict, r, Some(run.last)));
        }
        true
    }

    /// Applies rule `i` of chain `id` to the packets it decides, `hit`;
    /// returns those a taking rule gives back to the chain (what a jump
    /// returns), which go on at the next rule.
    fn apply(
        &self,
        id: ChainId,
        i: usize,
        hit: PacketSet,
        out: &mut Outcome,
        res: &mut ChainResult,
    ) -> PacketSet {
        let rule = &self.policy.chains[id].rules[i];
        let r = RuleRef {
            chain: id,
            index: Some(i),
        };
        let certain = rule.opaque().is_none();
        let unknown = matches!(rule.action, Action::Unknown(_));
        if !certain || unknown {
            out.uncertain = true;
        }
        // Parts sent on may overlap where the rule may not match, or where
        // a watched unknown action both sends its packets on and lets them go.
        if !certain || (unknown && self.watch.is_some()) {
            res.overlap = true;
        }
        let watched = self
            .watch
            .inspect(|w| note(&mut w.borrow_mut().hit, r, &hit));
        // Packets that continue past this rule, besides those it does not match.
        let mut rejoin = PacketSet::empty();
        match &rule.action {
            Action::Accept => {
                res.accept(hit.clone());
                out.decisions
                    .push(Decision::new(hit.clone(), Verdict::Accept, r, None));
            }
            Action::SourceNat(to) => {
                res.accept(hit.clone());
                out.translations.push(Translation {
                    set: hit.clone(),
                    to: to.as_deref().cloned(),
                    rule: r,
                });
                out.decisions
                    .push(Decision::new(hit.clone(), Verdict::Accept, r, None));
            }
            Action::Drop | Action::Reject => {
                out.decisions
                    .push(Decision::new(hit.clone(), Verdict::Drop, r, None));
            }
            Action::Return => res.give_back(hit.clone()),
            Action::Continue => return PacketSet::empty(),
            Action::Jump(target) => {
                let mut sub = self.chain(*target, hit.clone(), out);
                res.overlap |= sub.overlap;
                res.accept(sub.accepted());
                rejoin = sub.returned();
            }
            Action::Goto(target) => {
                let mut sub = self.chain(*target, hit.clone(), out);
                res.overlap |= sub.overlap;
                res.accept(sub.accepted());
                res.give_back(sub.returned());
            }
            Action::Unknown(_) => {
                out.decisions
                    .push(Decision::new(hit.clone(), Verdict::Unknown, r, None));
                // Whatever it does, a watched packet may also go on.
                if self.watch.is_some() {
                    res.accept(hit.clone());
                }
            }
        }
        if let Some(w) = watched.filter(|w| w.borrow().takes && self.takes(rule)) {
            let took = Took {
                hit,
                back: rejoin.clone(),
            };
            w.borrow_mut().taken.entry(r).or_default().push(took);
        }
        rejoin
    }
}

/// The ranges of a cube's address lists: what set algebra on it costs.
fn address_ranges(c: &Cube) -> usize {
    c.get(Dim::Src).ranges().len() + c.get(Dim::Dst).ranges().len()
}

/// Whether a rule takes the packets it matches out of its chain's walk
/// (those a jump returns come back at the next rule). A rule that may not
/// match (unmodelled conditions) and a statement that does not decide leave
/// its packets going on as well.
fn takes_rule(rule: &crate::model::Rule) -> bool {
    rule.opaque().is_none() && !matches!(rule.action, Action::Continue | Action::Unknown(_))
}

/// The pieces from which a walk's set meets rules and is cut on every core.
const PARALLEL_PIECES: usize = 64;

/// The rules a walk meets before it charges their cost to its budget.
const BUDGET_STEP: usize = 64;

/// `f` of each item, in order; on the thread pool if `parallel`.
fn in_order<T: Send, U: Send>(
    items: Vec<T>,
    parallel: bool,
    f: impl Fn(T) -> U + Sync + Send,
) -> Vec<U> {
    if parallel {
        items.into_par_iter().map(f).collect()
    } else {
        items.into_iter().map(f).collect()
    }
}

/// A set about to meet many rules: with an index of its cubes when it has
/// many, so that each rule finds the cubes it meets.
struct Reach<'s> {
    cubes: Vec<&'s Cube>,
    index: Option<CubeIndex>,
}

impl<'s> Reach<'s> {
    fn new(set: &'s PacketSet) -> Self {
        let cubes: Vec<&Cube> = set.cubes().iter().collect();
        let index = (cubes.len() > 16).then(|| CubeIndex::new(&cubes));
        Reach { cubes, index }
    }

    /// The packets of the set that `m` holds, as parts of the set's cubes
    /// (each with the position of the cube it is part of).
    fn meet(&self, m: &PacketSet) -> Vec<(usize, Cube)> {
        let mut out = Vec::new();
        let Some(index) = &self.index else {
            for (j, a) in self.cubes.iter().enumerate() {
                out.extend(m.cubes().iter().filter_map(|b| Some((j, a.intersect(b)?))));
            }
            return out;
        };
        let mut found = Vec::new();
        for b in m.cubes() {
            index.overlapping_sorted(b, &mut found);
            out.extend(
                found
                    .iter()
                    .filter_map(|&j| Some((j, self.cubes[j].intersect(b)?))),
            );
        }
        out
    }
}

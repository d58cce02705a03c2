//! Diff of two versions of a firewall (of any formats): the packets the
//! forward path newly accepts and newly drops, exactly, in pieces by the rule
//! that decides them in the new version, each with a witness and the rule
//! that decides it in each version. Vendor-neutral: works on two policies.

mod align;
mod delta;

use crate::eval::concrete::{Effect, Evaluator as Concrete};
use crate::eval::symbolic::{Budget, Decision, Evaluator};
use crate::model::{Policy, RuleRef};
use crate::space::{Packet, PacketSet};

/// Pieces listed per direction; the rest are counted.
pub const MAX_PIECES: usize = 20;

/// A part of the packet space whose fate changed.
#[derive(Debug, Clone)]
pub struct Piece {
    pub set: PacketSet,
    pub witness: Packet,
    /// The rule that decides the witness in each version (`None`: it passes
    /// every base chain by their policies, or none is on the path).
    pub old_rule: Option<RuleRef>,
    pub new_rule: Option<RuleRef>,
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Accepted for sure now, dropped for sure before.
    pub accepted: Vec<Piece>,
    /// Dropped for sure now, accepted for sure before.
    pub dropped: Vec<Piece>,
    /// Pieces past [`MAX_PIECES`], per direction.
    pub more_accepted: usize,
    pub more_dropped: usize,
    /// Packets some changed rule may decide whose fate is unknown in either
    /// version, so that whether it changed cannot be said (a packet no
    /// changed rule decides keeps its fate, known or not).
    pub unknown: PacketSet,
}

/// The forward path's outcome over `space`, unless the walk runs out of
/// budget.
fn over(p: &Policy, space: &PacketSet) -> Option<crate::eval::symbolic::Outcome> {
    let budget = Budget::whole_space();
    let out = Evaluator::new(p).by_runs().within(&budget).forward(space);
    budget.cut().is_none().then_some(out)
}

/// What changed between the two versions over every packet; `None` when a
/// version's rules cut the packets some changed rule matches (every packet,
/// where the versions differ in more than rules) too finely to walk them.
pub fn changes(old: &Policy, new: &Policy) -> Option<Changes> {
    let space = delta::space(old, new);
    let (o, n) = rayon::join(|| over(old, &space), || over(new, &space));
    let (o, n) = (o?, n?);
    // Each walk's outcome parts its input into packets accepted, dropped
    // and unknown; what changed is where one version's sure accepts meet the
    // other's sure drops (no complement of a many-cube set is needed).
    let (oa, ou) = (o.accepted(), o.unknown());
    let (na, nu) = (n.accepted(), n.unknown());
    let sure_drops = |x: &[Decision]| {
        PacketSet::from_pieces(
            x.iter()
                .flat_map(|d| d.set.cubes().iter().cloned())
                .collect(),
        )
    };
    let nd_parts = n.dropped();
    let newly_accepted = na.intersect(&sure_drops(&o.dropped()));
    let newly_dropped = sure_drops(&nd_parts).intersect(&oa);
    let unknown = ou.union(&nu);
    // Newly dropped packets, by the rule that drops them now; newly accepted
    // ones by the accepting decisions of the new version.
    let drops: Vec<(PacketSet, Option<RuleRef>)> = nd_parts
        .into_iter()
        .map(|d| {
            let rule = d.rule();
            (d.set, Some(rule))
        })
        .collect();
    let accepts: Vec<(PacketSet, Option<RuleRef>)> = n
        .decisions
        .iter()
        .filter(|d| d.verdict == crate::eval::Verdict::Accept)
        .map(|d| (d.set.clone(), Some(d.rule())))
        .collect();
    let (accepted, more_accepted) = pieces(&newly_accepted, &accepts, old, new);
    let (dropped, more_dropped) = pieces(&newly_dropped, &drops, old, new);
    Some(Changes {
        accepted,
        dropped,
        more_accepted,
        more_dropped,
        unknown,
    })
}

/// `changed` cut by the parts of the new version's decisions it meets (what
/// none of them covers is one piece more), at most [`MAX_PIECES`] of them.
fn pieces(
    changed: &PacketSet,
    parts: &[(PacketSet, Option<RuleRef>)],
    old: &Policy,
    new: &Policy,
) -> (Vec<Piece>, usize) {
    let mut left = changed.clone();
    let mut sets = Vec::new();
    for (set, _) in parts {
        if left.is_empty() {
            break;
        }
        let piece = left.intersect(set);
        if !piece.is_empty() {
            left = left.difference(&piece);
            sets.push(piece);
        }
    }
    if !left.is_empty() {
        sets.push(left);
    }
    let more = sets.len().saturating_sub(MAX_PIECES);
    let (o, n) = (Concrete::new(old), Concrete::new(new));
    let decider = |c: &Concrete<'_>, p: &Packet| {
        c.trace(p)
            .steps
            .iter()
            .rev()
            .find(|s| s.effect == Effect::Matched)
            .map(|s| s.rule)
    };
    let out = sets
        .into_iter()
        .take(MAX_PIECES)
        .map(|set| {
            let witness = set.witness().expect("pieces are not empty");
            Piece {
                old_rule: decider(&o, &witness),
                new_rule: decider(&n, &witness),
                witness,
                set,
            }
        })
        .collect();
    (out, more)
}

/// The diff report: requirement statuses that change, and the pieces.
pub fn report(
    old: &Policy,
    new: &Policy,
    site: &crate::site::Site,
    reqs: &crate::requirements::RequirementSet,
) -> Result<crate::report::diff::DiffReport, crate::diag::Error> {
    use crate::check::{cite, spaces};
    use crate::report::Role;
    use crate::report::diff::{DiffReport, SpaceChange, StatusChange, Verdicts};
    let (a, b) = (
        crate::check::check(old, site, reqs)?,
        crate::check::check(new, site, reqs)?,
    );
    let statuses = b
        .requirements
        .iter()
        .filter_map(|q| {
            let before = a
                .requirements
                .iter()
                .find(|p| p.id == q.id && p.option == q.option)?;
            (before.status != q.status).then(|| StatusChange {
                id: q.id.clone(),
                option: q.option.clone(),
                old: before.status,
                new: q.status,
            })
        })
        .collect();
    let bounded = changes(old, new);
    let spaces_compared = bounded.is_some();
    let c = bounded.unwrap_or_default();
    let names = spaces::names(site);
    let everything = PacketSet::universe();
    // Roles as in each version: the rule that dropped a newly accepted
    // piece blocked it, the one that accepts it now allows it; and the
    // other way round for a newly dropped piece.
    let show = |p: &Piece, before: Role, now: Role| SpaceChange {
        space: crate::space::render_within(&p.set, &everything, &names),
        witness: p.witness.describe(),
        old_rule: p
            .old_rule
            .map(|r| cite(old, r, crate::check::role_of(r, before))),
        new_rule: p
            .new_rule
            .map(|r| cite(new, r, crate::check::role_of(r, now))),
    };
    let input = |p: &Policy| crate::report::Input {
        file: p.files[0].path.clone(),
        format: p.format.name(),
    };
    Ok(DiffReport {
        schema: crate::report::diff::SCHEMA,
        old: input(old),
        new: input(new),
        verdict: Verdicts {
            old: a.verdict,
            new: b.verdict,
        },
        requirements: statuses,
        accepted: c
            .accepted
            .iter()
            .map(|p| show(p, Role::Blocking, Role::Allowing))
            .collect(),
        more_accepted: c.more_accepted,
        dropped: c
            .dropped
            .iter()
            .map(|p| show(p, Role::Allowing, Role::Blocking))
            .collect(),
        more_dropped: c.more_dropped,
        unknown: (!c.unknown.is_empty())
            .then(|| crate::space::render_within(&c.unknown, &everything, &names)),
        spaces_compared,
    })
}

//! Requirement checks: each requirement's packet space goes through the
//! symbolic evaluator, forward and back, and comes out as a status with
//! findings: the failing sub-spaces, the deciding rules, a witness packet and a
//! fix written by the policy's own front-end.

mod advisories;
mod findings;
pub mod flow;
pub mod spaces;
mod topology;

pub use findings::{cite, role_of};

use crate::eval::symbolic::{Budget, Evaluator};
use crate::model::Policy;
use crate::report::{
    DiallerOption, DiallerStatus, Input, OptionResult, OptionStatus, Report, RequirementResult,
    SiteView, Status, Verdict, Warning,
};
use crate::requirements::{Endpoint, Place, Requirement, RequirementSet, Severity};
use crate::site::{Mode, Site};
use crate::space::{Dim, Names, PacketSet};
use rayon::prelude::*;
use std::collections::HashMap;

/// The site as the policy's configuration completes it: interface names as
/// the rules spell them, the sides it leaves out inferred from a router's
/// interfaces and routes, and the addresses the export holds for names (in
/// sets the site says hold them) where the site gives none, as the set held
/// them when exported. Also the notes that say what was inferred.
pub fn complete_site(site: &Site, policy: &Policy) -> (Site, Vec<String>) {
    let (mut site, inferred) = topology::site(site, policy.topology.as_ref());
    for (name, addrs) in &policy.dns_addresses {
        if !addrs.is_empty() && !site.resolve.contains_key(name) {
            site.resolve.insert(name.clone(), addrs.clone());
        }
    }
    (site, inferred)
}

/// Checks a policy against a requirement set for one site.
pub fn check(
    policy: &Policy,
    site: &Site,
    reqs: &RequirementSet,
) -> Result<Report, crate::diag::Error> {
    let (site, inferred) = complete_site(site, policy);
    let site = &site;
    // Rules that match DNS names: exact where [resolve] gives their
    // addresses, and for each other name a policy in which its rules match
    // traffic addressed to it, whatever its addresses.
    let binding = |assumed| crate::model::NameBinding {
        resolved: &site.resolve,
        assumed,
    };
    let resolved = policy.bind_names(&binding(None));
    let policy = resolved.as_ref().unwrap_or(policy);
    // Found once: a scan of every rule, which a requirement would repeat.
    let dns_names = policy.dns_names();
    let assumed: Vec<(String, Policy)> = dns_names
        .iter()
        .copied()
        .filter(|n| !site.resolve.contains_key(*n))
        .filter_map(|n| Some((n.to_string(), policy.bind_names(&binding(Some(n)))?)))
        .collect();
    let names = spaces::names(site);
    let budget = Budget::new(CHECK_WORK, Some(CHECK_PIECES));
    let checker = Checker {
        policy,
        site,
        names: &names,
        dns_names: &dns_names,
        assumed: &assumed,
        budget: &budget,
    };

    // Egress options: the one the mode names, or every option in auto mode.
    let chosen: Vec<_> = match site.mode.option() {
        Some(id) => {
            let o = reqs.options.iter().find(|o| o.id == id).ok_or_else(|| {
                crate::diag::Error::Usage(format!(
                    "mode {id}: the requirement set has no option `{id}`"
                ))
            })?;
            vec![o]
        }
        None => reqs.options.iter().collect(),
    };
    // Every requirement the chosen options and ingress name, once each, and
    // the advisories: independent evaluations, run in parallel.
    let mut needed: Vec<&Requirement> = Vec::new();
    let ids = chosen.iter().flat_map(|o| &o.requirements);
    for r in ids
        .map(|id| {
            reqs.requirement(id)
                .expect("requirement sets are validated on load")
        })
        .chain(reqs.ingress())
    {
        if !needed.iter().any(|n| n.id == r.id) {
            needed.push(r);
        }
    }
    // Each with a work bound of its own, so that where one runs out does
    // not depend on how the threads went.
    let (evaluated, (advisories, advisory_cut)) = rayon::join(
        || {
            needed
                .par_iter()
                .map(|r| checker.bounded(|c| c.requirement(r)))
                .collect::<Vec<_>>()
        },
        || checker.advisories(),
    );
    let cut = evaluated.iter().find_map(|(_, cut)| *cut).or(advisory_cut);
    let mut results: HashMap<String, Evaluated> = needed
        .iter()
        .zip(evaluated)
        .map(|(r, (e, _))| (r.id.clone(), e))
        .collect();
    // How many rows show each requirement: the last takes its findings
    // rather than copy them (a ban list's finding cites thousands of rules).
    let mut uses: HashMap<&str, usize> = HashMap::new();
    let ingress_ids = reqs.ingress().map(|r| &r.id);
    for id in chosen
        .iter()
        .flat_map(|o| &o.requirements)
        .chain(ingress_ids)
    {
        *uses.entry(id.as_str()).or_default() += 1;
    }
    let mut row = |r: &Requirement, option: Option<&str>| {
        let left = uses.get_mut(r.id.as_str()).expect("counted above");
        *left -= 1;
        let e = results
            .get_mut(&r.id)
            .expect("every requirement named is evaluated");
        e.row(r, option, *left == 0)
    };
    let mut options = Vec::new();
    let mut requirement_rows = Vec::new();
    for o in chosen {
        let rows: Vec<RequirementResult> = o
            .requirements
            .iter()
            .map(|id| {
                let r = reqs
                    .requirement(id)
                    .expect("requirement sets are validated on load");
                row(r, Some(&o.id))
            })
            .collect();
        let counts = |pick: &dyn Fn(&RequirementResult) -> Status| -> Vec<(Severity, Status)> {
            rows.iter().map(|r| (r.severity, pick(r))).collect()
        };
        let status = option_status(&counts(&|r| r.status), site.strict, true);
        let diallers = site
            .diallers
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let own = counts(&|r| r.diallers[i].status);
                DiallerOption {
                    dialler: d.to_string(),
                    family: crate::space::Family::of(*d).name(),
                    status: option_status(&own, site.strict, true),
                    failing: own.iter().filter(|(_, s)| failing(*s)).count(),
                }
            })
            .collect();
        if site.mode != Mode::Auto && status == OptionStatus::Skipped {
            let mut why: Vec<&str> = Vec::new();
            for n in rows.iter().flat_map(|r| &r.notes) {
                if !why.contains(&n.as_str()) {
                    why.push(n);
                }
            }
            return Err(crate::diag::Error::Usage(format!(
                "mode {} cannot be evaluated: {}",
                o.id,
                why.join("; ")
            )));
        }
        options.push((
            OptionResult {
                option: o.id.clone(),
                holds: status == OptionStatus::Holds,
                status,
                summary: o.summary.clone(),
                failing: rows.iter().filter(|r| failing(r.status)).count(),
                diallers,
            },
            rows,
        ));
    }
    // The option closest to holding first (SPEC §4): by status, then fewest
    // failing requirements, then the smallest failing share; ties keep the data's order.
    options.sort_by(|(a, ra), (b, rb)| {
        let share =
            |o: &OptionResult, rows: &[RequirementResult]| o.failing * 1000 / rows.len().max(1);
        (a.status, a.failing, share(a, ra)).cmp(&(b.status, b.failing, share(b, rb)))
    });

    let ingress_rows: Vec<RequirementResult> = reqs.ingress().map(|r| row(r, None)).collect();
    // Each dialler address needs an option that holds for it (SPEC §4); an
    // address no option could be checked for (its family is not in the
    // export) does not count.
    let egress = (0..site.diallers.len())
        .filter_map(|i| {
            options
                .iter()
                .map(|(o, _)| o.diallers[i].status)
                .filter(|s| *s != OptionStatus::Skipped)
                .min()
        })
        .max()
        .unwrap_or(OptionStatus::Fails);
    let ingress = option_status(
        &ingress_rows
            .iter()
            .map(|r| (r.severity, r.status))
            .collect::<Vec<_>>(),
        site.strict,
        false,
    );
    let mut verdict = match egress.max(if ingress == OptionStatus::Skipped {
        OptionStatus::Holds
    } else {
        ingress
    }) {
        OptionStatus::Holds => Verdict::Compliant,
        OptionStatus::Unknown => Verdict::Unknown,
        _ => Verdict::NonCompliant,
    };
    let mut warnings = Vec::new();
    let options: Vec<OptionResult> = options
        .into_iter()
        .map(|(o, rows)| {
            requirement_rows.extend(rows);
            o
        })
        .collect();
    requirement_rows.extend(ingress_rows);
    let rules_of = |pick: fn(&Evaluated) -> &Vec<crate::model::RuleRef>| {
        let mut v: Vec<_> = results
            .values()
            .flat_map(|e| pick(e).iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for r in rules_of(|e| &e.broad_rules) {
        warnings.push(checker.broad_source_warning(r));
    }
    for r in rules_of(|e| &e.pinned_rules) {
        warnings.push(checker.pinned_address_warning(r));
    }
    warnings.extend(advisories);
    warnings.extend(checker.unreachable_chain_warnings());
    if policy.forward_path().is_empty() {
        warnings.push(Warning::plain(
            "no-forward-path",
            "no chain of this export is on the forward path (ingress, prerouting, forward, postrouting or egress hooks): it filters nothing that crosses this firewall, so every requirement holds here; the dialler's traffic may still meet a firewall this export does not describe".into(),
        ));
    }
    let v6 = crate::space::Family::Ipv6;
    if policy.families.contains(&v6)
        && !site
            .diallers
            .iter()
            .any(|d| crate::space::Family::of(*d) == v6)
    {
        warnings.push(Warning::plain(
            "no-dialler6",
            "the export filters IPv6 but no IPv6 address of the dialler is given, so no IPv6 requirement was checked: give it as dialler6 in octaverify.toml (or --dialler6) if the dialler has one".into(),
        ));
    }
    warnings.extend(
        inferred
            .into_iter()
            .map(|m| Warning::plain("interfaces-inferred", m)),
    );
    // What the front-end read but left out of the evaluation.
    warnings.extend(
        policy
            .notes
            .iter()
            .map(|n| Warning::plain("not-evaluated", n.clone())),
    );
    let i = &site.interfaces;
    let unpinned = i.lan.is_none() || i.wan.is_none() || i.management.is_none();
    if unpinned && results.values().any(|e| e.by_interface) {
        warnings.push(Warning::plain(
            "interfaces-unpinned",
            "some findings hold only for some interface names: the rules match on interfaces and the site does not say which ones the traffic uses; set lan, wan and management under [interfaces] in octaverify.toml (or --lan/--wan) to check just those".into(),
        ));
    }
    // `--strict`: an advisory is a failure.
    if site.strict && warnings.iter().any(|w| w.advisory) {
        verdict = Verdict::NonCompliant;
    }
    if let Some(r) = cut.or(budget.cut()) {
        return Err(too_complex(policy, r));
    }
    Ok(Report {
        schema: crate::report::SCHEMA,
        input: Input {
            file: policy.files[0].path.clone(),
            format: policy.format.name(),
        },
        verdict,
        site: SiteView {
            dialler: site.diallers.iter().map(|a| a.to_string()).collect(),
            management: site
                .management
                .iter()
                .map(|n| crate::space::dim::addr::written(*n))
                .collect(),
            dns_servers: site.dns_servers.iter().map(|a| a.to_string()).collect(),
            mode: site.mode.option().unwrap_or("auto").to_string(),
            strict: site.strict,
        },
        options,
        requirements: requirement_rows,
        warnings,
    })
}

/// Holds when every required requirement is allowed (advisory ones count only
/// when strict); unknown when none fails but some are unknown.
/// An egress option cannot be judged when one of its requirements is skipped;
/// the ingress group skips only what it cannot evaluate.
fn option_status(rows: &[(Severity, Status)], strict: bool, whole: bool) -> OptionStatus {
    let counted: Vec<Status> = rows
        .iter()
        .filter(|(severity, _)| strict || *severity == Severity::Required)
        .map(|&(_, s)| s)
        .collect();
    let skipped = |s: &Status| *s == Status::Skipped;
    if counted.is_empty() || counted.iter().all(skipped) || (whole && counted.iter().any(skipped)) {
        return OptionStatus::Skipped;
    }
    if counted
        .iter()
        .any(|s| matches!(s, Status::Blocked | Status::Partial))
    {
        OptionStatus::Fails
    } else if counted.contains(&Status::Unknown) {
        OptionStatus::Unknown
    } else {
        OptionStatus::Holds
    }
}

/// Whether a requirement counts against its option: not allowed, and checked.
fn failing(s: Status) -> bool {
    !matches!(s, Status::Allowed | Status::Skipped)
}

/// Allowed when every packet of `space` works, unknown when none fails for
/// sure, blocked when none works, else partial.
fn status_of(space: &PacketSet, works: &PacketSet, unknown: &PacketSet) -> Status {
    let failing = space.difference(works).difference(unknown);
    if failing.is_empty() && unknown.is_empty() {
        Status::Allowed
    } else if failing.is_empty() {
        Status::Unknown
    } else if works.is_empty() && unknown.is_empty() {
        Status::Blocked
    } else {
        Status::Partial
    }
}

/// A requirement's evaluation, shared by every option that lists it.
#[derive(Clone)]
struct Evaluated {
    status: Status,
    diallers: Vec<DiallerStatus>,
    findings: Vec<crate::report::Finding>,
    notes: Vec<String>,
    broad_rules: Vec<crate::model::RuleRef>,
    pinned_rules: Vec<crate::model::RuleRef>,
    /// Whether some finding holds only for some interface names.
    by_interface: bool,
}

impl Evaluated {
    /// The row of the requirement; the `last` row shown takes the findings.
    fn row(&mut self, r: &Requirement, option: Option<&str>, last: bool) -> RequirementResult {
        RequirementResult {
            id: r.id.clone(),
            option: option.map(str::to_string),
            summary: r.summary.clone(),
            severity: r.severity,
            status: self.status,
            diallers: self.diallers.clone(),
            findings: if last {
                std::mem::take(&mut self.findings)
            } else {
                self.findings.clone()
            },
            notes: self.notes.clone(),
        }
    }
}

/// The work the walks of one requirement or advisory may do (see
/// [`Budget`]): well beyond a real export's (the largest of a 1M-rule
/// kube-proxy dump takes about a quarter of it, of a 100k-line IOS list of
/// object groups a sixth), so that only an adversarial export, whose rules
/// cut the packet space into ever more pieces, stops it, in seconds.
const CHECK_WORK: usize = 30_000_000;

/// The most pieces a set the check walks may be in (a cube is 24 bytes and
/// its stored sets more): what keeps its memory bounded where few rules cut very finely.
const CHECK_PIECES: usize = 200_000;

/// The error of a check that ran out of work: where it stopped.
fn too_complex(policy: &Policy, r: crate::model::RuleRef) -> crate::diag::Error {
    policy
        .error_at(
            policy.rule(r).span,
            format!("too complex: the rules up to here cut the packet space into more pieces than a check follows ({CHECK_WORK} units of work)"),
            "expected rules that cut the packet space less finely",
        )
        .into()
}

#[derive(Clone, Copy)]
struct Checker<'a> {
    policy: &'a Policy,
    site: &'a Site,
    names: &'a Names,
    /// The DNS names rules match by ([`Policy::dns_names`]).
    dns_names: &'a [&'a str],
    /// For each DNS name the export matches but the site gives no addresses
    /// for, the policy with its rules taken to match traffic to that name.
    assumed: &'a [(String, Policy)],
    /// The work bound of its walks: each requirement and advisory has one
    /// of its own (see [`Checker::bounded`]), this one the walks outside them.
    budget: &'a Budget,
}

impl Checker<'_> {
    /// An evaluator of the checker's policy (cheap: it holds a reference),
    /// taking runs of rules in one step: every finding of the check names
    /// a run's rules from its decisions ([`crate::eval::symbolic::Decision::rules`]).
    fn ev(&self) -> Evaluator<'_> {
        Evaluator::new(self.policy).within(self.budget).by_runs()
    }

    /// `f` on this checker with a work bound of its own, and where the
    /// bound ran out, if it did.
    fn bounded<T>(&self, f: impl FnOnce(&Checker<'_>) -> T) -> (T, Option<crate::model::RuleRef>) {
        let budget = Budget::new(CHECK_WORK, Some(CHECK_PIECES));
        let out = f(&Checker {
            budget: &budget,
            ..*self
        });
        (out, budget.cut())
    }

    /// A part's result, evaluated in the policy its destination calls for.
    /// For a name without addresses, what fails only for some addresses it
    /// might resolve to is unknown, not failing.
    fn evaluate(&self, part: &spaces::Part) -> findings::PartResult {
        let Some((name, policy)) = part
            .assumed
            .as_ref()
            .and_then(|n| self.assumed.iter().find(|(m, _)| m == n))
        else {
            return self.part(part);
        };
        let names = spaces::names_for(self.site, name);
        let by_name = Checker {
            policy,
            site: self.site,
            names: &names,
            dns_names: self.dns_names,
            assumed: &[],
            budget: self.budget,
        };
        let mut res = by_name.part(part);
        for f in &mut res.findings {
            f.name = Some(name.clone());
        }
        // Which literal addresses are the name's is not known here.
        res.pinned_rules.clear();
        let failing = part.space.difference(&res.works).difference(&res.unknown);
        let everywhere = part.space.values(Dim::Dst);
        if !failing.is_empty() && failing.values(Dim::Dst) != everywhere {
            let at = crate::space::render_within(&failing, &part.space, &names);
            let reason = format!(
                "the addresses of {name}, which the export matches by name: this fails if it resolves to an address of {at}; list its addresses under [resolve] to decide"
            );
            for f in &mut res.findings {
                f.depends_on(&reason);
            }
            res.unknown = res.unknown.union(&failing);
        }
        res
    }

    fn requirement(&self, r: &Requirement) -> Evaluated {
        let (mut parts, mut notes) =
            spaces::build(r, self.site, &self.policy.families, self.dns_names);
        let outward = r.from == Endpoint::Named(Place::Dialler);
        if self.policy.unbound && !outward && !parts.is_empty() {
            parts.clear();
            notes.push("not checked: the export binds no list to an interface, so none is known to stand on the management PCs' path".into());
        }
        // Traffic within the dialler's own subnet never meets the router: it
        // works, whatever the rules say.
        let mut works = PacketSet::empty();
        let mut local_of = Vec::with_capacity(parts.len());
        for part in &mut parts {
            let local = topology::local(
                &part.space,
                part.dialler,
                self.policy.topology.as_ref(),
                outward,
            );
            if !local.is_empty() {
                notes.push(format!(
                    "{} does not cross this firewall (the dialler's own subnet)",
                    crate::space::render_within(&local, &part.space, self.names)
                ));
                part.space = part.space.difference(&local);
                works = works.union(&local);
            }
            local_of.push(local);
        }
        // Each address's own status; an address with no part was not checked.
        let mut diallers: Vec<DiallerStatus> = self
            .site
            .diallers
            .iter()
            .map(|&d| DiallerStatus {
                dialler: d.to_string(),
                family: crate::space::Family::of(d).name(),
                status: Status::Skipped,
            })
            .collect();
        if parts.is_empty() {
            return Evaluated {
                status: Status::Skipped,
                diallers,
                findings: Vec::new(),
                notes,
                broad_rules: Vec::new(),
                pinned_rules: Vec::new(),
                by_interface: false,
            };
        }
        let mut space = works.clone();
        let mut unknown = PacketSet::empty();
        let mut found = Vec::new();
        let mut broad_rules = Vec::new();
        let mut pinned_rules = Vec::new();
        // Per address: its space, what works and what is unknown.
        let mut own: Vec<Option<(PacketSet, PacketSet, PacketSet)>> =
            vec![None; self.site.diallers.len()];
        for (part, local) in parts.iter().zip(&local_of) {
            let (mut s, mut w, mut u) = (local.clone(), local.clone(), PacketSet::empty());
            if !part.space.is_empty() {
                let res = self.evaluate(part);
                s = s.union(&part.space);
                w = w.union(&res.works);
                u = res.unknown;
                found.extend(res.findings.into_iter().map(|f| (part.dialler, f)));
                if outward {
                    broad_rules.extend(res.broad_rules);
                    pinned_rules.extend(res.pinned_rules);
                }
            }
            space = space.union(&s);
            works = works.union(&w);
            unknown = unknown.union(&u);
            let i = self
                .site
                .diallers
                .iter()
                .position(|&d| d == part.dialler)
                .expect("parts are built from the site's diallers");
            own[i] = Some(match own[i].take() {
                None => (s, w, u),
                Some((s0, w0, u0)) => (s0.union(&s), w0.union(&w), u0.union(&u)),
            });
        }
        for (d, sums) in diallers.iter_mut().zip(own) {
            if let Some((s, w, u)) = sums {
                d.status = status_of(&s, &w, &u);
            }
        }
        let status = status_of(&space, &works, &unknown);
        let by_interface = found.iter().any(|(_, f)| f.depends_on_interfaces());
        // Fixes are written together: entries for one place get distinct numbers.
        let suggestions: Vec<&crate::model::Suggestion> =
            found.iter().flat_map(|(_, f)| &f.fixes).collect();
        let mut texts = crate::frontend::write_fixes(self.policy, &suggestions).into_iter();
        let findings = found
            .iter()
            .map(|(d, f)| {
                let fix: Vec<String> = texts.by_ref().take(f.fixes.len()).collect();
                self.render_finding(*d, f, &fix)
            })
            .collect();
        Evaluated {
            status,
            diallers,
            findings,
            notes,
            broad_rules,
            pinned_rules,
            by_interface,
        }
    }
}

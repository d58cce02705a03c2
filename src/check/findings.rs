//! One requirement part through the firewall and back, and what fails in it.

use super::Checker;
use super::flow;
use super::spaces::Part;
use crate::eval::Verdict;
use crate::eval::symbolic::{Decision, Outcome};
use crate::model::{Action, ChainId, Hook, Policy, RuleKind, RuleRef, Suggestion};
use crate::report::{self, FindingKind, Role, RuleCite, Warning};
use crate::space::dim::{TcpFlag, addr, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet, State, render_within};

/// NAT chains at this priority translate replies back (nftables `dstnat`,
/// iptables nat PREROUTING); earlier prerouting chains still see the reply
/// addressed to the translated address.
const DSTNAT_PRIORITY: i32 = -100;

/// A failing part of a requirement, before rendering.
pub(super) struct RawFinding {
    kind: FindingKind,
    set: PacketSet,
    /// The requirement traffic the set is part of, for rendering.
    context: PacketSet,
    rules: Vec<(RuleRef, Role)>,
    pub(super) fixes: Vec<Suggestion>,
    reason: Option<String>,
    /// The DNS name the traffic's destination stands for, where the site
    /// gives no addresses for it (the internet then reads as that name).
    pub(super) name: Option<String>,
}

impl RawFinding {
    /// The finding holds only for some addresses a DNS name may resolve to.
    pub(super) fn depends_on(&mut self, reason: &str) {
        if self.kind != FindingKind::Unknown {
            self.kind = FindingKind::Unknown;
            self.reason = Some(reason.to_string());
        }
    }

    /// Whether the failing set singles out some interface names among those
    /// the requirement's traffic may use.
    pub(super) fn depends_on_interfaces(&self) -> bool {
        self.set.cubes().iter().any(|c| {
            let k = self.context.cubes().iter().find(|k| c.is_subset(k));
            k.is_some_and(|k| {
                c.get(Dim::In) != k.get(Dim::In) || c.get(Dim::Out) != k.get(Dim::Out)
            })
        })
    }
}

pub(super) struct PartResult {
    pub works: PacketSet,
    pub unknown: PacketSet,
    pub findings: Vec<RawFinding>,
    /// Rules that accept the dialler's traffic with a broader source.
    pub broad_rules: Vec<RuleRef>,
    /// Rules that accept traffic for DNS names by address.
    pub pinned_rules: Vec<RuleRef>,
}

/// Reply packets whose fate is unknown for a reason no rule carries.
struct LooseUnknown {
    set: PacketSet,
    rule: RuleRef,
    reason: String,
}

/// The fate of the replies.
struct Replies {
    outcome: Outcome,
    loose: Vec<LooseUnknown>,
    /// Rules that saw replies still addressed to a source-NAT address, and that address.
    translated: Vec<(RuleRef, IntervalSet)>,
}

impl Checker<'_> {
    pub(super) fn part(&self, part: &Part) -> PartResult {
        let fwd = self.ev().forward(&part.space);
        let fwd_ok = fwd.accepted();
        let Replies {
            outcome: rep,
            loose,
            translated,
        } = self.replies(&fwd, &fwd_ok, part);
        // Replies were evaluated for accepted packets only, so this is within `fwd_ok`.
        let works = flow::requests(&rep.accepted());
        let mut unknown = fwd.unknown().intersect(&part.space);
        unknown = unknown.union(&flow::requests(&rep.unknown()));
        for l in &loose {
            unknown = unknown.union(&l.set);
        }
        let mut findings = Vec::new();
        for d in fwd.dropped() {
            findings.push(self.forward_finding(d, part));
        }
        // Replies that rules of one chain drop make one finding: one accept
        // above the first of them lets them all through (a ban list drops
        // the replies of each banned address by a rule of its own). They are
        // gathered as replies and mapped back to their requests once a group
        // is whole, not once per part.
        let mut blocked: Vec<(Option<&IntervalSet>, Vec<Cube>, Vec<RuleRef>)> = Vec::new();
        for d in rep.dropped() {
            if !unknown.is_empty() && flow::requests(&d.set).difference(&unknown).is_empty() {
                continue;
            }
            let seen_dst = translated
                .iter()
                .find(|(r, _)| *r == d.rule())
                .map(|(_, d)| d);
            let group = blocked
                .iter_mut()
                .find(|(dst, _, rules)| rules[0].chain == d.rule().chain && *dst == seen_dst);
            let rules = d.rules(self.policy);
            match group {
                Some((_, cubes, all)) => {
                    cubes.extend(d.set.into_cubes());
                    all.extend(rules);
                }
                None => blocked.push((seen_dst, d.set.into_cubes(), rules)),
            }
        }
        for (seen_dst, cubes, rules) in blocked {
            let set = flow::requests(&PacketSet::from_pieces(cubes)).difference(&unknown);
            findings.push(self.reply_finding(set, rules, part, seen_dst));
        }
        findings.extend(self.unknown_findings(&unknown, &part.space, &fwd, &rep, loose));
        PartResult {
            broad_rules: self.broad_rules(&fwd, &works, part),
            pinned_rules: self.pinned_rules(&fwd, &works, part),
            works,
            unknown,
            findings,
        }
    }

    /// Evaluates the replies of the accepted packets, minding source NAT: a
    /// reply reaches the prerouting chains before `dstnat` still addressed to
    /// the translated address.
    fn replies(&self, fwd: &Outcome, fwd_ok: &PacketSet, part: &Part) -> Replies {
        let path = self.policy.forward_path();
        let (early, late): (Vec<ChainId>, Vec<ChainId>) = path.iter().partition(|&&c| {
            let b = self.policy.chains[c]
                .base
                .as_ref()
                .expect("path chains are base chains");
            b.hook == Hook::Ingress || (b.hook == Hook::Prerouting && b.priority < DSTNAT_PRIORITY)
        });
        let mut out = Outcome::default();
        let mut loose = Vec::new();
        // Rules that saw replies addressed to a translated address, and that address.
        let mut seen_translated = Vec::new();
        let mut rest = fwd_ok.clone();
        for tr in &fwd.translations {
            let natted = rest.intersect(&tr.set);
            if natted.is_empty() {
                continue;
            }
            rest = rest.difference(&natted);
            let wan = self
                .site
                .interfaces
                .wan_address
                .filter(|a| crate::space::Family::of(*a) == part.family);
            let to = tr
                .to
                .clone()
                .or_else(|| wan.map(|a| IntervalSet::point(addr::value(a))));
            let translated_dst = to
                .clone()
                .unwrap_or_else(|| IntervalSet::range(0, part.family.addr_max()));
            // One reply cube at a time, so that each maps back to its own
            // original destination (the dialler, or the management PCs).
            for c in flow::replies(&natted).cubes() {
                let reply = PacketSet::from(c.clone());
                let original = c.get(Dim::Dst).clone();
                let translated = with_dim(&reply, Dim::Dst, &translated_dst);
                let back = |s: &PacketSet| with_dim(s, Dim::Dst, &original);
                // Rule by rule: its decisions are mapped back to the
                // original address, where a run's could no longer say
                // which of its rules (by that address) decided them.
                let e = crate::eval::symbolic::Evaluator::new(self.policy)
                    .within(self.budget)
                    .path(&translated, &early);
                out.uncertain |= e.uncertain;
                seen_translated.extend(
                    e.decisions
                        .iter()
                        .map(|d| (d.rule(), translated_dst.clone())),
                );
                let passed = if translated_dst.is_single().is_some() {
                    for d in &e.decisions {
                        out.decisions.push(d.with_set(back(&d.set)));
                    }
                    back(&e.reached_end)
                } else {
                    // The reply address is one of several (or unknown): a part fails
                    // for sure only when it fails whatever the address.
                    let failing = translated.difference(&e.accepted());
                    let mut certain = PacketSet::empty();
                    for d in e.dropped() {
                        let whole: Vec<Cube> = d
                            .set
                            .cubes()
                            .iter()
                            .filter(|c| *c.get(Dim::Dst) == translated_dst)
                            .cloned()
                            .collect();
                        let whole = PacketSet::from_disjoint(whole);
                        if !whole.is_empty() {
                            certain = certain.union(&whole);
                            out.decisions.push(d.with_set(back(&whole)));
                        }
                    }
                    let doubtful = back(&failing.difference(&certain)).difference(&back(&certain));
                    if !doubtful.is_empty() {
                        let reason = match &tr.to {
                            None => "replies come back to the MASQUERADE address, which the export does not give (set wan_address under [interfaces])".to_string(),
                            Some(_) => "replies come back to one of several SNAT addresses, and rules before nat PREROUTING treat them differently".to_string(),
                        };
                        let set = flow::requests(&doubtful);
                        // One finding per rule and reason, however many cubes.
                        match loose
                            .iter_mut()
                            .find(|l: &&mut LooseUnknown| l.rule == tr.rule && l.reason == reason)
                        {
                            Some(l) => l.set = l.set.union(&set),
                            None => loose.push(LooseUnknown {
                                set,
                                rule: tr.rule,
                                reason,
                            }),
                        }
                    }
                    reply.difference(&back(&failing))
                };
                out.extend(self.ev().path(&passed, &late));
            }
        }
        out.extend(self.ev().forward(&flow::replies(&rest)));
        Replies {
            outcome: out,
            loose,
            translated: seen_translated,
        }
    }

    /// The packets one decision drops (a run's: one finding, every rule
    /// of it that drops some of them cited, and the fix above the first).
    fn forward_finding(&self, d: Decision, part: &Part) -> RawFinding {
        let mut rules: Vec<(RuleRef, Role)> = d
            .rules(self.policy)
            .into_iter()
            .map(|r| (r, role_of(r, Role::Blocking)))
            .collect();
        let rule = rules[0].0;
        let kind = match self.later_accept(&d) {
            Some(allowing) => {
                rules.push((allowing, Role::Allowing));
                FindingKind::Shadowed
            }
            None => FindingKind::Missing,
        };
        let fixes = part
            .fix_cores
            .iter()
            .filter(|core| d.set.intersects(&PacketSet::from((*core).clone())))
            .map(|core| self.suggestion(rule, core.clone()))
            .collect();
        RawFinding {
            kind,
            set: d.set,
            context: part.space.clone(),
            rules,
            fixes,
            reason: None,
            name: None,
        }
    }

    /// `rules`: the rules of one chain that drop the replies, in the order
    /// met; `seen_dst`: the address they saw the replies go to, when source
    /// NAT had not yet been undone there. The fix goes above the first of
    /// them (a policy comes after every rule).
    fn reply_finding(
        &self,
        set: PacketSet,
        mut rules: Vec<RuleRef>,
        part: &Part,
        seen_dst: Option<&IntervalSet>,
    ) -> RawFinding {
        rules.sort_by_key(|r| r.index.map_or(usize::MAX, |i| i));
        let rule = rules[0];
        // Accept what conntrack knows to belong to the dialler's connections;
        // before conntrack runs, accept by the address the replies carry there.
        let mut core = crate::space::Cube::family(part.family)
            .with(Dim::Dst, seen_dst.unwrap_or(&part.sources).clone())
            .expect("not empty");
        if self.policy.before_conntrack(rule.chain) {
            core = stateless_reply(core, &set);
        } else {
            let established = IntervalSet::from_ranges(vec![(State::ESTABLISHED, State::RELATED)]);
            core = core.with(Dim::State, established).expect("not empty");
        }
        for (dim, name) in [(Dim::In, &part.wan), (Dim::Out, &part.lan)] {
            if let Some(n) = name {
                core = core
                    .with(dim, IntervalSet::point(crate::space::dim::iface::encode(n)))
                    .expect("a point");
            }
        }
        RawFinding {
            kind: FindingKind::ReplyBlocked,
            set,
            context: part.space.clone(),
            rules: rules
                .iter()
                .map(|&r| (r, role_of(r, Role::Blocking)))
                .collect(),
            fixes: vec![self.suggestion(rule, core)],
            reason: None,
            name: None,
        }
    }

    /// The rule that would accept part of what `d` drops if its rule (or
    /// run) were not there: the policy evaluated again without it says, so
    /// the answer follows the packets' real path through jumps and returns.
    /// It is asked for one packet of each of the set's first cubes: a
    /// fragmented set would make a whole evaluation per finding costly, and
    /// one accepted packet is proof enough that an accepting rule is shadowed.
    fn later_accept(&self, d: &Decision) -> Option<RuleRef> {
        const PROBES: usize = 16;
        d.rule().index?;
        let probe = PacketSet::from_cubes(
            d.set
                .cubes()
                .iter()
                .take(PROBES)
                .map(|c| Cube::point(&c.witness())),
        );
        let without = crate::eval::symbolic::Evaluator::without_decider(self.policy, d)
            .within(self.budget)
            .forward(&probe);
        let accepted = without.accepted();
        without.decisions.iter().find_map(|d| {
            let explicit = d.verdict == Verdict::Accept && d.rule().index.is_some();
            (explicit && d.set.intersects(&accepted)).then_some(d.rule())
        })
    }

    /// An accept rule for `core` before `rule` (or at the end of the chain, for a policy).
    fn suggestion(&self, rule: RuleRef, core: Cube) -> Suggestion {
        let position = rule
            .index
            .unwrap_or(self.policy.chains[rule.chain].rules.len());
        Suggestion {
            chain: rule.chain,
            position,
            matches: core,
            action: Action::Accept,
        }
    }

    /// Attributes unknown packets to the rules whose unmodelled parts they met.
    fn unknown_findings(
        &self,
        unknown: &PacketSet,
        context: &PacketSet,
        fwd: &Outcome,
        rep: &Outcome,
        loose: Vec<LooseUnknown>,
    ) -> Vec<RawFinding> {
        let mut left = unknown.clone();
        let mut out = Vec::new();
        // Replies are mapped back to their requests only where a rule's
        // unmodelled part decides them (a ban list drops many).
        let why = |d: &Decision| self.policy.rule(d.rule()).unknown_reason();
        let forward = fwd.decisions.iter().filter_map(|d| {
            let reason = why(d)?;
            Some((d.set.clone(), d.rule(), reason.to_string()))
        });
        let backward = rep.decisions.iter().filter_map(|d| {
            let reason = why(d)?;
            Some((flow::requests(&d.set), d.rule(), reason.to_string()))
        });
        let mut candidates: Vec<(PacketSet, RuleRef, String)> = forward.chain(backward).collect();
        candidates.extend(loose.into_iter().map(|l| (l.set, l.rule, l.reason)));
        for (set, rule, reason) in candidates {
            let part = left.intersect(&set);
            if part.is_empty() {
                continue;
            }
            left = left.difference(&part);
            out.push(RawFinding {
                kind: FindingKind::Unknown,
                set: part,
                context: context.clone(),
                rules: vec![(rule, Role::Unmodelled)],
                fixes: Vec::new(),
                reason: Some(reason),
                name: None,
            });
        }
        out
    }

    /// Explicit accept rules that take some of the part's working traffic and
    /// whose written `dim` addresses, in the part's family, `flag` picks out
    /// (a rule that writes no address there matches every address).
    fn accepting_rules(
        &self,
        fwd: &Outcome,
        works: &PacketSet,
        part: &Part,
        dim: Dim,
        flag: impl Fn(&IntervalSet) -> bool,
    ) -> Vec<RuleRef> {
        let any = IntervalSet::range(0, part.family.addr_max());
        fwd.decisions
            .iter()
            .filter(|d| d.verdict == Verdict::Accept && d.set.intersects(works))
            .flat_map(|d| d.parts(self.policy))
            .filter(|(rule, set)| {
                let r = self.policy.rule(*rule);
                r.kind() == RuleKind::Rule
                    && r.action == Action::Accept
                    && set.intersects(works)
                    && r.matches.cubes().iter().any(|c| {
                        let a = c.get(dim);
                        c.get(Dim::Family).contains(part.family as u128) && *a != any && flag(a)
                    })
            })
            .map(|(rule, _)| rule)
            .collect()
    }

    /// Accept rules with a written source broader than the dialler (a rule
    /// with no source at all is a general rule, not a mistaken dialler
    /// address); the site's other diallers do not count, as one rule may
    /// serve them all.
    fn broad_rules(&self, fwd: &Outcome, works: &PacketSet, part: &Part) -> Vec<RuleRef> {
        let diallers = super::spaces::diallers(self.site, part.family).union(&part.sources);
        self.accepting_rules(fwd, works, part, Dim::Src, |s| !s.is_subset(&diallers))
    }

    /// Accept rules that let traffic meant for DNS names through by written
    /// destination addresses (a rule open to the whole internet pins nothing).
    fn pinned_rules(&self, fwd: &Outcome, works: &PacketSet, part: &Part) -> Vec<RuleRef> {
        if !part.by_name {
            return Vec::new();
        }
        let internet = super::spaces::internet(part.family, crate::site::Internet::Global);
        let mut rules =
            self.accepting_rules(fwd, works, part, Dim::Dst, |d| !internet.is_subset(d));
        // A rule that names the servers by DNS name is what the vendor asks for.
        rules.retain(|&r| {
            self.policy
                .rule(r)
                .by_name()
                .is_none_or(|b| b.sides.iter().all(|s| s.dim != Dim::Dst))
        });
        rules
    }

    /// The addresses a rule writes in `dim`, in the family of its first cube
    /// that writes some (an `inet` rule has cubes of both families).
    fn written_addresses(&self, r: RuleRef, dim: Dim) -> String {
        let rule = self.policy.rule(r);
        let matches = &rule.matches;
        let family_of = |c: &Cube| {
            c.get(Dim::Family)
                .min()
                .map_or(Family::Ipv4, Family::from_value)
        };
        let family = matches
            .cubes()
            .iter()
            .find(|c| *c.get(dim) != IntervalSet::range(0, family_of(c).addr_max()))
            .map_or(Family::Ipv4, family_of);
        let addrs = matches
            .clone()
            .restrict(Dim::Family, &IntervalSet::point(family as u128))
            .values(dim);
        crate::space::render::addresses(&addrs, family)
    }

    pub(super) fn broad_source_warning(&self, r: RuleRef) -> Warning {
        Warning {
            id: "broad-source",
            message: format!(
                "line {} accepts the dialler's traffic with source {}, broader than the dialler itself: other hosts get the same access (the vendor's examples write 192.168.1.10/24, which is the whole 192.168.1.0/24); write the dialler's address as a /32",
                self.policy.rule(r).span.line,
                self.written_addresses(r, Dim::Src),
            ),
            rules: vec![cite(self.policy, r, Role::Allowing)],
            advisory: true,
        }
    }

    pub(super) fn pinned_address_warning(&self, r: RuleRef) -> Warning {
        Warning {
            id: "pinned-address",
            message: format!(
                "line {} lets the dialler reach the Octalarm servers by address ({}), not by name: the vendor warns that these addresses change, and the rule then blocks the dialler; match the DNS names where the firewall can (ASA fqdn objects, a set a resolver keeps filled), or keep these addresses in step with [resolve]",
                self.policy.rule(r).span.line,
                self.written_addresses(r, Dim::Dst),
            ),
            rules: vec![cite(self.policy, r, Role::Allowing)],
            advisory: true,
        }
    }

    pub(super) fn unreachable_chain_warnings(&self) -> Vec<Warning> {
        let reached = crate::graph::reachable(self.policy);
        self.policy
            .chains
            .iter()
            .zip(reached)
            .filter(|(c, seen)| !seen && !c.rules.is_empty())
            .map(|(c, _)| {
                Warning::plain(
                    "unreachable-chain",
                    format!(
                        "chain {} of table {} is never jumped to, so its {} rules never apply",
                        c.name,
                        c.table,
                        c.rules.len()
                    ),
                )
            })
            .collect()
    }

    /// A finding for the report, with its fixes already written.
    pub(super) fn render_finding(
        &self,
        dialler: std::net::IpAddr,
        f: &RawFinding,
        fix: &[String],
    ) -> report::Finding {
        // In the order the packets meet them (the blocking rule before the
        // one it shadows), which is not always the file's order (`-I`,
        // `insert rule`, chains of several files).
        let rules: Vec<RuleCite> = f
            .rules
            .iter()
            .map(|&(r, role)| cite(self.policy, r, role))
            .collect();

        let named = f
            .name
            .as_deref()
            .map(|n| super::spaces::names_for(self.site, n));
        report::Finding {
            kind: f.kind,
            dialler: dialler.to_string(),
            space: render_within(&f.set, &f.context, named.as_ref().unwrap_or(self.names)),
            witness: f
                .set
                .witness()
                .expect("findings are never empty")
                .describe(),
            rules,
            fix: (!fix.is_empty()).then(|| fix.join("\n")),
            reason: f.reason.clone(),
        }
    }
}

/// A set with one dimension replaced in every cube.
fn with_dim(s: &PacketSet, d: Dim, v: &IntervalSet) -> PacketSet {
    s.map_cubes(|c| c.clone().with(d, v.clone()))
}

/// A chain's policy cites as the policy; a rule in the role it plays.
pub fn role_of(r: RuleRef, rule_role: Role) -> Role {
    if r.index.is_none() {
        Role::Policy
    } else {
        rule_role
    }
}

/// A rule as reports cite it: file, line, text, chain and the part it plays.
pub fn cite(policy: &Policy, r: RuleRef, role: Role) -> RuleCite {
    let rule = policy.rule(r);
    let chain = &policy.chains[r.chain];
    RuleCite {
        file: policy.file_path(rule.span).to_string(),
        line: rule.span.line,
        text: policy.text(rule.span).trim().to_string(),
        role,
        chain: [&*chain.table, &chain.name].join(" "),
        written: rule.written().map(|w| policy.text(w).trim().to_string()),
    }
}

/// Narrows a reply fix for a chain that keeps no state (before conntrack, or
/// a stateless ACL) to the replies themselves: their protocol, the ports and
/// peers the dialler's packets went to, TCP segments with ACK or RST set,
/// ICMP echo replies. Accepting every packet to the dialler would open it.
fn stateless_reply(mut core: Cube, forward: &PacketSet) -> Cube {
    let protos = forward.values(Dim::Proto);
    if let Some(p) = protos.is_single() {
        let p = p as u8;
        core = core.with(Dim::Proto, protos).expect("not empty");
        match p {
            proto::TCP | proto::UDP => {
                core = core
                    .with(Dim::Sport, forward.values(Dim::Dport))
                    .expect("not empty");
                if p == proto::TCP {
                    let ack_or_rst = IntervalSet::from_ranges(
                        (0u8..=255)
                            .filter(|v| v & (TcpFlag::ACK | TcpFlag::RST) != 0)
                            .map(|v| (v as u128, v as u128))
                            .collect(),
                    );
                    core = core.with(Dim::Flags, ack_or_rst).expect("not empty");
                }
            }
            // The replies' own ICMP types: echo replies for echo requests.
            proto::ICMP | proto::ICMPV6 => {
                let types = flow::replies(forward).values(Dim::Icmp);
                core = core.with(Dim::Icmp, types).expect("not empty");
            }
            _ => {}
        }
    }
    // A few peers (DNS servers, management PCs) are named; the internet is not.
    let peers = forward.values(Dim::Dst);
    if peers.ranges().len() <= 4 {
        core = core.with(Dim::Src, peers).expect("not empty");
    }
    core
}

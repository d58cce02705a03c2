//! Gives meaning to a parsed iptables-save file: replays its table blocks as
//! iptables-restore would, then lowers every rule into the policy model.

use super::ast::*;
use crate::diag::InputError;
use crate::model::{
    Action, BaseChain, Chain, ChainKind, Format, Hook, Policy, Rule, RuleKind, Span,
};
use crate::space::dim::{Dim, Family, addr, iface};
use crate::space::{Cube, IntervalSet, PacketSet};
use std::collections::HashMap;
use std::net::IpAddr;

/// The built-in chains of a table: name, hook, priority, kind.
fn builtins(table: &str) -> &'static [(&'static str, Hook, i32, ChainKind)] {
    use ChainKind::*;
    use Hook::*;
    match table {
        "raw" => &[
            ("PREROUTING", Prerouting, -300, Filter),
            ("OUTPUT", Output, -300, Filter),
        ],
        "mangle" => &[
            ("PREROUTING", Prerouting, -150, Filter),
            ("INPUT", Input, -150, Filter),
            ("FORWARD", Forward, -150, Filter),
            ("OUTPUT", Output, -150, Filter),
            ("POSTROUTING", Postrouting, -150, Filter),
        ],
        "nat" => &[
            ("PREROUTING", Prerouting, -100, Opening),
            ("INPUT", Input, 100, Opening),
            ("OUTPUT", Output, -100, Opening),
            ("POSTROUTING", Postrouting, 100, Opening),
        ],
        "filter" => &[
            ("INPUT", Input, 0, Filter),
            ("FORWARD", Forward, 0, Filter),
            ("OUTPUT", Output, 0, Filter),
        ],
        "security" => &[
            ("INPUT", Input, 50, Filter),
            ("FORWARD", Forward, 50, Filter),
            ("OUTPUT", Output, 50, Filter),
        ],
        _ => &[],
    }
}

struct DraftChain<'a> {
    name: &'a str,
    builtin: bool,
    /// ACCEPT or DROP, and the line that set it.
    policy: Option<(bool, Span)>,
    rules: Vec<DraftRule<'a>>,
    span: Span,
}

/// A rule checked and lowered but for its jump target, which is named until
/// the table is complete (and its conditions, which the policy lowers again
/// when an evaluation first needs them).
struct DraftRule<'a> {
    action: Result<Action, Target<'a>>,
    opaque: Option<String>,
    span: Span,
}

struct DraftTable<'a> {
    name: &'a str,
    chains: Vec<DraftChain<'a>>,
    /// Position of each chain in `chains`, so a rule finds its chain in O(1).
    index: HashMap<&'a str, usize>,
    opened: Span,
}

impl<'a> DraftTable<'a> {
    fn get_mut(&mut self, name: &str) -> Option<&mut DraftChain<'a>> {
        self.index.get(name).map(|&i| &mut self.chains[i])
    }

    fn add(&mut self, c: DraftChain<'a>) {
        self.index.insert(c.name, self.chains.len());
        self.chains.push(c);
    }

    /// Keeps the chains `keep` says to keep (deletions are rare: the index is rebuilt).
    fn retain(&mut self, keep: impl Fn(&DraftChain<'a>) -> bool) {
        self.chains.retain(keep);
        self.index = self
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, i))
            .collect();
    }
}

struct Lowerer<'s, 'a> {
    src: Source<'s, 'a>,
    family: Family,
}

/// Reads the file into a policy (without the file itself, which the caller
/// moves in). Lines are parsed, checked and replayed one at a time, so the
/// syntax of a large file is never held whole.
pub fn lower(path: &str, text: &str) -> Result<Policy, InputError> {
    let family = detect_family(path, text);
    let l = Lowerer {
        src: Source { path, text },
        family,
    };
    let tables = l.replay()?;
    l.build(tables)
}

/// IPv6 when the header says ip6tables-save or the first address or ICMP
/// version in the rules is IPv6; otherwise IPv4.
fn detect_family(path: &str, text: &str) -> Family {
    let head = &text[..text.floor_char_boundary(4096)];
    if head.contains("ip6tables-save") || head.contains("ip6tables-restore") {
        return Family::Ipv6;
    }
    if head.contains("iptables-save") {
        return Family::Ipv4;
    }
    let mut found = None;
    // A parse error here is reported by the real pass; this one just stops.
    let _ = super::parse::for_each_line(path, text, |line| {
        if let LineKind::Rule { spec, .. } = &line.kind {
            found = spec.matches.iter().find_map(|m| match &m.cond {
                Cond::Src(n) | Cond::Dst(n) => Some(Family::of(n[0].addr())),
                Cond::SrcRange(r) | Cond::DstRange(r) => Some(Family::of(r.lo)),
                Cond::Proto(Some(58)) => Some(Family::Ipv6),
                _ => None,
            });
        }
        Ok(found.is_none())
    });
    found.unwrap_or(if path.ends_with(".v6") || path.contains("ip6") {
        Family::Ipv6
    } else {
        Family::Ipv4
    })
}

/// What the policy calls to lower a rule's conditions when first needed.
#[derive(Debug)]
pub struct Conditions {
    pub family: Family,
}

impl crate::model::Matcher for Conditions {
    fn matches(&self, line: &str, chain: &Chain) -> PacketSet {
        let spec = super::parse::rule_spec(line).expect("a rule line that parsed when loaded");
        let l = Lowerer {
            src: Source {
                path: "",
                text: line,
            },
            family: self.family,
        };
        let (set, _) = l
            .conditions(&spec)
            .expect("conditions that lowered when loaded");
        if chain.table == "raw" {
            crate::model::before_conntrack(&set)
        } else {
            set
        }
    }
}

impl<'s, 'a> Lowerer<'s, 'a> {
    fn span(line: &Line<'_>) -> Span {
        Span {
            file: 0,
            line: line.number,
            start: line.start,
            end: line.end,
        }
    }

    /// Replays the commands of each table block, as iptables-restore does.
    fn replay(&self) -> Result<Vec<DraftTable<'a>>, InputError> {
        let mut done: Vec<DraftTable<'a>> = Vec::new();
        let mut open: Option<DraftTable<'a>> = None;
        super::parse::for_each_line(self.src.path, self.src.text, |line| {
            let span = Self::span(&line);
            let line_tok = Located {
                text: &self.src.text[line.start..line.end],
                at: line.start,
            };
            let need_table = |open: &mut Option<DraftTable<'a>>| -> Result<(), InputError> {
                match open {
                    Some(_) => Ok(()),
                    None => Err(self.src.err_at(
                        line_tok,
                        "this line comes before any table",
                        "expected a table line such as *filter first",
                    )),
                }
            };
            match line.kind {
                LineKind::Nothing => {}
                LineKind::Table(name) => {
                    if let Some(t) = &open {
                        return Err(self.src.err_at(
                            name,
                            format!(
                                "table `{}` starts before table `{}` (line {}) is closed",
                                name.text, t.name, t.opened.line
                            ),
                            "expected COMMIT before the next table",
                        ));
                    }
                    let chains: Vec<DraftChain> = builtins(name.text)
                        .iter()
                        .map(|&(n, ..)| DraftChain {
                            name: n,
                            builtin: true,
                            policy: Some((true, span)),
                            rules: Vec::new(),
                            span,
                        })
                        .collect();
                    let mut table = DraftTable {
                        name: name.text,
                        chains: Vec::new(),
                        index: HashMap::new(),
                        opened: span,
                    };
                    chains.into_iter().for_each(|c| table.add(c));
                    open = Some(table);
                }
                LineKind::Commit => {
                    need_table(&mut open)?;
                    let t = open.take().expect("checked above");
                    done.retain(|d| d.name != t.name);
                    done.push(t);
                }
                LineKind::Chain { name, policy } => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    let builtin = builtins(t.name).iter().any(|&(n, ..)| n == name.text);
                    match (builtin, policy) {
                        (true, None) => {
                            return Err(self.src.err_at(
                                name,
                                format!("built-in chain `{}` needs a policy", name.text),
                                "expected ACCEPT or DROP after the name",
                            ));
                        }
                        (false, Some(p)) => {
                            return Err(self.src.err_at(
                                p,
                                format!(
                                    "`{}` is not a built-in chain of table {}, so it has no policy",
                                    name.text, t.name
                                ),
                                "expected - as the policy of a user-defined chain",
                            ));
                        }
                        _ => {}
                    }
                    let policy = policy.map(|p| (p.text == "ACCEPT", span));
                    match t.get_mut(name.text) {
                        Some(c) => {
                            c.policy = policy.or(c.policy);
                            c.span = span;
                        }
                        None => t.add(DraftChain {
                            name: name.text,
                            builtin,
                            policy,
                            rules: Vec::new(),
                            span,
                        }),
                    }
                }
                LineKind::NewChain(name) => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    if t.index.contains_key(name.text) {
                        return Err(self.src.err_at(
                            name,
                            format!("chain `{}` already exists", name.text),
                            "expected a new chain name",
                        ));
                    }
                    t.add(DraftChain {
                        name: name.text,
                        builtin: false,
                        policy: None,
                        rules: Vec::new(),
                        span,
                    });
                }
                LineKind::SetPolicy { chain, policy } => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    let c = self.find_chain(t, chain)?;
                    if !c.builtin {
                        return Err(self.src.err_at(
                            chain,
                            format!(
                                "`{}` is a user-defined chain, which has no policy",
                                chain.text
                            ),
                            "expected a built-in chain",
                        ));
                    }
                    c.policy = Some((policy.text == "ACCEPT", span));
                }
                LineKind::Flush(chain) => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    match chain {
                        Some(c) => self.find_chain(t, c)?.rules.clear(),
                        None => t.chains.iter_mut().for_each(|c| c.rules.clear()),
                    }
                }
                LineKind::DeleteChain(chain) => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    match chain {
                        Some(c) => {
                            if self.find_chain(t, c)?.builtin {
                                return Err(self.src.err_at(
                                    c,
                                    format!("built-in chain `{}` cannot be deleted", c.text),
                                    "expected a user-defined chain",
                                ));
                            }
                            t.retain(|x| x.name != c.text);
                        }
                        None => t.retain(|c| c.builtin),
                    }
                }
                LineKind::Rule {
                    chain,
                    insert_at,
                    append,
                    spec,
                } => {
                    need_table(&mut open)?;
                    let t = open.as_mut().expect("checked above");
                    let rule = self.rule(&spec, span, t)?;
                    let c = self.find_chain(t, chain)?;
                    if append {
                        c.rules.push(rule);
                    } else {
                        let pos = insert_at.unwrap_or(1) as usize;
                        if pos > c.rules.len() + 1 {
                            return Err(self.src.err_at(chain, format!("insert position {pos} is past the end of chain `{}` ({} rules)", chain.text, c.rules.len()), "expected a position from 1 to one past the last rule"));
                        }
                        c.rules.insert(pos - 1, rule);
                    }
                }
            }
            Ok(true)
        })?;
        if let Some(t) = open {
            let end = self.src.text.trim_end().len();
            return Err(self.src.err(
                end,
                0,
                format!(
                    "table `{}` (line {}) is not closed by COMMIT",
                    t.name, t.opened.line
                ),
                "expected COMMIT at the end of the table",
            ));
        }
        if done.is_empty() {
            return Err(self.src.err(
                0,
                0,
                "no tables in the input (empty file?)",
                "expected an iptables-save export: *filter, chains, rules, COMMIT",
            ));
        }
        Ok(done)
    }

    fn find_chain<'t>(
        &self,
        t: &'t mut DraftTable<'a>,
        name: Located<'_>,
    ) -> Result<&'t mut DraftChain<'a>, InputError> {
        let table = t.name;
        t.get_mut(name.text).ok_or_else(|| {
            self.src.err_at(
                name,
                format!("no chain `{}` in table {table}", name.text),
                "expected a built-in chain or one declared with :NAME - or -N NAME",
            )
        })
    }

    fn build(&self, tables: Vec<DraftTable<'a>>) -> Result<Policy, InputError> {
        let mut chains = Vec::new();
        // Chain ids are assigned up front so that jumps can refer forward.
        let mut ids: HashMap<(&str, &str), usize> = HashMap::new();
        for t in &tables {
            for c in &t.chains {
                ids.insert((t.name, c.name), ids.len());
            }
        }
        let id_of = |table: &str, name: &str| ids.get(&(table, name)).copied();
        // Tables are consumed chain by chain, so a chain's syntax is freed once
        // it is lowered and a large file's two forms are not all held at once.
        for t in tables {
            for c in t.chains {
                let base = if c.builtin {
                    let &(_, hook, priority, kind) = builtins(t.name)
                        .iter()
                        .find(|b| b.0 == c.name)
                        .expect("built-in");
                    let (accept, span) = c.policy.expect("built-in chains have a policy");
                    Some(BaseChain {
                        hook,
                        priority,
                        kind,
                        family: Some(self.family),
                        devices: None,
                        scope: None,
                        policy: Some(Rule {
                            matches: std::sync::OnceLock::from(PacketSet::from(Cube::family(
                                self.family,
                            ))),
                            opaque: None,
                            action: if accept { Action::Accept } else { Action::Drop },
                            span,
                            written: None,
                            number: None,
                            kind: RuleKind::Policy,
                        }),
                    })
                } else {
                    None
                };
                let mut rules = Vec::with_capacity(c.rules.len());
                for r in c.rules {
                    let action = match r.action {
                        Ok(a) => a,
                        Err(target) => {
                            let id = id_of(t.name, target.name.text).ok_or_else(|| {
                                self.src.err_at(target.name, format!("chain `{}` was deleted (-X) after this rule jumped to it", target.name.text), "expected a chain that still exists when the table is committed")
                            })?;
                            if target.goto {
                                Action::Goto(id)
                            } else {
                                Action::Jump(id)
                            }
                        }
                    };
                    rules.push(Rule {
                        matches: std::sync::OnceLock::new(),
                        opaque: r.opaque,
                        action,
                        span: r.span,
                        written: None,
                        number: None,
                        kind: RuleKind::Rule,
                    });
                }
                chains.push(Chain {
                    table: t.name.to_string(),
                    name: c.name.to_string(),
                    base,
                    rules,
                    span: Some(c.span),
                });
            }
        }
        // The caller adds the file itself: moved, not copied.
        let policy = Policy {
            format: Format::Iptables,
            files: Vec::new(),
            chains,
            families: vec![self.family],
            matcher: Some(std::sync::Arc::new(Conditions {
                family: self.family,
            })),
            notes: Vec::new(),
            topology: None,
            unbound: false,
        };
        if let Some(cycle) = crate::graph::find_loop(&policy) {
            let rule = policy.rule(cycle.rule);
            let line = &self.src.text[rule.span.start..rule.span.end];
            let target = &policy.chains[cycle.chains[1 % cycle.chains.len()]].name;
            let col = line.find(&format!(" {target}")).map_or(0, |i| i + 1);
            return Err(self.src.err(
                rule.span.start + col,
                target.len(),
                cycle.message(&policy),
                "expected chains that never jump back into themselves",
            ));
        }
        Ok(policy)
    }

    /// The packets a rule's conditions accept, and its unmodelled conditions.
    fn conditions<'r>(&self, spec: &RuleSpec<'r>) -> Result<(PacketSet, Vec<&'r str>), InputError> {
        let mut set: PacketSet = Cube::family(self.family).into();
        let mut opaque: Vec<&'r str> = Vec::new();
        let amax = self.family.addr_max();
        for m in &spec.matches {
            let neg = |s: IntervalSet, max: u128| if m.negated { s.complement(max) } else { s };
            let (d, s) = match &m.cond {
                Cond::Src(nets) | Cond::Dst(nets) => {
                    let d = if matches!(m.cond, Cond::Src(_)) {
                        Dim::Src
                    } else {
                        Dim::Dst
                    };
                    let mut ranges = Vec::new();
                    for n in nets {
                        self.check_family(n.addr(), m.source)?;
                        ranges.push(addr::prefix_range(*n));
                    }
                    (d, neg(IntervalSet::from_ranges(ranges), amax))
                }
                Cond::SrcRange(r) | Cond::DstRange(r) => {
                    self.check_family(r.lo, m.source)?;
                    let d = if matches!(m.cond, Cond::SrcRange(_)) {
                        Dim::Src
                    } else {
                        Dim::Dst
                    };
                    (
                        d,
                        neg(
                            IntervalSet::range(addr::value(r.lo), addr::value(r.hi)),
                            amax,
                        ),
                    )
                }
                Cond::Proto(None) => (Dim::Proto, neg(IntervalSet::range(0, 255), 255)),
                Cond::Proto(Some(p)) => (Dim::Proto, neg(IntervalSet::point(*p as u128), 255)),
                Cond::InIface(n) | Cond::OutIface(n) => {
                    let d = if matches!(m.cond, Cond::InIface(_)) {
                        Dim::In
                    } else {
                        Dim::Out
                    };
                    let s = match n.strip_suffix('+') {
                        Some(p) => {
                            let (lo, hi) = iface::prefix_range(p);
                            IntervalSet::range(lo, hi)
                        }
                        None => IntervalSet::point(iface::encode(n)),
                    };
                    (d, neg(s, u128::MAX))
                }
                Cond::Sport(r) | Cond::Dport(r) => {
                    let d = if matches!(m.cond, Cond::Sport(_)) {
                        Dim::Sport
                    } else {
                        Dim::Dport
                    };
                    (d, neg(ports(r), 0xffff))
                }
                Cond::AnyPort(r) => {
                    let p = ports(r);
                    set = if m.negated {
                        let out = p.complement(0xffff);
                        set.restrict(Dim::Sport, &out).restrict(Dim::Dport, &out)
                    } else {
                        set.clone()
                            .restrict(Dim::Sport, &p)
                            .union(&set.restrict(Dim::Dport, &p))
                    };
                    continue;
                }
                Cond::Icmp(lo, hi) => (
                    Dim::Icmp,
                    neg(IntervalSet::range(*lo as u128, *hi as u128), 0xffff),
                ),
                Cond::State(states) => (
                    Dim::State,
                    neg(
                        IntervalSet::from_ranges(
                            states.iter().map(|&s| (s as u128, s as u128)).collect(),
                        ),
                        crate::space::State::MAX,
                    ),
                ),
                Cond::TcpFlags { mask, comp } => {
                    let values = (0u16..=255)
                        .filter(|v| (*v as u8) & mask == *comp)
                        .map(|v| (v as u128, v as u128))
                        .collect();
                    (Dim::Flags, neg(IntervalSet::from_ranges(values), 255))
                }
                Cond::Opaque => {
                    opaque.push(m.source.text);
                    continue;
                }
                Cond::Inert => continue,
                // ip6tables-restore skips `-4` rules, and iptables-restore `-6` ones.
                Cond::OnlyFamily(f) => {
                    if *f != self.family {
                        set = PacketSet::empty();
                    }
                    continue;
                }
            };
            set = set.restrict(d, &s);
        }
        Ok((set, opaque))
    }

    /// Checks a rule whole (conditions and target) in its table as it stands.
    fn rule(
        &self,
        spec: &RuleSpec<'a>,
        span: Span,
        table: &DraftTable<'a>,
    ) -> Result<DraftRule<'a>, InputError> {
        let (_, opaque) = self.conditions(spec)?;
        let opaque = (!opaque.is_empty()).then(|| opaque.join(" "));
        let action = match &spec.target {
            None => Action::Continue,
            Some(t) => match &t.kind {
                TargetKind::Accept => Action::Accept,
                TargetKind::Drop => Action::Drop,
                TargetKind::Reject => Action::Reject,
                TargetKind::Return => Action::Return,
                TargetKind::Continue => Action::Continue,
                TargetKind::Unknown(why) => Action::Unknown((*why).to_string()),
                TargetKind::SourceNat(r) => Action::SourceNat(match r {
                    Some(r) => {
                        self.check_family(r.lo, t.name)?;
                        Some(IntervalSet::range(addr::value(r.lo), addr::value(r.hi)))
                    }
                    None => None,
                }),
                TargetKind::Chain(name) => {
                    if !table.index.contains_key(name) {
                        return Err(self.src.err_at(t.name, format!("no chain or target `{name}` in table {}", table.name), "expected ACCEPT, DROP, REJECT, RETURN, a known target, or a chain declared in this table"));
                    }
                    return Ok(DraftRule {
                        action: Err(t.clone()),
                        opaque,
                        span,
                    });
                }
            },
        };
        Ok(DraftRule {
            action: Ok(action),
            opaque,
            span,
        })
    }

    fn check_family(&self, a: IpAddr, at: Located<'_>) -> Result<(), InputError> {
        if Family::of(a) == self.family {
            return Ok(());
        }
        let (this, other) = match self.family {
            Family::Ipv4 => ("IPv4 (iptables-save)", "IPv6"),
            Family::Ipv6 => ("IPv6 (ip6tables-save)", "IPv4"),
        };
        Err(self.src.err_at(
            at,
            format!("{other} address in an {this} ruleset"),
            format!("expected {this} addresses only; export each family to its own file"),
        ))
    }
}

fn ports(r: &[(u16, u16)]) -> IntervalSet {
    IntervalSet::from_ranges(r.iter().map(|&(a, b)| (a as u128, b as u128)).collect())
}

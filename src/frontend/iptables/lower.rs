//! Gives meaning to a parsed iptables-save file: replays its table blocks as
//! iptables-restore would, then lowers every rule into the policy model.

use super::ast::*;
use crate::diag::InputError;
use crate::frontend::UNTRACKED;
use crate::model::{
    Action, BaseChain, Chain, ChainKind, Format, Hook, Policy, Rule, RuleKind, RuleNotes, Span,
    Text,
};
use crate::space::dim::{Dim, Family, addr, iface};
use crate::space::{Cube, IntervalSet, PacketSet};
use rustc_hash::FxHashMap;
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
    /// The rules as they go into the policy, so that a large dump's rules
    /// are not copied once the table is complete; a jump's target is its
    /// slot in the table until the chains have their ids.
    rules: Vec<Rule>,
    /// Whether a rule makes the kernel track connections.
    tracks: bool,
    span: Span,
}

impl DraftChain<'_> {
    /// The slots of the chains the rules jump to.
    fn targets(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules.iter().filter_map(|r| match r.action {
            Action::Jump(slot) | Action::Goto(slot) => Some(slot),
            _ => None,
        })
    }
}

/// A rule's conditions as lowered: the packets they accept and the
/// unmodelled ones, or why they cannot be.
type Lowered<'r> = Result<(PacketSet, Vec<&'r str>), InputError>;

struct DraftTable<'a> {
    name: &'a str,
    family: Family,
    /// Every chain declared, by slot; `None` once deleted. Slots are never
    /// reused, so a jump keeps naming the chain it was written for.
    chains: Vec<Option<DraftChain<'a>>>,
    /// How many rules jump to each slot's chain: as iptables-restore, a
    /// chain cannot be deleted while one does.
    refs: Vec<u32>,
    /// The slot of each chain there is, by name.
    index: FxHashMap<&'a str, usize>,
    /// The slot last looked up: a dump lists each chain's rules together,
    /// so most lines name the chain the line before did.
    last: Option<usize>,
    opened: Span,
}

impl<'a> DraftTable<'a> {
    fn new(name: &'a str, family: Family, opened: Span) -> Self {
        DraftTable {
            name,
            family,
            chains: Vec::new(),
            refs: Vec::new(),
            index: FxHashMap::default(),
            last: None,
            opened,
        }
    }

    fn slot(&mut self, name: &str) -> Option<usize> {
        let last = self
            .last
            .filter(|&s| self.chains[s].as_ref().is_some_and(|c| c.name == name));
        let slot = last.or_else(|| self.index.get(name).copied())?;
        self.last = Some(slot);
        Some(slot)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut DraftChain<'a>> {
        let slot = self.slot(name)?;
        self.chains[slot].as_mut()
    }

    fn add(&mut self, c: DraftChain<'a>) {
        self.index.insert(c.name, self.chains.len());
        self.chains.push(Some(c));
        self.refs.push(0);
    }

    /// Adds a rule to the chain at `slot`, at `pos` (the end when `None`).
    fn insert(&mut self, slot: usize, pos: Option<usize>, rule: Rule, tracks: bool) {
        if let Action::Jump(t) | Action::Goto(t) = rule.action {
            self.refs[t] += 1;
        }
        let c = self.chains[slot].as_mut().expect("a chain there is");
        c.tracks |= tracks;
        // Grown by half, not doubled: most chains of a large dump hold one
        // to three rules, which doubling from four would leave a quarter to
        // three quarters empty (120 MB of a 1M-rule dump's 290).
        if c.rules.len() == c.rules.capacity() {
            c.rules.reserve_exact((c.rules.len() / 2).max(1));
        }
        match pos {
            Some(p) => c.rules.insert(p, rule),
            None => c.rules.push(rule),
        }
    }

    /// Empties the chain at `slot`.
    fn flush(&mut self, slot: usize) {
        let Some(c) = self.chains[slot].as_mut() else {
            return;
        };
        for t in c.targets() {
            self.refs[t] -= 1;
        }
        c.rules.clear();
        c.tracks = false;
    }

    /// Deletes the chains `keep` says not to keep, unless a rule of a
    /// chain that stays jumps to one of them: then the name of one.
    fn retain(&mut self, keep: impl Fn(&DraftChain<'a>) -> bool) -> Result<(), &'a str> {
        let gone: Vec<usize> = (0..self.chains.len())
            .filter(|&s| self.chains[s].as_ref().is_some_and(|c| !keep(c)))
            .collect();
        for &s in &gone {
            self.flush(s);
        }
        if let Some(&s) = gone.iter().find(|&&s| self.refs[s] > 0) {
            return Err(self.chains[s].as_ref().expect("not yet deleted").name);
        }
        for s in gone {
            let c = self.chains[s].take().expect("not yet deleted");
            self.index.remove(c.name);
        }
        Ok(())
    }
}

/// How much of the text the replay passes before giving its pages back:
/// enough that the calls cost nothing beside the parse.
const RELEASE_EVERY: usize = 4 << 20;

struct Lowerer<'s, 'a> {
    src: Source<'s, 'a>,
    /// The text, whose pages are given back as the replay passes them.
    file: &'a Text,
    /// Where each dump of the file starts, and its family: a file may hold an
    /// iptables-save dump and an ip6tables-save dump one after the other.
    dumps: Vec<(usize, Family)>,
}

/// Reads the file into a policy (without the file itself, which the caller
/// moves in). Lines are parsed and their conditions lowered a batch at a
/// time, in parallel, then replayed in order, so the syntax of a large file
/// is never held whole, and a mapped file's pages are given back as the
/// replay passes them.
pub fn lower(path: &str, file: &Text) -> Result<Policy, InputError> {
    let text: &str = file;
    let dumps = dumps(path, text);
    let l = Lowerer {
        src: Source { path, text },
        file,
        dumps,
    };
    let tables = l.replay()?;
    l.build(tables)
}

/// The dumps of a file: each `# Generated by ip6tables-save` (or
/// `iptables-save`) header after the first starts a new one. A file with
/// one header or none is one dump, whose family [`detect_family`] finds.
fn dumps(path: &str, text: &str) -> Vec<(usize, Family)> {
    let mut found = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(tool) = line.strip_prefix("# Generated by ") {
            let tool = tool.split_whitespace().next().unwrap_or("");
            let family = if tool.contains("ip6tables") {
                Some(Family::Ipv6)
            } else if tool.contains("iptables") {
                Some(Family::Ipv4)
            } else {
                None
            };
            if let Some(f) = family {
                found.push((if found.is_empty() { 0 } else { at }, f));
            }
        }
        at += line.len();
    }
    if found.len() < 2 {
        return vec![(0, detect_family(path, text))];
    }
    found
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

impl<'s, 'a> Lowerer<'s, 'a> {
    fn span(line: &Line<'_>) -> Span {
        Span::new(0, line.number, line.start..line.end)
    }

    /// Replays the commands of each table block, as iptables-restore does.
    fn replay(&self) -> Result<Vec<DraftTable<'a>>, InputError> {
        let mut done: Vec<DraftTable<'a>> = Vec::new();
        let mut open: Option<DraftTable<'a>> = None;
        let mut released = 0;
        let prepare = |line: &Line<'a>| match &line.kind {
            LineKind::Rule { spec, .. } => {
                let family = self.family_at(line.start);
                Some((family, self.conditions(spec, family)))
            }
            _ => None,
        };
        super::parse::for_each_line_prepared(
            self.src.path,
            self.src.text,
            prepare,
            |line, lowered| {
                if line.start - released >= RELEASE_EVERY {
                    self.file.release(released..line.start);
                    released = line.start;
                }
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
                                tracks: false,
                                span,
                            })
                            .collect();
                        // The dump this table is in gives the family of its rules.
                        let family = self.family_at(span.bytes().start);
                        let mut table = DraftTable::new(name.text, family, span);
                        chains.into_iter().for_each(|c| table.add(c));
                        open = Some(table);
                    }
                    LineKind::Commit => {
                        need_table(&mut open)?;
                        let t = open.take().expect("checked above");
                        done.retain(|d| (d.name, d.family) != (t.name, t.family));
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
                                tracks: false,
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
                            tracks: false,
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
                            Some(c) => {
                                let slot = self.find_slot(t, c)?;
                                t.flush(slot);
                            }
                            None => (0..t.chains.len()).for_each(|s| t.flush(s)),
                        }
                    }
                    LineKind::DeleteChain(chain) => {
                        need_table(&mut open)?;
                        let t = open.as_mut().expect("checked above");
                        let deleted = match chain {
                            Some(c) => {
                                if self.find_chain(t, c)?.builtin {
                                    return Err(self.src.err_at(
                                        c,
                                        format!("built-in chain `{}` cannot be deleted", c.text),
                                        "expected a user-defined chain",
                                    ));
                                }
                                t.retain(|x| x.name != c.text)
                            }
                            None => t.retain(|c| c.builtin),
                        };
                        if let Err(name) = deleted {
                            let at = chain.unwrap_or(line_tok);
                            return Err(self.src.err_at(
                                at,
                                format!(
                                    "chain `{name}` cannot be deleted: a rule still jumps to it"
                                ),
                                "expected the rules that jump to it flushed (-F) first",
                            ));
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
                        let rule = self.rule(&spec, span, t, lowered)?;
                        let slot = self.find_slot(t, chain)?;
                        let pos = if append {
                            None
                        } else {
                            let pos = insert_at.unwrap_or(1) as usize;
                            let len = t.chains[slot].as_ref().expect("found").rules.len();
                            if pos > len + 1 {
                                return Err(self.src.err_at(chain, format!("insert position {pos} is past the end of chain `{}` ({len} rules)", chain.text), "expected a position from 1 to one past the last rule"));
                            }
                            Some(pos - 1)
                        };
                        t.insert(slot, pos, rule, spec.tracks);
                    }
                }
                Ok(true)
            },
        )?;
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
        let slot = self.find_slot(t, name)?;
        Ok(t.chains[slot].as_mut().expect("a slot found holds a chain"))
    }

    fn find_slot(&self, t: &mut DraftTable<'a>, name: Located<'_>) -> Result<usize, InputError> {
        let table = t.name;
        t.slot(name.text).ok_or_else(|| {
            self.src.err_at(
                name,
                format!("no chain `{}` in table {table}", name.text),
                "expected a built-in chain or one declared with :NAME - or -N NAME",
            )
        })
    }

    fn build(&self, tables: Vec<DraftTable<'a>>) -> Result<Policy, InputError> {
        // Chain ids are assigned up front, by slot, so that jumps can refer forward.
        let mut next = 0;
        let ids: Vec<Vec<Option<crate::model::ChainId>>> = tables
            .iter()
            .map(|t| {
                let id = |c: &Option<DraftChain>| {
                    c.as_ref().map(|_| {
                        next += 1;
                        next - 1
                    })
                };
                t.chains.iter().map(id).collect()
            })
            .collect();
        // Grown by doubling, a dump's 360k chains took half as much again.
        let mut chains = Vec::with_capacity(next);
        let mut families: Vec<Family> = tables.iter().map(|t| t.family).collect();
        families.sort();
        families.dedup();
        // The families whose rules make the kernel track connections: in
        // the others no packet has a connection, so nat chains never run.
        let tracking: Vec<Family> = families
            .iter()
            .copied()
            .filter(|&f| {
                tables
                    .iter()
                    .filter(|t| t.family == f)
                    .any(|t| t.chains.iter().flatten().any(|c| c.tracks))
            })
            .collect();
        let mut notes = Vec::new();
        // Tables are consumed chain by chain, so a chain's syntax is freed once
        // it is lowered and a large file's two forms are not all held at once.
        for (t, ids) in tables.into_iter().zip(&ids) {
            let table: std::sync::Arc<str> = t.name.into();
            for c in t.chains.into_iter().flatten() {
                let base = if c.builtin {
                    let &(_, hook, priority, kind) = builtins(t.name)
                        .iter()
                        .find(|b| b.0 == c.name)
                        .expect("built-in");
                    let (accept, span) = c.policy.expect("built-in chains have a policy");
                    if kind == ChainKind::Opening && !tracking.contains(&t.family) {
                        if !accept || !c.rules.is_empty() {
                            notes.push(format!(
                                "chain {} of table {} is not evaluated: {UNTRACKED}",
                                c.name, t.name
                            ));
                        }
                        None
                    } else {
                        Some(BaseChain {
                            hook,
                            priority,
                            kind,
                            family: Some(t.family),
                            devices: None,
                            scope: None,
                            policy: Some(Rule::new(
                                PacketSet::from(Cube::family(t.family)),
                                if accept { Action::Accept } else { Action::Drop },
                                span,
                                RuleKind::Policy,
                            )),
                        })
                    }
                } else {
                    None
                };
                let mut rules = c.rules;
                for r in &mut rules {
                    if let Action::Jump(to) | Action::Goto(to) = &mut r.action {
                        *to = ids[*to].expect("a chain a rule jumps to is not deleted");
                    }
                }
                chains.push(Chain {
                    table: table.clone(),
                    name: c.name.into(),
                    base: base.map(Box::new),
                    rules,
                    span: Some(c.span),
                    family: Some(t.family),
                    index: Default::default(),
                    runs: Default::default(),
                    copy_of: None,
                });
            }
        }
        // The caller adds the file itself: moved, not copied.
        let mut policy = Policy {
            format: Format::Iptables,
            files: Vec::new(),
            chains,
            families,
            notes,
            topology: None,
            unbound: false,
            dns_addresses: Default::default(),
            roots: Default::default(),
        };
        if let Some(flaw) = crate::graph::flaw(&policy) {
            let rule = policy.rule(flaw.rule);
            let line = &self.src.text[rule.span.bytes()];
            let target = &policy.chains[flaw.target].name;
            let col = line.find(&format!(" {target}")).map_or(0, |i| i + 1);
            return Err(self.src.err(
                rule.span.bytes().start + col,
                target.len(),
                flaw.message,
                flaw.expected,
            ));
        }
        crate::stages::settle(&mut policy);
        Ok(policy)
    }

    /// The family of the dump that holds byte `at` of the file.
    fn family_at(&self, at: usize) -> Family {
        self.dumps
            .iter()
            .rev()
            .find(|d| d.0 <= at)
            .map_or(self.dumps[0].1, |d| d.1)
    }

    /// The packets a rule's conditions accept, and its unmodelled conditions.
    fn conditions<'r>(&self, spec: &RuleSpec<'r>, family: Family) -> Lowered<'r> {
        let mut set: PacketSet = Cube::family(family).into();
        let mut opaque: Vec<&'r str> = Vec::new();
        let amax = family.addr_max();
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
                        self.check_family(n.addr(), m.source, family)?;
                        ranges.push(addr::prefix_range(*n));
                    }
                    (d, neg(IntervalSet::from_ranges(ranges), amax))
                }
                Cond::SrcRange(r) | Cond::DstRange(r) => {
                    self.check_family(r.lo, m.source, family)?;
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
                    if *f != family {
                        set = PacketSet::empty();
                    }
                    continue;
                }
            };
            set = set.restrict(d, &s);
        }
        Ok((set, opaque))
    }

    /// Checks a rule whole (conditions and target) in its table as it
    /// stands, given its conditions as lowered for the family of the dump
    /// it is in (lowered again in the table's, should that differ).
    fn rule(
        &self,
        spec: &RuleSpec<'a>,
        span: Span,
        table: &DraftTable<'a>,
        lowered: Option<(Family, Lowered<'a>)>,
    ) -> Result<Rule, InputError> {
        let (matches, opaque) = match lowered {
            Some((f, l)) if f == table.family => l,
            _ => self.conditions(spec, table.family),
        }?;
        let opaque = (!opaque.is_empty()).then(|| opaque.join(" ").into());
        let action = match &spec.target {
            None => Action::Continue,
            Some(t) => match &t.kind {
                TargetKind::Accept => Action::Accept,
                TargetKind::Drop => Action::Drop,
                TargetKind::Reject => Action::Reject,
                TargetKind::Return => Action::Return,
                TargetKind::Continue => Action::Continue,
                TargetKind::Unknown(why) => Action::Unknown((*why).into()),
                TargetKind::SourceNat(r) => Action::SourceNat(match r {
                    Some(r) => {
                        self.check_family(r.lo, t.name, table.family)?;
                        Some(Box::new(IntervalSet::range(
                            addr::value(r.lo),
                            addr::value(r.hi),
                        )))
                    }
                    None => None,
                }),
                TargetKind::Chain(name) => {
                    let Some(&slot) = table.index.get(name) else {
                        return Err(self.src.err_at(t.name, format!("no chain or target `{name}` in table {}", table.name), "expected ACCEPT, DROP, REJECT, RETURN, a known target, or a chain declared in this table"));
                    };
                    if t.goto {
                        Action::Goto(slot)
                    } else {
                        Action::Jump(slot)
                    }
                }
            },
        };
        Ok(
            Rule::new(matches, action, span, RuleKind::Rule).with(RuleNotes {
                opaque,
                ..RuleNotes::default()
            }),
        )
    }

    fn check_family(&self, a: IpAddr, at: Located<'_>, family: Family) -> Result<(), InputError> {
        if Family::of(a) == family {
            return Ok(());
        }
        let (this, other) = match family {
            Family::Ipv4 => ("IPv4 (iptables-save)", "IPv6"),
            Family::Ipv6 => ("IPv6 (ip6tables-save)", "IPv4"),
        };
        Err(self.src.err_at(
            at,
            format!("{other} address in an {this} ruleset"),
            format!("expected {this} addresses only; an ip6tables-save dump in the same file starts with its `# Generated by ip6tables-save` line"),
        ))
    }
}

fn ports(r: &[(u16, u16)]) -> IntervalSet {
    IntervalSet::from_ranges(r.iter().map(|&(a, b)| (a as u128, b as u128)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(lines: &str) -> Result<Policy, InputError> {
        lower(
            "t.rules",
            &format!("*filter\n:FORWARD ACCEPT [0:0]\n{lines}COMMIT\n").into(),
        )
    }

    fn rules_of(p: &Policy, name: &str) -> Vec<Action> {
        let c = p.chains.iter().find(|c| &*c.name == name).expect("chain");
        c.rules.iter().map(|r| r.action.clone()).collect()
    }

    #[test]
    fn a_jump_names_the_chain_it_was_written_for() {
        // Deleted after the jump: iptables-restore refuses to delete a
        // chain a rule still jumps to, and so do we, at the -X line.
        for delete in ["-X X", "-X"] {
            let err = filter(&format!("-N X\n-A FORWARD -j X\n{delete}\n-N X\n")).unwrap_err();
            assert!(
                err.message.contains("chain `X` cannot be deleted"),
                "{}",
                err.message
            );
            assert_eq!(err.line, 5);
        }
        // A jump from a chain deleted with it does not hold it.
        filter("-N X\n-N Y\n-A Y -j X\n-X\n").unwrap();
        // Nor does one from a chain flushed before.
        filter("-N X\n-N Y\n-A Y -j X\n-F Y\n-X X\n").unwrap();
        // Flushed first, nothing jumps to it any more.
        let p = filter("-N X\n-A FORWARD -j X\n-F FORWARD\n-X X\n").unwrap();
        assert!(rules_of(&p, "FORWARD").is_empty());
        // Rules added after a chain is made again go to the new one.
        let p = filter("-N X\n-A X -j DROP\n-F X\n-X X\n-N X\n-A X -j ACCEPT\n-A FORWARD -j X\n")
            .unwrap();
        assert_eq!(rules_of(&p, "X"), [Action::Accept]);
        let x = p.chains.iter().position(|c| &*c.name == "X").unwrap();
        assert_eq!(rules_of(&p, "FORWARD"), [Action::Jump(x)]);
    }

    #[test]
    fn the_first_bad_line_is_reported_whichever_pass_finds_it() {
        // Lines are parsed in parallel batches and replayed in order: a
        // replay error (no such chain) before a syntax error is the one
        // reported, and the other way round.
        let replay_first = filter("-A NOPE -j DROP\n-A FORWARD -s 1.2.3.4/33 -j DROP\n");
        assert!(
            replay_first
                .unwrap_err()
                .message
                .contains("no chain `NOPE`")
        );
        let parse_first = filter("-A FORWARD -s 1.2.3.4/33 -j DROP\n-A NOPE -j DROP\n");
        assert_eq!(parse_first.unwrap_err().line, 3);
        // Far apart, in different batches.
        let far = "-A FORWARD -j ACCEPT\n".repeat(2 * super::super::parse::BATCH);
        let err = filter(&format!(
            "-A NOPE -j DROP\n{far}-A FORWARD -s 1.2.3.4/33 -j DROP\n"
        ));
        assert_eq!(err.unwrap_err().line, 3);
        let err = filter(&format!(
            "-A FORWARD -s 1.2.3.4/33 -j DROP\n{far}-A NOPE -j DROP\n"
        ));
        assert_eq!(err.unwrap_err().line, 3);
    }
}

//! Gives meaning to a parsed iptables-save file: replays its table blocks as
//! iptables-restore would, then lowers every rule into the policy model.

use super::ast::*;
use crate::diag::InputError;
use crate::frontend::UNTRACKED;
use crate::model::{
    Action, BaseChain, Chain, ChainKind, Format, Hook, Policy, Reason, Rule, RuleKind, RuleNotes,
    Span, Text,
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

/// A rule's conditions as lowered: the packets they accept and the
/// unmodelled ones, or why they cannot be.
type Lowered<'r> = Result<(PacketSet, Vec<&'r str>), InputError>;

/// A chain's bookkeeping while the file is replayed, beside the chain itself.
struct Mark {
    /// How many rules jump to the chain: as iptables-restore, a chain
    /// cannot be deleted while one does.
    refs: u32,
    /// Whether a rule makes the kernel track connections.
    tracks: bool,
    /// False once the chain is deleted, or its table replaced.
    live: bool,
}

/// The chains of every table, as the replay declares them: built in their
/// final form from the start, in one vector in the order the tables come,
/// so that building the policy only drops the deleted ones and renumbers
/// jumps in place. A large dump's hundreds of thousands of chains are never
/// held twice, as drafts and as chains.
///
/// A chain's slot is its place here; a jump's target is the slot until the
/// policy is built. Slots are never reused, so a jump keeps naming the chain
/// it was written for. A built-in chain is the one with a base, which holds
/// its policy.
#[derive(Default)]
struct Drafts {
    chains: Vec<Chain>,
    marks: Vec<Mark>,
}

impl Drafts {
    /// Adds a rule to the chain at `slot`, at `pos` (the end when `None`).
    fn insert(&mut self, slot: usize, pos: Option<usize>, rule: Rule, tracks: bool) {
        if let Some(t) = rule.target() {
            self.marks[t].refs += 1;
        }
        self.marks[slot].tracks |= tracks;
        let rules = &mut self.chains[slot].rules;
        // Grown by half, not doubled: most chains of a large dump hold one
        // to three rules, which doubling from four would leave a quarter to
        // three quarters empty (120 MB of a 1M-rule dump's 290).
        if rules.len() == rules.capacity() {
            rules.reserve_exact((rules.len() / 2).max(1));
        }
        match pos {
            Some(p) => rules.insert(p, rule),
            None => rules.push(rule),
        }
    }

    /// Empties the chain at `slot`, if it is there.
    fn flush(&mut self, slot: usize) {
        if !self.marks[slot].live {
            return;
        }
        for r in std::mem::take(&mut self.chains[slot].rules) {
            if let Some(t) = r.target() {
                self.marks[t].refs -= 1;
            }
        }
        self.marks[slot].tracks = false;
    }
}

/// A table being replayed; its chains are the slots from `start` on.
struct DraftTable<'a> {
    name: &'a str,
    /// Shared by the table's chains.
    shared: std::sync::Arc<str>,
    family: Family,
    start: usize,
    /// The slot of each chain there is, by name.
    index: FxHashMap<&'a str, usize>,
    /// The slot last looked up: a dump lists each chain's rules together,
    /// so most lines name the chain the line before did.
    last: Option<usize>,
    opened: Span,
}

/// The policy rule of a built-in chain.
fn policy(family: Family, accept: bool, span: Span) -> Rule {
    Rule::new(
        PacketSet::from(Cube::family(family)),
        if accept { Action::Accept } else { Action::Drop },
        span,
        RuleKind::Policy,
    )
}

/// The rules' unmodelled conditions and actions, each text once: a large
/// dump repeats a few on many rules (kube-proxy's `-m statistic`
/// probabilities, its DNAT to every endpoint).
#[derive(Default)]
struct Texts {
    opaque: rustc_hash::FxHashSet<std::sync::Arc<str>>,
    /// By reason: the targets not modelled are a handful.
    reasons: Vec<(&'static str, Reason)>,
}

impl Texts {
    fn opaque(&mut self, text: String) -> std::sync::Arc<str> {
        if let Some(t) = self.opaque.get(text.as_str()) {
            return t.clone();
        }
        let t: std::sync::Arc<str> = text.into();
        self.opaque.insert(t.clone());
        t
    }

    fn unknown(&mut self, why: &'static str) -> Action {
        let at = match self.reasons.iter().position(|(w, _)| *w == why) {
            Some(at) => at,
            None => {
                self.reasons.push((why, Reason::new(why.into())));
                self.reasons.len() - 1
            }
        };
        Action::Unknown(self.reasons[at].1.clone())
    }
}

/// A table replayed to its COMMIT: its chains are the slots `chains`.
struct DoneTable<'a> {
    name: &'a str,
    family: Family,
    chains: std::ops::Range<usize>,
}

impl<'a> DraftTable<'a> {
    fn new(name: &'a str, family: Family, opened: Span, start: usize) -> Self {
        DraftTable {
            name,
            shared: name.into(),
            family,
            start,
            index: FxHashMap::default(),
            last: None,
            opened,
        }
    }

    fn slot(&mut self, d: &Drafts, name: &str) -> Option<usize> {
        let last = self
            .last
            .filter(|&s| d.marks[s].live && *d.chains[s].name == *name);
        let slot = last.or_else(|| self.index.get(name).copied())?;
        self.last = Some(slot);
        Some(slot)
    }

    /// Declares chain `name`, built-in when `base` says where it attaches.
    fn add(&mut self, d: &mut Drafts, name: &'a str, base: Option<BaseChain>, span: Span) {
        self.index.insert(name, d.chains.len());
        d.chains.push(Chain {
            table: self.shared.clone(),
            name: name.into(),
            base: base.map(Box::new),
            rules: Vec::new(),
            span: Some(span),
            family: Some(self.family),
            index: Default::default(),
            runs: Default::default(),
            copy_of: None,
        });
        d.marks.push(Mark {
            refs: 0,
            tracks: false,
            live: true,
        });
    }

    /// Deletes the chains `keep` says not to keep, unless a rule of a
    /// chain that stays jumps to one of them: then the name of one.
    fn retain(&mut self, d: &mut Drafts, keep: impl Fn(&Chain) -> bool) -> Result<(), String> {
        let gone: Vec<usize> = (self.start..d.chains.len())
            .filter(|&s| d.marks[s].live && !keep(&d.chains[s]))
            .collect();
        for &s in &gone {
            d.flush(s);
        }
        if let Some(&s) = gone.iter().find(|&&s| d.marks[s].refs > 0) {
            return Err(d.chains[s].name.to_string());
        }
        for s in gone {
            d.marks[s].live = false;
            self.index.remove(&*d.chains[s].name);
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
    // The UTF-8 check and the scan for dumps have read the whole text in:
    // it is given back before the policy grows beside it, and the replay
    // reads it in again a batch at a time.
    file.release(0..text.len());
    let l = Lowerer {
        src: Source { path, text },
        file,
        dumps,
    };
    let (drafts, tables) = l.replay()?;
    l.build(drafts, tables)
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
    fn replay(&self) -> Result<(Drafts, Vec<DoneTable<'a>>), InputError> {
        let mut d = Drafts::default();
        let mut texts = Texts::default();
        let mut done: Vec<DoneTable<'a>> = Vec::new();
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
                        // The dump this table is in gives the family of its rules.
                        let family = self.family_at(span.bytes().start);
                        let mut table = DraftTable::new(name.text, family, span, d.chains.len());
                        for &(n, hook, priority, kind) in builtins(name.text) {
                            let base = BaseChain {
                                hook,
                                priority,
                                kind,
                                family: Some(family),
                                devices: None,
                                scope: None,
                                policy: Some(policy(family, true, span)),
                            };
                            table.add(&mut d, n, Some(base), span);
                        }
                        open = Some(table);
                    }
                    LineKind::Commit => {
                        need_table(&mut open)?;
                        let t = open.take().expect("checked above");
                        // A later block of a table replaces the earlier one.
                        if let Some(i) = done
                            .iter()
                            .position(|o| (o.name, o.family) == (t.name, t.family))
                        {
                            for s in done.remove(i).chains {
                                d.marks[s].live = false;
                                d.chains[s].rules = Vec::new();
                            }
                        }
                        done.push(DoneTable {
                            name: t.name,
                            family: t.family,
                            chains: t.start..d.chains.len(),
                        });
                    }
                    LineKind::Chain { name, policy: p } => {
                        need_table(&mut open)?;
                        let t = open.as_mut().expect("checked above");
                        let builtin = builtins(t.name).iter().any(|&(n, ..)| n == name.text);
                        match (builtin, p) {
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
                        match t.slot(&d, name.text) {
                            Some(s) => {
                                let c = &mut d.chains[s];
                                if let (Some(base), Some(p)) = (&mut c.base, p) {
                                    base.policy = Some(policy(t.family, p.text == "ACCEPT", span));
                                }
                                c.span = Some(span);
                            }
                            None => t.add(&mut d, name.text, None, span),
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
                        t.add(&mut d, name.text, None, span);
                    }
                    LineKind::SetPolicy { chain, policy: p } => {
                        need_table(&mut open)?;
                        let t = open.as_mut().expect("checked above");
                        let family = t.family;
                        let slot = self.find_slot(t, &d, chain)?;
                        let Some(base) = &mut d.chains[slot].base else {
                            return Err(self.src.err_at(
                                chain,
                                format!(
                                    "`{}` is a user-defined chain, which has no policy",
                                    chain.text
                                ),
                                "expected a built-in chain",
                            ));
                        };
                        base.policy = Some(policy(family, p.text == "ACCEPT", span));
                    }
                    LineKind::Flush(chain) => {
                        need_table(&mut open)?;
                        let t = open.as_mut().expect("checked above");
                        match chain {
                            Some(c) => {
                                let slot = self.find_slot(t, &d, c)?;
                                d.flush(slot);
                            }
                            None => (t.start..d.chains.len()).for_each(|s| d.flush(s)),
                        }
                    }
                    LineKind::DeleteChain(chain) => {
                        need_table(&mut open)?;
                        let t = open.as_mut().expect("checked above");
                        let deleted = match chain {
                            Some(c) => {
                                let slot = self.find_slot(t, &d, c)?;
                                if d.chains[slot].base.is_some() {
                                    return Err(self.src.err_at(
                                        c,
                                        format!("built-in chain `{}` cannot be deleted", c.text),
                                        "expected a user-defined chain",
                                    ));
                                }
                                t.retain(&mut d, |x| *x.name != *c.text)
                            }
                            None => t.retain(&mut d, |c| c.base.is_some()),
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
                        let rule = self.rule(&spec, span, t, lowered, &mut texts)?;
                        let slot = self.find_slot(t, &d, chain)?;
                        let pos = if append {
                            None
                        } else {
                            let pos = insert_at.unwrap_or(1) as usize;
                            let len = d.chains[slot].rules.len();
                            if pos > len + 1 {
                                return Err(self.src.err_at(chain, format!("insert position {pos} is past the end of chain `{}` ({len} rules)", chain.text), "expected a position from 1 to one past the last rule"));
                            }
                            Some(pos - 1)
                        };
                        d.insert(slot, pos, rule, spec.tracks);
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
        Ok((d, done))
    }

    fn find_slot(
        &self,
        t: &mut DraftTable<'a>,
        d: &Drafts,
        name: Located<'_>,
    ) -> Result<usize, InputError> {
        t.slot(d, name.text).ok_or_else(|| {
            self.src.err_at(
                name,
                format!("no chain `{}` in table {}", name.text, t.name),
                "expected a built-in chain or one declared with :NAME - or -N NAME",
            )
        })
    }

    fn build(&self, d: Drafts, tables: Vec<DoneTable<'a>>) -> Result<Policy, InputError> {
        let Drafts { mut chains, marks } = d;
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
                    .any(|t| t.chains.clone().any(|s| marks[s].live && marks[s].tracks))
            })
            .collect();
        let mut notes = Vec::new();
        for t in &tables {
            for c in &mut chains[t.chains.clone()] {
                let Some(base) = &c.base else { continue };
                if base.kind == ChainKind::Opening && !tracking.contains(&t.family) {
                    let accept = base.policy.as_ref().map(|p| &p.action);
                    if !matches!(accept, Some(Action::Accept)) || !c.rules.is_empty() {
                        notes.push(format!(
                            "chain {} of table {} is not evaluated: {UNTRACKED}",
                            c.name, t.name
                        ));
                    }
                    c.base = None;
                }
            }
        }
        // The chains there are, numbered in order; jumps renumbered to match.
        let mut ids = vec![u32::MAX; chains.len()];
        let mut next = 0;
        for (id, m) in ids.iter_mut().zip(&marks) {
            if m.live {
                *id = next;
                next += 1;
            }
        }
        let mut live = marks.iter().map(|m| m.live);
        chains.retain(|_| live.next().expect("a mark per chain"));
        for r in chains.iter_mut().flat_map(|c| &mut c.rules) {
            if let Action::Jump(to) | Action::Goto(to) = &mut r.action {
                let id = ids[*to];
                assert!(id != u32::MAX, "a chain a rule jumps to is not deleted");
                *to = id as usize;
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
        texts: &mut Texts,
    ) -> Result<Rule, InputError> {
        let (matches, opaque) = match lowered {
            Some((f, l)) if f == table.family => l,
            _ => self.conditions(spec, table.family),
        }?;
        let opaque = (!opaque.is_empty()).then(|| texts.opaque(opaque.join(" ")));
        let action = match &spec.target {
            None => Action::Continue,
            Some(t) => match &t.kind {
                TargetKind::Accept => Action::Accept,
                TargetKind::Drop => Action::Drop,
                TargetKind::Reject => Action::Reject,
                TargetKind::Return => Action::Return,
                TargetKind::Continue => Action::Continue,
                TargetKind::Unknown(why) => texts.unknown(why),
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

//! The vendor-neutral policy model every front-end lowers into.
//!
//! A policy is a list of chains. Base chains hang off a hook with a priority
//! (iptables tables map to their fixed priorities, nftables gives its own);
//! user chains are reached by jumps. Each rule keeps its match as an exact
//! [`PacketSet`], anything the engine cannot model as an `opaque` note, and the
//! source span it came from. A base chain's default policy is an explicit rule
//! too, so findings can point at it like at any other line.

use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet};
use std::sync::{Arc, OnceLock};

/// One input file, kept whole so that findings can quote and underline lines.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: Text,
}

/// A file's text (UTF-8): read into memory, or mapped from the file.
///
/// A mapped text's pages belong to the page cache, not to the process, so
/// once a front-end has read it through they can be given back
/// ([`Text::release`]) and the few lines a report quotes read in again: a
/// 150 MB dump need not stay resident beside the policy built from it.
/// Mapping assumes, as every reader of a mapped file does, that nobody
/// changes the file while the check runs.
#[derive(Clone)]
pub struct Text(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Owned(String),
    /// The mapped bytes from `start` on (past a byte-order mark), UTF-8.
    Mapped {
        map: Arc<memmap2::Mmap>,
        start: usize,
    },
}

impl Text {
    /// The bytes of `map` from `start` on, if they are UTF-8; else why
    /// not, and the map back.
    pub fn mapped(
        map: memmap2::Mmap,
        start: usize,
    ) -> Result<Text, (std::str::Utf8Error, memmap2::Mmap)> {
        if let Err(e) = std::str::from_utf8(&map[start..]) {
            return Err((e, map));
        }
        Ok(Text(TextRepr::Mapped {
            map: Arc::new(map),
            start,
        }))
    }

    /// Gives the pages of a mapped text's `bytes` back to the page cache;
    /// reading them again maps them in again, with the same bytes. Panics
    /// when the range is not inside the text (advice outside the map would
    /// reach other memory).
    pub fn release(&self, bytes: std::ops::Range<usize>) {
        assert!(
            bytes.start <= bytes.end && bytes.end <= self.len(),
            "a range of the text"
        );
        #[cfg(target_os = "linux")]
        if let TextRepr::Mapped { map, start } = &self.0 {
            // SAFETY: the mapping is a read-only map of the file, so after
            // MADV_DONTNEED each page reads the file's bytes again when
            // touched: text borrowed from it stays what it was (on the
            // assumption, made by the mapping itself, that the file does not
            // change). The range is inside the map, as asserted above.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start + bytes.start,
                    bytes.len(),
                )
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = bytes;
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            TextRepr::Owned(s) => s,
            // SAFETY: checked to be UTF-8 when mapped, and never written.
            TextRepr::Mapped { map, start } => unsafe {
                std::str::from_utf8_unchecked(&map[*start..])
            },
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(TextRepr::Owned(s))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text({} bytes)", self.len())
    }
}

/// Where a rule came from: a whole line of one file.
///
/// Offsets are 32-bit, as a text is at most [`MAX_TEXT`] bytes: a span (one
/// per rule) takes 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The file's place in [`Policy::files`].
    pub file: u32,
    /// 1-based line number.
    pub line: u32,
    /// Byte range of the rule's text within the file.
    pub start: u32,
    pub end: u32,
}

/// The largest text read, in bytes (4 GiB), so that a byte offset fits a
/// [`Span`]'s 32 bits.
pub const MAX_TEXT: usize = u32::MAX as usize;

impl Span {
    /// The span of `bytes` (of a text up to [`MAX_TEXT`]) at `line` of file `file`.
    pub fn new(file: usize, line: u32, bytes: std::ops::Range<usize>) -> Span {
        let offset = |b: usize| u32::try_from(b).expect("a text of at most MAX_TEXT bytes");
        Span {
            file: u32::try_from(file).expect("fewer than 2^32 files"),
            line,
            start: offset(bytes.start),
            end: offset(bytes.end),
        }
    }

    /// The byte range of the span's text.
    pub fn bytes(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Connection tracking looks packets up at this priority of prerouting and
/// output; chains that run earlier (iptables' raw table) see no state yet.
pub const CONNTRACK_PRIORITY: i32 = -200;

/// Netfilter hooks, in the order a forwarded packet meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    /// nft `ingress` (netdev and inet): packets arriving on given devices,
    /// before prerouting and connection tracking.
    Ingress,
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    /// nft `egress` (netdev): packets leaving on given devices, last.
    Egress,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Egress => "egress",
        }
    }
}

/// Which packets of a connection a base chain sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// Every packet.
    Filter,
    /// Only those that open a connection: NAT chains (consulted once per
    /// connection), and access lists whose replies cannot be placed (a
    /// `show access-lists` listing binds none to an interface).
    Opening,
}

/// Where a base chain attaches.
#[derive(Debug, Clone)]
pub struct BaseChain {
    pub hook: Hook,
    pub priority: i32,
    pub kind: ChainKind,
    /// The family whose packets the chain sees; `None` for both (nft `inet`).
    pub family: Option<Family>,
    /// The default verdict, as an explicit rule (`None`: accept, as nft chains without one).
    pub policy: Option<Rule>,
    /// The interface names an ingress (egress) chain sees packets arrive on
    /// (leave by); `None` for every interface.
    pub devices: Option<IntervalSet>,
    /// The packets the chain sees, where not every packet of its hook: a
    /// stateful firewall lets the rest through (ASA: the packets of a known
    /// connection bypass its access lists).
    pub scope: Option<PacketSet>,
}

pub type ChainId = usize;

#[derive(Debug, Clone)]
pub struct Chain {
    /// Shared by the chains of a table (a large dump has hundreds of thousands).
    pub table: Arc<str>,
    pub name: Box<str>,
    pub base: Option<Box<BaseChain>>,
    pub rules: Vec<Rule>,
    /// Where the chain was declared.
    pub span: Option<Span>,
    /// The family the chain's rules are written for; `None` for both (nft
    /// `inet`, Cisco lists that mix them).
    pub family: Option<Family>,
    /// Built on first use by [`Policy::rule_index`].
    pub index: OnceLock<Arc<RuleIndex>>,
    /// Found on first use by [`Policy::runs`] (behind one pointer, not the two
    /// of an `Arc<[Run]>`: a large dump has a chain per few rules).
    pub runs: OnceLock<Arc<Vec<Run>>>,
    /// The chain this one copies, for the base chains of another stage
    /// ([`crate::stages::settle`]): findings on its rules are the original's.
    pub copy_of: Option<ChainId>,
}

/// Which rules of a long chain may match a packet set: an index of every
/// rule's cubes, so that a set of a few packets (what a jump returns, say)
/// meets the rules it can match instead of every rule after it.
pub struct RuleIndex {
    cubes: crate::space::CubeIndex,
    /// The rule of each indexed cube.
    rule: Vec<u32>,
}

impl std::fmt::Debug for RuleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuleIndex({} cubes)", self.rule.len())
    }
}

impl RuleIndex {
    /// The rules from `from` on that may match a packet of `set`, in order.
    pub fn candidates(&self, set: &PacketSet, from: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for c in set.cubes() {
            self.cubes.overlapping(c, |i| {
                let r = self.rule[i] as usize;
                if r >= from {
                    out.push(r);
                }
            });
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Consecutive rules of a chain that decide alike, each matching one cube,
/// the cubes alike in every dimension but one and apart in that one (a ban
/// list: an address per rule). Taken together they decide what their union
/// holds the way they would one by one, so a walk may take them in one step
/// (see [`crate::eval::symbolic::Evaluator::by_runs`]) and name the rules
/// afterwards, rather than cut its set once per rule.
#[derive(Debug)]
pub struct Run {
    pub first: usize,
    pub last: usize,
    /// The union of the rules' matches: their common cube, with every
    /// rule's values in the dimension they differ in.
    pub cube: Cube,
    /// That dimension.
    pub dim: Dim,
    /// Each range of the rules' values there, ascending, with its rule.
    ranges: Vec<(u128, u128, u32)>,
}

impl Run {
    /// Fewer rules than this gain nothing from being taken together.
    const SHORTEST: usize = 16;

    /// The rules of the run that match some packet of `set` (ascending).
    pub fn rules_meeting(&self, set: &PacketSet) -> Vec<usize> {
        let mut met = vec![false; self.last - self.first + 1];
        for c in set.cubes().iter().filter(|c| c.intersects(&self.cube)) {
            // Both lists ascend: one pass over each.
            let mut at = 0;
            for &(lo, hi) in c.get(self.dim).ranges() {
                at += self.ranges[at..].partition_point(|&(_, b, _)| b < lo);
                for &(_, _, r) in self.ranges[at..].iter().take_while(|&&(a, _, _)| a <= hi) {
                    met[r as usize - self.first] = true;
                }
            }
        }
        (self.first..=self.last)
            .filter(|r| met[r - self.first])
            .collect()
    }

    /// The runs of `rules`, in order.
    fn find(rules: &[Rule]) -> Vec<Run> {
        // The one cube of a rule that may join a run, and its kind of verdict.
        fn member(r: &Rule) -> Option<(&Cube, bool)> {
            let drops = match r.action {
                Action::Accept => false,
                Action::Drop | Action::Reject => true,
                _ => return None,
            };
            let certain =
                r.opaque().is_none() && r.by_name().is_none() && r.kind() == RuleKind::Rule;
            match r.matches.cubes() {
                [c] if certain => Some((c, drops)),
                _ => None,
            }
        }
        let mut runs = Vec::new();
        let mut i = 0;
        while i < rules.len() {
            let Some((head, verdict)) = member(&rules[i]) else {
                i += 1;
                continue;
            };
            let mut dim = None;
            let mut j = i + 1;
            while let Some((c, v)) = rules.get(j).and_then(member) {
                let mut apart = c.differing(head);
                let (Some(d), None) = (apart.next(), apart.next()) else {
                    break;
                };
                if v != verdict || dim.is_some_and(|x| x != d) {
                    break;
                }
                dim = Some(d);
                j += 1;
            }
            match dim.filter(|_| j - i >= Run::SHORTEST) {
                Some(d) => {
                    runs.push(Run::of(rules, i, j - 1, head, d));
                    i = j;
                }
                None => i += 1,
            }
        }
        runs
    }

    /// Rules `first..=last`, alike but in `dim`, as a run.
    fn of(rules: &[Rule], first: usize, last: usize, head: &Cube, dim: Dim) -> Run {
        let ranges = first_owners(
            (first..=last)
                .flat_map(|r| {
                    let c = &rules[r].matches.cubes()[0];
                    c.get(dim)
                        .ranges()
                        .iter()
                        .map(move |&(a, b)| (a, b, r as u32))
                })
                .collect(),
        );
        let all = IntervalSet::from_ranges(ranges.iter().map(|&(a, b, _)| (a, b)).collect());
        Run {
            first,
            last,
            cube: head
                .clone()
                .with(dim, all)
                .expect("rules match some values"),
            dim,
            ranges,
        }
    }
}

/// Ranges of values, each with the rule that holds it, cut where they
/// overlap so that each value belongs to the first rule holding it (a ban
/// list that names an address twice drops it by the first): ascending,
/// apart.
fn first_owners(mut ranges: Vec<(u128, u128, u32)>) -> Vec<(u128, u128, u32)> {
    use std::cmp::Reverse;
    ranges.sort_unstable();
    if ranges.windows(2).all(|w| w[0].1 < w[1].0) {
        return ranges;
    }
    let mut cuts: Vec<u128> = ranges
        .iter()
        .flat_map(|&(a, b, _)| [Some(a), b.checked_add(1)])
        .flatten()
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // The ranges holding the stretch from each cut to the next, first rule on top.
    let mut holding = std::collections::BinaryHeap::new();
    let mut next = 0;
    let mut out: Vec<(u128, u128, u32)> = Vec::new();
    for (k, &from) in cuts.iter().enumerate() {
        while let Some(&(a, b, r)) = ranges.get(next).filter(|x| x.0 <= from) {
            holding.push(Reverse((r, b, a)));
            next += 1;
        }
        while holding.peek().is_some_and(|Reverse((_, b, _))| *b < from) {
            holding.pop();
        }
        let Some(&Reverse((rule, _, _))) = holding.peek() else {
            continue;
        };
        let to = cuts.get(k + 1).map_or(u128::MAX, |&c| c - 1);
        match out.last_mut() {
            Some((_, hi, r)) if *r == rule && *hi + 1 == from => *hi = to,
            _ => out.push((from, to, rule)),
        }
    }
    out
}

/// What happens to a packet a rule matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Accept,
    Drop,
    /// Drop with an error answer; as final as drop.
    Reject,
    Return,
    Jump(ChainId),
    Goto(ChainId),
    /// A statement that does not decide (log, counter, mark, …): evaluation goes on.
    Continue,
    /// Source NAT (SNAT to the given addresses, or MASQUERADE when `None`): the
    /// packet is accepted by this chain and its replies come back to the new address.
    SourceNat(Option<Box<IntervalSet>>),
    /// An action whose effect is not modelled (DNAT, queue, …): any verdict may follow.
    Unknown(Reason),
}

/// Why an action is not modelled. Behind one pointer, so that an action
/// takes 16 bytes rather than 24 (a million-rule dump has a million), and
/// shared where a front-end gives the same reason to many rules
/// (kube-proxy's DNAT to every endpoint).
pub type Reason = Arc<std::borrow::Cow<'static, str>>;

impl Action {
    /// An action not modelled, for `why`.
    pub fn unknown(why: impl Into<std::borrow::Cow<'static, str>>) -> Action {
        Action::Unknown(Arc::new(why.into()))
    }
}

/// Whether a rule was written as such or stands for a chain's default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleKind {
    #[default]
    Rule,
    Policy,
}

/// A rule as the engine meets it: the packets it matches and what it does
/// with them. What only some rules carry sits in [`RuleNotes`], boxed (a
/// policy's kind among it), and an unmodelled action's reason behind one
/// pointer, so that the rule of a million-rule dump takes 64 bytes.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The packets the rule's modelled matches accept.
    pub matches: PacketSet,
    pub action: Action,
    pub span: Span,
    /// `None` when every note is empty (and the rule is not a policy).
    notes: Option<Box<RuleNotes>>,
}

/// What few rules carry beyond their matches and action.
#[derive(Debug, Clone, Default)]
pub struct RuleNotes {
    /// The constructs that also take part in matching but are not modelled; the
    /// rule may or may not match any packet of `matches`. Shared: a large
    /// dump repeats the same few (kube-proxy's `-m statistic` probabilities
    /// on a third of its rules), and a front-end may give each once.
    pub opaque: Option<Arc<str>>,
    /// Where the input is a translation (`nft -j` JSON, read as the nft
    /// commands it stands for), the rule as written in that translation.
    pub written: Option<Span>,
    /// The rule's own number where the format numbers rules (Cisco ACL
    /// sequence numbers), so that a fix can name its place.
    pub number: Option<u32>,
    /// Where the rule matches the addresses of DNS names the firewall looks
    /// up itself, which the export does not hold (see [`Policy::bind_names`]).
    pub by_name: Option<Box<ByName>>,
    /// Set by [`Rule::new`] and kept by the notes' changes: here rather than
    /// in every rule, as only a chain's policy is not a plain rule.
    pub(crate) kind: RuleKind,
}

/// A match on the addresses of DNS names (ASA `fqdn` objects). Unbound, the
/// names make the rule unknown (`opaque` says so); bound to addresses, or
/// assumed to hold the destination of the traffic in question, it is exact.
/// The rule's `matches` has every address of the names' families in their place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByName {
    /// The sides (source, destination) that name DNS names.
    pub sides: Vec<NamedSide>,
    /// The rule's unmodelled constructs other than the names.
    pub other: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedSide {
    /// The address dimension the names stand in.
    pub dim: crate::space::Dim,
    pub names: Vec<String>,
    /// The side's literal addresses (a set over the family and `dim`).
    pub literal: PacketSet,
    /// Why the side is unknown while its names are unbound.
    pub reasons: Vec<String>,
}

/// A DNS name as names are compared: without case or a trailing dot.
pub fn dns_name(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// What the site knows of the DNS names a policy matches: their addresses,
/// or, for traffic to one name, that its destination is that name's.
pub struct NameBinding<'a> {
    /// The addresses of names, both families together.
    pub resolved: &'a std::collections::BTreeMap<String, Vec<ipnet::IpNet>>,
    /// The name the traffic in question is addressed to, whatever its addresses.
    pub assumed: Option<&'a str>,
}

impl Rule {
    /// The chain the rule jumps or goes to, if it does.
    pub fn target(&self) -> Option<ChainId> {
        match self.action {
            Action::Jump(t) | Action::Goto(t) => Some(t),
            _ => None,
        }
    }

    pub fn new(matches: PacketSet, action: Action, span: Span, kind: RuleKind) -> Rule {
        let mut rule = Rule {
            matches,
            action,
            span,
            notes: None,
        };
        rule.set_notes(RuleNotes::default(), kind);
        rule
    }

    /// Whether the rule was written as such or stands for a chain's policy.
    pub fn kind(&self) -> RuleKind {
        self.notes().map_or(RuleKind::Rule, |n| n.kind)
    }

    /// The rule with these notes.
    pub fn with(mut self, notes: RuleNotes) -> Rule {
        let kind = self.kind();
        self.set_notes(notes, kind);
        self
    }

    /// Changes the rule's notes through `f`.
    pub fn edit_notes(&mut self, f: impl FnOnce(&mut RuleNotes)) {
        let kind = self.kind();
        let mut notes = self.notes.take().map(|b| *b).unwrap_or_default();
        f(&mut notes);
        self.set_notes(notes, kind);
    }

    /// Keeps the notes (of a rule of `kind`), boxed, unless all are empty.
    fn set_notes(&mut self, notes: RuleNotes, kind: RuleKind) {
        let empty = notes.opaque.is_none()
            && notes.written.is_none()
            && notes.number.is_none()
            && notes.by_name.is_none()
            && kind == RuleKind::Rule;
        self.notes = (!empty).then(|| Box::new(RuleNotes { kind, ..notes }));
    }

    fn notes(&self) -> Option<&RuleNotes> {
        self.notes.as_deref()
    }

    /// The constructs that also take part in matching but are not modelled.
    pub fn opaque(&self) -> Option<&str> {
        self.notes()?.opaque.as_deref()
    }

    /// The rule as written in the translation the input is (`nft -j`).
    pub fn written(&self) -> Option<Span> {
        self.notes()?.written
    }

    /// The rule's own number (Cisco sequence numbers).
    pub fn number(&self) -> Option<u32> {
        self.notes()?.number
    }

    /// The DNS names the rule matches by.
    pub fn by_name(&self) -> Option<&ByName> {
        self.notes()?.by_name.as_deref()
    }

    /// Whether any packet's verdict here depends on something unmodelled.
    pub fn unknown_reason(&self) -> Option<&str> {
        match (self.opaque(), &self.action) {
            (Some(o), _) => Some(o),
            (None, Action::Unknown(r)) => Some(r),
            _ => None,
        }
    }
}

/// Which vendor syntax a policy came from, so fixes can be written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Iptables,
    Nft,
    NftJson,
    CiscoIos,
    CiscoAsa,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Iptables => "iptables",
            Format::Nft => "nft",
            Format::NftJson => "nft-json",
            Format::CiscoIos => "cisco-ios",
            Format::CiscoAsa => "cisco-asa",
        }
    }
}

/// A whole firewall, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Policy {
    pub format: Format,
    pub files: Vec<SourceFile>,
    pub chains: Vec<Chain>,
    /// The families the export holds rules for.
    pub families: Vec<Family>,
    /// What the front-end read but left out of the evaluation, for the report.
    pub notes: Vec<String>,
    /// The network around the firewall, where the export describes it.
    pub topology: Option<Topology>,
    /// Whether the export binds its lists to no interface (a `show
    /// access-lists` listing): they stand for the dialler's outbound path
    /// only, so traffic towards the dialler cannot be checked.
    pub unbound: bool,
    /// Addresses the export itself gives for DNS names: the elements of the
    /// nft sets the site says hold them.
    pub dns_addresses: std::collections::BTreeMap<String, Vec<ipnet::IpNet>>,
    /// Built on first use by [`Policy::roots`].
    pub roots: OnceLock<Vec<crate::graph::Roots>>,
}

/// Interfaces with their subnets, and routes: what a router's configuration
/// says of where traffic enters and leaves (Linux exports say nothing).
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub interfaces: Vec<Interface>,
    /// Static routes: the destinations and the interface they leave by.
    pub routes: Vec<(ipnet::IpNet, String)>,
}

#[derive(Debug, Clone)]
pub struct Interface {
    /// The name as rules match it (the In and Out dimensions).
    pub name: String,
    /// Other spellings of it a user may write (`GigabitEthernet0/1` for `Gi0/1`).
    pub aliases: Vec<String>,
    /// The subnets configured on it.
    pub nets: Vec<ipnet::IpNet>,
}

impl Topology {
    /// The interface a name or alias stands for (compared without case).
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| {
            i.name.eq_ignore_ascii_case(name)
                || i.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The interface whose subnet holds `addr`, else the one the longest
    /// matching route leaves by.
    pub fn interface_for(&self, addr: std::net::IpAddr) -> Option<&str> {
        if let Some(i) = self
            .interfaces
            .iter()
            .find(|i| i.nets.iter().any(|n| n.contains(&addr)))
        {
            return Some(&i.name);
        }
        self.routes
            .iter()
            .filter(|(n, _)| n.contains(&addr))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, i)| i.as_str())
    }
}

/// A rule, by chain and position (`None` for the chain's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    pub chain: ChainId,
    pub index: Option<usize>,
}

impl Policy {
    pub fn rule(&self, r: RuleRef) -> &Rule {
        let chain = &self.chains[r.chain];
        match r.index {
            Some(i) => &chain.rules[i],
            None => chain
                .base
                .as_ref()
                .and_then(|b| b.policy.as_ref())
                .expect("policy references point at base chains with a policy"),
        }
    }

    /// The base chains from which `chain` is reached (itself, if it is one).
    pub fn roots(&self, chain: ChainId) -> &[ChainId] {
        &self.roots.get_or_init(|| crate::graph::roots(self))[chain]
    }

    /// The runs of a chain's rules (found on first use).
    pub fn runs(&self, chain: ChainId) -> &[Run] {
        self.chains[chain]
            .runs
            .get_or_init(|| Arc::new(Run::find(&self.chains[chain].rules)))
    }

    /// The index of a chain's rules (built on first use).
    pub fn rule_index(&self, chain: ChainId) -> &RuleIndex {
        self.chains[chain].index.get_or_init(|| {
            let c = &self.chains[chain];
            let mut cubes = Vec::new();
            let mut rule = Vec::new();
            for (i, r) in c.rules.iter().enumerate() {
                for cube in r.matches.cubes() {
                    cubes.push(cube);
                    rule.push(i as u32);
                }
            }
            Arc::new(RuleIndex {
                cubes: crate::space::CubeIndex::new(&cubes),
                rule,
            })
        })
    }

    /// The file a span is in.
    pub fn file(&self, s: Span) -> &SourceFile {
        &self.files[s.file as usize]
    }

    /// The text of a span's line(s).
    pub fn text(&self, s: Span) -> &str {
        &self.file(s).text[s.bytes()]
    }

    /// An error pointing at the text of a span.
    pub fn error_at(
        &self,
        s: Span,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> crate::diag::InputError {
        let f = self.file(s);
        let at = s.bytes();
        crate::diag::InputError::at(&f.path, &f.text, at.start, at.len(), message, expected)
    }

    pub fn file_path(&self, s: Span) -> &str {
        &self.file(s).path
    }

    /// The DNS names some rule matches by (ASA `fqdn` objects), in order, once each.
    pub fn dns_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let rules = self.chains.iter().flat_map(|c| &c.rules);
        for side in rules.flat_map(|r| r.by_name().into_iter().flat_map(|b| &b.sides)) {
            for n in &side.names {
                if !out.contains(&n.as_str()) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// The policy with its name matches made exact where the binding allows:
    /// a destination naming the assumed name matches its traffic whatever the
    /// addresses; a side whose names all have addresses matches those (the
    /// rule keeps its names, so it still reads as a match by name). A side
    /// left over keeps the rule unknown. `None` when no rule matches by name.
    pub fn bind_names(&self, b: &NameBinding<'_>) -> Option<Policy> {
        use crate::space::{Dim, dim::addr};
        if !self
            .chains
            .iter()
            .any(|c| c.rules.iter().any(|r| r.by_name().is_some()))
        {
            return None;
        }
        let mut bound = self.clone();
        for c in &mut bound.chains {
            // Built from the unbound matches.
            c.index = OnceLock::new();
            c.runs = OnceLock::new();
        }
        for rule in bound.chains.iter_mut().flat_map(|c| &mut c.rules) {
            let Some(n) = rule.by_name() else {
                continue;
            };
            let mut exact = rule.matches.clone();
            // The constructs still unknown: the rule's own, and sides left open.
            let mut unknown: Vec<&str> = n.other.iter().map(String::as_str).collect();
            for side in &n.sides {
                if side.dim == Dim::Dst
                    && b.assumed.is_some_and(|a| side.names.iter().any(|x| x == a))
                {
                    continue;
                }
                if !side.names.iter().all(|x| b.resolved.contains_key(x)) {
                    unknown.extend(side.reasons.iter().map(String::as_str));
                    continue;
                }
                let mut allowed = side.literal.clone();
                for f in [Family::Ipv4, Family::Ipv6] {
                    let addrs = IntervalSet::from_ranges(
                        side.names
                            .iter()
                            .flat_map(|x| &b.resolved[x])
                            .filter(|a| Family::of(a.addr()) == f)
                            .map(|a| addr::prefix_range(*a))
                            .collect(),
                    );
                    allowed = allowed.union(
                        &PacketSet::from(crate::space::Cube::family(f)).restrict(side.dim, &addrs),
                    );
                }
                exact = exact.intersect(&allowed);
            }
            let opaque = (!unknown.is_empty()).then(|| unknown.join(", ").into());
            rule.edit_notes(|x| x.opaque = opaque);
            rule.matches = exact;
        }
        Some(bound)
    }

    /// Base chains a forwarded packet crosses, in order: ingress, prerouting,
    /// forward, postrouting, egress, each by priority.
    pub fn forward_path(&self) -> Vec<ChainId> {
        let mut path: Vec<(Hook, i32, ChainId)> = self
            .chains
            .iter()
            .enumerate()
            .filter_map(|(id, c)| {
                let b = c.base.as_ref()?;
                matches!(
                    b.hook,
                    Hook::Ingress
                        | Hook::Prerouting
                        | Hook::Forward
                        | Hook::Postrouting
                        | Hook::Egress
                )
                .then_some((b.hook, b.priority, id))
            })
            .collect();
        path.sort();
        path.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Whether the chain runs before connection tracking: a prerouting or
    /// output base chain of lower priority, or a chain only such chains reach.
    pub fn before_conntrack(&self, chain: ChainId) -> bool {
        self.only_under(chain, |b| crate::stages::Stage::of(b).untracked)
    }

    /// Whether the chain runs before routing (ingress and prerouting), where
    /// a forwarded packet has no output interface yet.
    pub fn before_routing(&self, chain: ChainId) -> bool {
        self.only_under(chain, |b| crate::stages::Stage::of(b).unrouted)
    }

    /// Whether every base chain that reaches `chain` (itself, for a base chain) is `early`.
    fn only_under(&self, chain: ChainId, early: impl Fn(&BaseChain) -> bool) -> bool {
        let roots = self.roots(chain);
        !roots.is_empty()
            && roots
                .iter()
                .all(|&id| self.chains[id].base.as_deref().is_some_and(&early))
    }
}

/// A rule to add: `matches` with `action`, before the rule at `position` of
/// `chain` (or at its end when `position` is past the last rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub chain: ChainId,
    pub position: usize,
    pub matches: crate::space::Cube,
    pub action: Action,
}

#[cfg(test)]
mod tests {
    use super::first_owners;

    #[test]
    fn each_value_belongs_to_the_first_rule_holding_it() {
        // Rule 0 holds 10-20, rule 1 5-12 and 30, rule 2 15-40, rule 3 30 again.
        let ranges = vec![
            (10, 20, 0),
            (5, 12, 1),
            (30, 30, 1),
            (15, 40, 2),
            (30, 30, 3),
        ];
        assert_eq!(
            first_owners(ranges),
            vec![
                (5, 9, 1),
                (10, 20, 0),
                (21, 29, 2),
                (30, 30, 1),
                (31, 40, 2)
            ]
        );
        assert_eq!(
            first_owners(vec![(3, 4, 1), (0, 1, 0)]),
            vec![(0, 1, 0), (3, 4, 1)]
        );
        assert_eq!(
            first_owners(vec![(0, u128::MAX, 1), (7, 7, 0)]),
            vec![(0, 6, 1), (7, 7, 0), (8, u128::MAX, 1)]
        );
    }
}

//! Gives meaning to an nftables ruleset: base chains with their hooks and
//! priorities, rules lowered to packet sets (a verdict map becomes one rule
//! per element, in element order, which is exact because map keys are
//! disjoint), and every construct the engine does not model kept as such.

use super::lex::{Kind, Token};
use super::parse::{RuleDef, SetDef, Sources, Table, TableFamily};
use crate::diag::InputError;
use crate::model::{
    Action, BaseChain, ByName, Chain, ChainKind, Hook, NamedSide, Rule, RuleKind, RuleNotes, Span,
};
use crate::space::dim::{State, TcpFlag, addr, icmp, iface, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

type Res<T> = Result<T, InputError>;

/// Lowers the tables into a policy over the files read.
/// The chains of a ruleset, the families it filters, what it leaves out, and
/// the addresses of DNS names its name sets hold.
pub struct Lowered {
    pub chains: Vec<Chain>,
    pub families: Vec<Family>,
    pub notes: Vec<String>,
    pub dns_addresses: BTreeMap<String, Vec<ipnet::IpNet>>,
}

/// `name_sets`: the sets (`FAMILY TABLE SET`) that hold the addresses of DNS names.
pub fn lower(
    src: &Sources,
    tables: &[Table<'_>],
    name_sets: &BTreeMap<String, Vec<String>>,
) -> Res<Lowered> {
    let lines: Vec<Vec<usize>> = src
        .files
        .iter()
        .map(|f| {
            std::iter::once(0)
                .chain(f.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
        .collect();
    // Spans of a script written from JSON point at the JSON object, and
    // keep the script's line as how the rule is written.
    let span = |file: usize, start: usize, end: usize| -> Located {
        let line = lines[file].partition_point(|&s| s <= start) as u32;
        let here = Span::new(file, line, start..end);
        match src.origin(file, line) {
            // The script's line to its end, with the `# handle N` it may carry.
            Some((start, end)) => Located {
                span: Span::new(
                    0,
                    lines[0].partition_point(|&s| s <= start) as u32,
                    start..end,
                ),
                written: Some(Span::new(
                    file,
                    line,
                    here.bytes().start
                        ..lines[file]
                            .get(line as usize)
                            .map_or(src.files[file].text.len(), |next| next - 1),
                )),
            },
            None => Located {
                span: here,
                written: None,
            },
        }
    };
    let mut ids: rustc_hash::FxHashMap<(usize, &str), usize> = Default::default();
    for (ti, t) in tables
        .iter()
        .enumerate()
        .filter(|(_, t)| t.family != TableFamily::Other)
    {
        for c in &t.chains {
            ids.insert((ti, c.name), ids.len());
        }
    }
    let mut chains = Vec::with_capacity(ids.len());
    let mut families = Vec::new();
    let mut notes = Vec::new();
    let mut dns_addresses: BTreeMap<String, Vec<ipnet::IpNet>> = BTreeMap::new();
    // The families whose rules make the kernel track connections: nat
    // chains see only packets of tracked connections, so in the others
    // they never run.
    let mut tracking: Vec<Family> = Vec::new();
    for t in tables.iter() {
        let tracks = t.chains.iter().flat_map(|c| &c.rules).any(|r| {
            r.tokens
                .iter()
                .any(|x| x.kind == Kind::Word && TRACKING_WORDS.contains(&x.text))
        });
        if tracks {
            tracking.extend(ip_families(t.family).unwrap_or_default());
        }
    }
    for (ti, t) in tables.iter().enumerate() {
        let Some(fams) = ip_families(t.family) else {
            notes.push(format!(
                "table {} {} is not on the IP forward path (not evaluated)",
                t.family_word, t.name
            ));
            continue;
        };
        for f in fams {
            if !families.contains(f) {
                families.push(*f);
            }
        }
        let table_family = match t.family {
            TableFamily::Ip => Some(Family::Ipv4),
            TableFamily::Ip6 => Some(Family::Ipv6),
            _ => None,
        };
        let cx = RuleCx {
            src,
            table: t,
            chain_id: &|name: &str| ids.get(&(ti, name)).copied(),
            named: RefCell::default(),
            dynamic: dynamic_sets(t),
            name_sets: name_sets
                .iter()
                .filter_map(|(k, names)| {
                    let (f, rest) = k.split_once(' ')?;
                    let (table, set) = rest.split_once(' ')?;
                    (f == t.family_word && table == t.name).then_some((set, names.as_slice()))
                })
                .collect(),
            dns_addresses: RefCell::default(),
        };
        let table: std::sync::Arc<str> = format!("{} {}", t.family.name(), t.name).into();
        for c in &t.chains {
            let base = match &c.base {
                Some(b) => {
                    let hook = match b.hook.text {
                        "ingress" => Some(Hook::Ingress),
                        "egress" => Some(Hook::Egress),
                        "prerouting" => Some(Hook::Prerouting),
                        "input" => Some(Hook::Input),
                        "forward" => Some(Hook::Forward),
                        "output" => Some(Hook::Output),
                        "postrouting" => Some(Hook::Postrouting),
                        _ => None,
                    };
                    let kind = if b.kind.is("nat") {
                        ChainKind::Opening
                    } else {
                        ChainKind::Filter
                    };
                    if hook.is_none() {
                        notes.push(format!(
                            "chain {} of table {} {} hooks {}, which is not on the IP forward path (not evaluated)",
                            c.name, t.family_word, t.name, b.hook.text
                        ));
                    }
                    // A nat chain runs for the families that track connections.
                    let mut family = table_family;
                    let mut hook = hook;
                    if kind == ChainKind::Opening && hook.is_some() {
                        let runs: Vec<Family> = fams
                            .iter()
                            .copied()
                            .filter(|f| tracking.contains(f))
                            .collect();
                        match runs[..] {
                            [] => {
                                if b.policy_drop || !c.rules.is_empty() {
                                    notes.push(format!(
                                        "chain {} of table {} {} is not evaluated: {}",
                                        c.name,
                                        t.family_word,
                                        t.name,
                                        crate::frontend::UNTRACKED
                                    ));
                                }
                                hook = None;
                            }
                            [one] => family = Some(one),
                            _ => {}
                        }
                    }
                    let devices = (!b.devices.is_empty()).then(|| {
                        IntervalSet::from_ranges(
                            b.devices
                                .iter()
                                .map(|d| {
                                    let v = iface::encode(d.unquoted());
                                    (v, v)
                                })
                                .collect(),
                        )
                    });
                    hook.map(|hook| {
                        let at = line_span(src, &span, &b.policy.unwrap_or(b.hook));
                        BaseChain {
                            devices,
                            scope: None,
                            hook,
                            priority: b.priority,
                            kind,
                            family,
                            policy: Some(
                                Rule::new(
                                    cx.everything(),
                                    if b.policy_drop {
                                        Action::Drop
                                    } else {
                                        Action::Accept
                                    },
                                    at.span,
                                    RuleKind::Policy,
                                )
                                .with(RuleNotes {
                                    written: at.written,
                                    ..RuleNotes::default()
                                }),
                            ),
                        }
                    })
                }
                None => None,
            };
            let mut rules = Vec::new();
            for r in &c.rules {
                rules.extend(cx.rule(r, span(r.file, r.start, r.end))?);
            }
            chains.push(Chain {
                table: table.clone(),
                name: c.name.into(),
                base: base.map(Box::new),
                rules,
                span: Some(line_span(src, &span, &c.decl).span),
                family: table_family,
                index: Default::default(),
                runs: Default::default(),
                copy_of: None,
            });
        }
        for (name, addrs) in cx.dns_addresses.take() {
            dns_addresses.entry(name).or_default().extend(addrs);
        }
    }
    Ok(Lowered {
        chains,
        families,
        notes,
        dns_addresses,
    })
}

/// The span of the whole line holding a token (for policies and declarations).
/// A rule's place: what findings cite, and where a translated input has it written.
#[derive(Clone, Copy)]
struct Located {
    span: Span,
    written: Option<Span>,
}

fn line_span(
    src: &Sources,
    span: &dyn Fn(usize, usize, usize) -> Located,
    t: &Token<'_>,
) -> Located {
    let text = &src.files[t.file].text;
    let start = text[..t.at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[t.at..].find('\n').map_or(text.len(), |i| t.at + i);
    let trimmed = text[start..end].trim_start();
    span(t.file, end - trimmed.len(), end)
}

struct RuleCx<'s, 'a> {
    src: &'s Sources,
    table: &'s Table<'a>,
    chain_id: &'s dyn Fn(&str) -> Option<usize>,
    /// Named sets already read for a field: a large set referenced by many
    /// rules is parsed once.
    named: RefCell<HashMap<(&'a str, Field), IntervalSet>>,
    /// Sets whose elements change at run time.
    dynamic: HashSet<&'a str>,
    /// The table's sets that hold the addresses of DNS names, and the names.
    name_sets: HashMap<&'s str, &'s [String]>,
    /// The elements of those sets, by name.
    dns_addresses: RefCell<BTreeMap<String, Vec<ipnet::IpNet>>>,
}

/// The sets of a table that change at run time: flagged so, or written to
/// by a rule (`add @s { … }`, `update @s …`, `delete @s …`).
fn dynamic_sets<'a>(t: &Table<'a>) -> HashSet<&'a str> {
    let mut out: HashSet<&'a str> = t
        .sets
        .values()
        .filter(|s| s.dynamic)
        .map(|s| s.name)
        .collect();
    for r in t.chains.iter().flat_map(|c| &c.rules) {
        for w in r.tokens.windows(3) {
            if matches!(w[0].text, "add" | "update" | "delete") && w[1].is("@") {
                out.insert(w[2].text);
            }
        }
    }
    out
}

/// What a field of a match compares, and what it implies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Field {
    Addr(Dim, Family),
    Proto(Option<Family>),
    Port(Dim, Option<u8>),
    IcmpType(Family),
    IcmpCode(Family),
    Iface(Dim),
    CtState,
    NfProto,
    TcpFlags,
}

/// A selector of a match: a field the engine models, or one it does not
/// (`meta mark`, `vlan id`, …), which makes the whole match unmodelled.
type Selector = Option<Field>;

pub(super) const VERDICTS: &[&str] = &[
    "accept", "drop", "reject", "return", "continue", "jump", "goto", "queue",
];
/// Words that start an expression: a known field, or a header whose fields
/// the engine does not model.
const FIELD_HEADS: &[&str] = &[
    "ip", "ip6", "tcp", "udp", "th", "icmp", "icmpv6", "meta", "ct", "iifname", "oifname", "iif",
    "oif", "l4proto", "sctp", "udplite", "dccp", "ah", "esp", "comp", "vlan", "ether", "arp", "rt",
    "fib", "socket", "osf", "ipsec", "exthdr", "hbh", "frag", "dst", "mh", "srh", "tcpopt",
    "numgen", "jhash", "symhash", "mark", "igmp", "dscp", "icmpx", "tunnel", "gre", "geneve",
    "vxlan", // What the JSON reader writes for an expression it does not know.
    "json",
];
const STATEMENTS: &[&str] = &[
    "counter",
    "log",
    "comment",
    "limit",
    "quota",
    "masquerade",
    "snat",
    "dnat",
    "redirect",
    "notrack",
    "tproxy",
    "synproxy",
    "dup",
    "fwd",
    "add",
    "update",
    "delete",
    "flow",
    "meter",
    "secmark",
    "xt",
];

impl<'s, 'a> RuleCx<'s, 'a> {
    fn err(
        &self,
        t: &Token<'_>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> InputError {
        self.src.err(t, message, expected)
    }

    /// Every packet the table sees.
    fn everything(&self) -> PacketSet {
        match self.table.family {
            TableFamily::Ip => Cube::family(Family::Ipv4).into(),
            TableFamily::Ip6 => Cube::family(Family::Ipv6).into(),
            _ => PacketSet::universe(),
        }
    }

    /// One rule, or one rule per element of its verdict map.
    fn rule(&self, r: &RuleDef<'a>, at: Located) -> Res<Vec<Rule>> {
        let t = &r.tokens;
        let mut set = self.everything();
        let mut opaque: Vec<String> = Vec::new();
        // Lookups in sets of the addresses of DNS names: the sides, and why
        // they are unknown until bound.
        let mut sides: Vec<NamedSide> = Vec::new();
        let mut by_name: Vec<String> = Vec::new();
        let mut action = Action::Continue;
        let mut vmap: Option<Vec<(PacketSet, Action)>> = None;
        // `th` reads the first bytes of whatever header follows IP: ports
        // where there are ports, other fields (ICMP's type and checksum,
        // GRE's flags and protocol) elsewhere. Packets of other protocols may
        // or may not match, and those a verdict map keyed on `th` meets may
        // take any of its verdicts; and why.
        let mut unsure = PacketSet::empty();
        let mut unsure_map = PacketSet::empty();
        let mut unsure_why: Vec<String> = Vec::new();
        let mut i = 0;
        while i < t.len() {
            let w = t[i];
            if w.kind == Kind::Punct {
                return Err(self.err(
                    &w,
                    format!("unexpected `{}`", w.text),
                    "expected a match, a statement or a verdict",
                ));
            }
            if VERDICTS.contains(&w.text) {
                let (a, next) = self.verdict(t, i)?;
                action = a;
                i = next;
                continue;
            }
            if w.is("fib") {
                // `fib KEYS RESULT [op] VALUE`: the keys may hold `iif`, which
                // is no interface match of its own here.
                let end = fib_end(t, i).unwrap_or_else(|| self.expression_end(t, i + 1));
                opaque.push(join(&t[i..end]));
                i = end;
                continue;
            }
            let selectors = self.selectors(t, i);
            let Some((fields, next)) = selectors else {
                if STATEMENTS.contains(&w.text) {
                    i = self.statement(t, i, &mut action, &mut opaque)?;
                } else {
                    // An expression the engine does not model: kept whole.
                    let end = self.expression_end(t, i + 1);
                    opaque.push(join(&t[i..end]));
                    i = end;
                }
                continue;
            };
            match t.get(next).map(|x| x.text) {
                // `FIELD set EXPR`: a statement that rewrites the field.
                Some("set") => {
                    // The value may hold fields (`set jhash ip saddr mod 2 map { … }`).
                    let end = (next + 1..t.len())
                        .find(|&k| {
                            t[k].kind == Kind::Word
                                && (VERDICTS.contains(&t[k].text)
                                    || STATEMENTS.contains(&t[k].text))
                        })
                        .unwrap_or(t.len());
                    if fields
                        .iter()
                        .any(|f| f.is_some_and(|f| f != Field::CtState))
                    {
                        action = Action::unknown(format!(
                            "`{}` rewrites a field of the packet",
                            join(&t[i..end])
                        ));
                    }
                    i = end;
                }
                // A lookup (`ip saddr map { … }`) is a statement's argument, not a match.
                Some("map") => i = skip_value(t, next + 1),
                Some("vmap") if self.looks_up_dynamic(t, next + 1) => {
                    let after = skip_value(t, next + 1);
                    action = Action::unknown(format!(
                        "verdict map @{} changes at run time",
                        t[next + 2].text
                    ));
                    i = after;
                }
                Some("vmap") => {
                    let (entries, after) = match known(&fields) {
                        Some(fields) => self.vmap(t, next + 1, &fields)?,
                        None => {
                            let after = skip_value(t, next + 1);
                            let what = join(&t[i..after]);
                            action = Action::unknown(format!("a verdict map on {what}"));
                            (Vec::new(), after)
                        }
                    };
                    if let Some(known) = known(&fields) {
                        let other = portless(&set, &known);
                        if !other.is_empty() {
                            unsure_map = other;
                            unsure_why.push(join(&t[i..after]));
                        }
                        vmap = Some(entries);
                    }
                    i = after;
                }
                // A bitwise operation on a field (`ip saddr & 0.0.0.255 == 1`)
                // is not modelled, except the flag masks of `tcp flags`.
                Some("&" | "|" | "^") if fields != [Some(Field::TcpFlags)] => {
                    let end = self.expression_end(t, next);
                    opaque.push(join(&t[i..end]));
                    i = end;
                }
                _ if self.name_set_lookup(t, next, &fields).is_some() => {
                    let (field, names, at) =
                        self.name_set_lookup(t, next, &fields).expect("checked");
                    let Field::Addr(dim, family) = field else {
                        unreachable!("name sets are looked up by address")
                    };
                    // Every address of the family in the names' place.
                    set = narrow(&set, field, &IntervalSet::range(0, family.addr_max()));
                    let (elements, end) = self.values(t, at, field)?;
                    let mut found = self.dns_addresses.borrow_mut();
                    for n in names {
                        let list = found.entry(n.clone()).or_default();
                        for &(lo, hi) in elements.ranges() {
                            list.extend(addr::range_to_prefixes(lo, hi, family));
                        }
                    }
                    let reason = format!(
                        "{} (the set holds the addresses of {}, which change at run time)",
                        join(&t[i..end]),
                        names.join(", ")
                    );
                    sides.push(NamedSide {
                        dim,
                        names: names.to_vec(),
                        literal: PacketSet::empty(),
                        reasons: vec![reason.clone()],
                    });
                    by_name.push(reason);
                    i = end;
                }
                _ if self.looks_up_dynamic(t, next) => {
                    let end = self.expression_end(t, next);
                    opaque.push(format!(
                        "{} (the set changes at run time)",
                        join(&t[i..end])
                    ));
                    i = end;
                }
                _ => match known(&fields) {
                    Some(fields) => {
                        let (restricted, after) = self.compare(t, next, &fields, &set)?;
                        let other = portless(&set, &fields);
                        if other.is_empty() {
                            set = restricted;
                        } else {
                            set = restricted.union(&other);
                            unsure = unsure.union(&other);
                            unsure_why.push(join(&t[i..after]));
                        }
                        i = after;
                    }
                    None => {
                        let end = self.expression_end(t, next);
                        opaque.push(match (w.text, t.get(i + 1).map(|x| x.text)) {
                            ("json", Some("device_unknown")) => "the devices of this ingress or egress chain, which nft -j does not print".to_string(),
                            ("json", Some(what)) => {
                                format!("the JSON expression `{}`", what.replace('.', " "))
                            }
                            _ => join(&t[i..end]),
                        });
                        i = end;
                    }
                },
            }
        }
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(" "));
        let other = joined(&opaque);
        opaque.extend(by_name);
        let opaque = joined(&opaque);
        let by_name = (!sides.is_empty()).then(|| Box::new(ByName { sides, other }));
        let th_why = (!unsure_why.is_empty()).then(|| {
            let what = unsure_why.join(" ");
            let mut why = opaque.clone().map(|o| o + " ").unwrap_or_default();
            why +=
                &format!("{what} on a protocol without ports (th reads other header bytes there)");
            why
        });
        let make = |matches: PacketSet, action: Action, unsure: bool| {
            Rule::new(matches, action, at.span, RuleKind::Rule).with(RuleNotes {
                opaque: if unsure { &th_why } else { &opaque }
                    .as_deref()
                    .map(Into::into),
                written: at.written,
                by_name: by_name.clone(),
                ..RuleNotes::default()
            })
        };
        // The part of each rule a `th` match makes uncertain is a rule of its
        // own, with the same place: disjoint from the certain part, so the
        // order of the two does not matter.
        let unsure = unsure.intersect(&set);
        let unsure_map = unsure_map.intersect(&set);
        let certain = if unsure.is_empty() {
            set
        } else {
            set.difference(&unsure)
        };
        let mut rules = Vec::new();
        match vmap {
            Some(entries) => {
                for (key, a) in entries {
                    let maybe = unsure.intersect(&key).union(&unsure_map);
                    rules.push(make(certain.intersect(&key), a.clone(), false));
                    if !maybe.is_empty() {
                        rules.push(make(maybe, a, true));
                    }
                }
            }
            None => {
                if !certain.is_empty() || unsure.is_empty() {
                    rules.push(make(certain, action.clone(), false));
                }
                if !unsure.is_empty() {
                    rules.push(make(unsure, action, true));
                }
            }
        }
        Ok(rules)
    }

    /// The address field, the DNS names and the place of `@name` when the
    /// match at `i` (after an optional `==`) looks up a set of the addresses
    /// of DNS names.
    fn name_set_lookup(
        &self,
        t: &[Token<'_>],
        mut i: usize,
        fields: &[Selector],
    ) -> Option<(Field, &'s [String], usize)> {
        let [Some(field @ Field::Addr(..))] = fields else {
            return None;
        };
        if t.get(i).is_some_and(|x| matches!(x.text, "==" | "eq")) {
            i += 1;
        }
        if !t.get(i).is_some_and(|x| x.is("@")) {
            return None;
        }
        let names = self.name_sets.get(t.get(i + 1)?.text)?;
        Some((*field, names, i))
    }

    /// Whether the value at `i` (after an optional operator) is `@name` of a
    /// set that changes at run time.
    fn looks_up_dynamic(&self, t: &[Token<'_>], mut i: usize) -> bool {
        if t.get(i)
            .is_some_and(|x| matches!(x.text, "==" | "!=" | "eq" | "ne"))
        {
            i += 1;
        }
        t.get(i).is_some_and(|x| x.is("@"))
            && t.get(i + 1).is_some_and(|n| self.dynamic.contains(n.text))
    }

    /// Where an unmodelled expression ends: at the next known word.
    fn expression_end(&self, t: &[Token<'_>], mut i: usize) -> usize {
        let mut depth = 0;
        while i < t.len() {
            let w = t[i];
            if w.is("{") {
                depth += 1;
            } else if w.is("}") {
                depth -= 1;
            } else if depth == 0
                && w.kind == Kind::Word
                && (VERDICTS.contains(&w.text)
                    || STATEMENTS.contains(&w.text)
                    || self.field(t, i).is_some())
            {
                break;
            }
            i += 1;
        }
        i
    }

    /// `FIELD [. FIELD …]` at `i`: the selectors, and where the comparison starts.
    fn selectors(&self, t: &[Token<'_>], i: usize) -> Option<(Vec<Selector>, usize)> {
        let one = |k: usize| -> Option<(Selector, usize)> {
            if let Some((f, next)) = self.field(t, k) {
                return Some((Some(f), next));
            }
            t.get(k)
                .filter(|x| x.kind == Kind::Word && FIELD_HEADS.contains(&x.text))?;
            t.get(k + 1).filter(|x| x.kind == Kind::Word)?;
            // An unmodelled selector is its head and key (`meta mark`), or
            // every word up to a `.` that joins it to the next one (`ipsec in reqid .`).
            let words = t[k..]
                .iter()
                .take_while(|x| x.kind == Kind::Word && !matches!(x.text, "vmap" | "map" | "set"))
                .count();
            let joined = t.get(k + words).is_some_and(|x| x.is("."));
            Some((None, if joined { k + words } else { k + 2 }))
        };
        let (first, mut next) = one(i)?;
        let mut out = vec![first];
        while t.get(next).is_some_and(|x| x.is(".")) {
            // An unknown selector after the dot is its one word (none, at the end).
            let (s, n) = one(next + 1).unwrap_or((None, (next + 2).min(t.len())));
            out.push(s);
            next = n;
        }
        Some((out, next))
    }

    /// A field (`ip saddr`, `tcp dport`, `ct state`, …) at `i`, and where its comparison starts.
    fn field(&self, t: &[Token<'_>], i: usize) -> Option<(Field, usize)> {
        let w = |k: usize| {
            t.get(k)
                .filter(|x| x.kind == Kind::Word)
                .map_or("", |x| x.text)
        };
        let v4 = Some(Family::Ipv4);
        let v6 = Some(Family::Ipv6);
        let two = |f: Field| Some((f, i + 2));
        match (w(i), w(i + 1)) {
            ("ip", "saddr") => two(Field::Addr(Dim::Src, Family::Ipv4)),
            ("ip", "daddr") => two(Field::Addr(Dim::Dst, Family::Ipv4)),
            ("ip6", "saddr") => two(Field::Addr(Dim::Src, Family::Ipv6)),
            ("ip6", "daddr") => two(Field::Addr(Dim::Dst, Family::Ipv6)),
            ("ip", "protocol") => two(Field::Proto(v4)),
            ("ip6", "nexthdr") => two(Field::Proto(v6)),
            ("meta", "l4proto") => two(Field::Proto(None)),
            ("meta", "nfproto") => two(Field::NfProto),
            ("meta", "iifname") | ("meta", "iif") => two(Field::Iface(Dim::In)),
            ("meta", "oifname") | ("meta", "oif") => two(Field::Iface(Dim::Out)),
            ("iifname", _) | ("iif", _) => Some((Field::Iface(Dim::In), i + 1)),
            ("oifname", _) | ("oif", _) => Some((Field::Iface(Dim::Out), i + 1)),
            ("l4proto", _) => Some((Field::Proto(None), i + 1)),
            ("tcp", "sport") => two(Field::Port(Dim::Sport, Some(proto::TCP))),
            ("tcp", "dport") => two(Field::Port(Dim::Dport, Some(proto::TCP))),
            ("tcp", "flags") => two(Field::TcpFlags),
            ("udp", "sport") => two(Field::Port(Dim::Sport, Some(proto::UDP))),
            ("udp", "dport") => two(Field::Port(Dim::Dport, Some(proto::UDP))),
            ("th", "sport") => two(Field::Port(Dim::Sport, None)),
            ("th", "dport") => two(Field::Port(Dim::Dport, None)),
            ("icmp", "type") => two(Field::IcmpType(Family::Ipv4)),
            ("icmp", "code") => two(Field::IcmpCode(Family::Ipv4)),
            ("icmpv6", "type") => two(Field::IcmpType(Family::Ipv6)),
            ("icmpv6", "code") => two(Field::IcmpCode(Family::Ipv6)),
            ("ct", "state") => two(Field::CtState),
            _ => None,
        }
    }

    /// `[op] value` after the fields: the set narrowed to what matches.
    fn compare(
        &self,
        t: &[Token<'a>],
        mut i: usize,
        fields: &[Field],
        set: &PacketSet,
    ) -> Res<(PacketSet, usize)> {
        if fields == [Field::TcpFlags] {
            return self.flags(t, i, set);
        }
        let Some(first) = t.get(i).copied() else {
            return Err(self.err(
                t.last().expect("a field precedes"),
                "a match without a value",
                "expected a value after the field",
            ));
        };
        let op = match first.text {
            "==" | "!=" | "<" | ">" | "<=" | ">=" if first.kind == Kind::Punct => {
                i += 1;
                first.text
            }
            "eq" | "ne" | "lt" | "gt" | "le" | "ge" => {
                i += 1;
                first.text
            }
            _ => "==",
        };
        let Some(value_tok) = t.get(i).copied() else {
            return Err(self.err(&first, "a comparison without a value", "expected a value"));
        };
        if let [field] = fields {
            let (values, next) = self.values(t, i, *field)?;
            let max = domain_max(*field);
            let values = match op {
                "==" | "eq" => values,
                "!=" | "ne" => values.complement(max),
                _ => {
                    let (Some(v), true) = (values.min(), values.ranges().len() == 1) else {
                        return Err(self.err(
                            &value_tok,
                            "an ordering comparison needs one value",
                            "expected < N, > N, <= N or >= N",
                        ));
                    };
                    let v = if matches!(op, ">" | "gt" | "<=" | "le") {
                        values.ranges()[0].1
                    } else {
                        v
                    };
                    match op {
                        "<" | "lt" if v == 0 => IntervalSet::empty(),
                        "<" | "lt" => IntervalSet::range(0, v - 1),
                        ">" | "gt" if v == max => IntervalSet::empty(),
                        ">" | "gt" => IntervalSet::range(v + 1, max),
                        "<=" | "le" => IntervalSet::range(0, v),
                        _ => IntervalSet::range(v, max),
                    }
                }
            };
            return Ok((narrow(set, *field, &values), next));
        }
        let (elements, next) = self.tuples(t, i, fields)?;
        let mut implied = set.clone();
        for &f in fields {
            implied = narrow(&implied, f, &IntervalSet::range(0, domain_max(f)));
        }
        let matching = PacketSet::from_cubes(elements.iter().flat_map(|e| {
            let mut s = implied.clone();
            for (&f, v) in fields.iter().zip(e) {
                s = narrow(&s, f, v);
            }
            s.cubes().to_vec()
        }));
        let out = match op {
            "==" | "eq" => matching,
            "!=" | "ne" => implied.difference(&matching),
            _ => {
                return Err(self.err(
                    &first,
                    "unsupported construct: an ordering comparison of a concatenation",
                    "expected == or != before a concatenation's values",
                ));
            }
        };
        Ok((out, next))
    }

    /// `tcp flags` matches: `syn` (any of these bits), `== syn` (exactly),
    /// `& (syn|ack) == syn` or `syn / syn,ack` (under a mask), `{ syn, ack }`
    /// (one of these exact values).
    fn flags(&self, t: &[Token<'a>], mut i: usize, set: &PacketSet) -> Res<(PacketSet, usize)> {
        let mut mask: Option<u8> = None;
        if t.get(i).is_some_and(|x| x.is("&")) {
            let (m, next) = self.flag_bits(t, i + 1, true)?;
            mask = Some(m);
            i = next;
        }
        let op = match t.get(i) {
            Some(o) if o.kind == Kind::Punct && matches!(o.text, "==" | "!=") => {
                i += 1;
                Some(o.text)
            }
            _ => None,
        };
        let exact: Box<dyn Fn(u8) -> bool>;
        if t.get(i).is_some_and(|x| x.is("{")) {
            let mut values = Vec::new();
            let mut k = i + 1;
            while k < t.len() && !t[k].is("}") {
                if t[k].is(",") {
                    k += 1;
                    continue;
                }
                let (v, next) = self.flag_bits(t, k, false)?;
                values.push(v);
                k = next;
            }
            i = k + 1;
            exact = Box::new(move |v| values.contains(&v));
        } else {
            let (value, next) = self.flag_bits(t, i, true)?;
            i = next;
            if t.get(i).is_some_and(|x| x.is("/")) {
                let (m, next) = self.flag_bits(t, i + 1, true)?;
                mask = Some(m);
                i = next;
            }
            exact = match (mask, op) {
                (None, None) => Box::new(move |v| v & value != 0),
                _ => Box::new(move |v| v == value),
            };
        }
        let m = mask.unwrap_or(0xff);
        let negate = op == Some("!=");
        let values = IntervalSet::from_ranges(
            (0u8..=255)
                .filter(|&v| exact(v & m) != negate)
                .map(|v| (v as u128, v as u128))
                .collect(),
        );
        Ok((narrow(set, Field::TcpFlags, &values), i))
    }

    /// Flag names joined by `|` (or by `,` where `commas`, which inside a
    /// set separates elements instead), in parentheses or not, or a number.
    fn flag_bits(&self, t: &[Token<'_>], mut i: usize, commas: bool) -> Res<(u8, usize)> {
        let mut bits = 0u8;
        let paren = t.get(i).is_some_and(|x| x.is("("));
        if paren {
            i += 1;
        }
        loop {
            let Some(w) = t.get(i) else {
                return Err(self.err(
                    t.last().expect("not empty"),
                    "tcp flags without a value",
                    "expected flag names",
                ));
            };
            for name in w.text.split(',').filter(|n| !n.is_empty()) {
                let b = match name {
                    "ecn" => Some(TcpFlag::ECE),
                    _ => TcpFlag::parse_list(name)
                        .or_else(|| parse_number(name).and_then(|n| u8::try_from(n).ok())),
                };
                bits |= b.ok_or_else(|| {
                    self.err(
                        w,
                        format!("`{name}` is not a TCP flag"),
                        "expected fin, syn, rst, psh, ack, urg, ecn or cwr",
                    )
                })?;
            }
            i += 1;
            match t.get(i) {
                Some(x)
                    if x.is("|")
                        || (commas
                            && x.is(",")
                            && t.get(i + 1).is_some_and(|n| n.kind == Kind::Word)) =>
                {
                    i += 1
                }
                _ => break,
            }
        }
        if paren {
            if !t.get(i).is_some_and(|x| x.is(")")) {
                return Err(self.err(
                    t.get(i).unwrap_or(&t[i - 1]),
                    "unclosed `(`",
                    "expected `)`",
                ));
            }
            i += 1;
        }
        Ok((bits, i))
    }

    /// One value, a `{ … }` set, or a named `@set`, as values of one field.
    fn values(&self, t: &[Token<'a>], i: usize, field: Field) -> Res<(IntervalSet, usize)> {
        let first = t[i];
        if first.is("@") {
            let name = t
                .get(i + 1)
                .ok_or_else(|| self.err(&first, "`@` without a set name", "expected @NAME"))?;
            if let Some(v) = self.named.borrow().get(&(name.text, field)) {
                return Ok((v.clone(), i + 2));
            }
            let set = self.named_set(name)?;
            let mut ranges = Vec::new();
            for e in &set.elements {
                self.element_ranges(element_key(e), field, &mut ranges)?;
            }
            let v = IntervalSet::from_ranges(ranges);
            self.named
                .borrow_mut()
                .insert((name.text, field), v.clone());
            return Ok((v, i + 2));
        }
        if first.is("{") {
            let close = block_end(t, i)
                .ok_or_else(|| self.err(&first, "set without a closing `}`", "expected `}`"))?;
            let mut ranges = Vec::new();
            self.element_ranges(&t[i..=close], field, &mut ranges)?;
            return Ok((IntervalSet::from_ranges(ranges), close + 1));
        }
        // Comma lists without braces (`ct state established,related`).
        let mut out = self.value(&first, field)?;
        let mut k = i + 1;
        while t.get(k).is_some_and(|x| x.is(","))
            && t.get(k + 1).is_some_and(|x| x.kind != Kind::Punct)
        {
            out = out.union(&self.value(&t[k + 1], field)?);
            k += 2;
        }
        Ok((out, k))
    }

    /// Adds the ranges of a written element, or of a `{ … }` block of them.
    fn element_ranges(
        &self,
        e: &[Token<'_>],
        field: Field,
        out: &mut Vec<(u128, u128)>,
    ) -> Res<()> {
        if e.first().is_some_and(|x| x.is("{")) {
            for item in split_items(&e[1..e.len().saturating_sub(1)]) {
                self.element_ranges(element_key(item), field, out)?;
            }
            return Ok(());
        }
        if e.is_empty() {
            return Ok(());
        }
        if e.iter().any(|x| x.is(".")) {
            return Err(self.err(
                &e[0],
                "a concatenated element where one value is expected",
                "expected elements of a single field",
            ));
        }
        out.extend_from_slice(self.part(e, field)?.ranges());
        Ok(())
    }

    /// Elements of a concatenation: one value set per field.
    fn tuples(
        &self,
        t: &[Token<'a>],
        i: usize,
        fields: &[Field],
    ) -> Res<(Vec<Vec<IntervalSet>>, usize)> {
        let (items, next): (Vec<&[Token<'a>]>, usize) = if t[i].is("@") {
            let name = t
                .get(i + 1)
                .ok_or_else(|| self.err(&t[i], "`@` without a set name", "expected @NAME"))?;
            let set = self.named_set(name)?;
            (set.elements.iter().map(|e| element_key(e)).collect(), i + 2)
        } else if t[i].is("{") {
            let close = block_end(t, i)
                .ok_or_else(|| self.err(&t[i], "set without a closing `}`", "expected `}`"))?;
            (
                split_items(&t[i + 1..close])
                    .into_iter()
                    .map(element_key)
                    .collect(),
                close + 1,
            )
        } else {
            // One element written in line: `10.0.0.1 . 22`.
            let mut k = i + 1;
            while t.get(k).is_some_and(|x| x.is(".")) {
                k += 2;
            }
            (vec![&t[i..k.min(t.len())]], k.min(t.len()))
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.tuple(item, fields)?);
        }
        Ok((out, next))
    }

    /// An element of a concatenation (`10.0.0.1 . 22`, or `*`): one value set per field.
    fn tuple(&self, e: &[Token<'_>], fields: &[Field]) -> Res<Vec<IntervalSet>> {
        let Some(first) = e.first() else {
            return Ok(Vec::new());
        };
        if e.len() == 1 && first.is("*") {
            return Ok(fields
                .iter()
                .map(|&f| IntervalSet::range(0, domain_max(f)))
                .collect());
        }
        let parts: Vec<&[Token<'_>]> = e.split(|x| x.is(".")).collect();
        if parts.len() != fields.len() || parts.iter().any(|p| p.is_empty()) {
            return Err(self.err(
                first,
                format!(
                    "an element of {} parts for a key of {}",
                    parts.len(),
                    fields.len()
                ),
                format!("expected {} values joined by `.`", fields.len()),
            ));
        }
        parts
            .iter()
            .zip(fields)
            .map(|(p, &f)| self.part(p, f))
            .collect()
    }

    /// One written value of a field, possibly spread over tokens (`a - b`, `*`).
    fn part(&self, p: &[Token<'_>], field: Field) -> Res<IntervalSet> {
        // Callers pass what an element holds, never nothing.
        let Some(first) = p.first() else {
            return Ok(IntervalSet::empty());
        };
        if p.len() == 1 {
            if first.is("*") {
                return Ok(IntervalSet::range(0, domain_max(field)));
            }
            return self.value(first, field);
        }
        if first.is("{") {
            let mut ranges = Vec::new();
            self.element_ranges(p, field, &mut ranges)?;
            return Ok(IntervalSet::from_ranges(ranges));
        }
        if let [a, dash, b] = p
            && dash.text == "-"
        {
            let (x, y) = (self.value(a, field)?, self.value(b, field)?);
            if let (Some(lo), Some(hi)) = (x.min(), y.ranges().last().map(|r| r.1)) {
                return Ok(IntervalSet::range(lo, hi));
            }
        }
        Err(self.err(
            first,
            format!("`{}` is not one value", join(p)),
            "expected a value, a range or a prefix",
        ))
    }

    fn named_set(&self, name: &Token<'_>) -> Res<&SetDef<'a>> {
        self.table.sets.get(name.text).ok_or_else(|| {
            self.err(
                name,
                format!("no set or map `{}` in table {}", name.text, self.table.name),
                "expected a set declared in this table",
            )
        })
    }

    /// One written value of a field.
    fn value(&self, t: &Token<'_>, field: Field) -> Res<IntervalSet> {
        let text = t.unquoted();
        let bad = |what: &str| {
            self.err(
                t,
                format!("`{text}` is not {what}"),
                format!("expected {what}"),
            )
        };
        match field {
            Field::Addr(_, family) => {
                let one = |s: &str| -> Option<(u128, u128)> {
                    if let Some((a, b)) = s.split_once('-') {
                        let (a, b): (IpAddr, IpAddr) = (a.parse().ok()?, b.parse().ok()?);
                        return (Family::of(a) == family && Family::of(b) == family)
                            .then(|| (addr::value(a), addr::value(b)));
                    }
                    let net: ipnet::IpNet = s
                        .parse()
                        .ok()
                        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))?;
                    (Family::of(net.addr()) == family).then(|| addr::prefix_range(net.trunc()))
                };
                let (lo, hi) = one(text).ok_or_else(|| {
                    bad(&format!("an {} address, prefix or range", family.name()))
                })?;
                Ok(IntervalSet::range(lo, hi))
            }
            Field::Proto(_) => {
                numeric(text, 255, proto::parse).ok_or_else(|| bad("a protocol name or number"))
            }
            Field::Port(..) => numeric(text, 0xffff, service)
                .ok_or_else(|| bad("a port, port range or service name")),
            Field::IcmpType(f) => {
                let v6 = f == Family::Ipv6;
                let ty = |s: &str| -> Option<u8> {
                    icmp::parse(s, v6)
                        .filter(|_| !s.contains('/'))
                        .map(|(lo, _)| (lo >> 8) as u8)
                };
                let types =
                    numeric(text, 255, ty).ok_or_else(|| bad("an ICMP type name or number"))?;
                Ok(IntervalSet::from_ranges(
                    types
                        .ranges()
                        .iter()
                        .map(|&(lo, hi)| (lo << 8, hi << 8 | 0xff))
                        .collect(),
                ))
            }
            Field::IcmpCode(f) => {
                let v6 = f == Family::Ipv6;
                let codes = numeric(text, 255, |s| icmp::code(s, v6))
                    .ok_or_else(|| bad("an ICMP code name or number"))?;
                // Any type with these codes.
                Ok(IntervalSet::from_ranges(
                    (0u128..=255)
                        .flat_map(|ty| {
                            codes
                                .ranges()
                                .iter()
                                .map(move |&(lo, hi)| (ty << 8 | lo, ty << 8 | hi))
                        })
                        .collect(),
                ))
            }
            Field::Iface(_) => Ok(
                match text.strip_suffix('*').filter(|_| !text.ends_with("\\*")) {
                    Some(prefix) => {
                        let (lo, hi) = iface::prefix_range(prefix);
                        IntervalSet::range(lo, hi)
                    }
                    None => IntervalSet::point(iface::encode(&text.replace("\\*", "*"))),
                },
            ),
            Field::CtState => {
                let mut out = IntervalSet::empty();
                for s in text.split(',') {
                    let v = State::parse(s).ok_or_else(|| {
                        bad("a connection state (new, established, related, invalid, untracked)")
                    })?;
                    out = out.union(&IntervalSet::point(v));
                }
                Ok(out)
            }
            Field::NfProto => match text {
                "ipv4" => Ok(IntervalSet::point(Family::Ipv4 as u128)),
                "ipv6" => Ok(IntervalSet::point(Family::Ipv6 as u128)),
                _ => Err(bad("ipv4 or ipv6")),
            },
            Field::TcpFlags => {
                let (bits, _) = self.flag_bits(std::slice::from_ref(t), 0, true)?;
                Ok(IntervalSet::point(bits as u128))
            }
        }
    }

    /// `vmap { key : verdict, … }` or `vmap @map`: one (key set, verdict) per element.
    fn vmap(
        &self,
        t: &[Token<'a>],
        i: usize,
        fields: &[Field],
    ) -> Res<(Vec<(PacketSet, Action)>, usize)> {
        let (elements, next): (Vec<&[Token<'a>]>, usize) = if t.get(i).is_some_and(|x| x.is("@")) {
            let name = t
                .get(i + 1)
                .ok_or_else(|| self.err(&t[i], "`@` without a map name", "expected @NAME"))?;
            (
                self.named_set(name)?
                    .elements
                    .iter()
                    .map(Vec::as_slice)
                    .collect(),
                i + 2,
            )
        } else {
            let open = t.get(i).filter(|x| x.is("{")).ok_or_else(|| {
                self.err(
                    t.get(i).unwrap_or(&t[i - 1]),
                    "vmap without its elements",
                    "expected vmap { KEY : VERDICT, … } or vmap @MAP",
                )
            })?;
            let close = block_end(t, i)
                .ok_or_else(|| self.err(open, "vmap without a closing `}`", "expected `}`"))?;
            (split_items(&t[i + 1..close]), close + 1)
        };
        let mut implied = self.everything();
        for &f in fields {
            implied = narrow(&implied, f, &IntervalSet::range(0, domain_max(f)));
        }
        let mut out = Vec::new();
        let mut catch_all = None;
        for e in elements {
            let colon = e.iter().position(|x| x.is(":")).ok_or_else(|| {
                self.err(&e[0], "map element without `:`", "expected KEY : VERDICT")
            })?;
            let key = element_key(&e[..colon]);
            if key.is_empty() {
                return Err(self.err(
                    &e[0],
                    "a map element without a key",
                    "expected KEY : VERDICT",
                ));
            }
            let (action, _) = self.verdict(&e[colon + 1..], 0)?;
            if key.len() == 1 && key[0].is("*") {
                catch_all = Some(action);
                continue;
            }
            let values = if let [f] = fields {
                let mut ranges = Vec::new();
                self.element_ranges(key, *f, &mut ranges)?;
                vec![IntervalSet::from_ranges(ranges)]
            } else {
                self.tuple(key, fields)?
            };
            let mut s = implied.clone();
            for (&f, v) in fields.iter().zip(&values) {
                s = narrow(&s, f, v);
            }
            out.push((s, action));
        }
        if let Some(a) = catch_all {
            out.push((implied, a));
        }
        Ok((out, next))
    }

    /// A verdict at `i`, and where what follows it starts.
    fn verdict(&self, t: &[Token<'_>], i: usize) -> Res<(Action, usize)> {
        let w = t.get(i).ok_or_else(|| {
            self.err(
                t.last().expect("not empty"),
                "missing verdict",
                "expected a verdict",
            )
        })?;
        Ok(match w.text {
            "accept" => (Action::Accept, i + 1),
            "drop" => (Action::Drop, i + 1),
            // Its options (`with icmpx admin-prohibited`) do not change the verdict.
            "reject" => {
                let end = match t.get(i + 1) {
                    Some(x) if x.is("with") => (i + 2..t.len())
                        .find(|&k| STATEMENTS.contains(&t[k].text))
                        .unwrap_or(t.len()),
                    _ => i + 1,
                };
                (Action::Reject, end)
            }
            "return" => (Action::Return, i + 1),
            "continue" => (Action::Continue, i + 1),
            "queue" => (
                Action::unknown("queue hands the verdict to a userspace program"),
                self.expression_end(t, i + 1),
            ),
            "jump" | "goto" if t.get(i + 1).is_some_and(|x| x.is("{")) => (
                Action::unknown("an anonymous chain (jump { … }) is not modelled"),
                t.len(),
            ),
            "jump" | "goto" => {
                let target = t.get(i + 1).ok_or_else(|| {
                    self.err(
                        w,
                        format!("`{}` without a chain", w.text),
                        "expected a chain name",
                    )
                })?;
                let id = (self.chain_id)(target.text).ok_or_else(|| {
                    self.err(
                        target,
                        format!("no chain `{}` in table {}", target.text, self.table.name),
                        "expected a chain of this table",
                    )
                })?;
                (
                    if w.is("jump") {
                        Action::Jump(id)
                    } else {
                        Action::Goto(id)
                    },
                    i + 2,
                )
            }
            _ => {
                return Err(self.err(
                    w,
                    format!("`{}` is not a verdict", w.text),
                    "expected accept, drop, reject, return, continue, jump or goto",
                ));
            }
        })
    }

    /// A statement at `i`: its effect on the action or the unmodelled list, and where it ends.
    fn statement(
        &self,
        t: &[Token<'_>],
        i: usize,
        action: &mut Action,
        opaque: &mut Vec<String>,
    ) -> Res<usize> {
        let w = t[i];
        let end = match w.text {
            // NAT statements end the rule; their arguments may hold any expression.
            "masquerade" | "snat" | "dnat" | "redirect" | "tproxy" | "synproxy" | "flow"
            | "dup" | "fwd" => t.len(),
            // `add @s { … }`, `meter m { … }`: an expression up to the next verdict.
            "add" | "update" | "delete" | "meter" => (i + 1..t.len())
                .find(|&k| VERDICTS.contains(&t[k].text) && t[k].kind == Kind::Word)
                .unwrap_or(t.len()),
            _ => self.expression_end(t, i + 1),
        };
        match w.text {
            // A dynamic set update or meter may carry a rate limit, which
            // matches or not by the clock.
            "meter" | "add" | "update" if t[i..end].iter().any(|x| x.is("limit")) => {
                opaque.push(join(&t[i..end]))
            }
            // Statements that do not decide.
            "counter" | "log" | "comment" | "add" | "update" | "delete" | "secmark" | "meter" => {}
            "limit" | "quota" => opaque.push(join(&t[i..end])),
            "masquerade" => *action = Action::SourceNat(None),
            "snat" => {
                let to = t[i..end]
                    .iter()
                    .position(|x| x.is("to"))
                    .and_then(|k| t.get(i + k + 1))
                    .and_then(|x| snat_addresses(x.unquoted()));
                *action = Action::SourceNat(to.map(Box::new));
            }
            "dnat" => *action = Action::unknown("dnat rewrites the destination address"),
            "redirect" => {
                *action =
                    Action::unknown("redirect rewrites the destination to the firewall itself")
            }
            "notrack" => {
                *action = Action::unknown("notrack takes the packet out of connection tracking")
            }
            "tproxy" => *action = Action::unknown("tproxy diverts the packet to a local socket"),
            "synproxy" => *action = Action::unknown("synproxy answers the handshake itself"),
            "flow" => *action = Action::unknown("flow offload lets later packets bypass the rules"),
            "dup" | "fwd" => {
                *action = Action::unknown(format!("{} sends the packet elsewhere", w.text))
            }
            _ => opaque.push(join(&t[i..end])),
        }
        Ok(end)
    }
}

/// The addresses of `snat to ADDR[-ADDR][:PORT]` (`[ADDR]:PORT` for IPv6);
/// `None` where they are not written out (a map, a prefix, …).
fn snat_addresses(text: &str) -> Option<IntervalSet> {
    let addrs = match text.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None if text.parse::<IpAddr>().is_ok() => text,
        None if text.matches(':').count() == 1 => text.split(':').next()?,
        None => text,
    };
    let (lo, hi) = addrs.split_once('-').unwrap_or((addrs, addrs));
    let (lo, hi): (IpAddr, IpAddr) = (lo.parse().ok()?, hi.parse().ok()?);
    Some(IntervalSet::range(addr::value(lo), addr::value(hi)))
}

/// Where `fib … RESULT [op] VALUE` at `i` ends.
fn fib_end(t: &[Token<'_>], i: usize) -> Option<usize> {
    let result =
        (i + 1..t.len()).find(|&k| matches!(t[k].text, "oif" | "oifname" | "type" | "check"))?;
    let mut k = result + 1;
    if t.get(k)
        .is_some_and(|x| matches!(x.text, "==" | "!=" | "eq" | "ne"))
    {
        k += 1;
    }
    Some(skip_value(t, k))
}

/// The IP families a table of `family` sees, if it is on the IP path.
fn ip_families(family: TableFamily) -> Option<&'static [Family]> {
    match family {
        TableFamily::Ip => Some(&[Family::Ipv4]),
        TableFamily::Ip6 => Some(&[Family::Ipv6]),
        TableFamily::Inet | TableFamily::Netdev => Some(&[Family::Ipv4, Family::Ipv6]),
        TableFamily::Other => None,
    }
}

/// The packets of `set` that a match on `fields` reads with `th` where
/// they have no ports: those of the other protocols, when `th` is one of
/// the fields.
fn portless(set: &PacketSet, fields: &[Field]) -> PacketSet {
    if !fields.iter().any(|f| matches!(f, Field::Port(_, None))) {
        return PacketSet::empty();
    }
    set.clone()
        .restrict(Dim::Proto, &proto::with_ports().complement(255))
}

/// Words of expressions and statements that make the kernel track
/// connections (`ct …`, NAT, flow offload, synproxy).
const TRACKING_WORDS: &[&str] = &[
    "ct",
    "masquerade",
    "snat",
    "dnat",
    "redirect",
    "flow",
    "synproxy",
];

/// The fields that are all modelled, or `None`.
fn known(selectors: &[Selector]) -> Option<Vec<Field>> {
    selectors.iter().copied().collect()
}

fn domain_max(field: Field) -> u128 {
    match field {
        Field::Addr(_, f) => f.addr_max(),
        Field::Proto(_) | Field::TcpFlags => 255,
        Field::Port(..) => 0xffff,
        Field::IcmpType(_) | Field::IcmpCode(_) => 0xffff,
        Field::Iface(_) => u128::MAX,
        Field::CtState => State::MAX,
        Field::NfProto => 1,
    }
}

/// The set narrowed by a field's values and what the field implies
/// (`tcp dport` implies TCP, `ip saddr` IPv4, …).
fn narrow(set: &PacketSet, field: Field, values: &IntervalSet) -> PacketSet {
    let fam = |s: PacketSet, f: Option<Family>| match f {
        Some(f) => s.restrict(Dim::Family, &IntervalSet::point(f as u128)),
        None => s,
    };
    let s = set.clone();
    match field {
        Field::Addr(d, f) => fam(s, Some(f)).restrict(d, values),
        Field::Proto(f) => fam(s, f).restrict(Dim::Proto, values),
        Field::Port(d, p) => {
            let protos = match p {
                Some(p) => IntervalSet::point(p as u128),
                None => proto::with_ports(),
            };
            s.restrict(Dim::Proto, &protos).restrict(d, values)
        }
        Field::IcmpType(f) | Field::IcmpCode(f) => fam(s, Some(f))
            .restrict(Dim::Proto, &IntervalSet::point(f.icmp_proto() as u128))
            .restrict(Dim::Icmp, values),
        Field::Iface(d) => s.restrict(d, values),
        Field::CtState => s.restrict(Dim::State, values),
        Field::NfProto => s.restrict(Dim::Family, values),
        Field::TcpFlags => s
            .restrict(Dim::Proto, &IntervalSet::point(proto::TCP as u128))
            .restrict(Dim::Flags, values),
    }
}

/// A number up to `max`, a name `by_name` knows, or a range `lo-hi` of them (0x… allowed).
fn numeric<T: Into<u128>>(
    text: &str,
    max: u128,
    by_name: impl Fn(&str) -> Option<T>,
) -> Option<IntervalSet> {
    let one = |s: &str| parse_number(s).or_else(|| by_name(s).map(Into::into));
    let (lo, hi) = match (one(text), text.split_once('-')) {
        (Some(v), _) => (v, v),
        (None, Some((a, b))) => (one(a)?, one(b)?),
        (None, None) => return None,
    };
    (lo <= hi && hi <= max).then(|| IntervalSet::range(lo, hi))
}

fn parse_number(s: &str) -> Option<u128> {
    match s.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The index of the `}` that closes the `{` at `i`.
fn block_end(t: &[Token<'_>], i: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, x) in t.iter().enumerate().skip(i) {
        if x.is("{") {
            depth += 1;
        } else if x.is("}") {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Items of a block's inside, split at top-level commas.
fn split_items<'t, 'a>(t: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, x) in t.iter().enumerate() {
        if x.is("{") {
            depth += 1;
        } else if x.is("}") {
            depth -= 1;
        } else if x.is(",") && depth == 0 {
            if k > start {
                out.push(&t[start..k]);
            }
            start = k + 1;
        }
    }
    if t.len() > start {
        out.push(&t[start..]);
    }
    out
}

/// The end of a value at `i`: a `{ … }` block, an `@name`, or one word.
fn skip_value(t: &[Token<'_>], i: usize) -> usize {
    match t.get(i) {
        Some(x) if x.is("{") => {
            let mut depth = 0;
            for (k, y) in t.iter().enumerate().skip(i) {
                if y.is("{") {
                    depth += 1;
                } else if y.is("}") {
                    depth -= 1;
                    if depth == 0 {
                        return k + 1;
                    }
                }
            }
            t.len()
        }
        Some(x) if x.is("@") => i + 2,
        Some(_) => i + 1,
        None => i,
    }
}

/// A set element's key: what comes before its statements (`counter packets 0
/// bytes 0`, `timeout 1h`, `comment "…"`) and before a map's `:`.
fn element_key<'t, 'a>(e: &'t [Token<'a>]) -> &'t [Token<'a>] {
    let end = e
        .iter()
        .position(|x| {
            x.is(":")
                || matches!(
                    x.text,
                    "counter" | "timeout" | "expires" | "comment" | "limit" | "quota" | "meter"
                )
        })
        .unwrap_or(e.len());
    // An element that is all options has no key: its first word is read as
    // one, and refused there with its place.
    if end == 0 { e } else { &e[..end] }
}

/// Tokens as nft writes them: spaced, but `@name` kept whole.
fn join(t: &[Token<'_>]) -> String {
    let mut out = String::new();
    for (k, x) in t.iter().enumerate() {
        if k > 0 && !t[k - 1].is("@") {
            out.push(' ');
        }
        out.push_str(x.text);
    }
    out
}

/// The service names nft resolves for ports (from the usual /etc/services).
fn service(name: &str) -> Option<u16> {
    const SERVICES: &[(&str, u16)] = &[
        ("tcpmux", 1),
        ("echo", 7),
        ("discard", 9),
        ("daytime", 13),
        ("ftp-data", 20),
        ("ftp", 21),
        ("ssh", 22),
        ("telnet", 23),
        ("smtp", 25),
        ("time", 37),
        ("whois", 43),
        ("tacacs", 49),
        ("domain", 53),
        ("dns", 53),
        ("bootps", 67),
        ("bootpc", 68),
        ("tftp", 69),
        ("gopher", 70),
        ("finger", 79),
        ("http", 80),
        ("www", 80),
        ("kerberos", 88),
        ("pop3", 110),
        ("sunrpc", 111),
        ("auth", 113),
        ("ident", 113),
        ("nntp", 119),
        ("ntp", 123),
        ("epmap", 135),
        ("netbios-ns", 137),
        ("netbios-dgm", 138),
        ("netbios-ssn", 139),
        ("imap", 143),
        ("imap2", 143),
        ("snmp", 161),
        ("snmp-trap", 162),
        ("bgp", 179),
        ("irc", 194),
        ("ldap", 389),
        ("https", 443),
        ("microsoft-ds", 445),
        ("kpasswd", 464),
        ("submissions", 465),
        ("urd", 465),
        ("isakmp", 500),
        ("syslog", 514),
        ("printer", 515),
        ("route", 520),
        ("rip", 520),
        ("ripng", 521),
        ("dhcpv6-client", 546),
        ("dhcpv6-server", 547),
        ("rtsp", 554),
        ("sftp", 115),
        ("submission", 587),
        ("ipp", 631),
        ("ldaps", 636),
        ("rsync", 873),
        ("ftps-data", 989),
        ("ftps", 990),
        ("telnets", 992),
        ("imaps", 993),
        ("pop3s", 995),
        ("socks", 1080),
        ("openvpn", 1194),
        ("ms-sql-s", 1433),
        ("ms-sql-m", 1434),
        ("radius", 1812),
        ("radius-acct", 1813),
        ("nfs", 2049),
        ("mysql", 3306),
        ("ms-wbt-server", 3389),
        ("svn", 3690),
        ("ipsec-nat-t", 4500),
        ("sip", 5060),
        ("sip-tls", 5061),
        ("xmpp-client", 5222),
        ("xmpp-server", 5269),
        ("postgresql", 5432),
        ("mdns", 5353),
        ("x11", 6000),
        ("http-alt", 8080),
        ("webcache", 8080),
        ("wireguard", 51820),
    ];
    SERVICES.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
}

//! Gives meaning to an ASA configuration. ASA is stateful for TCP and UDP:
//! its access lists see the packets that open a connection (and ICMP ones
//! unless it inspects ICMP), the rest passes as part of a known connection.
//! Traffic entering an interface meets that interface's `in` list, then the
//! `global` list, then the implicit deny; without either, the security levels
//! decide (higher to lower is permitted). Traffic leaving an interface meets
//! its `out` list. Interfaces are named by `nameif`, as the lists bind them.

use super::parse::{Acl, Config, Line, Object, Word};
use crate::diag::InputError;
use crate::frontend::cisco::{self, Cursor, Lowered, Source, short_name};
use crate::model::{
    Action, BaseChain, Chain, ChainKind, Hook, Interface, Rule, RuleKind, RuleNotes, Span, Topology,
};
use crate::space::dim::{State, addr, iface, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

type Res<T> = Result<T, InputError>;

/// A value that is modelled, or why it is not (a time range, an undefined object).
type Maybe<T> = Result<T, String>;

/// A network object's addresses: the literal ones, and the DNS names of its
/// `fqdn` members, which the ASA looks up itself.
#[derive(Clone, Default)]
struct Net {
    literal: PacketSet,
    /// Each name, the object that gives it, and every address of its family.
    names: Vec<(String, String, PacketSet)>,
}

impl Net {
    /// The addresses with each name standing for every address of its family.
    fn all(&self) -> PacketSet {
        self.names
            .iter()
            .fold(self.literal.clone(), |s, (_, _, every)| s.union(every))
    }

    fn union(mut self, other: Net) -> Net {
        self.literal = self.literal.union(&other.literal);
        for n in other.names {
            if !self.names.iter().any(|m| m.0 == n.0) {
                self.names.push(n);
            }
        }
        self
    }
}

impl From<PacketSet> for Net {
    fn from(literal: PacketSet) -> Net {
        Net {
            literal,
            names: Vec::new(),
        }
    }
}

/// The sides of an entry that name DNS names, and why they are unknown
/// until bound.
struct EntryNames {
    sides: Vec<crate::model::NamedSide>,
    reasons: Vec<String>,
}

pub fn lower(path: &str, text: &str, cfg: &Config<'_>) -> Res<Lowered> {
    let cx = Cx {
        src: Source::new(path, text),
        objects: cfg.objects.iter().map(|o| (o.name.text, o)).collect(),
        names: cfg.names.iter().map(|(a, n)| (n.text, *a)).collect(),
        interfaces: cfg
            .interfaces
            .iter()
            .filter_map(|i| Some((i.nameif?, i)))
            .collect(),
        networks: cisco::Memo::default(),
        services: cisco::Memo::default(),
        depth: Cell::new(0),
    };
    let mut notes = Vec::new();
    let mut acls: HashMap<&str, (&Acl<'_>, Vec<Rule>)> = HashMap::new();
    for acl in &cfg.acls {
        acls.insert(acl.name, (acl, cx.acl(acl, &mut notes)?));
    }
    // Stateful: the access lists see what opens a connection, and ICMP
    // unless it is inspected.
    let mut scope: PacketSet = Cube::full()
        .with(Dim::State, IntervalSet::point(State::NEW))
        .expect("a state")
        .into();
    if !cfg.inspects_icmp() {
        for p in [proto::ICMP, proto::ICMPV6] {
            scope = scope.union(
                &Cube::full()
                    .with(Dim::Proto, IntervalSet::point(p as u128))
                    .expect("a protocol")
                    .into(),
            );
        }
    }
    let mut chains = Vec::new();
    let mut bound = Vec::new();
    let mut global = None;
    for b in cfg.bindings.iter().filter(|b| b.on.is_none()) {
        match acls.get(b.acl.text) {
            Some((acl, rules)) => {
                bound.push(acl.name);
                chains.push(Chain {
                    table: "global".into(),
                    name: acl.name.into(),
                    base: None,
                    rules: rules.clone(),
                    span: Some(cx.src.span(&b.line)),
                    family: None,
                    index: Default::default(),
                    runs: Default::default(),
                    copy_of: None,
                });
                global = Some((chains.len() - 1, b));
            }
            None => notes.push(cx.undefined(b)),
        }
    }
    let live: Vec<_> = cfg
        .interfaces
        .iter()
        .filter(|i| !i.shutdown && i.nameif.is_some())
        .collect();
    for i in &live {
        let name = i.nameif.expect("named");
        let binding = |inbound: bool| {
            // A later access-group replaces an earlier one, as on the ASA.
            cfg.bindings.iter().rev().find(|b| {
                b.on.is_some_and(|(dir, on)| dir == inbound && on.text == name)
            })
        };
        let devices = Some(IntervalSet::point(iface::encode(name)));
        let stateful = |hook, rules: Vec<Rule>, acl: &Acl<'_>, span: Span| Chain {
            table: format!(
                "{} {name}",
                if hook == Hook::Ingress { "in" } else { "out" }
            )
            .into(),
            name: acl.name.into(),
            base: Some(Box::new(cx.base(
                hook,
                devices.clone(),
                scope.clone(),
                cx.src.span(&acl.header),
            ))),
            rules,
            span: Some(span),
            family: None,
            index: Default::default(),
            runs: Default::default(),
            copy_of: None,
        };
        // Entering: the interface's list, then the global one, then the implicit deny.
        let inbound = binding(true).and_then(|b| match acls.get(b.acl.text) {
            Some(found) => Some((found, b)),
            None => {
                notes.push(cx.undefined(b));
                None
            }
        });
        match (inbound, global) {
            (Some(((acl, rules), b)), g) => {
                bound.push(acl.name);
                let mut rules = rules.clone();
                if let Some((gc, gb)) = g {
                    rules.push(cx.jump(gc, gb));
                }
                chains.push(stateful(Hook::Ingress, rules, acl, cx.src.span(&b.line)));
            }
            (None, Some((gc, gb))) => {
                let (acl, _) = acls[gb.acl.text];
                chains.push(stateful(
                    Hook::Ingress,
                    vec![cx.jump(gc, gb)],
                    acl,
                    cx.src.span(&gb.line),
                ));
            }
            (None, None) => {
                chains.push(cx.security_levels(i, &live, cfg, devices.clone(), scope.clone()))
            }
        }
        if let Some(b) = binding(false) {
            match acls.get(b.acl.text) {
                Some((acl, rules)) => {
                    bound.push(acl.name);
                    chains.push(stateful(
                        Hook::Egress,
                        rules.clone(),
                        acl,
                        cx.src.span(&b.line),
                    ));
                }
                None => notes.push(cx.undefined(b)),
            }
        }
    }
    for acl in &cfg.acls {
        if !bound.contains(&acl.name) {
            notes.push(format!(
                "{path}:{}: access list {} is bound to no interface (not evaluated)",
                cx.src.line_of(acl.header.start),
                acl.name
            ));
        }
    }
    Ok(Lowered {
        chains,
        families: vec![Family::Ipv4, Family::Ipv6],
        notes,
        topology: cx.topology(cfg),
    })
}

struct Cx<'s, 'a> {
    src: Source<'s>,
    objects: HashMap<&'a str, &'s Object<'a>>,
    names: HashMap<&'a str, Word<'a>>,
    interfaces: HashMap<&'a str, &'s super::parse::Interface<'a>>,
    /// Objects already resolved, by kind and name: a large list that names
    /// them often is fast.
    networks: cisco::Memo<Maybe<Net>>,
    services: cisco::Memo<Maybe<PacketSet>>,
    /// How deep object resolution is nested.
    depth: Cell<usize>,
}

impl<'a> Cx<'_, 'a> {
    fn undefined(&self, b: &super::parse::Binding<'_>) -> String {
        format!(
            "{}:{}: access list {} is bound but not defined (ASA refuses that; not evaluated)",
            self.src.path,
            self.src.line_of(b.line.start),
            b.acl.text
        )
    }

    fn rule(&self, matches: PacketSet, action: Action, line: &Line<'_>) -> Rule {
        Rule::new(matches, action, self.src.span(line), RuleKind::Rule)
    }

    fn base(
        &self,
        hook: Hook,
        devices: Option<IntervalSet>,
        scope: PacketSet,
        deny: Span,
    ) -> BaseChain {
        BaseChain {
            hook,
            priority: 0,
            kind: ChainKind::Filter,
            family: None,
            policy: Some(Rule::new(
                PacketSet::universe(),
                Action::Drop,
                deny,
                RuleKind::Policy,
            )),
            devices,
            scope: Some(scope),
        }
    }

    /// The step from an interface's list into the global one.
    fn jump(&self, global: usize, b: &super::parse::Binding<'_>) -> Rule {
        self.rule(PacketSet::universe(), Action::Jump(global), &b.line)
    }

    /// An interface without a list: packets may go to interfaces of a lower
    /// security level (and of the same one with `same-security-traffic`).
    fn security_levels(
        &self,
        i: &super::parse::Interface<'a>,
        live: &[&super::parse::Interface<'a>],
        cfg: &Config<'_>,
        devices: Option<IntervalSet>,
        scope: PacketSet,
    ) -> Chain {
        let name = i.nameif.expect("named");
        let mine = level(i);
        let at = i.level.map_or(i.hardware, |w| w);
        let line = Line {
            words: vec![at],
            start: self.line_start(at.at),
            end: at.at + at.text.len(),
        };
        let mut rules = Vec::new();
        for o in live {
            let other = o.nameif.expect("named");
            let theirs = level(o);
            let allowed = if other == name {
                cfg.same_security_intra
            } else {
                mine > theirs || (mine == theirs && cfg.same_security_inter)
            };
            if allowed {
                let to = PacketSet::universe()
                    .restrict(Dim::Out, &IntervalSet::point(iface::encode(other)));
                rules.push(self.rule(to, Action::Accept, &line));
            }
        }
        Chain {
            table: format!("in {name}").into(),
            name: format!("security-level {mine}").into(),
            base: Some(Box::new(self.base(
                Hook::Ingress,
                devices,
                scope,
                self.src.span(&line),
            ))),
            rules,
            span: Some(self.src.span(&line)),
            family: None,
            index: Default::default(),
            runs: Default::default(),
            copy_of: None,
        }
    }

    fn line_start(&self, at: usize) -> usize {
        let s = self.src.text[..at].rfind('\n').map_or(0, |i| i + 1);
        s + (self.src.text[s..].len() - self.src.text[s..].trim_start().len())
    }

    /// A list's entries as rules, numbered as ASA numbers its lines (remarks
    /// count); inactive entries are left out, and said so.
    fn acl(&self, acl: &Acl<'a>, notes: &mut Vec<String>) -> Res<Vec<Rule>> {
        let mut out = Vec::new();
        for (k, line) in acl.entries.iter().enumerate() {
            let w = &line.words;
            let action = match w[0].text {
                "remark" => continue,
                "permit" => Action::Accept,
                "deny" => Action::Drop,
                _ => {
                    return Err(self.src.err(
                        &w[0],
                        format!(
                            "unsupported construct `{}` in access list {}",
                            w[0].text, acl.name
                        ),
                        "expected permit, deny or remark",
                    ));
                }
            };
            // `inactive` ends an entry; show output writes `(inactive)`.
            let inactive = w.windows(2).any(|p| {
                p[1].text == "inactive"
                    && !matches!(p[0].text, "object" | "object-group" | "time-range")
            }) || w.iter().any(|x| x.text == "(inactive)");
            if inactive {
                notes.push(format!(
                    "{}:{}: an inactive entry of {} (not evaluated, as ASA does not)",
                    self.src.path,
                    self.src.line_of(line.start),
                    acl.name
                ));
                continue;
            }
            let mut opaque = Vec::new();
            let mut p = Cursor {
                w,
                i: 1,
                src: &self.src,
            };
            let (set, named) = self.entry(&mut p, &mut opaque)?;
            let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
            let other = joined(&opaque);
            let by_name = (!named.sides.is_empty()).then(|| {
                opaque.extend(named.reasons);
                Box::new(crate::model::ByName {
                    sides: named.sides,
                    other,
                })
            });
            out.push(self.rule(set, action, line).with(RuleNotes {
                opaque: joined(&opaque).map(Into::into),
                number: Some(k as u32 + 1),
                by_name,
                ..RuleNotes::default()
            }));
        }
        Ok(out)
    }

    /// `PROTO SRC [PORTS] DST [PORTS] [ICMP] [options]`.
    fn entry(
        &self,
        p: &mut Cursor<'_, 'a>,
        opaque: &mut Vec<String>,
    ) -> Res<(PacketSet, EntryNames)> {
        let all = PacketSet::universe();
        let pw = p.next("a protocol")?;
        let (mut set, protocol) = match pw.text {
            "object-group" | "object" => {
                let name = p.next("an object name")?;
                match self.service(&name)? {
                    Ok(s) => (all.intersect(&s), None),
                    Err(why) => {
                        opaque.push(why);
                        (all, None)
                    }
                }
            }
            "ip" => (all, None),
            t => {
                let n = cisco::protocol(t).ok_or_else(|| {
                    self.src.err(&pw, format!("`{t}` is not a protocol"), "expected ip, tcp, udp, icmp, a protocol name or number, object NAME or object-group NAME")
                })?;
                (
                    all.restrict(Dim::Proto, &IntervalSet::point(n as u128)),
                    Some(n),
                )
            }
        };
        // Ports follow TCP and UDP, and a protocol object-group that may hold them.
        let ports = matches!(protocol, Some(proto::TCP | proto::UDP)) || pw.text == "object-group";
        let mut named = EntryNames {
            sides: Vec::new(),
            reasons: Vec::new(),
        };
        for (destination, port_dim) in [(false, Dim::Sport), (true, Dim::Dport)] {
            let place = |s: &PacketSet| {
                if destination {
                    to_destinations(s)
                } else {
                    s.clone()
                }
            };
            match self.address(p)? {
                Ok(side) => {
                    set = set.intersect(&place(&side.all()));
                    if !side.names.is_empty() {
                        let reasons: Vec<String> = side.names.iter().map(|(dns, object, _)| {
                            format!("fqdn object {object} ({dns}: the ASA resolves it; its addresses are not in the export)")
                        }).collect();
                        named.reasons.extend(reasons.iter().cloned());
                        named.sides.push(crate::model::NamedSide {
                            dim: if destination { Dim::Dst } else { Dim::Src },
                            names: side.names.iter().map(|n| n.0.clone()).collect(),
                            literal: place(&side.literal),
                            reasons,
                        });
                    }
                }
                Err(why) => opaque.push(why),
            }
            if ports && self.ports_follow(p, destination) {
                match self.ports(p, protocol)? {
                    Ok(s) => set = set.restrict(port_dim, &s),
                    Err(why) => opaque.push(why),
                }
            }
        }
        let icmp = matches!(protocol, Some(proto::ICMP | proto::ICMPV6));
        let v6 = protocol == Some(proto::ICMPV6);
        while let Some(x) = p.peek() {
            p.i += 1;
            match x.text {
                // `interval N` stands alone in show access-list output.
                "interval" => {
                    p.next("a number")?;
                }
                "log" => {
                    // `log [LEVEL] [interval N]`, `log disable`
                    while p.peek().is_some_and(|y| {
                        y.text.parse::<u32>().is_ok()
                            || matches!(
                                y.text,
                                "interval"
                                    | "disable"
                                    | "default"
                                    | "emergencies"
                                    | "alerts"
                                    | "critical"
                                    | "errors"
                                    | "warnings"
                                    | "notifications"
                                    | "informational"
                                    | "debugging"
                            )
                    }) {
                        p.i += 1;
                    }
                }
                "time-range" => {
                    let t = p.next("a time-range name")?;
                    opaque.push(format!("time-range {}", t.text));
                }
                t if t.starts_with("(hitcnt=") || t.starts_with("0x") => {}
                "object-group"
                    if icmp
                        || p.peek()
                            .and_then(|n| self.objects.get(n.text))
                            .is_some_and(|o| o.kind == "icmp-type") =>
                {
                    let name = p.next("an icmp-type object-group")?;
                    set = set.restrict(Dim::Icmp, &self.icmp_group(&name, &mut Vec::new())?);
                }
                t if icmp
                    && (cisco::icmp_message_of(t, v6).is_some() || t.parse::<u8>().is_ok()) =>
                {
                    // A type by name or number, and an optional code.
                    let ty = match cisco::icmp_message_of(t, v6) {
                        Some((lo, _)) => lo >> 8,
                        None => t.parse::<u8>().expect("checked") as u128,
                    };
                    let (lo, hi) = match (
                        cisco::icmp_message_of(t, v6),
                        p.peek().and_then(|c| c.text.parse::<u8>().ok()),
                    ) {
                        (_, Some(code)) => {
                            p.i += 1;
                            (ty << 8 | code as u128, ty << 8 | code as u128)
                        }
                        (Some(r), None) => r,
                        (None, None) => (ty << 8, ty << 8 | 0xff),
                    };
                    set = set.restrict(Dim::Icmp, &IntervalSet::range(lo, hi));
                }
                _ => {
                    return Err(self.src.err(
                        &x,
                        format!("unsupported construct `{}` in an access list entry", x.text),
                        "expected the end of the entry, or log, time-range, inactive, an ICMP type",
                    ));
                }
            }
        }
        Ok((set, named))
    }

    /// `any`, `any4`, `any6`, `host A`, `A MASK`, `A/LEN`, `object NAME`,
    /// `object-group NAME`, `interface NAME`, or a `name` alias.
    fn address(&self, p: &mut Cursor<'_, 'a>) -> Res<Maybe<Net>> {
        let w = p.next("an address (any, host A, A MASK, object NAME or object-group NAME)")?;
        let all = PacketSet::universe();
        let family = |f: Family| {
            all.clone()
                .restrict(Dim::Family, &IntervalSet::point(f as u128))
        };
        let literal = match w.text {
            "any" => Ok(all),
            "any4" => Ok(family(Family::Ipv4)),
            "any6" => Ok(family(Family::Ipv6)),
            "host" => {
                let a = p.next("an address")?;
                Ok(host(self.ip(&a)?))
            }
            "object" | "object-group" => {
                let name = p.next("an object name")?;
                return self.network(&name, &mut Vec::new());
            }
            "interface" => {
                let name = p.next("an interface name")?;
                match self
                    .interfaces
                    .get(name.text)
                    .and_then(|i| i.addresses.first())
                {
                    Some(l) => match l.words.get(2).and_then(|a| a.text.parse::<IpAddr>().ok()) {
                        Some(a) => Ok(host(a)),
                        None => Err(format!("the address of interface {}", name.text)),
                    },
                    None => Err(format!(
                        "the address of interface {} (not in the export)",
                        name.text
                    )),
                }
            }
            t if t.contains('/') => {
                let net = self.src.prefix(&w)?;
                Ok(prefix(net))
            }
            _ => {
                let a = self.ip(&w)?;
                let m = p.next("a subnet mask")?;
                Ok(self.masked(a, &m)?)
            }
        };
        Ok(literal.map(Net::from))
    }

    /// An address and a subnet mask (ASA writes masks, not wildcards).
    fn masked(&self, a: IpAddr, m: &Word<'_>) -> Res<PacketSet> {
        let (IpAddr::V4(a4), Ok(mask)) = (a, m.text.parse::<Ipv4Addr>()) else {
            return Err(self.src.err(
                m,
                format!("`{}` is not a subnet mask", m.text),
                "expected a mask such as 255.255.255.0",
            ));
        };
        let range = cisco::netmask(a4, mask).ok_or_else(|| {
            self.src.err(
                m,
                format!("`{}` is not a contiguous subnet mask", m.text),
                "expected a mask such as 255.255.255.0 (ASA takes no masks with holes)",
            )
        })?;
        Ok(sources(Family::Ipv4, range))
    }

    fn ip(&self, w: &Word<'a>) -> Res<IpAddr> {
        if let Ok(a) = w.text.parse() {
            return Ok(a);
        }
        match self.names.get(w.text).and_then(|a| a.text.parse().ok()) {
            Some(a) => Ok(a),
            None => Err(self.src.err(
                w,
                format!("`{}` is not an address or a name given to one", w.text),
                "expected an address such as 192.168.1.10",
            )),
        }
    }

    /// A network object or object-group's addresses.
    fn network(&self, name: &Word<'a>, stack: &mut Vec<&'a str>) -> Res<Maybe<Net>> {
        self.once(&self.networks, name, || self.network_members(name, stack))
    }

    /// Resolves an object the first time it is named.
    fn once<V: Clone>(
        &self,
        cache: &cisco::Memo<Maybe<V>>,
        name: &Word<'a>,
        resolve: impl FnOnce() -> Res<Maybe<V>>,
    ) -> Res<Maybe<V>> {
        cache.get_or(name.text, || {
            // Objects that name each other through port groups would recurse
            // without end; real nesting is shallow.
            if self.depth.get() > 64 {
                return Err(self.src.err(
                    name,
                    format!("object {} nests too deep (does it name itself?)", name.text),
                    "expected objects that do not nest into themselves",
                ));
            }
            self.depth.set(self.depth.get() + 1);
            let value = resolve();
            self.depth.set(self.depth.get() - 1);
            value
        })
    }

    fn network_members(&self, name: &Word<'a>, stack: &mut Vec<&'a str>) -> Res<Maybe<Net>> {
        let Some(o) = self.object(name, "network", stack)? else {
            return Ok(Err(format!(
                "network object {} (not defined in the export)",
                name.text
            )));
        };
        let mut out = Net::default();
        for m in &o.members {
            let w = &m.words;
            let word = |k: usize| {
                w.get(k).ok_or_else(|| {
                    self.src.err(
                        &w[w.len() - 1],
                        "the line ends too early",
                        "expected an address",
                    )
                })
            };
            let set: Net = match w[0].text {
                "description" | "nat" => continue,
                "host" => host(self.ip(word(1)?)?).into(),
                "subnet" => match word(1)?.text.contains('/') {
                    true => prefix(word(1)?.text.parse().map_err(|_| {
                        self.src
                            .err(word(1).expect("there"), "not a prefix", "expected A/LEN")
                    })?)
                    .into(),
                    false => self.masked(self.ip(word(1)?)?, word(2)?)?.into(),
                },
                "range" => {
                    let (a, b) = (self.ip(word(1)?)?, self.ip(word(2)?)?);
                    let (lo, hi) = (
                        addr::value(a).min(addr::value(b)),
                        addr::value(a).max(addr::value(b)),
                    );
                    sources(Family::of(a), IntervalSet::range(lo, hi)).into()
                }
                // `fqdn [v4|v6] NAME`: the ASA resolves it; without `v4`/`v6`
                // it keeps addresses of both families.
                "fqdn" => {
                    let (family, dns) = match word(1)?.text {
                        "v4" => (Some(Family::Ipv4), word(2)?),
                        "v6" => (Some(Family::Ipv6), word(2)?),
                        _ => (None, word(1)?),
                    };
                    let every = match family {
                        Some(f) => PacketSet::from(Cube::family(f)),
                        None => PacketSet::universe(),
                    };
                    Net {
                        literal: PacketSet::empty(),
                        names: vec![(
                            crate::model::dns_name(dns.text),
                            name.text.to_string(),
                            every,
                        )],
                    }
                }
                "network-object" => match word(1)?.text {
                    "host" => host(self.ip(word(2)?)?).into(),
                    "object" => {
                        stack.push(name.text);
                        let inner = self.network(word(2)?, stack)?;
                        stack.pop();
                        match inner {
                            Ok(s) => s,
                            Err(why) => return Ok(Err(why)),
                        }
                    }
                    t if t.contains('/') => prefix(t.parse().map_err(|_| {
                        self.src
                            .err(word(1).expect("there"), "not a prefix", "expected A/LEN")
                    })?)
                    .into(),
                    _ => self.masked(self.ip(word(1)?)?, word(2)?)?.into(),
                },
                "group-object" => {
                    stack.push(name.text);
                    let inner = self.network(word(1)?, stack)?;
                    stack.pop();
                    match inner {
                        Ok(s) => s,
                        Err(why) => return Ok(Err(why)),
                    }
                }
                t => {
                    return Err(self.src.err(
                        &w[0],
                        format!(
                            "unsupported construct `{t}` in network object {}",
                            name.text
                        ),
                        "expected host, subnet, range, fqdn, network-object or group-object",
                    ));
                }
            };
            out = out.union(set);
        }
        Ok(Ok(out))
    }

    /// A service object or object-group (protocols and ports), or a protocol group.
    fn service(&self, name: &Word<'a>) -> Res<Maybe<PacketSet>> {
        self.once(&self.services, name, || {
            self.service_in(name, &mut Vec::new())
        })
    }

    fn service_in(&self, name: &Word<'a>, stack: &mut Vec<&'a str>) -> Res<Maybe<PacketSet>> {
        let Some(o) = self.object(name, "", stack)? else {
            return Ok(Err(format!(
                "service object {} (not defined in the export)",
                name.text
            )));
        };
        let mut out = PacketSet::empty();
        for m in &o.members {
            let w = &m.words;
            let mut q = Cursor {
                w,
                i: 1,
                src: &self.src,
            };
            let set = match (o.kind, w[0].text) {
                (_, "description") => continue,
                (_, "group-object") => {
                    let inner = q.next("an object-group name")?;
                    stack.push(name.text);
                    let s = self.service_in(&inner, stack)?;
                    stack.pop();
                    match s {
                        Ok(s) => s,
                        Err(why) => return Ok(Err(why)),
                    }
                }
                ("protocol", "protocol-object") => {
                    let t = q.next("a protocol")?;
                    match t.text {
                        "ip" => PacketSet::universe(),
                        _ => {
                            let n = cisco::protocol(t.text).ok_or_else(|| {
                                self.src.err(
                                    &t,
                                    format!("`{}` is not a protocol", t.text),
                                    "expected a protocol name or number",
                                )
                            })?;
                            PacketSet::universe()
                                .restrict(Dim::Proto, &IntervalSet::point(n as u128))
                        }
                    }
                }
                ("service", "port-object") => {
                    let protos = cisco::tcp_udp(o.protocol.unwrap_or(""));
                    let mut s = PacketSet::empty();
                    for &pr in protos {
                        let mut r = Cursor {
                            w,
                            i: 1,
                            src: &self.src,
                        };
                        let ports = match self.ports(&mut r, Some(pr))? {
                            Ok(v) => v,
                            Err(why) => return Ok(Err(why)),
                        };
                        q.i = r.i;
                        s = s.union(
                            &PacketSet::universe()
                                .restrict(Dim::Proto, &IntervalSet::point(pr as u128))
                                .restrict(Dim::Dport, &ports),
                        );
                    }
                    s
                }
                ("service", "service-object") | (_, "service") => {
                    if q.peek().is_some_and(|x| x.text == "object") {
                        q.i += 1;
                        let inner = q.next("a service object name")?;
                        stack.push(name.text);
                        let s = self.service_in(&inner, stack)?;
                        stack.pop();
                        match s {
                            Ok(s) => s,
                            Err(why) => return Ok(Err(why)),
                        }
                    } else {
                        match self.service_line(&mut q)? {
                            Ok(s) => s,
                            Err(why) => return Ok(Err(why)),
                        }
                    }
                }
                (kind, t) => {
                    return Err(self.src.err(
                        &w[0],
                        format!("unsupported construct `{t}` in {kind} object {}", name.text),
                        "expected a member line of the object",
                    ));
                }
            };
            if let Some(extra) = q.peek() {
                return Err(self.src.err(
                    &extra,
                    format!(
                        "unsupported construct `{}` in object {}",
                        extra.text, name.text
                    ),
                    "expected the end of the line",
                ));
            }
            out = out.union(&set);
        }
        Ok(Ok(out))
    }

    /// `PROTO [source OP P] [destination OP P]`, `icmp [TYPE [CODE]]`.
    fn service_line(&self, q: &mut Cursor<'_, 'a>) -> Res<Maybe<PacketSet>> {
        let t = q.next("a protocol")?;
        let protos: Vec<u8> = match t.text {
            "tcp-udp" => vec![proto::TCP, proto::UDP],
            "ip" => return Ok(Ok(PacketSet::universe())),
            p => vec![cisco::protocol(p).ok_or_else(|| {
                self.src.err(
                    &t,
                    format!("`{p}` is not a protocol"),
                    "expected tcp, udp, tcp-udp, icmp or a protocol",
                )
            })?],
        };
        let mut out = PacketSet::empty();
        let start = q.i;
        for pr in protos {
            q.i = start;
            let mut s = PacketSet::universe().restrict(Dim::Proto, &IntervalSet::point(pr as u128));
            loop {
                match q.peek().map(|x| x.text) {
                    Some(side @ ("source" | "destination")) => {
                        q.i += 1;
                        let d = if side == "source" {
                            Dim::Sport
                        } else {
                            Dim::Dport
                        };
                        match self.ports(q, Some(pr))? {
                            Ok(v) => s = s.restrict(d, &v),
                            Err(why) => return Ok(Err(why)),
                        }
                    }
                    // `service-object tcp eq 80` (older form): destination.
                    Some(op) if is_port_op(op) => match self.ports(q, Some(pr))? {
                        Ok(v) => s = s.restrict(Dim::Dport, &v),
                        Err(why) => return Ok(Err(why)),
                    },
                    Some(m)
                        if matches!(pr, proto::ICMP | proto::ICMPV6)
                            && cisco::icmp_message_of(m, pr == proto::ICMPV6).is_some() =>
                    {
                        q.i += 1;
                        let (mut lo, mut hi) =
                            cisco::icmp_message_of(m, pr == proto::ICMPV6).expect("checked");
                        // `TYPE CODE`: one code of the type.
                        if let Some(code) = q.peek().and_then(|c| c.text.parse::<u8>().ok()) {
                            q.i += 1;
                            lo = (lo & !0xff) | code as u128;
                            hi = lo;
                        }
                        s = s.restrict(Dim::Icmp, &IntervalSet::range(lo, hi));
                    }
                    _ => break,
                }
            }
            out = out.union(&s);
        }
        Ok(Ok(out))
    }

    /// An icmp-type object-group's types.
    fn icmp_group(&self, name: &Word<'a>, stack: &mut Vec<&'a str>) -> Res<IntervalSet> {
        let o = self.object(name, "icmp-type", stack)?.ok_or_else(|| {
            self.src.err(
                name,
                format!("no icmp-type object-group {}", name.text),
                "expected an object-group defined in the export",
            )
        })?;
        let mut out = IntervalSet::empty();
        for m in &o.members {
            let w = &m.words;
            match (w[0].text, w.get(1)) {
                ("description", _) => {}
                ("icmp-object", Some(t)) => {
                    let (lo, hi) = cisco::icmp_message(t.text)
                        .or_else(|| {
                            t.text
                                .parse::<u8>()
                                .ok()
                                .map(|n| ((n as u128) << 8, (n as u128) << 8 | 0xff))
                        })
                        .ok_or_else(|| {
                            self.src.err(
                                t,
                                format!("`{}` is not an ICMP type", t.text),
                                "expected an ICMP type name or number",
                            )
                        })?;
                    out = out.union(&IntervalSet::range(lo, hi));
                }
                ("group-object", Some(inner)) => {
                    stack.push(name.text);
                    out = out.union(&self.icmp_group(inner, stack)?);
                    stack.pop();
                }
                (t, _) => {
                    return Err(self.src.err(
                        &w[0],
                        format!(
                            "unsupported construct `{t}` in icmp-type object-group {}",
                            name.text
                        ),
                        "expected icmp-object TYPE or group-object NAME",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// An object by name; `kind` checks it (`""`: any kind of service).
    fn object(&self, name: &Word<'a>, kind: &str, stack: &[&'a str]) -> Res<Option<&Object<'a>>> {
        if stack.contains(&name.text) {
            return Err(self.src.err(
                name,
                format!("object {} contains itself", name.text),
                "expected objects that do not nest into themselves",
            ));
        }
        let Some(o) = self.objects.get(name.text) else {
            return Ok(None);
        };
        let fits = if kind.is_empty() {
            matches!(o.kind, "service" | "protocol")
        } else {
            o.kind == kind
        };
        if !fits {
            return Err(self.src.err(
                name,
                format!("object {} is a {} object here", name.text, o.kind),
                format!(
                    "expected a {} object",
                    if kind.is_empty() {
                        "service or protocol"
                    } else {
                        kind
                    }
                ),
            ));
        }
        Ok(Some(o))
    }

    /// Whether ports come next: an operator, or an object-group of services
    /// (one of addresses would be the next address).
    /// After the destination, an object-group the export does not define
    /// can only be one of ports.
    fn ports_follow(&self, p: &Cursor<'_, 'a>, destination: bool) -> bool {
        match (p.peek(), p.w.get(p.i + 1)) {
            (Some(x), _) if is_port_op(x.text) => true,
            (Some(x), Some(name)) if x.text == "object-group" => {
                match self.objects.get(name.text) {
                    Some(o) => o.kind == "service",
                    None => destination,
                }
            }
            _ => false,
        }
    }

    /// `eq|neq|lt|gt P`, `range A B`, `object-group PORTS`.
    fn ports(&self, p: &mut Cursor<'_, 'a>, protocol: Option<u8>) -> Res<Maybe<IntervalSet>> {
        let op = p.next("a port operator")?;
        let udp = protocol == Some(proto::UDP);
        const NAMES: &str = "an ASA port name (https, domain, www, …)";
        if let Some(set) = p.compared_ports(op.text, udp, NAMES) {
            return Ok(Ok(set?));
        }
        Ok(Ok(match op.text {
            "eq" => IntervalSet::point(p.port(udp, NAMES)?),
            _ => {
                // A port object-group.
                let name = p.next("a port object-group name")?;
                match self.service(&name)? {
                    Ok(s) => s.values(Dim::Dport),
                    Err(why) => return Ok(Err(why)),
                }
            }
        }))
    }

    /// Interfaces by `nameif`, with their subnets; routes by interface.
    fn topology(&self, cfg: &Config<'_>) -> Topology {
        let mut t = Topology::default();
        for i in cfg.interfaces.iter().filter(|i| !i.shutdown) {
            let Some(name) = i.nameif else { continue };
            let mut nets = Vec::new();
            for l in &i.addresses {
                let w: Vec<&str> = l.words.iter().map(|x| x.text).collect();
                // `ip address A MASK [standby B]`, PIX `ip address NAME A MASK`
                let (a, m) = match w.as_slice() {
                    ["ip", "address", a, m, ..] if a.parse::<Ipv4Addr>().is_ok() => (*a, *m),
                    ["ip", "address", _, a, m, ..] => (*a, *m),
                    ["ipv6", "address", p, ..] => {
                        if let Ok(n) = p.parse::<ipnet::IpNet>() {
                            nets.push(n.trunc());
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let (Ok(a), Ok(m)) = (a.parse::<Ipv4Addr>(), m.parse::<Ipv4Addr>())
                    && let Ok(n) = ipnet::Ipv4Net::new(a, u32::from(m).leading_ones() as u8)
                {
                    nets.push(ipnet::IpNet::V4(n.trunc()));
                }
            }
            t.interfaces.push(Interface {
                name: name.to_string(),
                aliases: vec![i.hardware.text.to_string(), short_name(i.hardware.text)],
                nets,
            });
        }
        for r in &cfg.routes {
            let w: Vec<&str> = r.words.iter().map(|x| x.text).collect();
            // route IFNAME PREFIX MASK GATEWAY [metric]
            if let [_, ifname, prefix, mask, ..] = w.as_slice()
                && let (Ok(p), Ok(m)) = (prefix.parse::<Ipv4Addr>(), mask.parse::<Ipv4Addr>())
                && let Ok(n) = ipnet::Ipv4Net::new(p, u32::from(m).leading_ones() as u8)
            {
                t.routes
                    .push((ipnet::IpNet::V4(n.trunc()), ifname.to_string()));
            }
        }
        t
    }
}

/// ASA's default security levels: `inside` 100, every other name 0.
fn level(i: &super::parse::Interface<'_>) -> u32 {
    match i.level.map(|w| w.text.trim_start_matches("security")) {
        Some(l) => l.parse().unwrap_or(0),
        None if i.nameif == Some("inside") => 100,
        None => 0,
    }
}

/// An address side is written as the packets with those sources (of the
/// addresses' family); [`to_destinations`] turns it round.
fn sources(f: Family, addrs: IntervalSet) -> PacketSet {
    PacketSet::from(Cube::family(f)).restrict(Dim::Src, &addrs)
}

fn to_destinations(side: &PacketSet) -> PacketSet {
    side.map_cubes(|c| {
        c.map_dims(|d, v| {
            let d = match d {
                Dim::Src => Dim::Dst,
                Dim::Dst => Dim::Src,
                d => d,
            };
            (d, v.clone())
        })
    })
}

fn host(a: IpAddr) -> PacketSet {
    sources(Family::of(a), IntervalSet::point(addr::value(a)))
}

fn prefix(n: ipnet::IpNet) -> PacketSet {
    let (lo, hi) = addr::prefix_range(n.trunc());
    sources(Family::of(n.addr()), IntervalSet::range(lo, hi))
}

fn is_port_op(w: &str) -> bool {
    matches!(w, "eq" | "neq" | "lt" | "gt" | "range")
}

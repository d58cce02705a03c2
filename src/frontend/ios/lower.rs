//! Gives meaning to an IOS configuration: each ACL bound to an interface
//! becomes a base chain that sees the packets entering (`in`, on the ingress
//! hook) or leaving (`out`, on the egress hook) that interface, its entries
//! in sequence-number order and the implicit deny as its policy. IOS ACLs are
//! stateless: replies meet the same chains as any packet. Interfaces and
//! routes become the policy's topology, so that the check can tell where the
//! dialler's traffic enters and leaves.

use super::parse::{Acl, AclKind, Config, GroupKind, Line, Word};
use crate::diag::InputError;
use crate::frontend::cisco::{self, Cursor, Lowered, Source, short_name};
use crate::model::{
    Action, BaseChain, Chain, ChainKind, Hook, Interface, Rule, RuleKind, RuleNotes, Span, Topology,
};
use crate::space::dim::{TcpFlag, addr, iface, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

type Res<T> = Result<T, InputError>;

/// How an entry's error begins when it names an object-group no line defines.
const UNDEFINED_GROUP: &str = "undefined object-group";

pub fn lower(path: &str, text: &str, cfg: &Config<'_>) -> Res<Lowered> {
    let cx = Cx {
        src: Source::new(path, text),
        groups: cfg.groups.iter().map(|g| (g.name.text, g)).collect(),
        networks: cisco::Memo::default(),
        services: cisco::Memo::default(),
        wildcards: cisco::Memo::default(),
        wildcard_ranges: Cell::new(0),
    };
    let mut notes = Vec::new();
    let mut families = Vec::new();
    // Every ACL's rules, lowered once, whatever the number of its bindings.
    let mut acls: HashMap<&str, (&Acl<'_>, Vec<Rule>)> = HashMap::new();
    for acl in &cfg.acls {
        let family = acl_family(acl);
        if !families.contains(&family) {
            families.push(family);
        }
        acls.insert(acl.name, (acl, cx.acl(acl, family)?));
    }
    let nat_outside: Vec<&str> = cfg
        .interfaces
        .iter()
        .filter(|i| i.nat == Some("outside"))
        .map(|i| i.name.text)
        .collect();
    let mut chains = Vec::new();
    let mut bound = Vec::new();
    for i in &cfg.interfaces {
        let name = short_name(i.name.text);
        for b in &i.bindings {
            let Some((acl, rules)) = acls.get(b.acl.text) else {
                notes.push(format!(
                    "{path}:{}: ACL {} bound to {} is not defined, and IOS lets every packet through it",
                    cx.src.line_of(b.line.start),
                    b.acl.text,
                    i.name.text
                ));
                continue;
            };
            bound.push(acl.name);
            let mut rules = rules.clone();
            // Source NAT on this interface rewrites what its ACLs see.
            if !cfg.nat.is_empty() && nat_outside.contains(&i.name.text) {
                for r in &mut rules {
                    r.edit_notes(|n| {
                        n.opaque = Some(
                            "source NAT (ip nat) translates addresses on this interface before or after its ACL"
                                .into(),
                        )
                    });
                }
            }
            let dir = if b.inbound { "in" } else { "out" };
            let base = Base {
                hook: if b.inbound {
                    Hook::Ingress
                } else {
                    Hook::Egress
                },
                priority: 0,
                kind: ChainKind::Filter,
                devices: Some(IntervalSet::point(iface::encode(&name))),
            };
            chains.push(cx.chain(
                acl,
                rules,
                format!("{dir} {name}"),
                base,
                cx.src.span(&b.line),
            ));
        }
    }
    // A listing binds nothing: each list stands on the dialler's path, for
    // the packets that open its connections only.
    if cfg.listing {
        for (k, acl) in cfg.acls.iter().enumerate() {
            let base = Base {
                hook: Hook::Forward,
                priority: k as i32,
                kind: ChainKind::Opening,
                devices: None,
            };
            let rules = acls[acl.name].1.clone();
            chains.push(cx.chain(acl, rules, "listing".into(), base, cx.src.span(&acl.header)));
        }
        notes.push(format!(
            "{path}: show access-lists output binds no ACL to an interface: each of its {} ACLs is applied in turn to the dialler's connection-opening packets, and replies are not checked",
            cfg.acls.len()
        ));
    }
    if !cfg.listing {
        for acl in &cfg.acls {
            if !bound.contains(&acl.name) {
                notes.push(format!(
                    "{path}:{}: ACL {} is bound to no interface (not evaluated)",
                    cx.src.line_of(acl.header.start),
                    acl.name
                ));
            }
        }
    }
    if !cfg.nat.is_empty() {
        notes.push(format!(
            "{path}:{}: source NAT (ip nat) is not modelled: the ACLs of its outside interfaces are unknown",
            cx.src.line_of(cfg.nat[0].start)
        ));
    }
    Ok(Lowered {
        chains,
        families,
        notes,
        topology: cx.topology(cfg)?,
    })
}

/// Where a list's chain attaches.
struct Base {
    hook: Hook,
    priority: i32,
    kind: ChainKind,
    devices: Option<IntervalSet>,
}

struct Cx<'s, 'a> {
    src: Source<'s>,
    groups: HashMap<&'a str, &'s super::parse::Group<'a>>,
    networks: cisco::Memo<Side>,
    services: cisco::Memo<PacketSet>,
    /// Each address with a non-contiguous wildcard once (a repeated one
    /// shares its ranges).
    wildcards: cisco::Memo<Side>,
    /// The ranges the file's non-contiguous wildcards take so far: past
    /// [`MAX_WILDCARD_RANGES_PER_FILE`], further ones are unmodelled, so
    /// that memory stays bounded however many an adversarial list holds.
    wildcard_ranges: Cell<usize>,
}

/// What a file's non-contiguous wildcards may take in all (32 bytes a range).
const MAX_WILDCARD_RANGES_PER_FILE: usize = 1 << 21;

/// One address side of an entry: the addresses, or an unmodelled reason.
type Side = Result<IntervalSet, String>;

impl<'a> Cx<'_, 'a> {
    /// A list as a base chain, its implicit deny the policy.
    fn chain(
        &self,
        acl: &Acl<'_>,
        rules: Vec<Rule>,
        table: String,
        base: Base,
        span: Span,
    ) -> Chain {
        let family = acl_family(acl);
        Chain {
            table: table.into(),
            name: acl.name.into(),
            base: Some(Box::new(BaseChain {
                hook: base.hook,
                priority: base.priority,
                kind: base.kind,
                family: Some(family),
                policy: Some(Rule::new(
                    PacketSet::from(Cube::family(family)),
                    Action::Drop,
                    self.src.span(&acl.header),
                    RuleKind::Policy,
                )),
                devices: base.devices,
                scope: None,
            })),
            rules,
            span: Some(span),
            family: Some(family),
            index: Default::default(),
            runs: Default::default(),
            copy_of: None,
        }
    }

    /// An ACL's entries as rules, in sequence-number order. Entries without a
    /// number get the highest so far plus 10, as IOS numbers them.
    fn acl(&self, acl: &Acl<'a>, family: Family) -> Res<Vec<Rule>> {
        let mut numbered: Vec<(u32, Rule)> = Vec::with_capacity(acl.entries.len());
        let mut seen: HashMap<u32, Word<'_>> = HashMap::new();
        let mut top = 0;
        for line in &acl.entries {
            let w = &line.words;
            if w[0].text == "resequence" {
                let [_, start, step] = w.as_slice() else {
                    return Err(self.src.err(
                        &w[0],
                        "resequence without a start and a step",
                        "expected ip access-list resequence NAME START STEP",
                    ));
                };
                let (start, step) = (self.number(start)?, self.number(step)?);
                numbered.sort_by_key(|(n, _)| *n);
                seen.clear();
                for (k, (n, r)) in numbered.iter_mut().enumerate() {
                    *n = start + k as u32 * step;
                    r.edit_notes(|x| x.number = Some(*n));
                    seen.insert(*n, w[0]);
                }
                top = numbered.last().map_or(0, |(n, _)| *n);
                continue;
            }
            // `10 permit …`, or `sequence 10 permit …` as some versions print it.
            let skip = usize::from(w[0].text == "sequence" && w.len() > 2);
            let (mut seq, mut body) = match w[skip].text.parse::<u32>() {
                Ok(n) if w.len() > skip + 1 => (Some(n), &w[skip + 1..]),
                _ => (None, &w[..]),
            };
            // IPv6 listings put it last: `permit … sequence 10`.
            if let Some(k) = body.iter().position(|x| x.text == "sequence")
                && let Some(n) = body.get(k + 1).and_then(|x| x.text.parse::<u32>().ok())
                && k > 0
            {
                seq = Some(n);
                body = &body[..k];
            }
            let Some(mut rule) = self.entry(acl, family, body, line)? else {
                continue;
            };
            let n = seq.unwrap_or(top + 10);
            if let Some(first) = seen.insert(n, w[0]) {
                let _ = first;
                return Err(self.src.err(
                    &w[0],
                    format!("sequence number {n} is used twice in ACL {}", acl.name),
                    "expected a sequence number the list does not have yet",
                ));
            }
            top = top.max(n);
            rule.edit_notes(|x| x.number = Some(n));
            numbered.push((n, rule));
        }
        numbered.sort_by_key(|(n, _)| *n);
        Ok(numbered.into_iter().map(|(_, r)| r).collect())
    }

    /// One entry (after its sequence number), or `None` for a remark.
    fn entry(
        &self,
        acl: &Acl<'a>,
        family: Family,
        w: &[Word<'a>],
        line: &Line<'_>,
    ) -> Res<Option<Rule>> {
        let make = |matches: PacketSet, opaque: Option<String>, action: Action| {
            Rule::new(matches, action, self.src.span(line), RuleKind::Rule).with(RuleNotes {
                opaque: opaque.map(Into::into),
                ..RuleNotes::default()
            })
        };
        let all: PacketSet = Cube::family(family).into();
        let action = match w[0].text {
            "remark" => return Ok(None),
            "permit" => Action::Accept,
            "deny" => Action::Drop,
            // Reflexive entries are permitted by state this model does not keep.
            "evaluate" => {
                return Ok(Some(make(
                    all,
                    Some(format!(
                        "reflexive ACL {} (evaluate)",
                        w.get(1).map_or("", |x| x.text)
                    )),
                    Action::Accept,
                )));
            }
            "dynamic" => {
                return Err(self.src.err(
                    &w[0],
                    "unsupported construct: a dynamic (lock-and-key) entry",
                    "expected permit, deny or remark",
                ));
            }
            _ => {
                return Err(self.src.err(
                    &w[0],
                    format!("unsupported construct `{}` in ACL {}", w[0].text, acl.name),
                    "expected permit, deny or remark",
                ));
            }
        };
        let mut p = Cursor {
            w,
            i: 1,
            src: &self.src,
        };
        let mut opaque = Vec::new();
        let set = if acl.kind == AclKind::Standard {
            let src = self.standard_source(&mut p)?;
            side(all, Dim::Src, src, &mut opaque)
        } else if acl.kind == AclKind::Ipv6Standard {
            let src = self.address(&mut p, family)?;
            side(all, Dim::Src, src, &mut opaque)
        } else {
            match self.extended(&mut p, family, all.clone(), &mut opaque) {
                Ok(set) => set,
                // An object-group the export does not define: IOS refuses to
                // bind one, so its members are not known; the entry may or
                // may not match.
                Err(e) if e.message.starts_with(UNDEFINED_GROUP) => {
                    return Ok(Some(make(all, Some(e.message), action)));
                }
                Err(e) => return Err(e),
            }
        };
        // What may follow in any list: logging, and show-access-lists counters.
        while let Some(x) = p.peek() {
            match x.text {
                "log" | "log-input" => log(&mut p),
                t if t.starts_with('(') => p.i = w.len(),
                _ => {
                    return Err(self.src.err(
                        &x,
                        format!("unsupported construct `{}` in an ACL entry", x.text),
                        "expected the end of the entry, or one of its options (log, established, an ICMP message, time-range, dscp, …)",
                    ));
                }
            }
        }
        let opaque = (!opaque.is_empty()).then(|| opaque.join(", "));
        Ok(Some(make(set, opaque, action)))
    }

    /// The source of a standard entry: `any`, `host A`, `A [WILDCARD]`, or
    /// the `A, wildcard bits W` of `show access-lists`.
    fn standard_source(&self, p: &mut Cursor<'_, 'a>) -> Res<Side> {
        let w = p.next("a source address")?;
        match w.text {
            "any" => Ok(Ok(IntervalSet::range(0, u32::MAX as u128))),
            "host" => {
                let a = p.next("an address")?;
                Ok(Ok(IntervalSet::point(self.v4(&a)? as u128)))
            }
            _ => {
                let base = Word {
                    text: w.text.trim_end_matches(','),
                    at: w.at,
                };
                let a: Ipv4Addr = self.v4(&base)?.into();
                let wild = if w.text.ends_with(',') {
                    // `10.0.0.0, wildcard bits 0.255.255.255`
                    p.expect("wildcard")?;
                    p.expect("bits")?;
                    Some(p.next("a wildcard")?)
                } else {
                    p.peek()
                        .filter(|x| x.text.parse::<Ipv4Addr>().is_ok())
                        .inspect(|_| p.i += 1)
                };
                match wild {
                    Some(m) => Ok(self.wildcard(a, &m)?),
                    None => Ok(Ok(IntervalSet::point(u32::from(a) as u128))),
                }
            }
        }
    }

    /// `PROTO SRC [PORTS] DST [PORTS] [options]`.
    fn extended(
        &self,
        p: &mut Cursor<'_, 'a>,
        family: Family,
        all: PacketSet,
        opaque: &mut Vec<String>,
    ) -> Res<PacketSet> {
        let pw = p.next("a protocol")?;
        // A service object-group stands for protocols and ports.
        let (mut set, protocol) = if pw.text == "object-group" {
            let name = p.next("an object-group name")?;
            let group = match self.groups.get(name.text) {
                Some(g) if g.kind == GroupKind::Protocol => {
                    self.protocol_group(&name, &mut Vec::new())?
                }
                _ => self.service_group(&name, &mut Vec::new())?,
            };
            (all.intersect(&group), None)
        } else {
            let n = match (pw.text, family) {
                ("ip", Family::Ipv4) | ("ipv4", _) | ("ipv6", Family::Ipv6) => None,
                ("icmp", Family::Ipv6) => Some(proto::ICMPV6),
                (t, _) => Some(cisco::protocol(t).ok_or_else(|| {
                    self.src.err(&pw, format!("`{t}` is not a protocol"), "expected ip, tcp, udp, icmp, a protocol name or number, or object-group NAME")
                })?),
            };
            let set = match n {
                Some(n) => all.restrict(Dim::Proto, &IntervalSet::point(n as u128)),
                None => all,
            };
            (set, n)
        };
        let ports = matches!(protocol, Some(proto::TCP | proto::UDP));
        let src = self.address(p, family)?;
        set = side(set, Dim::Src, src, opaque);
        if p.peek().is_some_and(|x| is_port_op(x.text)) {
            let s = self.ports(p, protocol, ports)?;
            set = set.restrict(Dim::Sport, &s);
        }
        let dst = self.address(p, family)?;
        set = side(set, Dim::Dst, dst, opaque);
        if p.peek().is_some_and(|x| is_port_op(x.text)) {
            let d = self.ports(p, protocol, ports)?;
            set = set.restrict(Dim::Dport, &d);
        }
        let icmp = matches!(protocol, Some(proto::ICMP | proto::ICMPV6));
        while let Some(x) = p.peek() {
            match x.text {
                "established" if protocol == Some(proto::TCP) => {
                    p.i += 1;
                    set = set.restrict(Dim::Flags, &flags_with(TcpFlag::ACK | TcpFlag::RST, true));
                }
                "ack" | "fin" | "psh" | "rst" | "syn" | "urg" if protocol == Some(proto::TCP) => {
                    p.i += 1;
                    let bit = TcpFlag::parse_list(x.text).expect("a flag");
                    set = set.restrict(Dim::Flags, &flags_with(bit, true));
                }
                "match-all" | "match-any" if protocol == Some(proto::TCP) => {
                    p.i += 1;
                    set = set.restrict(Dim::Flags, &self.flag_match(p, x.text == "match-all")?);
                }
                "time-range" | "dscp" | "precedence" | "tos" | "option" => {
                    p.i += 1;
                    let v = p.next("a value")?;
                    opaque.push(format!("{} {}", x.text, v.text));
                }
                "ttl" => {
                    let start = p.i;
                    p.i += 1;
                    let op = p.next("an operator")?;
                    p.next("a value")?;
                    if op.text == "range" {
                        p.next("a value")?;
                    }
                    opaque.push(join(&p.w[start..p.i]));
                }
                "fragments" | "tracked" => {
                    p.i += 1;
                    opaque.push(x.text.into());
                }
                "log" | "log-input" => log(p),
                "reflect" => {
                    // The entry itself is exact; the state it leaves is read by `evaluate`.
                    p.i += 1;
                    p.next("a reflexive ACL name")?;
                    if p.peek().is_some_and(|t| t.text == "timeout") {
                        p.i += 2;
                    }
                }
                t if icmp
                    && (cisco::icmp_message_of(t, family == Family::Ipv6).is_some()
                        || t.parse::<u8>().is_ok()) =>
                {
                    p.i += 1;
                    let range = match cisco::icmp_message_of(t, family == Family::Ipv6) {
                        Some(r) => r,
                        None => {
                            let ty = t.parse::<u8>().expect("checked") as u128;
                            match p.peek().and_then(|c| c.text.parse::<u8>().ok()) {
                                Some(code) => {
                                    p.i += 1;
                                    (ty << 8 | code as u128, ty << 8 | code as u128)
                                }
                                None => (ty << 8, ty << 8 | 0xff),
                            }
                        }
                    };
                    set = set.restrict(Dim::Icmp, &IntervalSet::range(range.0, range.1));
                }
                _ => break,
            }
        }
        Ok(set)
    }

    /// `any`, `host A`, `A WILDCARD`, `P/LEN`, `object-group NAME` (and
    /// `any4`/`any6` of newer IOS-XE).
    fn address(&self, p: &mut Cursor<'_, 'a>, family: Family) -> Res<Side> {
        let w = p.next("an address (any, host A, A WILDCARD or object-group NAME)")?;
        let max = family.addr_max();
        match w.text {
            "any" | "any4" | "any6" => Ok(Ok(IntervalSet::range(0, max))),
            "host" => {
                let a = p.next("an address")?;
                let ip = self.ip(&a, family)?;
                Ok(Ok(IntervalSet::point(addr::value(ip))))
            }
            "object-group" | "addrgroup" | "net-group" => {
                let name = p.next("an object-group name")?;
                self.network_group(&name, &mut Vec::new())
            }
            t if t.contains('/') => {
                let net = self.src.prefix(&w)?;
                if Family::of(net.addr()) != family {
                    return Err(self.src.err(
                        &w,
                        format!("`{t}` is of the other address family"),
                        format!("expected an {} prefix", family.name()),
                    ));
                }
                let (lo, hi) = addr::prefix_range(net.trunc());
                Ok(Ok(IntervalSet::range(lo, hi)))
            }
            _ => {
                let a: Ipv4Addr = self.v4(&w)?.into();
                let m = p.next("a wildcard mask")?;
                self.wildcard(a, &m)
            }
        }
    }

    fn wildcard(&self, a: Ipv4Addr, m: &Word<'_>) -> Res<Side> {
        let wild: Ipv4Addr = m.text.parse().map_err(|_| {
            self.src.err(
                m,
                format!("`{}` is not a wildcard mask", m.text),
                "expected a wildcard mask such as 0.0.0.255",
            )
        })?;
        let w = u32::from(wild);
        if w.leading_zeros() + w.trailing_ones() == 32 {
            // A contiguous wildcard is one range, as a prefix is.
            return Ok(Ok(cisco::wildcard(a, wild).expect("one range")));
        }
        let key = format!("{a} {wild}");
        let Ok(side) = self.wildcards.get_or(&key, || -> Result<Side, std::convert::Infallible> {
            let too_many = || format!("wildcard {key} (too many separate ranges to represent)");
            let Some(set) = cisco::wildcard(a, wild) else {
                return Ok(Err(too_many()));
            };
            let spent = self.wildcard_ranges.get() + set.ranges().len();
            if spent > MAX_WILDCARD_RANGES_PER_FILE {
                return Ok(Err(format!(
                    "wildcard {key} (the file's non-contiguous wildcards take {MAX_WILDCARD_RANGES_PER_FILE} separate ranges already)"
                )));
            }
            self.wildcard_ranges.set(spent);
            Ok(Ok(set))
        });
        Ok(side)
    }

    /// `eq P…`, `neq P`, `lt P`, `gt P`, `range A B`.
    fn ports(
        &self,
        p: &mut Cursor<'_, 'a>,
        protocol: Option<u8>,
        allowed: bool,
    ) -> Res<IntervalSet> {
        let op = p.next("a port operator")?;
        if !allowed {
            return Err(self.src.err(
                &op,
                format!("`{}` compares ports, which only TCP and UDP have", op.text),
                "expected ports only after tcp or udp",
            ));
        }
        if matches!(op.text, "port-group" | "portgroup") {
            let name = p.next("a port object-group name")?;
            return self.port_group(&name, protocol, &mut Vec::new());
        }
        let udp = protocol == Some(proto::UDP);
        const NAMES: &str = "an IOS port name (www, domain, https, ntp, …)";
        if let Some(set) = p.compared_ports(op.text, udp, NAMES) {
            return set;
        }
        Ok(match op.text {
            "eq" => {
                let mut s = IntervalSet::point(p.port(udp, NAMES)?);
                // IOS takes several ports after eq.
                while p
                    .peek()
                    .is_some_and(|x| cisco::port(x.text, udp).is_some() && !is_option(x.text))
                {
                    s = s.union(&IntervalSet::point(p.port(udp, NAMES)?));
                }
                s
            }
            other => {
                return Err(self.src.err(
                    &op,
                    format!("`{other}` is not a port operator"),
                    "expected eq, neq, lt, gt, range or port-group",
                ));
            }
        })
    }

    /// `match-all +syn -ack …` or `match-any +syn +fin …`.
    fn flag_match(&self, p: &mut Cursor<'_, 'a>, all: bool) -> Res<IntervalSet> {
        let mut conds: Vec<(u8, bool)> = Vec::new();
        while let Some(x) = p.peek().filter(|x| x.text.starts_with(['+', '-'])) {
            p.i += 1;
            let bit = TcpFlag::parse_list(&x.text[1..]).ok_or_else(|| {
                self.src.err(
                    &x,
                    format!("`{}` is not a TCP flag", &x.text[1..]),
                    "expected +FLAG or -FLAG (ack, fin, psh, rst, syn, urg)",
                )
            })?;
            conds.push((bit, x.text.starts_with('+')));
        }
        let holds = |v: u8, (bit, set): (u8, bool)| (v & bit != 0) == set;
        Ok(IntervalSet::from_ranges(
            (0u8..=255)
                .filter(|&v| {
                    if all {
                        conds.iter().all(|&c| holds(v, c))
                    } else {
                        conds.iter().any(|&c| holds(v, c))
                    }
                })
                .map(|v| (v as u128, v as u128))
                .collect(),
        ))
    }

    /// A network object-group's addresses (`host A`, `A MASK`, `range A B`,
    /// `any`, `group-object NAME`, `description …`).
    fn network_group(&self, name: &Word<'_>, stack: &mut Vec<String>) -> Res<Side> {
        self.networks
            .get_or(name.text, || self.network_members(name, stack))
    }

    fn network_members(&self, name: &Word<'_>, stack: &mut Vec<String>) -> Res<Side> {
        let g = self.group(name, GroupKind::Network, stack)?;
        let mut out = IntervalSet::empty();
        for m in &g.members {
            let w = &m.words;
            match w[0].text {
                "description" => {}
                "host" => {
                    let a = w.get(1).ok_or_else(|| {
                        self.src
                            .err(&w[0], "host without an address", "expected host A")
                    })?;
                    out = out.union(&IntervalSet::point(self.v4(a)? as u128));
                }
                "any" => out = IntervalSet::range(0, u32::MAX as u128),
                "range" => {
                    let (Some(a), Some(b)) = (w.get(1), w.get(2)) else {
                        return Err(self.src.err(
                            &w[0],
                            "range without two addresses",
                            "expected range A B",
                        ));
                    };
                    let (a, b) = (self.v4(a)? as u128, self.v4(b)? as u128);
                    out = out.union(&IntervalSet::range(a.min(b), a.max(b)));
                }
                "group-object" => {
                    let inner = w.get(1).ok_or_else(|| {
                        self.src.err(
                            &w[0],
                            "group-object without a name",
                            "expected group-object NAME",
                        )
                    })?;
                    stack.push(name.text.to_string());
                    let side = self.network_group(inner, stack)?;
                    stack.pop();
                    match side {
                        Ok(s) => out = out.union(&s),
                        Err(reason) => return Ok(Err(reason)),
                    }
                }
                t if t.contains('/') => {
                    let net: ipnet::Ipv4Net = t.parse().map_err(|_| {
                        self.src
                            .err(&w[0], format!("`{t}` is not a prefix"), "expected A/LEN")
                    })?;
                    let (lo, hi) = addr::prefix_range(ipnet::IpNet::V4(net.trunc()));
                    out = out.union(&IntervalSet::range(lo, hi));
                }
                _ if w.get(1).is_some_and(|m| m.text.starts_with('/')) => {
                    let t = format!("{}{}", w[0].text, w[1].text);
                    let net: ipnet::Ipv4Net = t.parse().map_err(|_| {
                        self.src
                            .err(&w[0], format!("`{t}` is not a prefix"), "expected A /LEN")
                    })?;
                    let (lo, hi) = addr::prefix_range(ipnet::IpNet::V4(net.trunc()));
                    out = out.union(&IntervalSet::range(lo, hi));
                }
                _ => {
                    let a: Ipv4Addr = self.v4(&w[0])?.into();
                    let m = w.get(1).ok_or_else(|| {
                        self.src.err(
                            &w[0],
                            "an address without its mask",
                            "expected A MASK (a subnet mask)",
                        )
                    })?;
                    let mask: Ipv4Addr = m.text.parse().map_err(|_| {
                        self.src.err(
                            m,
                            format!("`{}` is not a mask", m.text),
                            "expected a subnet mask such as 255.255.255.0",
                        )
                    })?;
                    let s = cisco::netmask(a, mask).ok_or_else(|| self.src.err(m, format!("`{}` is not a contiguous subnet mask", m.text), "expected a subnet mask such as 255.255.255.0 (object groups take masks, not wildcards)"))?;
                    out = out.union(&s);
                }
            }
        }
        Ok(Ok(out))
    }

    /// A service object-group's packets: `tcp|udp|tcp-udp [source OP P] [OP P]`,
    /// `icmp [MESSAGE]`, a protocol name or number, `group-object NAME`.
    fn service_group(&self, name: &Word<'_>, stack: &mut Vec<String>) -> Res<PacketSet> {
        self.services
            .get_or(name.text, || self.service_members(name, stack))
    }

    fn service_members(&self, name: &Word<'_>, stack: &mut Vec<String>) -> Res<PacketSet> {
        let g = self.group(name, GroupKind::Service, stack)?;
        let mut out = PacketSet::empty();
        for m in &g.members {
            let w = &m.words;
            let mut p = Cursor {
                w,
                i: 1,
                src: &self.src,
            };
            let set = match w[0].text {
                "description" => continue,
                "group-object" => {
                    let inner = p.next("an object-group name")?;
                    stack.push(name.text.to_string());
                    let s = self.service_group(&inner, stack)?;
                    stack.pop();
                    s
                }
                t @ ("tcp" | "udp" | "tcp-udp") => {
                    let protos = cisco::tcp_udp(t);
                    let mut set = PacketSet::empty();
                    for &pr in protos {
                        let mut q = Cursor {
                            w,
                            i: 1,
                            src: &self.src,
                        };
                        let mut s: PacketSet = Cube::full()
                            .restrict(Dim::Proto, &IntervalSet::point(pr as u128))
                            .expect("a protocol")
                            .into();
                        if q.peek().is_some_and(|x| x.text == "source") {
                            q.i += 1;
                            s = s.restrict(Dim::Sport, &self.ports(&mut q, Some(pr), true)?);
                        }
                        match q.peek() {
                            // A bare port is `eq` it.
                            Some(x) if cisco::port(x.text, pr == proto::UDP).is_some() => {
                                q.i += 1;
                                let port = cisco::port(x.text, pr == proto::UDP).expect("checked");
                                s = s.restrict(Dim::Dport, &IntervalSet::point(port as u128));
                            }
                            Some(_) => {
                                s = s.restrict(Dim::Dport, &self.ports(&mut q, Some(pr), true)?);
                            }
                            None => {}
                        }
                        p.i = q.i;
                        set = set.union(&s);
                    }
                    set
                }
                t => {
                    let n = cisco::protocol(t).ok_or_else(|| {
                        self.src.err(
                            &w[0],
                            format!("`{t}` is not a service"),
                            "expected tcp, udp, tcp-udp, icmp, a protocol, or group-object NAME",
                        )
                    })?;
                    let mut s: PacketSet = Cube::full()
                        .restrict(Dim::Proto, &IntervalSet::point(n as u128))
                        .expect("a protocol")
                        .into();
                    if n == proto::ICMP
                        && let Some(x) = p.peek()
                    {
                        let (lo, hi) = cisco::icmp_message(x.text).ok_or_else(|| {
                            self.src.err(
                                &x,
                                format!("`{}` is not an ICMP message", x.text),
                                "expected an ICMP message name (echo, echo-reply, unreachable, …)",
                            )
                        })?;
                        p.i += 1;
                        s = s.restrict(Dim::Icmp, &IntervalSet::range(lo, hi));
                    }
                    s
                }
            };
            if let Some(extra) = p.peek() {
                return Err(self.src.err(
                    &extra,
                    format!(
                        "unsupported construct `{}` in a service object-group",
                        extra.text
                    ),
                    "expected the end of the line",
                ));
            }
            out = out.union(&set);
        }
        Ok(out)
    }

    /// A protocol object-group (`protocol-object tcp`, `group-object NAME`).
    fn protocol_group(&self, name: &Word<'_>, stack: &mut Vec<String>) -> Res<PacketSet> {
        let g = self.group(name, GroupKind::Protocol, stack)?;
        let mut out = PacketSet::empty();
        for m in &g.members {
            let w = &m.words;
            match (w[0].text, w.get(1)) {
                ("description", _) => {}
                ("protocol-object", Some(x)) => {
                    let all: PacketSet = Cube::full().into();
                    let set = match x.text {
                        "ip" | "ipv4" | "ipv6" => all,
                        t => {
                            let n = cisco::protocol(t).ok_or_else(|| {
                                self.src.err(
                                    x,
                                    format!("`{t}` is not a protocol"),
                                    "expected a protocol name or number",
                                )
                            })?;
                            all.restrict(Dim::Proto, &IntervalSet::point(n as u128))
                        }
                    };
                    out = out.union(&set);
                }
                ("group-object", Some(inner)) => {
                    stack.push(name.text.to_string());
                    let s = self.protocol_group(inner, stack)?;
                    stack.pop();
                    out = out.union(&s);
                }
                _ => {
                    return Err(self.src.err(
                        &w[0],
                        format!(
                            "unsupported construct `{}` in a protocol object-group",
                            w[0].text
                        ),
                        "expected protocol-object PROTOCOL or group-object NAME",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// A port object-group's ports (`eq P`, `range A B`, …, `group-object NAME`).
    fn port_group(
        &self,
        name: &Word<'_>,
        protocol: Option<u8>,
        stack: &mut Vec<String>,
    ) -> Res<IntervalSet> {
        let g = self.group(name, GroupKind::Port, stack)?;
        let mut out = IntervalSet::empty();
        for m in &g.members {
            let w = &m.words;
            match w[0].text {
                "description" => {}
                "group-object" => {
                    let inner = w.get(1).ok_or_else(|| {
                        self.src.err(
                            &w[0],
                            "group-object without a name",
                            "expected group-object NAME",
                        )
                    })?;
                    stack.push(name.text.to_string());
                    out = out.union(&self.port_group(inner, protocol, stack)?);
                    stack.pop();
                }
                _ => {
                    let mut q = Cursor {
                        w,
                        i: 0,
                        src: &self.src,
                    };
                    out = out.union(&self.ports(&mut q, protocol, true)?);
                    if let Some(extra) = q.peek() {
                        return Err(self.src.err(
                            &extra,
                            format!(
                                "unsupported construct `{}` in a port object-group",
                                extra.text
                            ),
                            "expected the end of the line",
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    fn group(
        &self,
        name: &Word<'_>,
        kind: GroupKind,
        stack: &[String],
    ) -> Res<&super::parse::Group<'a>> {
        if stack.iter().any(|s| s == name.text) {
            return Err(self.src.err(
                name,
                format!("object-group {} contains itself", name.text),
                "expected object-groups that do not nest into themselves",
            ));
        }
        match self.groups.get(name.text) {
            Some(g) if g.kind == kind => Ok(g),
            Some(_) => Err(self.src.err(
                name,
                format!("object-group {} is of the other kind", name.text),
                "expected a network group for addresses, a service group for the protocol",
            )),
            None => Err(self.src.err(
                name,
                format!("{UNDEFINED_GROUP} {}", name.text),
                "expected an object-group defined in this configuration",
            )),
        }
    }

    fn number(&self, w: &Word<'_>) -> Res<u32> {
        w.text.parse().map_err(|_| {
            self.src.err(
                w,
                format!("`{}` is not a number", w.text),
                "expected a number",
            )
        })
    }

    fn v4(&self, w: &Word<'_>) -> Res<u32> {
        w.text.parse::<Ipv4Addr>().map(u32::from).map_err(|_| {
            self.src.err(
                w,
                format!("`{}` is not an IPv4 address", w.text),
                "expected an address such as 192.168.1.10",
            )
        })
    }

    fn ip(&self, w: &Word<'_>, family: Family) -> Res<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) if Family::of(a) == family => Ok(a),
            _ => Err(self.src.err(
                w,
                format!("`{}` is not an {} address", w.text, family.name()),
                "expected an address of the list's family",
            )),
        }
    }

    /// Interfaces with their subnets, and static routes by the interface they leave.
    fn topology(&self, cfg: &Config<'_>) -> Res<Topology> {
        let mut t = Topology::default();
        for i in cfg.interfaces.iter().filter(|i| !i.shutdown) {
            let mut nets = Vec::new();
            for l in &i.addresses {
                let w = &l.words;
                match w.get(2).map(|x| x.text) {
                    Some(a) if a.contains('/') => {
                        if let Ok(n) = a.parse::<ipnet::IpNet>() {
                            nets.push(n.trunc());
                        }
                    }
                    Some(a) if a.parse::<Ipv4Addr>().is_ok() => {
                        let m = w.get(3).ok_or_else(|| {
                            self.src.err(
                                &w[2],
                                "an address without its mask",
                                "expected ip address A MASK",
                            )
                        })?;
                        let mask: Ipv4Addr = m.text.parse().map_err(|_| {
                            self.src.err(
                                m,
                                format!("`{}` is not a mask", m.text),
                                "expected a subnet mask",
                            )
                        })?;
                        let len = u32::from(mask).leading_ones() as u8;
                        let net = ipnet::Ipv4Net::new(a.parse().expect("checked"), len)
                            .expect("a valid length");
                        nets.push(ipnet::IpNet::V4(net.trunc()));
                    }
                    // dhcp, negotiated, unnumbered: no subnet known.
                    _ => {}
                }
            }
            let name = short_name(i.name.text);
            t.interfaces.push(Interface {
                aliases: vec![i.name.text.to_string()],
                name,
                nets,
            });
        }
        for r in &cfg.routes {
            let w: Vec<&str> = r.words.iter().map(|x| x.text).collect();
            // ip route PREFIX MASK (INTERFACE [NEXTHOP] | NEXTHOP) …; vrf routes are another table.
            let [_, _, prefix, mask, via, ..] = w.as_slice() else {
                continue;
            };
            let (Ok(prefix), Ok(mask)) = (prefix.parse::<Ipv4Addr>(), mask.parse::<Ipv4Addr>())
            else {
                continue;
            };
            let len = u32::from(mask).leading_ones() as u8;
            let Ok(net) = ipnet::Ipv4Net::new(prefix, len) else {
                continue;
            };
            let out = match via.parse::<IpAddr>() {
                Ok(hop) => t.interface_for(hop).map(str::to_string),
                Err(_) => Some(short_name(via)),
            };
            if let Some(out) = out {
                t.routes.push((ipnet::IpNet::V4(net.trunc()), out));
            }
        }
        Ok(t)
    }
}

fn acl_family(acl: &Acl<'_>) -> Family {
    match acl.kind {
        AclKind::Ipv6 | AclKind::Ipv6Standard => Family::Ipv6,
        _ => Family::Ipv4,
    }
}

/// Narrows one address side, or records why it is not modelled.
fn side(set: PacketSet, d: Dim, s: Side, opaque: &mut Vec<String>) -> PacketSet {
    match s {
        Ok(v) => set.restrict(d, &v),
        Err(reason) => {
            opaque.push(reason);
            set
        }
    }
}

/// The flag values with (or without) any of `bits` set.
fn flags_with(bits: u8, set: bool) -> IntervalSet {
    IntervalSet::from_ranges(
        (0u8..=255)
            .filter(|v| (v & bits != 0) == set)
            .map(|v| (v as u128, v as u128))
            .collect(),
    )
}

fn is_port_op(w: &str) -> bool {
    matches!(
        w,
        "eq" | "neq" | "lt" | "gt" | "range" | "port-group" | "portgroup"
    )
}

/// Words that start an option of an entry rather than continue a port list.
fn is_option(w: &str) -> bool {
    matches!(
        w,
        "log"
            | "log-input"
            | "established"
            | "time-range"
            | "dscp"
            | "precedence"
            | "tos"
            | "fragments"
            | "option"
            | "ttl"
            | "reflect"
            | "ack"
            | "fin"
            | "psh"
            | "rst"
            | "syn"
            | "urg"
            | "match-all"
            | "match-any"
            | "tracked"
    )
}

fn join(w: &[Word<'_>]) -> String {
    w.iter().map(|x| x.text).collect::<Vec<_>>().join(" ")
}

/// `log` or `log-input`, and the cookie word it may carry.
fn log(p: &mut Cursor<'_, '_>) {
    p.i += 1;
    if p.peek()
        .is_some_and(|c| !is_option(c.text) && !c.text.starts_with('('))
    {
        p.i += 1;
    }
}

//! Suggested entries written as IOS configuration: the list opened by name
//! (numbered lists too, as IOS allows) and the entry with the sequence
//! number that puts it in its place (`ip access-list extended 101` /
//! ` 15 permit udp host 192.168.1.10 any`).

use crate::model::{Action, Policy, Suggestion};
use crate::space::dim::{Family, TcpFlag, addr, icmp, proto};
use crate::space::{Cube, Dim, IntervalSet};

pub fn write(policy: &Policy, s: &Suggestion) -> String {
    let chain = &policy.chains[s.chain];
    let rules = &chain.rules;
    let header = policy
        .chains
        .get(s.chain)
        .and_then(|c| c.base.as_ref())
        .and_then(|b| b.policy.as_ref())
        .map(|r| policy.text(r.span))
        .unwrap_or("");
    let standard = is_standard(header);
    let c = &s.matches;
    let family = c
        .get(Dim::Family)
        .is_single()
        .map_or(Family::Ipv4, Family::from_value);
    // The place: between the numbers around the position, or after the last.
    let before = s
        .position
        .checked_sub(1)
        .and_then(|i| rules.get(i))
        .and_then(|r| r.number);
    let after = rules.get(s.position).and_then(|r| r.number);
    let (reseq, seq) = match (before, after) {
        (b, Some(a)) if a > b.unwrap_or(0) + 1 => {
            (false, b.unwrap_or(0) + (a - b.unwrap_or(0)) / 2)
        }
        (_, Some(_)) => (true, 10 * s.position as u32 + 5),
        (b, None) => (false, b.unwrap_or(0) + 10),
    };
    let verb = if s.action == Action::Accept {
        "permit"
    } else {
        "deny"
    };
    let kind = if family == Family::Ipv6 {
        "ipv6 access-list"
    } else if standard {
        "ip access-list standard"
    } else {
        "ip access-list extended"
    };
    let mut out = String::new();
    if reseq {
        out.push_str(&format!("ip access-list resequence {} 10 10\n", chain.name));
    }
    out.push_str(&format!("{kind} {}\n", chain.name));
    let entry = if standard {
        addresses(c.get(Dim::Src), family)
    } else {
        extended(c, family)
    };
    out.push_str(&format!(" {seq} {verb} {entry}"));
    out
}

/// Whether the list's declaration is a standard one.
fn is_standard(header: &str) -> bool {
    let w: Vec<&str> = header.split_whitespace().collect();
    match w.as_slice() {
        ["ip", "access-list", "standard", ..] | ["Standard", ..] => true,
        ["access-list", n, ..] => n
            .parse::<u32>()
            .is_ok_and(|n| (1..=99).contains(&n) || (1300..=1999).contains(&n)),
        _ => false,
    }
}

/// `PROTO SRC [PORTS] DST [PORTS] [established | ICMP message]`.
fn extended(c: &Cube, family: Family) -> String {
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    let name = match p {
        Some(proto::ICMPV6) if family == Family::Ipv6 => "icmp".to_string(),
        Some(p) => proto::name(p).map_or_else(|| p.to_string(), str::to_string),
        None if family == Family::Ipv6 => "ipv6".into(),
        None => "ip".into(),
    };
    let ports = matches!(p, Some(proto::TCP | proto::UDP));
    let mut parts = vec![name, addresses(c.get(Dim::Src), family)];
    if ports {
        parts.extend(port_spec(c.get(Dim::Sport)));
    }
    parts.push(addresses(c.get(Dim::Dst), family));
    if ports {
        parts.extend(port_spec(c.get(Dim::Dport)));
    }
    if p == Some(proto::TCP) {
        let flags = c.get(Dim::Flags);
        let with_ack_or_rst = |v: u128| v as u8 & (TcpFlag::ACK | TcpFlag::RST) != 0;
        if flags
            .ranges()
            .iter()
            .all(|&(lo, hi)| (lo..=hi).all(with_ack_or_rst))
        {
            parts.push("established".into());
        }
    }
    if matches!(p, Some(proto::ICMP | proto::ICMPV6))
        && let [(lo, hi)] = c.get(Dim::Icmp).ranges()
        && lo >> 8 == hi >> 8
        && *lo & 0xff == 0
        && *hi & 0xff == 0xff
    {
        let t = (lo >> 8) as u8;
        parts.push(match (t, family) {
            (8, Family::Ipv4) | (128, Family::Ipv6) => "echo".into(),
            (0, Family::Ipv4) | (129, Family::Ipv6) => "echo-reply".into(),
            _ => icmp::type_name(t, family == Family::Ipv6)
                .map_or_else(|| t.to_string(), str::to_string),
        });
    }
    parts.join(" ")
}

/// `any`, `host A`, or `A WILDCARD` for the first prefix of the set (the
/// requirement spaces a fix is written for are one prefix wide).
fn addresses(s: &IntervalSet, family: Family) -> String {
    if *s == IntervalSet::range(0, family.addr_max()) {
        return "any".into();
    }
    let Some(&(lo, hi)) = s.ranges().first() else {
        return "any".into();
    };
    let net = addr::range_to_prefixes(lo, hi, family)[0];
    match net {
        n if n.prefix_len() == n.max_prefix_len() => format!("host {}", n.addr()),
        ipnet::IpNet::V4(n) => format!("{} {}", n.network(), n.hostmask()),
        n => n.to_string(),
    }
}

/// `eq P`, `range A B`, or nothing for every port.
fn port_spec(s: &IntervalSet) -> Option<String> {
    match s.ranges() {
        [(0, 0xffff)] | [(1, 0xffff)] => None,
        [(a, b)] if a == b => Some(format!("eq {a}")),
        [(a, b)] => Some(format!("range {a} {b}")),
        r => Some(format!(
            "eq {}",
            r.iter()
                .flat_map(|&(a, b)| a..=b)
                .take(10)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

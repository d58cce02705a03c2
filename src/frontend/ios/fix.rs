//! Suggested entries written as IOS configuration: the list opened by name
//! (numbered lists too, as IOS allows) and the entry with the sequence
//! number that puts it in its place (`ip access-list extended 101` /
//! ` 15 permit udp host 192.168.1.10 any`).

use crate::frontend::cisco;
use crate::model::{Action, Policy, Suggestion};
use crate::space::dim::{Family, TcpFlag, addr, proto};
use crate::space::{Cube, Dim, IntervalSet};
use std::collections::HashMap;

/// The suggestions of one report part, each as configuration lines. Entries
/// that go to the same place of a list get distinct sequence numbers; where
/// the numbers leave no room, the list is renumbered first (10, 20, …).
pub fn write_all(policy: &Policy, suggestions: &[&Suggestion]) -> Vec<String> {
    let bodies: Vec<Vec<String>> = suggestions.iter().map(|s| entries(policy, s)).collect();
    // How many entries go before each (chain, position).
    let mut wanted: HashMap<(usize, usize), u32> = HashMap::new();
    for (s, b) in suggestions.iter().zip(&bodies) {
        *wanted.entry((s.chain, s.position)).or_default() += b.len() as u32;
    }
    let renumber: Vec<usize> = wanted
        .iter()
        .filter(|&(&(chain, position), &n)| {
            let (lo, hi) = bounds(&policy.chains[chain].rules, position, false);
            hi.is_some_and(|hi| hi - lo <= n)
        })
        .map(|(&(chain, _), _)| chain)
        .collect();
    let mut used: HashMap<(usize, usize), u32> = HashMap::new();
    let mut said_renumber: Vec<usize> = Vec::new();
    suggestions
        .iter()
        .zip(bodies)
        .map(|(s, body)| {
            let chain = &policy.chains[s.chain];
            let reseq = renumber.contains(&s.chain);
            let (lo, hi) = bounds(&chain.rules, s.position, reseq);
            let n = wanted[&(s.chain, s.position)];
            let step = hi.map_or(10, |hi| (hi - lo) / (n + 1)).max(1);
            let mut out = String::new();
            if reseq && !said_renumber.contains(&s.chain) {
                said_renumber.push(s.chain);
                out.push_str(&format!("ip access-list resequence {} 10 10\n", chain.name));
            }
            out.push_str(&format!("{} {}", list_kind(policy, s), chain.name));
            let verb = if s.action == Action::Accept {
                "permit"
            } else {
                "deny"
            };
            for entry in body {
                let k = used.entry((s.chain, s.position)).or_default();
                *k += 1;
                out.push_str(&format!("\n {} {verb} {entry}", lo + *k * step));
            }
            out
        })
        .collect()
}

/// The numbers around `position` (the one before, or 0; the one at it, if
/// any), as they are or after renumbering by 10.
fn bounds(rules: &[crate::model::Rule], position: usize, renumbered: bool) -> (u32, Option<u32>) {
    let number = |i: usize| -> Option<u32> {
        if renumbered {
            (i < rules.len()).then(|| 10 * (i as u32 + 1))
        } else {
            rules.get(i).and_then(crate::model::Rule::number)
        }
    };
    let lo = position.checked_sub(1).and_then(number).unwrap_or(0);
    (lo, number(position))
}

/// `ip access-list standard|extended` or `ipv6 access-list`, as the list is.
fn list_kind(policy: &Policy, s: &Suggestion) -> &'static str {
    let header = policy.chains[s.chain]
        .base
        .as_ref()
        .and_then(|b| b.policy.as_ref())
        .map_or("", |r| policy.text(r.span));
    let v6 = s.matches.get(Dim::Family).is_single() == Some(Family::Ipv6 as u128);
    match (v6, is_standard(header)) {
        (true, true) => "ipv6 access-list standard",
        (true, false) => "ipv6 access-list",
        (false, true) => "ip access-list standard",
        (false, false) => "ip access-list extended",
    }
}

/// The entries (without number and verb) that together match the suggestion:
/// one per source and destination prefix.
fn entries(policy: &Policy, s: &Suggestion) -> Vec<String> {
    let c = &s.matches;
    let family = c
        .get(Dim::Family)
        .is_single()
        .map_or(Family::Ipv4, Family::from_value);
    let standard = list_kind(policy, s).ends_with("standard");
    let srcs = addresses(c.get(Dim::Src), family);
    if standard {
        return srcs;
    }
    let dsts = addresses(c.get(Dim::Dst), family);
    srcs.iter()
        .flat_map(|src| dsts.iter().map(move |dst| extended(c, family, src, dst)))
        .collect()
}

/// Whether the list's declaration is a standard one.
fn is_standard(header: &str) -> bool {
    let w: Vec<&str> = header.split_whitespace().collect();
    match w.as_slice() {
        ["ip" | "ipv6", "access-list", "standard", ..]
        | ["Standard", ..]
        | ["access-list", _, "standard", ..] => true,
        ["access-list", n, ..] => n
            .parse::<u32>()
            .is_ok_and(|n| (1..=99).contains(&n) || (1300..=1999).contains(&n)),
        _ => false,
    }
}

/// `PROTO SRC [PORTS] DST [PORTS] [established | ICMP message]`.
fn extended(c: &Cube, family: Family, src: &str, dst: &str) -> String {
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    let name = match p {
        Some(proto::ICMPV6) if family == Family::Ipv6 => "icmp".to_string(),
        Some(p) => cisco::protocol_name(p).map_or_else(|| p.to_string(), str::to_string),
        None if family == Family::Ipv6 => "ipv6".into(),
        None => "ip".into(),
    };
    let ports = matches!(p, Some(proto::TCP | proto::UDP));
    let mut parts = vec![name, src.to_string()];
    if ports {
        parts.extend(port_spec(c.get(Dim::Sport)));
    }
    parts.push(dst.to_string());
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
    // One ICMP type: by name (echo and echo-reply have only code 0), or as
    // `TYPE CODE` for one code of another type.
    if matches!(p, Some(proto::ICMP | proto::ICMPV6))
        && let [(lo, hi)] = c.get(Dim::Icmp).ranges()
        && lo >> 8 == hi >> 8
    {
        let t = (lo >> 8) as u8;
        let all_codes = *lo & 0xff == 0 && *hi & 0xff == 0xff;
        let v6 = family == Family::Ipv6;
        parts.push(match (t, family) {
            (8, Family::Ipv4) if all_codes || *hi & 0xff == 0 => "echo".into(),
            (128, Family::Ipv6) if all_codes || *hi & 0xff == 0 => "echo-request".into(),
            (0, Family::Ipv4) | (129, Family::Ipv6) if all_codes || *hi & 0xff == 0 => {
                "echo-reply".into()
            }
            _ if all_codes => {
                cisco::icmp_type_name(t, v6).map_or_else(|| t.to_string(), str::to_string)
            }
            _ if lo == hi => format!("{t} {}", lo & 0xff),
            _ => t.to_string(),
        });
    }
    parts.join(" ")
}

/// `any`, or each prefix of the set as `host A` or `A WILDCARD`.
fn addresses(s: &IntervalSet, family: Family) -> Vec<String> {
    if *s == IntervalSet::range(0, family.addr_max()) || s.is_empty() {
        return vec!["any".into()];
    }
    s.ranges()
        .iter()
        .flat_map(|&(lo, hi)| addr::range_to_prefixes(lo, hi, family))
        .map(|n| match n {
            n if n.prefix_len() == n.max_prefix_len() => format!("host {}", n.addr()),
            ipnet::IpNet::V4(n) => format!("{} {}", n.network(), n.hostmask()),
            n => n.to_string(),
        })
        .collect()
}

/// `eq P`, `range A B`, `eq P Q …` (IOS takes up to ten ports), or nothing
/// for every port.
fn port_spec(s: &IntervalSet) -> Option<String> {
    if s.ranges().len() < 2 {
        return cisco::port_spec(s);
    }
    let ports: Vec<String> = s
        .ranges()
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .take(11)
        .map(|p| p.to_string())
        .collect();
    (ports.len() <= 10).then(|| format!("eq {}", ports.join(" ")))
}

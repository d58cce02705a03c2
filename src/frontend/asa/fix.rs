//! Suggested entries written as ASA configuration: `access-list NAME line N
//! extended permit …` to go before line N of the list, or without `line` to
//! go at its end. Where no list decides (security levels), a new list is
//! written and bound, which then decides everything entering that
//! interface.

use crate::frontend::cisco;
use crate::model::{Action, Policy, Suggestion};
use crate::space::dim::{Family, addr, proto};
use crate::space::{Cube, Dim, IntervalSet};

pub fn write(policy: &Policy, s: &Suggestion) -> String {
    let chain = &policy.chains[s.chain];
    let verb = if s.action == Action::Accept {
        "permit"
    } else {
        "deny"
    };
    let entries: Vec<String> = entries(&s.matches);
    // A chain of security levels has no list: its table says the interface.
    if chain.name.starts_with("security-level") {
        let ifname = chain.table.trim_start_matches("in ");
        let acl = format!("{ifname}_access_in");
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| format!("access-list {acl} extended {verb} {e}"))
            .collect();
        out.push(format!("access-group {acl} in interface {ifname}"));
        return out.join("\n");
    }
    let line = chain
        .rules
        .get(s.position)
        .and_then(crate::model::Rule::number);
    entries
        .iter()
        .map(|e| match line {
            Some(n) => format!("access-list {} line {n} extended {verb} {e}", chain.name),
            None => format!("access-list {} extended {verb} {e}", chain.name),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The entries (after `extended permit`) that together match the cube.
fn entries(c: &Cube) -> Vec<String> {
    let family = c.get(Dim::Family).is_single().map(Family::from_value);
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    let name = match p {
        Some(p) => cisco::protocol_name(p).map_or_else(|| p.to_string(), str::to_string),
        None => "ip".into(),
    };
    let ports = matches!(p, Some(proto::TCP | proto::UDP));
    let srcs = addresses(c.get(Dim::Src), family);
    let dsts = addresses(c.get(Dim::Dst), family);
    let mut out = Vec::new();
    for s in &srcs {
        for d in &dsts {
            let mut parts = vec![name.clone(), s.clone()];
            if ports && let Some(sp) = cisco::port_spec(c.get(Dim::Sport)) {
                parts.push(sp);
            }
            parts.push(d.clone());
            if ports && let Some(dp) = cisco::port_spec(c.get(Dim::Dport)) {
                parts.push(dp);
            }
            if matches!(p, Some(proto::ICMP | proto::ICMPV6))
                && let [(lo, hi)] = c.get(Dim::Icmp).ranges()
                && lo >> 8 == hi >> 8
            {
                parts.push(match lo >> 8 {
                    8 | 128 => "echo".into(),
                    0 | 129 => "echo-reply".into(),
                    t => t.to_string(),
                });
            }
            out.push(parts.join(" "));
        }
    }
    out
}

/// `any4` (or `any6`, `any`), or each prefix as `host A` / `A MASK`.
fn addresses(s: &IntervalSet, family: Option<Family>) -> Vec<String> {
    let Some(f) = family else {
        return vec!["any".into()];
    };
    if *s == IntervalSet::range(0, f.addr_max()) || s.is_empty() {
        return vec![if f == Family::Ipv4 { "any4" } else { "any6" }.into()];
    }
    s.ranges()
        .iter()
        .flat_map(|&(lo, hi)| addr::range_to_prefixes(lo, hi, f))
        .map(|n| match n {
            n if n.prefix_len() == n.max_prefix_len() => format!("host {}", n.addr()),
            ipnet::IpNet::V4(n) => format!("{} {}", n.network(), n.netmask()),
            n => n.to_string(),
        })
        .collect()
}

//! Suggested rules written as nft commands (`nft insert rule inet filter
//! forward index 2 …`), to run as they are or, without `nft`, to add to a
//! script that `nft -f` loads.

use crate::model::{Action, Policy, Suggestion};
use crate::space::dim::{Family, State, addr, icmp, iface, proto};
use crate::space::{Dim, IntervalSet};

/// The command that adds the suggested rule where it belongs.
pub fn write(policy: &Policy, s: &Suggestion) -> String {
    let chain = &policy.chains[s.chain];
    let c = &s.matches;
    let family = c
        .get(Dim::Family)
        .is_single()
        .map_or(Family::Ipv4, Family::from_value);
    let mut m: Vec<String> = Vec::new();
    let ip = if family == Family::Ipv4 { "ip" } else { "ip6" };
    for (d, dir) in [(Dim::Src, "saddr"), (Dim::Dst, "daddr")] {
        let set = c.get(d);
        if *set != IntervalSet::range(0, family.addr_max()) {
            let items: Vec<String> = set
                .ranges()
                .iter()
                .flat_map(|&(lo, hi)| addr::range_to_prefixes(lo, hi, family))
                .map(addr::written)
                .collect();
            m.push(format!("{ip} {dir} {}", braces(items)));
        }
    }
    // Before routing there is no output interface to match yet.
    let unrouted = policy.before_routing(s.chain);
    for (d, word) in [(Dim::In, "iifname"), (Dim::Out, "oifname")] {
        if d == Dim::Out && unrouted {
            continue;
        }
        if let [(lo, hi)] = c.get(d).ranges() {
            if *c.get(d) == IntervalSet::range(0, u128::MAX) {
                continue;
            }
            let name = if lo == hi {
                iface::decode(*lo)
            } else {
                iface::as_prefix(*lo, *hi).map_or_else(String::new, |p| format!("{p}*"))
            };
            m.push(format!("{word} \"{name}\""));
        }
    }
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    let ports = |d: Dim| -> Option<String> {
        let set = c.get(d);
        (*set != IntervalSet::range(0, 0xffff)).then(|| {
            braces(
                set.ranges()
                    .iter()
                    .map(|&(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect(),
            )
        })
    };
    match p {
        Some(p @ (proto::TCP | proto::UDP)) => {
            let name = proto::name(p).expect("named");
            let (sp, dp) = (ports(Dim::Sport), ports(Dim::Dport));
            if sp.is_none() && dp.is_none() {
                m.push(format!("meta l4proto {name}"));
            }
            if let Some(sp) = sp {
                m.push(format!("{name} sport {sp}"));
            }
            if let Some(dp) = dp {
                m.push(format!("{name} dport {dp}"));
            }
        }
        Some(p @ (proto::ICMP | proto::ICMPV6)) => {
            let v6 = p == proto::ICMPV6;
            let word = if v6 { "icmpv6" } else { "icmp" };
            match c.get(Dim::Icmp).ranges() {
                [(lo, _)] => {
                    let t = (lo >> 8) as u8;
                    let name = icmp::type_name(t, v6).map_or_else(|| t.to_string(), str::to_string);
                    m.push(format!("{word} type {name}"));
                }
                _ => m.push(format!("meta l4proto {word}")),
            }
        }
        Some(p) => m.push(format!("meta l4proto {p}")),
        None => {}
    }
    let states = c.get(Dim::State);
    if *states != IntervalSet::range(0, State::MAX) {
        let names: Vec<&str> = (0..=State::MAX)
            .filter(|&v| states.contains(v))
            .map(State::name)
            .collect();
        m.push(format!("ct state {}", names.join(",")));
    }
    let verdict = match s.action {
        Action::Accept => "accept",
        _ => "drop",
    };
    let (fam, table) = chain.table.split_once(' ').unwrap_or(("ip", &chain.table));
    let head = if s.position >= chain.rules.len() {
        format!("nft add rule {fam} {table} {}", chain.name)
    } else {
        // A verdict map is one written rule but one model rule per element:
        // nft counts written rules.
        let index = chain.rules[..s.position]
            .iter()
            .enumerate()
            .filter(|(i, r)| *i == 0 || chain.rules[i - 1].span != r.span)
            .count();
        format!("nft insert rule {fam} {table} {} index {index}", chain.name)
    };
    format!("{head} {} {verdict}", m.join(" ")).replace("  ", " ")
}

fn braces(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().expect("one")
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

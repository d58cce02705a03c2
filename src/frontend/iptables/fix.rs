//! Suggested rules written in iptables-restore syntax (`-I FORWARD 3 -s … -j ACCEPT`).

use crate::model::{Action, Policy, Suggestion};
use crate::space::dim::{Dim, Family, State, addr, icmp, iface, proto};
use crate::space::{Cube, IntervalSet};

/// The rule line of a suggestion, with `-t TABLE` unless it is for the filter
/// table. A file holding both an iptables-save and an ip6tables-save dump gets
/// commands that name their tool, since one line would fit either dump.
pub fn write(policy: &Policy, s: &Suggestion) -> String {
    let chain = &policy.chains[s.chain];
    let mut out = String::new();
    if policy.families.len() > 1 {
        out.push_str(match chain.family {
            Some(Family::Ipv6) => "ip6tables ",
            _ => "iptables ",
        });
    }
    if &*chain.table != "filter" {
        out.push_str(&format!("-t {} ", chain.table));
    }
    if s.position >= chain.rules.len() {
        out.push_str(&format!("-A {}", chain.name));
    } else {
        out.push_str(&format!("-I {} {}", chain.name, s.position + 1));
    }
    out.push_str(&matches(&s.matches));
    out.push_str(match s.action {
        Action::Accept => " -j ACCEPT",
        _ => " -j DROP",
    });
    out
}

fn matches(c: &Cube) -> String {
    let family = c
        .get(Dim::Family)
        .is_single()
        .map_or(Family::Ipv4, Family::from_value);
    let amax = family.addr_max();
    let mut out = String::new();
    for (d, flag) in [(Dim::Src, "-s"), (Dim::Dst, "-d")] {
        let s = c.get(d);
        if *s != IntervalSet::range(0, amax) {
            out.push_str(&format!(" {flag} {}", prefixes(s, family)));
        }
    }
    for (d, flag) in [(Dim::In, "-i"), (Dim::Out, "-o")] {
        if *c.get(d) == IntervalSet::range(0, u128::MAX) {
            continue;
        }
        if let Some(name) = iface_name(c.get(d)) {
            out.push_str(&format!(" {flag} {name}"));
        }
    }
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    if let Some(p) = p {
        let name = proto::name(p).map_or_else(|| p.to_string(), str::to_string);
        out.push_str(&format!(" -p {name}"));
    }
    let ports = |d: Dim| -> Option<String> {
        let s = c.get(d);
        (*s != IntervalSet::range(0, 0xffff)).then(|| {
            s.ranges()
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}:{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    if let Some(p @ (proto::TCP | proto::UDP)) = p {
        let module = if p == proto::TCP { "tcp" } else { "udp" };
        let (sp, dp) = (ports(Dim::Sport), ports(Dim::Dport));
        let multi = |s: &Option<String>| s.as_ref().is_some_and(|s| s.contains(','));
        if multi(&sp) || multi(&dp) {
            out.push_str(" -m multiport");
            if let Some(sp) = sp {
                out.push_str(&format!(" --sports {sp}"));
            }
            if let Some(dp) = dp {
                out.push_str(&format!(" --dports {dp}"));
            }
        } else if sp.is_some() || dp.is_some() {
            out.push_str(&format!(" -m {module}"));
            if let Some(sp) = sp {
                out.push_str(&format!(" --sport {sp}"));
            }
            if let Some(dp) = dp {
                out.push_str(&format!(" --dport {dp}"));
            }
        }
    }
    if let Some(p @ (proto::ICMP | proto::ICMPV6)) = p {
        let s = c.get(Dim::Icmp);
        if let [(lo, hi)] = s.ranges() {
            let v6 = p == proto::ICMPV6;
            let t = (lo >> 8) as u8;
            // A whole type, or its code 0 (echo request), reads best by name;
            // the name covers every code of the type.
            let whole = lo & 0xff == 0 && (hi & 0xff == 0xff || lo == hi) && lo >> 8 == hi >> 8;
            let text = match icmp::type_name(t, v6) {
                Some(name) if whole => name.to_string(),
                _ if lo == hi => format!("{t}/{}", lo & 0xff),
                _ => t.to_string(),
            };
            let (m, o) = if v6 {
                ("icmp6", "--icmpv6-type")
            } else {
                ("icmp", "--icmp-type")
            };
            out.push_str(&format!(" -m {m} {o} {text}"));
        }
    }
    let states = c.get(Dim::State);
    if *states != IntervalSet::range(0, State::MAX) {
        let names: Vec<String> = (0..=State::MAX)
            .filter(|&v| states.contains(v))
            .map(|v| State::name(v).to_ascii_uppercase())
            .collect();
        out.push_str(&format!(" -m conntrack --ctstate {}", names.join(",")));
    }
    out
}

fn prefixes(s: &IntervalSet, family: Family) -> String {
    s.ranges()
        .iter()
        .flat_map(|&(lo, hi)| addr::range_to_prefixes(lo, hi, family))
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// An interface set iptables can name in one word: one name or a `name+` prefix.
fn iface_name(s: &IntervalSet) -> Option<String> {
    match s.ranges() {
        [(lo, hi)] if lo == hi => Some(iface::decode(*lo)),
        [(lo, hi)] => iface::as_prefix(*lo, *hi).map(|p| format!("{p}+")),
        _ => None,
    }
}

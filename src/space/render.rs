//! Packet sets as readable text: one line per cube, each dimension as ranges,
//! full dimensions left out ("udp dport 137-139,1900 to internet").

use super::dim::{Dim, Family, State, TcpFlag, addr, icmp, iface, proto};
use super::interval::IntervalSet;
use super::set::{Cube, PacketSet};

/// Names for well-known value sets (the dialler, "internet", …), so that a
/// rendering says "to internet" rather than fifteen excluded prefixes.
#[derive(Default, Clone, Debug)]
pub struct Names {
    entries: Vec<(Dim, IntervalSet, String)>,
}

impl Names {
    pub fn add(&mut self, d: Dim, set: IntervalSet, name: impl Into<String>) {
        self.entries.push((d, set, name.into()));
    }

    fn lookup(&self, d: Dim, set: &IntervalSet) -> Option<&str> {
        self.entries
            .iter()
            .find(|(nd, ns, _)| *nd == d && ns == set)
            .map(|(_, _, n)| n.as_str())
    }
}

/// At most this many items of one dimension are listed; the rest are counted.
const MAX_ITEMS: usize = 24;

/// The whole set, its cubes separated by `;`.
pub fn render_set(s: &PacketSet, names: &Names) -> String {
    render_within(s, &PacketSet::empty(), names)
}

/// Dimensions that may go unsaid when they are as the context has them.
const IMPLIED: [Dim; 7] = [
    Dim::Sport,
    Dim::Dport,
    Dim::Icmp,
    Dim::State,
    Dim::Flags,
    Dim::In,
    Dim::Out,
];

/// The set described against a context (the requirement's own traffic): the
/// ports, states and flags it shares with the context cube holding it go unsaid.
pub fn render_within(s: &PacketSet, context: &PacketSet, names: &Names) -> String {
    if s.is_empty() {
        return "nothing".into();
    }
    s.ordered_cubes()
        .iter()
        .map(|c| {
            let ctx = context.cubes().iter().find(|k| c.is_subset(k));
            render_cube(c, ctx, names)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn render_cube(c: &Cube, context: Option<&Cube>, names: &Names) -> String {
    let implied = |d: Dim| IMPLIED.contains(&d) && context.is_some_and(|k| k.get(d) == c.get(d));
    let fam_set = c.get(Dim::Family);
    let family = fam_set.is_single().map(Family::from_value);
    let mut parts: Vec<String> = Vec::new();
    if family == Some(Family::Ipv6) {
        parts.push("ipv6".into());
    }
    let protos = c.get(Dim::Proto);
    let single_proto = protos.is_single().map(|p| p as u8);
    parts.push(render_proto(protos));
    for (d, word) in [(Dim::Sport, "sport"), (Dim::Dport, "dport")] {
        if !is_full(c, d) && !implied(d) {
            parts.push(format!("{word} {}", list(c.get(d), |v| v.to_string())));
        }
    }
    if !is_full(c, Dim::Icmp) && !implied(Dim::Icmp) {
        let v6 = single_proto == Some(proto::ICMPV6);
        parts.push(render_icmp(c.get(Dim::Icmp), v6));
    }
    for (d, word) in [(Dim::Src, "from"), (Dim::Dst, "to")] {
        if !is_full(c, d) {
            let text = names
                .lookup(d, c.get(d))
                .map(str::to_string)
                .unwrap_or_else(|| addresses(c.get(d), family.unwrap_or(Family::Ipv4)));
            parts.push(format!("{word} {text}"));
        }
    }
    for (d, word) in [(Dim::In, "in"), (Dim::Out, "out")] {
        if !is_full(c, d) && !implied(d) {
            let text = names
                .lookup(d, c.get(d))
                .map(str::to_string)
                .unwrap_or_else(|| render_ifaces(c.get(d)));
            parts.push(format!("{word} {text}"));
        }
    }
    if !is_full(c, Dim::State) && !implied(Dim::State) {
        parts.push(format!(
            "state {}",
            list(c.get(Dim::State), |v| State::name(v).into())
        ));
    }
    if !is_full(c, Dim::Flags) && !implied(Dim::Flags) {
        parts.push(format!(
            "flags {}",
            list(c.get(Dim::Flags), |v| TcpFlag::names(v as u8))
        ));
    }
    parts.join(" ")
}

/// True when the cube does not constrain `d` (for addresses: within its family).
fn is_full(c: &Cube, d: Dim) -> bool {
    let max = match d {
        Dim::Src | Dim::Dst => match c.get(Dim::Family).is_single() {
            Some(f) => Family::from_value(f).addr_max(),
            None => u128::MAX,
        },
        _ => d.max(),
    };
    *c.get(d) == IntervalSet::range(0, max)
}

fn render_proto(s: &IntervalSet) -> String {
    if *s == IntervalSet::range(0, 255) {
        return "any protocol".into();
    }
    let name = |v: u128| proto::name(v as u8).map_or_else(|| v.to_string(), str::to_string);
    if let Some(p) = s.is_single() {
        return name(p);
    }
    let rest = s.complement(255);
    if rest.len() < s.len() {
        return format!("any protocol except {}", list(&rest, name));
    }
    format!("protocol {}", list(s, name))
}

fn render_icmp(s: &IntervalSet, v6: bool) -> String {
    let mut items = Vec::new();
    for &(lo, hi) in s.ranges() {
        let (t0, t1) = ((lo >> 8) as u8, (hi >> 8) as u8);
        if lo & 0xff == 0 && hi & 0xff == 0xff {
            if t0 == t1 {
                items.push(icmp::type_name(t0, v6).map_or_else(|| t0.to_string(), str::to_string));
            } else {
                items.push(format!("{t0}-{t1}"));
            }
        } else if lo == hi {
            let base = icmp::type_name(t0, v6).map_or_else(|| t0.to_string(), str::to_string);
            items.push(format!("{base} code {}", lo & 0xff));
        } else {
            items.push(format!("{t0}/{}-{t1}/{}", lo & 0xff, hi & 0xff));
        }
    }
    format!("type {}", cap(items))
}

/// An address set as prefixes, or as everything except some prefixes when shorter.
pub fn addresses(s: &IntervalSet, family: Family) -> String {
    let rest = s.complement(family.addr_max());
    // Beyond a few dozen ranges the list is cut anyway: the side with fewer
    // ranges is shown, and the rest counted in ranges, without turning
    // every range into prefixes.
    let large = s.ranges().len().min(rest.ranges().len()) > MAX_ITEMS;
    let size = |set: &IntervalSet| -> usize {
        if large {
            set.ranges().len()
        } else {
            set.ranges()
                .iter()
                .map(|&(lo, hi)| addr::prefix_count(lo, hi, family))
                .sum()
        }
    };
    let shown = |set: &IntervalSet| -> String {
        let mut items: Vec<String> = set
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| addr::range_to_prefixes(lo, hi, family))
            .take(MAX_ITEMS)
            .map(addr::written)
            .collect();
        let total = size(set);
        if total > MAX_ITEMS {
            let unit = if large { " ranges in all" } else { " more" };
            let n = if large { total } else { total - MAX_ITEMS };
            items.push(format!("… ({n}{unit})"));
        }
        items.join(",")
    };
    if size(&rest) < size(s) {
        let all = if family == Family::Ipv4 {
            "0.0.0.0/0"
        } else {
            "::/0"
        };
        format!("{all} except {}", shown(&rest))
    } else {
        shown(s)
    }
}

fn render_ifaces(s: &IntervalSet) -> String {
    let one = |lo: u128, hi: u128| -> String {
        if lo == hi {
            iface::decode(lo)
        } else if let Some(p) = iface::as_prefix(lo, hi) {
            format!("{p}+")
        } else {
            format!("{}..{}", iface::decode(lo), iface::decode(hi))
        }
    };
    let rest = s.complement(u128::MAX);
    if rest.ranges().len() < s.ranges().len() {
        let items = rest.ranges().iter().map(|&(a, b)| one(a, b)).collect();
        return format!("any except {}", cap(items));
    }
    cap(s.ranges().iter().map(|&(a, b)| one(a, b)).collect())
}

fn list(s: &IntervalSet, name: impl Fn(u128) -> String) -> String {
    cap(s
        .ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                name(a)
            } else {
                format!("{}-{}", name(a), name(b))
            }
        })
        .collect())
}

fn cap(mut items: Vec<String>) -> String {
    if items.len() > MAX_ITEMS {
        let more = items.len() - MAX_ITEMS;
        items.truncate(MAX_ITEMS);
        items.push(format!("… ({more} more)"));
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::dim::addr::prefix_range;

    fn v4(s: &str) -> IntervalSet {
        let (lo, hi) = prefix_range(s.parse().unwrap());
        IntervalSet::range(lo, hi)
    }

    #[test]
    fn udp_range_to_internet_reads_as_ranges() {
        let c = Cube::family(Family::Ipv4)
            .with(Dim::Proto, IntervalSet::point(17))
            .unwrap()
            .with(
                Dim::Dport,
                IntervalSet::from_ranges(vec![(137, 139), (1900, 1900)]),
            )
            .unwrap()
            .with(Dim::Dst, v4("0.0.0.0/0").difference(&v4("10.0.0.0/8")))
            .unwrap();
        assert_eq!(
            render_cube(&c, None, &Names::default()),
            "udp dport 137-139,1900 to 0.0.0.0/0 except 10.0.0.0/8"
        );
        let mut names = Names::default();
        names.add(Dim::Dst, c.get(Dim::Dst).clone(), "internet");
        assert_eq!(
            render_cube(&c, None, &names),
            "udp dport 137-139,1900 to internet"
        );
    }

    #[test]
    fn interfaces_and_icmp() {
        let (lo, hi) = iface::prefix_range("eth");
        let c = Cube::family(Family::Ipv4)
            .with(Dim::Proto, IntervalSet::point(1))
            .unwrap()
            .with(Dim::Icmp, IntervalSet::range(0x800, 0x8ff))
            .unwrap()
            .with(Dim::In, IntervalSet::range(lo, hi))
            .unwrap()
            .with(
                Dim::Out,
                IntervalSet::point(iface::encode("ppp0")).complement(u128::MAX),
            )
            .unwrap();
        assert_eq!(
            render_cube(&c, None, &Names::default()),
            "icmp type echo-request in eth+ out any except ppp0"
        );
    }
}

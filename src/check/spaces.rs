//! The packet space of each requirement, built from the requirement data and
//! the site parameters: one part per dialler address.

use crate::requirements::{Endpoint, Place, Requirement, Traffic};
use crate::site::{Internet, Site};
use crate::space::dim::{addr, iface, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, Names, PacketSet, State, TcpFlag};
use std::net::IpAddr;

use super::flow::{ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST};

/// IANA special-purpose IPv4 blocks, which "internet" leaves out (SPEC §5).
const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// The destination "internet" of one family.
pub fn internet(f: Family, mode: Internet) -> IntervalSet {
    let all = IntervalSet::range(0, f.addr_max());
    if mode == Internet::Any {
        return all;
    }
    let nets = |list: &[&str]| {
        IntervalSet::from_ranges(
            list.iter()
                .map(|n| addr::prefix_range(n.parse().expect("valid prefix")))
                .collect(),
        )
    };
    match f {
        Family::Ipv4 => all.difference(&nets(SPECIAL_V4)),
        Family::Ipv6 => nets(&["2000::/3"]).difference(&nets(&["2001:db8::/32"])),
    }
}

/// The interfaces traffic enters and leaves by, where the site names them
/// (`None`: any). Egress enters on the LAN side and leaves on the WAN side.
/// Ingress leaves on the LAN side and enters where the management PCs are:
/// as configured, else anywhere but the WAN side (they are internal hosts).
pub fn sides(
    ifs: &crate::site::Interfaces,
    outward: bool,
) -> (Option<IntervalSet>, Option<IntervalSet>) {
    let named = |n: &Option<String>| n.as_deref().map(|n| IntervalSet::point(iface::encode(n)));
    if outward {
        (named(&ifs.lan), named(&ifs.wan))
    } else {
        let from_mgmt =
            named(&ifs.management).or_else(|| named(&ifs.wan).map(|w| w.complement(u128::MAX)));
        (from_mgmt, named(&ifs.lan))
    }
}

/// Names that make renderings read well: "to internet".
pub fn names(site: &Site) -> Names {
    names_for(site, "internet")
}

/// The same, with the internet as a destination called `dst`: traffic to a
/// DNS name without addresses goes to any internet address, which reads as
/// the name.
pub fn names_for(site: &Site, dst: &str) -> Names {
    let mut n = Names::default();
    for f in [Family::Ipv4, Family::Ipv6] {
        n.add(Dim::Dst, internet(f, site.internet), dst);
        n.add(Dim::Src, internet(f, site.internet), "internet");
    }
    n
}

/// The requirement's traffic for one dialler address.
#[derive(Debug, Clone)]
pub struct Part {
    pub family: Family,
    pub dialler: IpAddr,
    /// Every connection-opening packet of the requirement.
    pub space: PacketSet,
    /// The rules that would allow it, one per kind of traffic, for fixes.
    pub fix_cores: Vec<Cube>,
    /// Where replies go (the requirement's sources), for reply fixes.
    pub sources: IntervalSet,
    /// Whether the destination is DNS names (resolved through `[resolve]`).
    pub by_name: bool,
    /// The DNS name the destination stands for, when the site gives no
    /// addresses for it but the export matches it by name: the destination
    /// is then every internet address the name might resolve to.
    pub assumed: Option<String>,
    /// The interfaces the dialler-side traffic uses, if configured.
    pub lan: Option<String>,
    pub wan: Option<String>,
}

/// The parts of a requirement, and notes on what could not be built.
pub fn build(
    req: &Requirement,
    site: &Site,
    families: &[Family],
    export_names: &[&str],
) -> (Vec<Part>, Vec<String>) {
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    // Why a family was skipped, once for the families that share the reason.
    let mut skipped: Vec<(String, Vec<&str>)> = Vec::new();
    let mut note = |s: String| {
        if !notes.contains(&s) {
            notes.push(s);
        }
    };
    for &d in &site.diallers {
        let f = Family::of(d);
        if !families.contains(&f) {
            note(format!(
                "{} not checked: the export holds no {} rules",
                f.name(),
                f.name()
            ));
            continue;
        }
        let (src, targets) = match (
            endpoint(&req.from, f, d, site, export_names),
            endpoint(&req.to, f, d, site, export_names),
        ) {
            (Ok(mut s), Ok(t)) => (s.swap_remove(0).set, t),
            (Err(e), _) | (_, Err(e)) => {
                match skipped.iter_mut().find(|(why, _)| *why == e) {
                    Some((_, fams)) if !fams.contains(&f.name()) => fams.push(f.name()),
                    Some(_) => {}
                    None => skipped.push((e, vec![f.name()])),
                }
                continue;
            }
        };
        for t in targets.iter().filter(|t| t.assumed.is_some()) {
            note(format!(
                "{}: no addresses given (under [resolve], or in a set of the export that [sets] names): checked by name, as the firewall matches it, for any internet address it may resolve to",
                t.assumed.as_deref().expect("filtered")
            ));
        }
        for dst in targets {
            let outward = req.from == Endpoint::Named(Place::Dialler);
            let (in_if, out_if) = sides(&site.interfaces, outward);
            let mut base = Cube::family(f)
                .with(Dim::Src, src.clone())
                .expect("endpoint sets are not empty")
                .with(Dim::Dst, dst.set.clone())
                .expect("endpoint sets are not empty");
            for (dim, set) in [(Dim::In, in_if), (Dim::Out, out_if)] {
                if let Some(s) = set {
                    base = base.with(dim, s).expect("not empty");
                }
            }
            // A fix names the destination only when it is not the whole internet.
            let mut endpoints = base.clone();
            if dst.is_internet {
                endpoints = endpoints
                    .with(Dim::Dst, IntervalSet::range(0, f.addr_max()))
                    .expect("not empty");
            }
            let opening = base
                .with(Dim::State, IntervalSet::point(State::NEW))
                .expect("a point");
            let mut cubes = Vec::new();
            let mut fix_cores = Vec::new();
            for t in &req.traffic {
                let kinds = traffic_cubes(t, f);
                cubes.extend(kinds.iter().filter_map(|c| opening.intersect(c)));
                let core = match t {
                    Traffic::Any => endpoints.clone(),
                    _ => {
                        let c = &kinds[0];
                        let mut core = endpoints.clone();
                        for dim in [Dim::Proto, Dim::Icmp] {
                            core = core.with(dim, c.get(dim).clone()).expect("not empty");
                        }
                        if *c.get(Dim::Dport) != IntervalSet::range(1, 0xffff) {
                            core = core
                                .with(Dim::Dport, c.get(Dim::Dport).clone())
                                .expect("not empty");
                        }
                        core
                    }
                };
                if !fix_cores.contains(&core) {
                    fix_cores.push(core);
                }
            }
            parts.push(Part {
                family: f,
                dialler: d,
                space: PacketSet::from_disjoint(cubes),
                fix_cores,
                sources: src.clone(),
                by_name: matches!(req.to, Endpoint::Names(_)),
                assumed: dst.assumed,
                lan: site.interfaces.lan.clone(),
                wan: site.interfaces.wan.clone(),
            });
        }
    }
    for (why, fams) in skipped {
        notes.push(format!("{} skipped: {why}", fams.join(" and ")));
    }
    (parts, notes)
}

/// The connection-opening packets of some kinds of traffic from `src` to
/// `dst` in one family, on any interface.
pub fn opening(f: Family, src: IntervalSet, dst: IntervalSet, traffic: &[Traffic]) -> PacketSet {
    let Some(base) = Cube::family(f)
        .with(Dim::Src, src)
        .and_then(|c| c.with(Dim::Dst, dst))
        .and_then(|c| c.with(Dim::State, IntervalSet::point(State::NEW)))
    else {
        return PacketSet::empty();
    };
    PacketSet::from_disjoint(
        traffic
            .iter()
            .flat_map(|t| traffic_cubes(t, f))
            .filter_map(|c| base.intersect(&c))
            .collect(),
    )
}

/// The cubes of one kind of traffic (protocol, ports, ICMP type, TCP flags of a
/// connection-opening packet); every port means 1-65535.
fn traffic_cubes(t: &Traffic, f: Family) -> Vec<Cube> {
    let all_ports = IntervalSet::range(1, 0xffff);
    let tcp = |lo: u16, hi: u16| {
        Cube::full()
            .with(Dim::Proto, IntervalSet::point(proto::TCP as u128))
            .expect("a point")
            .with(Dim::Sport, all_ports.clone())
            .expect("not empty")
            .with(Dim::Dport, IntervalSet::range(lo as u128, hi as u128))
            .expect("not empty")
            .with(Dim::Flags, IntervalSet::point(TcpFlag::SYN as u128))
            .expect("a point")
    };
    let udp = |lo: u16, hi: u16| {
        Cube::full()
            .with(Dim::Proto, IntervalSet::point(proto::UDP as u128))
            .expect("a point")
            .with(Dim::Sport, all_ports.clone())
            .expect("not empty")
            .with(Dim::Dport, IntervalSet::range(lo as u128, hi as u128))
            .expect("not empty")
    };
    let echo = || {
        let (p, t) = match f {
            Family::Ipv4 => (proto::ICMP, ICMP_ECHO_REQUEST),
            Family::Ipv6 => (proto::ICMPV6, ICMPV6_ECHO_REQUEST),
        };
        Cube::full()
            .with(Dim::Proto, IntervalSet::point(p as u128))
            .expect("a point")
            .with(Dim::Icmp, IntervalSet::point(t))
            .expect("a point")
    };
    match *t {
        Traffic::Tcp(lo, hi) => vec![tcp(lo, hi)],
        Traffic::Udp(lo, hi) => vec![udp(lo, hi)],
        Traffic::IcmpEcho => vec![echo()],
        Traffic::Any => {
            let named = IntervalSet::from_ranges(
                [proto::TCP, proto::UDP, f.icmp_proto()]
                    .iter()
                    .map(|&p| (p as u128, p as u128))
                    .collect(),
            );
            let other = Cube::full()
                .with(Dim::Proto, named.complement(255))
                .expect("not empty");
            vec![tcp(1, 65535), udp(1, 65535), echo(), other]
        }
    }
}

struct EndpointSet {
    set: IntervalSet,
    is_internet: bool,
    /// See [`Part::assumed`].
    assumed: Option<String>,
}

impl EndpointSet {
    fn of(set: IntervalSet) -> Vec<EndpointSet> {
        vec![EndpointSet {
            set,
            is_internet: false,
            assumed: None,
        }]
    }
}

/// The management PCs' addresses in one family.
pub fn management(site: &Site, f: Family) -> IntervalSet {
    IntervalSet::from_ranges(
        site.management
            .iter()
            .filter(|n| Family::of(n.addr()) == f)
            .map(|n| addr::prefix_range(*n))
            .collect(),
    )
}

/// The site's dialler addresses in one family.
pub fn diallers(site: &Site, f: Family) -> IntervalSet {
    hosts(&site.diallers, f)
}

/// The DNS servers' addresses in one family.
pub fn dns_servers(site: &Site, f: Family) -> IntervalSet {
    hosts(&site.dns_servers, f)
}

fn hosts(list: &[IpAddr], f: Family) -> IntervalSet {
    IntervalSet::from_ranges(
        list.iter()
            .filter(|a| Family::of(**a) == f)
            .map(|a| (addr::value(*a), addr::value(*a)))
            .collect(),
    )
}

/// The addresses of an endpoint in one family: one set, or for DNS names
/// the resolved addresses and one set per name the export matches by name.
fn endpoint(
    e: &Endpoint,
    f: Family,
    dialler: IpAddr,
    site: &Site,
    export_names: &[&str],
) -> Result<Vec<EndpointSet>, String> {
    let internet_set = || {
        vec![EndpointSet {
            set: internet(f, site.internet),
            is_internet: true,
            assumed: None,
        }]
    };
    let set = match e {
        Endpoint::Named(Place::Dialler) => IntervalSet::point(addr::value(dialler)),
        Endpoint::Named(Place::Internet) => return Ok(internet_set()),
        Endpoint::Named(Place::Management) => {
            if site.management.is_empty() {
                return Err("no management PCs given (management = [...] in octaverify.toml, or --management)".into());
            }
            let s = management(site, f);
            if s.is_empty() {
                return Err(format!("no {} management PCs given", f.name()));
            }
            s
        }
        Endpoint::Named(Place::DnsServers) => {
            if site.dns_servers.is_empty() {
                return Ok(internet_set());
            }
            let s = dns_servers(site, f);
            if s.is_empty() {
                return Err(format!("no {} DNS servers given", f.name()));
            }
            s
        }
        Endpoint::Names(names) => {
            let mut missing = Vec::new();
            let mut ranges = Vec::new();
            let mut out = Vec::new();
            for n in names {
                match site.resolve.get(n) {
                    Some(list) => ranges.extend(
                        list.iter()
                            .filter(|a| Family::of(a.addr()) == f)
                            .map(|a| addr::prefix_range(*a)),
                    ),
                    None if export_names.contains(&n.as_str()) => out.push(EndpointSet {
                        set: internet(f, site.internet),
                        is_internet: false,
                        assumed: Some(n.clone()),
                    }),
                    None => missing.push(n.as_str()),
                }
            }
            if !missing.is_empty() {
                return Err(format!(
                    "needs the addresses of {}: list them under [resolve] in octaverify.toml (\"{}\" = [\"…\", …], A and AAAA records), or match the names in the firewall (ASA fqdn objects; an nft set a resolver fills, named under [sets])",
                    missing.join(", "),
                    missing[0]
                ));
            }
            let s = IntervalSet::from_ranges(ranges);
            if !s.is_empty() {
                out.extend(EndpointSet::of(s));
            }
            if out.is_empty() {
                return Err(format!(
                    "[resolve] gives no {} addresses for {}",
                    f.name(),
                    names.join(", ")
                ));
            }
            return Ok(out);
        }
    };
    Ok(EndpointSet::of(set))
}

//! The advisories of SPEC §4 that are spaces of their own: traffic the
//! dialler does not need, which the firewall lets through anyway. They are
//! warnings that name the accepting rules, and fail the check with `--strict`.

use super::findings::{cite, role_of};
use super::{Checker, spaces, topology};
use crate::eval::Verdict;
use crate::report::{Role, Warning};
use crate::requirements::Traffic;
use crate::space::dim::{addr, iface, proto};
use crate::space::{Dim, Family, IntervalSet, PacketSet};
use rayon::prelude::*;
use std::net::IpAddr;

/// Internal networks (the seed's VLAN tip): private IPv4 space (RFC 1918)
/// and IPv6 unique local addresses. Shared address space (100.64/10) is the
/// carrier's side of a CGN, not a company network.
const INTERNAL: &[&str] = &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

impl Checker<'_> {
    /// The web interface reachable beyond the management PCs, and the dialler
    /// reaching internal networks beyond its DNS servers, per dialler address.
    /// Each is a walk of its own, so they run in parallel, each within its
    /// own bound (the first, in order, that ran out is returned too).
    pub(super) fn advisories(&self) -> (Vec<Warning>, Option<crate::model::RuleRef>) {
        let checks: Vec<(IpAddr, Family, bool)> = self
            .site
            .diallers
            .iter()
            .map(|&d| (d, Family::of(d)))
            .filter(|(_, f)| self.policy.families.contains(f))
            .flat_map(|(d, f)| [(d, f, true), (d, f, false)])
            .collect();
        let found: Vec<_> = checks
            .into_par_iter()
            .map(|(d, f, web)| {
                self.bounded(|c| {
                    if web {
                        c.web_exposure(d, f)
                    } else {
                        c.internal_reach(d, f)
                    }
                })
            })
            .collect();
        let cut = found.iter().find_map(|(_, cut)| *cut);
        (found.into_iter().filter_map(|(w, _)| w).collect(), cut)
    }

    /// TCP 80 to the dialler from any source but the management PCs, the
    /// site's diallers and the dialler's own subnet (which does not cross the
    /// firewall).
    fn web_exposure(&self, d: IpAddr, f: Family) -> Option<Warning> {
        let mgmt = spaces::management(self.site, f);
        if mgmt.is_empty() {
            return None;
        }
        let dialler = IntervalSet::point(addr::value(d));
        let others = IntervalSet::range(0, f.addr_max())
            .difference(&mgmt)
            .difference(&spaces::diallers(self.site, f));
        let space = spaces::opening(f, others, dialler, &[Traffic::Tcp(80, 80)]);
        let space = self.crossing(space, d, false);
        let (seen, rules) = self.let_through(&space)?;
        let sources = seen.values(Dim::Src);
        Some(Warning {
            id: "web-beyond-management",
            message: format!(
                "the dialler's web interface ({d} TCP 80) is reachable from {} (e.g. {}), not only from the management PCs: allow TCP 80 to the dialler from the management PCs alone",
                crate::space::render::addresses(&sources, f),
                witness(&sources, f),
            ),
            rules,
            advisory: true,
        })
    }

    /// Any traffic from the dialler to internal networks other than its DNS
    /// servers, the site's diallers and its own subnet.
    fn internal_reach(&self, d: IpAddr, f: Family) -> Option<Warning> {
        let blocks: Vec<ipnet::IpNet> = INTERNAL
            .iter()
            .map(|n| n.parse::<ipnet::IpNet>().expect("valid prefix"))
            .filter(|n| Family::of(n.addr()) == f)
            .collect();
        let internal =
            IntervalSet::from_ranges(blocks.iter().map(|n| addr::prefix_range(*n)).collect());
        let dns = spaces::dns_servers(self.site, f);
        let dialler = IntervalSet::point(addr::value(d));
        let targets = internal
            .difference(&dns)
            .difference(&spaces::diallers(self.site, f));
        let space = spaces::opening(f, dialler, targets, &[Traffic::Any]);
        let space = self.crossing(space, d, true);
        let (seen, rules) = self.let_through(&space)?;
        // The networks touched and the protocols let through, not every range:
        // the rules are cited for the detail.
        let (dsts, protos) = (seen.values(Dim::Dst), seen.values(Dim::Proto));
        let nets: Vec<String> = blocks
            .iter()
            .filter(|n| {
                let (lo, hi) = addr::prefix_range(**n);
                dsts.intersects(&IntervalSet::range(lo, hi))
            })
            .map(|n| n.to_string())
            .collect();
        let names: Vec<String> = if protos.len() == 256 {
            vec!["every protocol".into()]
        } else {
            protos
                .ranges()
                .iter()
                .flat_map(|&(lo, hi)| lo..=hi)
                .take(4)
                .map(|p| proto::name(p as u8).map_or(p.to_string(), str::to_string))
                .collect()
        };
        let more = if protos.len() < 256 && protos.len() > names.len() as u128 {
            format!(" and {} more protocols", protos.len() - names.len() as u128)
        } else {
            String::new()
        };
        Some(Warning {
            id: "internal-reach",
            message: format!(
                "the dialler ({d}) can open connections into internal networks beyond its DNS servers ({}; e.g. {}) by {}{more}: it needs only the internet and its DNS servers; the vendor advises a network of its own, kept out of the internal ones",
                nets.join(", "),
                witness(&dsts, f),
                names.join(", "),
            ),
            rules,
            advisory: true,
        })
    }

    /// What of the space crosses the firewall from one network to another:
    /// through the dialler's side where the site names it (`outward`:
    /// traffic from the dialler), and then not back out by that same side (a
    /// hairpin joins no other network); on the interfaces the export has
    /// where it lists them; not within the dialler's own subnet.
    fn crossing(&self, space: PacketSet, d: IpAddr, outward: bool) -> PacketSet {
        let (lan_side, far_side) = if outward {
            (Dim::In, Dim::Out)
        } else {
            (Dim::Out, Dim::In)
        };
        let mut space = match &self.site.interfaces.lan {
            Some(lan) => {
                let lan = IntervalSet::point(iface::encode(lan));
                space
                    .restrict(lan_side, &lan)
                    .restrict(far_side, &lan.complement(u128::MAX))
            }
            None => space,
        };
        let topo = self.policy.topology.as_ref();
        if let Some(t) = topo {
            let known = IntervalSet::from_ranges(
                t.interfaces
                    .iter()
                    .map(|i| iface::encode(&i.name))
                    .map(|v| (v, v))
                    .collect(),
            );
            for dim in [Dim::In, Dim::Out] {
                space = space.restrict(dim, &known);
            }
        }
        let local = topology::local(&space, d, topo, outward);
        space.difference(&local)
    }

    /// What of the space is accepted for sure, and the rules (or policies)
    /// that accept it; `None` when nothing is.
    fn let_through(&self, space: &PacketSet) -> Option<(PacketSet, Vec<crate::report::RuleCite>)> {
        if space.is_empty() {
            return None;
        }
        let fwd = self.ev().forward(space);
        let seen = fwd.accepted();
        if seen.is_empty() {
            return None;
        }
        let mut refs: Vec<_> = fwd
            .decisions
            .iter()
            .filter(|x| x.verdict == Verdict::Accept && x.set.intersects(&seen))
            .flat_map(|x| x.rules(self.policy))
            .collect();
        refs.dedup();
        let rules = refs
            .into_iter()
            .map(|r| cite(self.policy, r, role_of(r, Role::Allowing)))
            .collect();
        Some((seen, rules))
    }
}

/// One address of a non-empty set: an internet address where it holds one,
/// past a network's first address where it can.
fn witness(addrs: &IntervalSet, f: Family) -> IpAddr {
    let global = addrs.intersect(&spaces::internet(f, crate::site::Internet::Global));
    let addrs = if global.is_empty() { addrs } else { &global };
    let lo = addrs.min().expect("not empty");
    let v = if addrs.contains(lo + 1) { lo + 1 } else { lo };
    addr::to_ip(v, f)
}

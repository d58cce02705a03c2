//! Which Octalarm requirements a flow of the capture belongs to: those whose
//! traffic it is (protocol and port, ICMP echo) between the places its two
//! ends are (the dialler, the internet, its DNS servers, the management PCs,
//! the addresses of the Octalarm DNS names where the site gives them).

use super::flows::Flow;
use crate::requirements::{Endpoint, Place, Requirement, RequirementSet, Traffic};
use crate::site::Site;
use crate::space::{Family, dim::addr};
use std::net::IpAddr;

/// The ids of the requirements `flow` belongs to, in the set's order.
pub fn requirements_of<'r>(flow: &Flow, set: &'r RequirementSet, site: &Site) -> Vec<&'r str> {
    set.requirements
        .iter()
        .filter(|r| belongs(flow, r, site))
        .map(|r| r.id.as_str())
        .collect()
}

fn belongs(flow: &Flow, r: &Requirement, site: &Site) -> bool {
    // The requirement's direction: the dialler opens egress flows, the
    // other end ingress ones.
    let (from, to) = if flow.opened_here {
        (flow.local.0, flow.remote.0)
    } else {
        (flow.remote.0, flow.local.0)
    };
    let port = if flow.opened_here {
        flow.remote.1
    } else {
        flow.local.1
    };
    at(&r.from, from, site)
        && at(&r.to, to, site)
        && r.traffic.iter().any(|t| is_traffic(t, flow.proto, port))
}

fn is_traffic(t: &Traffic, proto: u8, port: u16) -> bool {
    match *t {
        Traffic::Any => true,
        Traffic::Tcp(lo, hi) => proto == 6 && (lo..=hi).contains(&port),
        Traffic::Udp(lo, hi) => proto == 17 && (lo..=hi).contains(&port),
        // Echo flows are keyed by identifier, so any ICMP flow of the dialler's is one.
        Traffic::IcmpEcho => matches!(proto, 1 | 58),
    }
}

fn at(e: &Endpoint, a: IpAddr, site: &Site) -> bool {
    match e {
        Endpoint::Named(Place::Dialler) => site.diallers.contains(&a),
        Endpoint::Named(Place::Management) => site.management.iter().any(|n| n.contains(&a)),
        Endpoint::Named(Place::DnsServers) => site.dns_servers.contains(&a),
        Endpoint::Named(Place::Internet) => {
            let f = if a.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            };
            crate::check::spaces::internet(f, site.internet).contains(addr::value(a))
        }
        Endpoint::Names(names) => names.iter().any(|n| {
            site.resolve
                .get(&crate::model::dns_name(n))
                .is_some_and(|nets| nets.iter().any(|net| net.contains(&a)))
        }),
    }
}

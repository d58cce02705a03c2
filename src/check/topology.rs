//! What a router configuration's interfaces and routes tell the check: where
//! the dialler's traffic enters and leaves when the site does not say, the
//! names the site gives written as the rules match them, and which traffic
//! stays within one connected subnet and so never crosses the firewall.

use crate::model::Topology;
use crate::site::Site;
use crate::space::{Dim, IntervalSet, PacketSet};
use std::net::IpAddr;

/// The site with its interface names as the rules spell them, and those it
/// leaves out inferred: the LAN side holds the dialler, the WAN side takes
/// the default route, the management side holds the management PCs. Says
/// what it inferred.
pub fn site(site: &Site, topo: Option<&Topology>) -> (Site, Vec<String>) {
    let Some(t) = topo else {
        return (site.clone(), Vec::new());
    };
    let mut out = site.clone();
    let mut said = Vec::new();
    let ifs = &mut out.interfaces;
    for name in [&mut ifs.lan, &mut ifs.wan, &mut ifs.management]
        .into_iter()
        .flatten()
    {
        if let Some(i) = t.interface(name) {
            *name = i.name.clone();
        }
    }
    if ifs.lan.is_none()
        && let Some(d) = site.diallers.first()
        && let Some(i) = t.interface_for(*d)
    {
        said.push(format!("lan {i} (its subnet holds the dialler {d})"));
        ifs.lan = Some(i.to_string());
    }
    if ifs.wan.is_none()
        && let Some((_, i)) = t.routes.iter().find(|(n, _)| n.prefix_len() == 0)
    {
        said.push(format!("wan {i} (the default route leaves by it)"));
        ifs.wan = Some(i.clone());
    }
    if ifs.management.is_none() {
        let sides: Vec<&str> = site
            .management
            .iter()
            .filter_map(|m| t.interface_for(m.addr()))
            .collect();
        if let Some(first) = sides.first()
            && sides.len() == site.management.len()
            && sides.iter().all(|s| s == first)
        {
            said.push(format!(
                "management {first} (it reaches the management PCs)"
            ));
            ifs.management = Some(first.to_string());
        }
    }
    let notes = if said.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "interfaces from the configuration: {}",
            said.join(", ")
        )]
    };
    (out, notes)
}

/// The part of `space` (packets from or to `dialler`) whose peer shares the
/// dialler's connected subnet: such traffic does not cross the router.
pub fn local(
    space: &PacketSet,
    dialler: IpAddr,
    topo: Option<&Topology>,
    outward: bool,
) -> PacketSet {
    let Some(t) = topo else {
        return PacketSet::empty();
    };
    let nets: Vec<_> = t
        .interfaces
        .iter()
        .flat_map(|i| &i.nets)
        .filter(|n| n.contains(&dialler))
        .collect();
    if nets.is_empty() {
        return PacketSet::empty();
    }
    let peers = IntervalSet::from_ranges(
        nets.iter()
            .map(|n| crate::space::dim::addr::prefix_range(**n))
            .collect(),
    );
    space
        .clone()
        .restrict(if outward { Dim::Dst } else { Dim::Src }, &peers)
}

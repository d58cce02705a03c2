//! Exact sets of packets as unions of disjoint cubes.
//!
//! A cube is a product of one [`IntervalSet`] per dimension. Because each side of
//! the product is an arbitrary set (not a single range), a firewall match such as
//! "udp dport 137-139,1900 from anywhere except 10/8" is one cube, and subtracting
//! one cube from another yields at most one piece per dimension. Pieces are kept
//! pairwise disjoint, so emptiness is "no cubes" and any cube yields a witness.

use super::dim::{DIMS, Dim, Family};
use super::interval::IntervalSet;
use super::packet::Packet;

/// A product of one value set per dimension; never empty once built.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Cube {
    dims: [IntervalSet; DIMS],
}

impl Cube {
    /// Every value of every dimension (including IPv4 packets with addresses
    /// above 2^32, which [`PacketSet::universe`] excludes).
    pub fn full() -> Cube {
        Cube {
            dims: Dim::ALL.map(|d| IntervalSet::range(0, d.max())),
        }
    }

    /// The packets of one family, with addresses inside its domain.
    pub fn family(f: Family) -> Cube {
        let mut c = Cube::full();
        c.dims[Dim::Family.index()] = IntervalSet::point(f as u128);
        let addrs = IntervalSet::range(0, f.addr_max());
        c.dims[Dim::Src.index()] = addrs.clone();
        c.dims[Dim::Dst.index()] = addrs;
        c
    }

    /// The cube holding exactly one packet.
    pub fn point(p: &Packet) -> Cube {
        Cube {
            dims: Dim::ALL.map(|d| IntervalSet::point(p.get(d))),
        }
    }

    pub fn get(&self, d: Dim) -> &IntervalSet {
        &self.dims[d.index()]
    }

    /// Narrows one dimension to its intersection with `s`; `None` when that empties it.
    pub fn restrict(mut self, d: Dim, s: &IntervalSet) -> Option<Cube> {
        let i = d.index();
        let new = self.dims[i].intersect(s);
        if new.is_empty() {
            return None;
        }
        self.dims[i] = new;
        Some(self)
    }

    /// Replaces one dimension; `None` when `s` is empty.
    pub fn with(mut self, d: Dim, s: IntervalSet) -> Option<Cube> {
        if s.is_empty() {
            return None;
        }
        self.dims[d.index()] = s;
        Some(self)
    }

    pub fn contains(&self, p: &Packet) -> bool {
        Dim::ALL
            .iter()
            .all(|&d| self.dims[d.index()].contains(p.get(d)))
    }

    pub fn intersects(&self, other: &Cube) -> bool {
        self.dims
            .iter()
            .zip(&other.dims)
            .all(|(a, b)| a.intersects(b))
    }

    pub fn intersect(&self, other: &Cube) -> Option<Cube> {
        if !self.intersects(other) {
            return None;
        }
        let mut dims = self.dims.clone();
        for (d, o) in dims.iter_mut().zip(&other.dims) {
            *d = d.intersect(o);
        }
        Some(Cube { dims })
    }

    pub fn is_subset(&self, other: &Cube) -> bool {
        self.dims
            .iter()
            .zip(&other.dims)
            .all(|(a, b)| a.is_subset(b))
    }

    /// `self − other` as at most one disjoint piece per dimension: piece `i` keeps
    /// dimensions before `i` inside `other`, takes dimension `i` outside it, and
    /// leaves later dimensions as they were.
    fn subtract_into(&self, other: &Cube, out: &mut Vec<Cube>) {
        if !self.intersects(other) {
            out.push(self.clone());
            return;
        }
        let mut cur = self.clone();
        for i in 0..DIMS {
            let outside = cur.dims[i].difference(&other.dims[i]);
            if !outside.is_empty() {
                let mut piece = cur.clone();
                piece.dims[i] = outside;
                out.push(piece);
                cur.dims[i] = cur.dims[i].intersect(&other.dims[i]);
            }
        }
    }

    /// A packet inside the cube, preferring values that read well in a report.
    pub fn witness(&self) -> Packet {
        let mut p = Packet::default();
        for d in Dim::ALL {
            p.set(d, preferred(d, &self.dims[d.index()]));
        }
        p
    }

    /// The cube the reply of each packet falls in, given a per-dimension mapping
    /// of values that change (state, ICMP type, TCP flags).
    pub fn map_dims(&self, f: impl Fn(Dim, &IntervalSet) -> (Dim, IntervalSet)) -> Option<Cube> {
        let mut dims = self.dims.clone();
        for d in Dim::ALL {
            let (to, s) = f(d, &self.dims[d.index()]);
            if s.is_empty() {
                return None;
            }
            dims[to.index()] = s;
        }
        Some(Cube { dims })
    }

    /// The one dimension in which two cubes differ, if they differ in exactly one.
    fn sole_difference(&self, other: &Cube) -> Option<usize> {
        let mut diff = None;
        for i in 0..DIMS {
            if self.dims[i] != other.dims[i] {
                if diff.is_some() {
                    return None;
                }
                diff = Some(i);
            }
        }
        diff
    }
}

/// A value of `s` that makes a readable witness: ephemeral source port 1024,
/// the first host rather than the network address, and so on.
fn preferred(d: Dim, s: &IntervalSet) -> u128 {
    let min = s.min().expect("cube dimensions are never empty");
    match d {
        Dim::Sport if s.contains(1024) => 1024,
        Dim::Sport | Dim::Dport if min == 0 && s.contains(1) => 1,
        Dim::Src | Dim::Dst if s.contains(min.wrapping_add(1)) && min.wrapping_add(1) != 0 => {
            min + 1
        }
        // Interfaces read best as a typical LAN → WAN pair, and never as the
        // empty name that is the lowest value.
        Dim::In | Dim::Out if min == 0 => {
            let names: [&str; 4] = if d == Dim::In {
                ["eth1", "eth0", "eth2", "eth3"]
            } else {
                ["eth0", "eth1", "eth2", "eth3"]
            };
            names
                .iter()
                .map(|n| super::dim::iface::encode(n))
                .find(|v| s.contains(*v))
                .unwrap_or(min)
        }
        _ => min,
    }
}

/// A set of packets: a union of pairwise-disjoint cubes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PacketSet {
    cubes: Vec<Cube>,
}

impl From<Cube> for PacketSet {
    fn from(c: Cube) -> Self {
        PacketSet { cubes: vec![c] }
    }
}

impl PacketSet {
    pub fn empty() -> Self {
        PacketSet { cubes: Vec::new() }
    }

    /// Every well-formed packet: IPv4 with 32-bit addresses, and IPv6.
    pub fn universe() -> Self {
        PacketSet {
            cubes: vec![Cube::family(Family::Ipv4), Cube::family(Family::Ipv6)],
        }
    }

    /// A set from cubes that the caller guarantees pairwise disjoint.
    pub fn from_disjoint(cubes: Vec<Cube>) -> Self {
        PacketSet { cubes }
    }

    /// A set from cubes that may overlap.
    pub fn from_cubes(cubes: impl IntoIterator<Item = Cube>) -> Self {
        cubes
            .into_iter()
            .fold(PacketSet::empty(), |acc, c| acc.union(&c.into()))
    }

    pub fn cubes(&self) -> &[Cube] {
        &self.cubes
    }

    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }

    pub fn contains(&self, p: &Packet) -> bool {
        self.cubes.iter().any(|c| c.contains(p))
    }

    /// The values some packet of the set has in one dimension.
    pub fn values(&self, d: Dim) -> IntervalSet {
        self.cubes
            .iter()
            .fold(IntervalSet::empty(), |acc, c| acc.union(c.get(d)))
    }

    pub fn intersects(&self, other: &PacketSet) -> bool {
        self.cubes
            .iter()
            .any(|a| other.cubes.iter().any(|b| a.intersects(b)))
    }

    pub fn intersect(&self, other: &PacketSet) -> PacketSet {
        let mut cubes = Vec::new();
        for a in &self.cubes {
            for b in &other.cubes {
                if let Some(c) = a.intersect(b) {
                    cubes.push(c);
                }
            }
        }
        PacketSet { cubes }.merged()
    }

    pub fn difference(&self, other: &PacketSet) -> PacketSet {
        let mut cur = self.cubes.clone();
        let mut next = Vec::new();
        for b in &other.cubes {
            if !cur.iter().any(|a| a.intersects(b)) {
                continue;
            }
            for a in &cur {
                a.subtract_into(b, &mut next);
            }
            std::mem::swap(&mut cur, &mut next);
            next.clear();
        }
        PacketSet { cubes: cur }.merged()
    }

    pub fn union(&self, other: &PacketSet) -> PacketSet {
        let mut cubes = self.cubes.clone();
        cubes.extend(other.difference(self).cubes);
        PacketSet { cubes }.merged()
    }

    /// Every well-formed packet not in the set.
    pub fn complement(&self) -> PacketSet {
        PacketSet::universe().difference(self)
    }

    pub fn is_subset(&self, other: &PacketSet) -> bool {
        self.difference(other).is_empty()
    }

    /// The cubes in a fixed order, whatever order operations produced them
    /// in: single protocols first, then by each dimension's values. Reports
    /// read and witnesses are drawn in this order, so they are stable.
    pub fn ordered_cubes(&self) -> Vec<&Cube> {
        let mut cubes: Vec<&Cube> = self.cubes.iter().collect();
        cubes.sort_by_cached_key(|c| {
            let many_protocols = c.get(Dim::Proto).is_single().is_none();
            (many_protocols, Dim::ALL.map(|d| c.get(d).ranges().to_vec()))
        });
        cubes
    }

    /// One packet of the set (of its first cube in order), if it has any.
    pub fn witness(&self) -> Option<Packet> {
        self.ordered_cubes().first().map(|c| c.witness())
    }

    /// Moves the packets of `m` out of the set and returns them, in one pass
    /// that leaves the cubes `m` does not touch where they are.
    pub fn split_off(&mut self, m: &PacketSet) -> PacketSet {
        let mut hit = Vec::new();
        let mut kept = Vec::with_capacity(self.cubes.len());
        for a in self.cubes.drain(..) {
            if !m.cubes.iter().any(|b| a.intersects(b)) {
                kept.push(a);
                continue;
            }
            hit.extend(m.cubes.iter().filter_map(|b| a.intersect(b)));
            let mut pieces = vec![a];
            for b in &m.cubes {
                let mut next = Vec::with_capacity(pieces.len());
                for p in pieces {
                    p.subtract_into(b, &mut next);
                }
                pieces = next;
            }
            kept.extend(pieces);
        }
        self.cubes = kept;
        *self = std::mem::take(self).merged();
        PacketSet { cubes: hit }.merged()
    }

    /// Adds the cubes of `other`, which the caller knows to share no packet
    /// with this set: no set algebra needed.
    pub fn append_disjoint(&mut self, mut other: PacketSet) {
        self.cubes.append(&mut other.cubes);
    }

    /// The packets of the set whose `d` lies in `s`.
    /// Works in place: narrowing keeps cubes disjoint, so nothing is copied.
    pub fn restrict(mut self, d: Dim, s: &IntervalSet) -> PacketSet {
        let i = d.index();
        self.cubes.retain_mut(|c| {
            let narrowed = c.dims[i].intersect(s);
            let keep = !narrowed.is_empty();
            c.dims[i] = narrowed;
            keep
        });
        self
    }

    /// Applies a per-cube mapping (used for replies) and collects the images.
    pub fn map_cubes(&self, f: impl Fn(&Cube) -> Option<Cube>) -> PacketSet {
        PacketSet::from_cubes(self.cubes.iter().filter_map(f))
    }

    /// Joins cubes that differ in a single dimension, so that "dport 137-139"
    /// and "dport 1900" with everything else equal read as one cube. The pass is
    /// skipped for large sets, where its quadratic cost would not pay.
    fn merged(mut self) -> PacketSet {
        const MERGE_LIMIT: usize = 48;
        if self.cubes.len() < 2 || self.cubes.len() > MERGE_LIMIT {
            return self;
        }
        let mut changed = true;
        while changed {
            changed = false;
            'outer: for i in 0..self.cubes.len() {
                for j in i + 1..self.cubes.len() {
                    if let Some(d) = self.cubes[i].sole_difference(&self.cubes[j]) {
                        let other = self.cubes.swap_remove(j);
                        let merged = self.cubes[i].dims[d].union(&other.dims[d]);
                        self.cubes[i].dims[d] = merged;
                        changed = true;
                        break 'outer;
                    }
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Small dimensions so that brute force over every packet is possible: each
    /// cube constrains values of a few dimensions to 0..4; packets range over
    /// those values with the other dimensions fixed at 0.
    const TESTED: [Dim; 4] = [Dim::Proto, Dim::Dport, Dim::Src, Dim::In];

    fn cube() -> impl Strategy<Value = Cube> {
        prop::collection::vec((0u128..4, 0u128..4), TESTED.len()).prop_map(|bounds| {
            let mut c = Cube::family(Family::Ipv4);
            for (d, (a, l)) in TESTED.iter().zip(bounds) {
                c = c.with(*d, IntervalSet::range(a, (a + l).min(3))).unwrap();
            }
            c
        })
    }

    fn set() -> impl Strategy<Value = PacketSet> {
        prop::collection::vec(cube(), 0..4).prop_map(PacketSet::from_cubes)
    }

    fn all_packets() -> Vec<Packet> {
        let mut out = Vec::new();
        for v in 0..4u128.pow(TESTED.len() as u32) {
            let mut p = Packet::default();
            for (k, d) in TESTED.iter().enumerate() {
                p.set(*d, (v / 4u128.pow(k as u32)) % 4);
            }
            out.push(p);
        }
        out
    }

    fn disjoint(s: &PacketSet) -> bool {
        let c = s.cubes();
        (0..c.len()).all(|i| (i + 1..c.len()).all(|j| !c[i].intersects(&c[j])))
    }

    proptest! {
        /// Union, intersection and difference agree with membership on every packet.
        #[test]
        fn operations_agree_with_membership(a in set(), b in set()) {
            let (u, i, d) = (a.union(&b), a.intersect(&b), a.difference(&b));
            for p in all_packets() {
                let (ia, ib) = (a.contains(&p), b.contains(&p));
                prop_assert_eq!(u.contains(&p), ia || ib);
                prop_assert_eq!(i.contains(&p), ia && ib);
                prop_assert_eq!(d.contains(&p), ia && !ib);
                prop_assert_eq!(a.complement().contains(&p), !ia);
            }
            prop_assert!(disjoint(&u) && disjoint(&i) && disjoint(&d));
        }

        /// A set is empty exactly when no packet belongs to it, and its witness belongs to it.
        #[test]
        fn emptiness_and_witness(a in set(), b in set()) {
            let d = a.difference(&b);
            let any = all_packets().iter().any(|p| d.contains(p));
            prop_assert_eq!(d.is_empty(), !any);
            if let Some(w) = d.witness() {
                prop_assert!(d.contains(&w) && a.contains(&w) && !b.contains(&w));
            }
        }
    }

    #[test]
    fn universe_excludes_out_of_range_ipv4() {
        let mut p = Packet::default();
        p.set(Dim::Src, 1u128 << 40);
        assert!(!PacketSet::universe().contains(&p));
        p.set(Dim::Family, Family::Ipv6 as u128);
        assert!(PacketSet::universe().contains(&p));
    }
}

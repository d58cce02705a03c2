//! Exact sets of packets as unions of disjoint cubes.
//!
//! A cube is a product of one [`IntervalSet`] per dimension. Because each side of
//! the product is an arbitrary set (not a single range), a firewall match such as
//! "udp dport 137-139,1900 from anywhere except 10/8" is one cube, and subtracting
//! one cube from another yields at most one piece per dimension. Pieces are kept
//! pairwise disjoint, so emptiness is "no cubes" and any cube yields a witness.

use super::dim::{DIMS, Dim, Family};
use super::index::CubeIndex;
use super::interval::IntervalSet;
use super::packet::Packet;
use smallvec::SmallVec;
use triomphe::ThinArc;

/// A product of one value set per dimension; never empty once built.
///
/// Most dimensions of most cubes hold one of a few common sets (every
/// value; IPv4's addresses; one family; TCP or UDP; …), so those are kept as a two-bit
/// code and only the others stored, in one shared block: a cube takes 16
/// bytes (a kube-proxy dump's typical rule, all of whose sets are common,
/// nothing more), and copying it (for every rule that meets it) costs a
/// count, not a copy of its sets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cube {
    /// Two bits per dimension: which of its [`COMMON`] sets it holds, or 0
    /// when its set is in `stored`. Canonical: a common set is always coded.
    codes: u32,
    /// The sets of the dimensions coded 0, in dimension order; `None` for none.
    stored: Option<Stored>,
}

/// The common sets of each dimension by code (code 0, and the codes a
/// dimension does not use, are empty and never match). Beside every value,
/// a dimension's common sets are pairwise disjoint, so two cubes coded
/// differently there do not meet ([`Cube::intersects`]). TCP and UDP, every
/// port but 0, and the state and TCP flags of a connection's first packet
/// and of its reply are common because the walks of requirements narrow
/// their packets to them: coded, what a walk keeps of a typical rule (a
/// port, two addresses) stores three sets, not eight.
static COMMON: [[IntervalSet; 4]; DIMS] = [
    common(Dim::Family),
    common(Dim::Proto),
    common(Dim::Dport),
    common(Dim::Sport),
    common(Dim::Icmp),
    common(Dim::State),
    common(Dim::Flags),
    common(Dim::Dst),
    common(Dim::Src),
    common(Dim::In),
    common(Dim::Out),
];

const fn common(d: Dim) -> [IntervalSet; 4] {
    const NONE: IntervalSet = IntervalSet::empty();
    let every = IntervalSet::range(0, d.max());
    match d {
        Dim::Family => [
            NONE,
            every,
            IntervalSet::point(Family::Ipv4 as u128),
            IntervalSet::point(Family::Ipv6 as u128),
        ],
        Dim::Src | Dim::Dst => [NONE, every, IntervalSet::range(0, u32::MAX as u128), NONE],
        Dim::Proto => [
            NONE,
            every,
            IntervalSet::point(super::dim::proto::TCP as u128),
            IntervalSet::point(super::dim::proto::UDP as u128),
        ],
        Dim::Dport | Dim::Sport => [NONE, every, IntervalSet::range(1, 0xffff), NONE],
        Dim::Flags => [
            NONE,
            every,
            IntervalSet::point(super::dim::TcpFlag::SYN as u128),
            IntervalSet::point((super::dim::TcpFlag::SYN | super::dim::TcpFlag::ACK) as u128),
        ],
        Dim::State => [
            NONE,
            every,
            IntervalSet::point(super::dim::State::NEW),
            IntervalSet::point(super::dim::State::ESTABLISHED),
        ],
        _ => [NONE, every, NONE, NONE],
    }
}

/// A cube's stored sets, behind one thin pointer (the block holds their
/// number), so that a cube takes 16 bytes.
type Stored = ThinArc<(), IntervalSet>;

/// Sets to store, shared: `None` when there are none.
fn shared(stored: SmallVec<[IntervalSet; DIMS]>) -> Option<Stored> {
    (!stored.is_empty()).then(|| ThinArc::from_header_and_iter((), stored.into_iter()))
}

/// The code of a dimension that holds every value.
const EVERY: u32 = 1;

/// The code of `s` (not empty) among dimension `i`'s common sets, if it is
/// one. Each common set is one range (or none, which `s` is not), so
/// comparing how the sets are kept is enough: this runs for every set a
/// cube is built from.
fn common_code(i: usize, s: &IntervalSet) -> Option<u32> {
    debug_assert!(!s.is_empty());
    (1..4)
        .find(|&k| COMMON[i][k].kept_alike(s))
        .map(|k| k as u32)
}

impl std::fmt::Debug for Cube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..DIMS).map(|i| self.at(i)))
            .finish()
    }
}

impl Cube {
    /// Every value of every dimension (including IPv4 packets with addresses
    /// above 2^32, which [`PacketSet::universe`] excludes).
    pub fn full() -> Cube {
        Cube {
            codes: (0..DIMS).fold(0, |c, i| c | EVERY << (2 * i)),
            stored: None,
        }
    }

    /// The packets of one family, with addresses inside its domain.
    pub fn family(f: Family) -> Cube {
        let mut c = Cube::full();
        c.put(Dim::Family.index(), IntervalSet::point(f as u128));
        let addrs = IntervalSet::range(0, f.addr_max());
        c.put(Dim::Src.index(), addrs.clone());
        c.put(Dim::Dst.index(), addrs);
        c
    }

    /// The cube holding exactly one packet.
    pub fn point(p: &Packet) -> Cube {
        Cube::build(|i| IntervalSet::point(p.get(Dim::ALL[i])))
    }

    /// The cube of the given sets, none empty, one per dimension in order.
    fn build(mut set: impl FnMut(usize) -> IntervalSet) -> Cube {
        let mut codes = 0;
        let mut stored: SmallVec<[IntervalSet; DIMS]> = SmallVec::new();
        for i in 0..DIMS {
            let s = set(i);
            match common_code(i, &s) {
                Some(k) => codes |= k << (2 * i),
                None => stored.push(s),
            }
        }
        Cube {
            codes,
            stored: shared(stored),
        }
    }

    /// The stored sets, in dimension order.
    fn stored(&self) -> &[IntervalSet] {
        self.stored.as_ref().map_or(&[], |s| &s.slice)
    }

    pub fn get(&self, d: Dim) -> &IntervalSet {
        self.at(d.index())
    }

    fn code(&self, i: usize) -> u32 {
        (self.codes >> (2 * i)) & 3
    }

    /// Where dimension `i`'s set is (or would be) in `stored`: the number
    /// of stored dimensions before it.
    fn rank(&self, i: usize) -> usize {
        // A bit at the low position of each pair of code bits that is 0.
        let zero = !(self.codes | self.codes >> 1) & 0x0015_5555;
        (zero & ((1u32 << (2 * i)) - 1)).count_ones() as usize
    }

    fn at(&self, i: usize) -> &IntervalSet {
        match self.code(i) {
            0 => &self.stored()[self.rank(i)],
            k => &COMMON[i][k as usize],
        }
    }

    /// Sets dimension `i` to `s` (not empty), coded where it is common.
    fn put(&mut self, i: usize, s: IntervalSet) {
        if s.kept_alike(self.at(i)) {
            return; // the set it holds: the block stays shared
        }
        let r = self.rank(i);
        let was_stored = self.code(i) == 0;
        let code = common_code(i, &s);
        self.codes = self.codes & !(3 << (2 * i)) | code.unwrap_or(0) << (2 * i);
        if code.is_some() && !was_stored {
            return; // one common set for another: the stored block stays
        }
        let mut stored: SmallVec<[IntervalSet; DIMS]> = self.stored().iter().cloned().collect();
        match code {
            Some(_) => {
                stored.remove(r);
            }
            None if was_stored => stored[r] = s,
            None => stored.insert(r, s),
        }
        self.stored = shared(stored);
    }

    /// Whether dimension `i` holds the same set in both cubes, known from
    /// the codes alone where either is coded.
    fn same(&self, other: &Cube, i: usize) -> bool {
        match (self.code(i), other.code(i)) {
            (0, 0) => self.at(i) == other.at(i),
            (a, b) => a == b,
        }
    }

    /// The dimensions in which the two cubes hold different sets.
    pub fn differing<'a>(&'a self, other: &'a Cube) -> impl Iterator<Item = Dim> + 'a {
        Dim::ALL
            .into_iter()
            .filter(move |d| !self.same(other, d.index()))
    }

    /// Narrows one dimension to its intersection with `s`; `None` when that empties it.
    pub fn restrict(mut self, d: Dim, s: &IntervalSet) -> Option<Cube> {
        let i = d.index();
        let new = self.at(i).intersect(s);
        if new.is_empty() {
            return None;
        }
        self.put(i, new);
        Some(self)
    }

    /// Replaces one dimension; `None` when `s` is empty.
    pub fn with(mut self, d: Dim, s: IntervalSet) -> Option<Cube> {
        if s.is_empty() {
            return None;
        }
        self.put(d.index(), s);
        Some(self)
    }

    pub fn contains(&self, p: &Packet) -> bool {
        Dim::ALL.iter().all(|&d| self.get(d).contains(p.get(d)))
    }

    pub fn intersects(&self, other: &Cube) -> bool {
        (0..DIMS).all(|i| match (self.code(i), other.code(i)) {
            (EVERY, _) | (_, EVERY) => true,
            (0, _) | (_, 0) => self.at(i).intersects(other.at(i)),
            (a, b) => a == b,
        })
    }

    /// The meet of two cubes. Where it is one of them (a rule's cube inside
    /// the set a walk brings it, most often), it is a copy of that one,
    /// sharing its stored block rather than storing its sets again.
    pub fn intersect(&self, other: &Cube) -> Option<Cube> {
        if !self.intersects(other) {
            return None;
        }
        let (mut is_self, mut is_other) = (true, true);
        let sets: SmallVec<[IntervalSet; DIMS]> = (0..DIMS)
            .map(|i| {
                let (a, b) = (self.at(i), other.at(i));
                let s = if other.code(i) == EVERY || self.same(other, i) {
                    a.clone()
                } else if self.code(i) == EVERY {
                    b.clone()
                } else {
                    a.intersect(b)
                };
                is_self &= s.kept_alike(a);
                is_other &= s.kept_alike(b);
                s
            })
            .collect();
        Some(match (is_self, is_other) {
            (true, _) => self.clone(),
            (_, true) => other.clone(),
            _ => {
                let mut sets = sets.into_iter();
                Cube::build(|_| sets.next().expect("a set per dimension"))
            }
        })
    }

    pub fn is_subset(&self, other: &Cube) -> bool {
        (0..DIMS).all(|i| {
            other.code(i) == EVERY || self.same(other, i) || self.at(i).is_subset(other.at(i))
        })
    }

    /// `self − other` as at most one disjoint piece per dimension: piece `i` keeps
    /// dimensions before `i` inside `other`, takes dimension `i` outside it, and
    /// leaves later dimensions as they were. The dimensions go in their
    /// order (protocol and ports first, which reads best), or with `key`
    /// first, so that every piece but the first lies within `other`'s extent
    /// in it: the pieces stay narrow in the dimension an index looks them up by.
    fn subtract_into(&self, other: &Cube, key: Option<Dim>, out: &mut Vec<Cube>) {
        if !self.intersects(other) {
            out.push(self.clone());
            return;
        }
        let mut cur = self.clone();
        let first = key.map_or(0, Dim::index);
        for i in std::iter::once(first).chain((0..DIMS).filter(|&i| i != first)) {
            if other.code(i) == EVERY || cur.same(other, i) {
                continue;
            }
            let outside = cur.at(i).difference(other.at(i));
            if !outside.is_empty() {
                let inside = cur.at(i).intersect(other.at(i));
                let mut piece = cur.clone();
                piece.put(i, outside);
                out.push(piece);
                cur.put(i, inside);
            }
        }
    }

    /// A packet inside the cube, preferring values that read well in a report.
    pub fn witness(&self) -> Packet {
        let mut p = Packet::default();
        for d in Dim::ALL {
            p.set(d, preferred(d, self.get(d)));
        }
        p
    }

    /// The cube the reply of each packet falls in, given a per-dimension mapping
    /// of values that change (state, ICMP type, TCP flags).
    pub fn map_dims(&self, f: impl Fn(Dim, &IntervalSet) -> (Dim, IntervalSet)) -> Option<Cube> {
        let mut dims: [IntervalSet; DIMS] = std::array::from_fn(|i| self.at(i).clone());
        for d in Dim::ALL {
            let (to, s) = f(d, self.get(d));
            if s.is_empty() {
                return None;
            }
            dims[to.index()] = s;
        }
        let mut dims = dims.into_iter();
        Some(Cube::build(|_| dims.next().expect("one set per dimension")))
    }

    /// The one dimension in which two cubes differ, if they differ in exactly one.
    fn sole_difference(&self, other: &Cube) -> Option<usize> {
        let mut diff = None;
        for i in 0..DIMS {
            if !self.same(other, i) {
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

/// A set of packets: a union of pairwise-disjoint cubes. One cube (what
/// most rules match) is kept inline: a rule's set takes no block of its own.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct PacketSet {
    cubes: SmallVec<[Cube; 1]>,
}

impl From<Cube> for PacketSet {
    fn from(c: Cube) -> Self {
        PacketSet {
            cubes: smallvec::smallvec![c],
        }
    }
}

impl PacketSet {
    pub fn empty() -> Self {
        PacketSet {
            cubes: SmallVec::new(),
        }
    }

    /// Every well-formed packet: IPv4 with 32-bit addresses, and IPv6.
    pub fn universe() -> Self {
        PacketSet::from_disjoint(vec![Cube::family(Family::Ipv4), Cube::family(Family::Ipv6)])
    }

    /// A set from cubes that the caller guarantees pairwise disjoint.
    pub fn from_disjoint(cubes: Vec<Cube>) -> Self {
        let cubes = if cubes.len() > 1 {
            SmallVec::from_vec(cubes)
        } else {
            cubes.into_iter().collect()
        };
        PacketSet { cubes }
    }

    /// A set from cubes that may overlap.
    pub fn from_cubes(cubes: impl IntoIterator<Item = Cube>) -> Self {
        let cubes: Vec<Cube> = cubes.into_iter().collect();
        let refs: Vec<&Cube> = cubes.iter().collect();
        PacketSet::from_pieces(ordered_cube_pieces(&refs, |_| true).concat())
    }

    pub fn cubes(&self) -> &[Cube] {
        &self.cubes
    }

    pub fn into_cubes(self) -> Vec<Cube> {
        self.cubes.into_vec()
    }

    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }

    pub fn contains(&self, p: &Packet) -> bool {
        self.cubes.iter().any(|c| c.contains(p))
    }

    /// The values some packet of the set has in one dimension.
    pub fn values(&self, d: Dim) -> IntervalSet {
        IntervalSet::from_ranges(
            self.cubes
                .iter()
                .flat_map(|c| c.get(d).ranges().iter().copied())
                .collect(),
        )
    }

    pub fn intersects(&self, other: &PacketSet) -> bool {
        if pairwise(self.cubes.len(), other.cubes.len()) {
            return self
                .cubes
                .iter()
                .any(|a| other.cubes.iter().any(|b| a.intersects(b)));
        }
        let (small, large) = by_size(self, other);
        let refs: Vec<&Cube> = large.cubes.iter().collect();
        let index = CubeIndex::new(&refs);
        small.cubes.iter().any(|a| {
            let mut meets = false;
            index.overlapping(a, |j| meets |= a.intersects(refs[j]));
            meets
        })
    }

    pub fn intersect(&self, other: &PacketSet) -> PacketSet {
        let mut cubes = Vec::new();
        if pairwise(self.cubes.len(), other.cubes.len()) {
            for a in &self.cubes {
                for b in &other.cubes {
                    if let Some(c) = a.intersect(b) {
                        cubes.push(c);
                    }
                }
            }
        } else {
            let (small, large) = by_size(self, other);
            let refs: Vec<&Cube> = large.cubes.iter().collect();
            let index = CubeIndex::new(&refs);
            let mut found = Vec::new();
            for a in &small.cubes {
                index.overlapping_sorted(a, &mut found);
                cubes.extend(found.iter().filter_map(|&j| a.intersect(refs[j])));
            }
        }
        PacketSet::from_disjoint(cubes).merged()
    }

    pub fn difference(&self, other: &PacketSet) -> PacketSet {
        let refs: Vec<&Cube> = other.cubes.iter().collect();
        self.without_cubes(&refs)
    }

    /// A set from disjoint cubes, joined where they differ in one dimension.
    pub fn from_pieces(cubes: Vec<Cube>) -> PacketSet {
        PacketSet::from_disjoint(cubes).merged()
    }

    /// The set minus every packet of many cubes that may overlap, most of
    /// which need not meet it: those that do are found first (through an
    /// index of the set's cubes when it has many).
    pub fn without_all<'c>(&self, minus: impl IntoIterator<Item = &'c Cube>) -> PacketSet {
        let meeting: Vec<&Cube> = if self.cubes.len() < 16 {
            minus
                .into_iter()
                .filter(|m| self.cubes.iter().any(|c| c.intersects(m)))
                .collect()
        } else {
            let own: Vec<&Cube> = self.cubes.iter().collect();
            let index = CubeIndex::new(&own);
            minus
                .into_iter()
                .filter(|m| {
                    let mut meets = false;
                    index.overlapping(m, |j| meets |= own[j].intersects(m));
                    meets
                })
                .collect()
        };
        self.without_cubes(&meeting)
    }

    /// The set minus every packet of `minus`, cubes that may overlap.
    pub fn without_cubes(&self, minus: &[&Cube]) -> PacketSet {
        PacketSet::from_disjoint(minus_all(&self.cubes, minus)).merged()
    }

    pub fn union(&self, other: &PacketSet) -> PacketSet {
        let mut cubes = self.cubes.clone();
        cubes.extend(other.difference(self).cubes);
        PacketSet { cubes }.merged()
    }

    /// The union of many sets, which may overlap, in one pass: each set
    /// adds what no earlier one holds (see [`ordered_pieces`]).
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a PacketSet>) -> PacketSet {
        let sets: Vec<&PacketSet> = sets.into_iter().collect();
        let mut cubes = Vec::new();
        for piece in ordered_pieces(&sets, |_| true) {
            cubes.extend(piece.cubes);
        }
        PacketSet::from_disjoint(cubes).merged()
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
            let narrowed = c.at(i).intersect(s);
            let keep = !narrowed.is_empty();
            if keep {
                c.put(i, narrowed);
            }
            keep
        });
        self
    }

    /// Applies a per-cube mapping (used for replies) and collects the images.
    pub fn map_cubes(&self, f: impl Fn(&Cube) -> Option<Cube>) -> PacketSet {
        PacketSet::from_cubes(self.cubes.iter().filter_map(f))
    }

    /// Joins cubes that differ in a single dimension, so that "dport 137-139"
    /// and "dport 1900" with everything else equal read as one cube. Small
    /// sets compare every pair; large ones group cubes by all dimensions but
    /// one, a dimension at a time, so that a set cut by one long list (the
    /// destinations of a service list) does not stay cut by another (ports).
    fn merged(mut self) -> PacketSet {
        const PAIRWISE_LIMIT: usize = 48;
        if self.cubes.len() < 2 {
            return self;
        }
        if self.cubes.len() > PAIRWISE_LIMIT {
            // Each dimension's hash is taken once, not in every key of every
            // round: a dimension may be a list of thousands of ranges.
            let mut hashed: Vec<Hashed> = std::mem::take(&mut self.cubes)
                .into_iter()
                .map(|c| {
                    let h = std::array::from_fn(|i| hash_of(c.at(i)));
                    (c, h)
                })
                .collect();
            // The dimension most cubes differ in first (a ban list's
            // addresses): merged along it, the set is small for the rest.
            let mut order: Vec<(usize, usize)> = (0..DIMS)
                .map(|d| {
                    let distinct: rustc_hash::FxHashSet<u64> =
                        hashed.iter().map(|(_, h)| h[d]).collect();
                    (usize::MAX - distinct.len(), d)
                })
                .collect();
            order.sort_unstable();
            for _round in 0..3 {
                let before = hashed.len();
                for &(_, d) in &order {
                    hashed = merge_along(hashed, d);
                }
                if hashed.len() == before {
                    break;
                }
            }
            self.cubes = hashed.into_iter().map(|(c, _)| c).collect();
            return self;
        }
        // Each cube in turn takes in every cube it differs from in one
        // dimension, looking again after each; the cubes before it found
        // no partner among the others, and only it changed.
        let mut i = 0;
        while i < self.cubes.len() {
            let mut j = 0;
            while j < self.cubes.len() {
                let d = (j != i)
                    .then(|| self.cubes[i].sole_difference(&self.cubes[j]))
                    .flatten();
                let Some(d) = d else {
                    j += 1;
                    continue;
                };
                let other = self.cubes.remove(j);
                if j < i {
                    i -= 1;
                }
                let merged = self.cubes[i].at(d).union(other.at(d));
                self.cubes[i].put(d, merged);
                j = 0;
            }
            i += 1;
        }
        self
    }
}

/// A cube with the hash of each of its dimensions.
type Hashed = (Cube, [u64; DIMS]);

/// A hash of a few of the set's ranges and their count: enough to tell
/// most lists apart, in constant time (a key match is confirmed by
/// comparing the lists).
fn hash_of(s: &IntervalSet) -> u64 {
    use std::hash::{Hash, Hasher};
    let r = s.ranges();
    let mut h = rustc_hash::FxHasher::default();
    r.len().hash(&mut h);
    if let (Some(first), Some(last)) = (r.first(), r.last()) {
        (first, r[r.len() / 2], last).hash(&mut h);
    }
    h.finish()
}

/// Joins the cubes that agree in every dimension but `d` (disjoint cubes
/// then differ in `d` only), keeping the first one's place.
fn merge_along(cubes: Vec<Hashed>, d: usize) -> Vec<Hashed> {
    let key = |h: &[u64; DIMS]| {
        (0..DIMS).filter(|&i| i != d).fold(0u64, |k, i| {
            (k.rotate_left(5) ^ h[i]).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        })
    };
    let same_elsewhere = |a: &Cube, b: &Cube| (0..DIMS).all(|i| i == d || a.same(b, i));
    let mut first: rustc_hash::FxHashMap<u64, usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(cubes.len(), Default::default());
    let mut out: Vec<Hashed> = Vec::with_capacity(cubes.len());
    let mut extra: Vec<Vec<(u128, u128)>> = Vec::new();
    let mut extra_of: Vec<Option<usize>> = Vec::with_capacity(cubes.len());
    for (c, h) in cubes {
        let k = key(&h);
        match first.get(&k) {
            Some(&at) if same_elsewhere(&out[at].0, &c) => {
                let e = *extra_of[at].get_or_insert_with(|| {
                    extra.push(Vec::new());
                    extra.len() - 1
                });
                extra[e].extend_from_slice(c.at(d).ranges());
            }
            _ => {
                first.entry(k).or_insert(out.len());
                out.push((c, h));
                extra_of.push(None);
            }
        }
    }
    for ((c, h), e) in out.iter_mut().zip(extra_of) {
        if let Some(e) = e {
            let mut all = std::mem::take(&mut extra[e]);
            all.extend_from_slice(c.at(d).ranges());
            c.put(d, IntervalSet::from_ranges(all));
            h[d] = hash_of(c.at(d));
        }
    }
    out
}

/// Below this many pairs of cubes (or with few cubes to index), comparing
/// every pair costs less than building an index.
fn pairwise(a: usize, b: usize) -> bool {
    a.min(b) < 4 || a.saturating_mul(b) <= 256
}

fn by_size<'a>(a: &'a PacketSet, b: &'a PacketSet) -> (&'a PacketSet, &'a PacketSet) {
    if a.cubes.len() <= b.cubes.len() {
        (a, b)
    } else {
        (b, a)
    }
}

/// Every cube of `cubes` minus every cube of `minus` (which may overlap),
/// as disjoint pieces: each cube meets only the cubes an index finds.
fn minus_all(cubes: &[Cube], minus: &[&Cube]) -> Vec<Cube> {
    let mut out = Vec::with_capacity(cubes.len());
    if minus.len() < 8 || cubes.len().saturating_mul(minus.len()) <= 64 {
        for a in cubes {
            let hits: Vec<&Cube> = minus.iter().copied().filter(|b| a.intersects(b)).collect();
            subtract_many(a, &hits, &mut out);
        }
        return out;
    }
    let index = CubeIndex::new(minus);
    let mut found = Vec::new();
    let mut hits = Vec::new();
    for a in cubes {
        index.overlapping_sorted(a, &mut found);
        hits.clear();
        hits.extend(found.iter().map(|&j| minus[j]).filter(|b| a.intersects(b)));
        subtract_many(a, &hits, &mut out);
    }
    out
}

/// `a` minus the cubes `hits` (each of which meets it), as disjoint pieces.
/// Hits that narrow `a` in one dimension alone (a ban list's addresses, a
/// run's union) leave it narrowed there, one cube. Otherwise few are
/// subtracted one by one, and many are swept along the dimensions they
/// cut `a` in, fewest distinct extents first (see [`sweep_order`]): the
/// part of `a` outside every hit's hull is one piece, and each stretch
/// between hull ends meets only the hits covering it, swept again along the
/// next dimension while many remain. Subtracting n small cubes so costs
/// about n steps, not n times the pieces made so far.
fn subtract_many(a: &Cube, hits: &[&Cube], out: &mut Vec<Cube>) {
    if hits.is_empty() {
        out.push(a.clone());
        return;
    }
    if let Some(d) = one_cut_dimension(a, hits) {
        let cut = IntervalSet::from_ranges(
            hits.iter()
                .flat_map(|h| h.at(d).ranges().iter().copied())
                .collect(),
        );
        let mut left = a.clone();
        let rest = left.at(d).difference(&cut);
        if !rest.is_empty() {
            left.put(d, rest);
            out.push(left);
        }
        return;
    }
    if hits.len() <= 4 {
        out.extend(minus_each(a.clone(), hits.iter().copied(), None));
        return;
    }
    let order = sweep_order(a, hits);
    sweep(a.clone(), hits, &order, out);
}

/// The one dimension every hit narrows `a` in, where each holds all of
/// `a` in every other (a ban list's addresses, a list of ports): `a` minus
/// them is then `a` narrowed in that dimension, one cube.
fn one_cut_dimension(a: &Cube, hits: &[&Cube]) -> Option<usize> {
    let d = (0..DIMS).find(|&i| !hits[0].same(a, i))?;
    hits.iter()
        .all(|h| (0..DIMS).all(|i| i == d || h.same(a, i)))
        .then_some(d)
}

/// The dimensions `hits` cut `a` in, cheapest to sweep first: fewest
/// stretch visits (a hit wide in a dimension is met in every stretch it
/// spans), then fewest distinct extents. Sweeping a service list (a cluster
/// IP and a port each) along its few ports before its many addresses
/// leaves one piece per port that lacks that port's addresses, where
/// sweeping the addresses first leaves a piece of every other address and
/// a piece per address that lacks one port: every later rule on a port (a
/// node port) then meets all of those.
fn sweep_order(a: &Cube, hits: &[&Cube]) -> Vec<Dim> {
    let mut dims: Vec<((usize, usize), Dim)> = Dim::ALL
        .into_iter()
        .filter_map(|d| {
            let (hulls, cuts) = hulls_and_cuts(hits, d);
            let mut distinct = hulls.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() == 1 && a.get(d).difference(hits[0].get(d)).is_empty() {
                return None;
            }
            let visits: usize = hulls
                .iter()
                .map(|&(lo, hi)| {
                    let end = hi
                        .checked_add(1)
                        .map_or(cuts.len(), |e| cuts.partition_point(|&c| c < e));
                    end - cuts.partition_point(|&c| c < lo)
                })
                .sum();
            Some(((visits, distinct.len()), d))
        })
        .collect();
    dims.sort_unstable();
    dims.into_iter().map(|(_, d)| d).collect()
}

/// Each hit's hull in `d`, and the stretch boundaries they make: every hull
/// start and every value after a hull end, ascending.
fn hulls_and_cuts(hits: &[&Cube], d: Dim) -> (Vec<(u128, u128)>, Vec<u128>) {
    let hulls: Vec<(u128, u128)> = hits
        .iter()
        .map(|b| b.get(d).hull().expect("cube dimensions are never empty"))
        .collect();
    let mut cuts: Vec<u128> = hulls
        .iter()
        .flat_map(|&(lo, hi)| [Some(lo), hi.checked_add(1)])
        .flatten()
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    (hulls, cuts)
}

/// `a` minus `hits`, swept along `order[0]` (see [`subtract_many`]).
fn sweep(a: Cube, hits: &[&Cube], order: &[Dim], out: &mut Vec<Cube>) {
    let Some((&key, rest)) = order.split_first() else {
        out.extend(minus_each(a, hits.iter().copied(), None));
        return;
    };
    let (hulls, cuts) = hulls_and_cuts(hits, key);
    let covered = IntervalSet::from_ranges(hulls.clone());
    if let Some(outside) = a.clone().with(key, a.get(key).difference(&covered)) {
        out.push(outside);
    }
    let mut by_start: Vec<usize> = (0..hits.len()).collect();
    by_start.sort_unstable_by_key(|&i| hulls[i].0);
    let mut next_start = 0;
    let mut active: Vec<usize> = Vec::new();
    let mut met: Vec<&Cube> = Vec::new();
    for (k, &from) in cuts.iter().enumerate() {
        let to = cuts.get(k + 1).map_or(u128::MAX, |&c| c - 1);
        while next_start < by_start.len() && hulls[by_start[next_start]].0 <= from {
            active.push(by_start[next_start]);
            next_start += 1;
        }
        active.retain(|&i| hulls[i].1 >= from);
        if active.is_empty() {
            continue;
        }
        let Some(stretch) = a
            .clone()
            .with(key, a.get(key).intersect(&IntervalSet::range(from, to)))
        else {
            continue;
        };
        active.sort_unstable();
        met.clear();
        met.extend(active.iter().map(|&i| hits[i]));
        if met.len() > 4 && !rest.is_empty() {
            sweep(stretch, &met, rest, out);
        } else {
            out.extend(minus_each(stretch, met.iter().copied(), Some(key)));
        }
    }
}

/// `a` minus each cube in turn, as disjoint pieces (see [`Cube::subtract_into`]).
fn minus_each<'c>(a: Cube, cubes: impl Iterator<Item = &'c Cube>, key: Option<Dim>) -> Vec<Cube> {
    let mut pieces = vec![a];
    for b in cubes {
        if pieces.is_empty() {
            break;
        }
        let mut next = Vec::with_capacity(pieces.len() + 2);
        for p in &pieces {
            p.subtract_into(b, key, &mut next);
        }
        pieces = next;
    }
    pieces
}

/// For each set in order, the packets of it that no earlier set `counts`
/// holds: `sets[i]` minus the union of `sets[j]`, `j < i`, `counts(j)`.
/// The pieces are pairwise disjoint where every set counts.
pub fn ordered_pieces(sets: &[&PacketSet], counts: impl Fn(usize) -> bool) -> Vec<PacketSet> {
    let mut owner = Vec::new();
    let mut cubes = Vec::new();
    for (i, s) in sets.iter().enumerate() {
        for c in &s.cubes {
            owner.push(i);
            cubes.push(c);
        }
    }
    // A set's own cubes are disjoint: whether they count for each other
    // changes nothing.
    let pieces = ordered_cube_pieces(&cubes, |k| counts(owner[k]));
    let mut out: Vec<Vec<Cube>> = vec![Vec::new(); sets.len()];
    for (k, p) in pieces.into_iter().enumerate() {
        out[owner[k]].extend(p);
    }
    out.into_iter().map(PacketSet::from_pieces).collect()
}

/// For each cube in order, its packets that no earlier cube `counts` holds.
/// Each cube meets only the earlier cubes an index finds, so many cost
/// little more than their number.
pub fn ordered_cube_pieces(cubes: &[&Cube], counts: impl Fn(usize) -> bool) -> Vec<Vec<Cube>> {
    let counted: Vec<usize> = (0..cubes.len()).filter(|&k| counts(k)).collect();
    let refs: Vec<&Cube> = counted.iter().map(|&k| cubes[k]).collect();
    let index = (refs.len() >= 16).then(|| CubeIndex::new(&refs));
    let mut found = Vec::new();
    let mut hits = Vec::new();
    cubes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            match &index {
                Some(index) => index.overlapping_sorted(a, &mut found),
                None => {
                    found.clear();
                    found.extend(0..refs.len());
                }
            }
            hits.clear();
            hits.extend(
                found
                    .iter()
                    .filter(|&&j| counted[j] < i)
                    .map(|&j| refs[j])
                    .filter(|b| a.intersects(b)),
            );
            let mut out = Vec::new();
            subtract_many(a, &hits, &mut out);
            out
        })
        .collect()
}

/// `a` minus `parts`, cubes each of which lies inside `a` (what rules took
/// of it): no search for the cubes that meet it is needed.
pub fn minus_parts(a: &Cube, parts: &[&Cube]) -> Vec<Cube> {
    let mut out = Vec::new();
    subtract_many(a, parts, &mut out);
    out
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

    /// Sets large enough that the operations go through an index.
    fn big_set() -> impl Strategy<Value = PacketSet> {
        prop::collection::vec(cube(), 0..40).prop_map(PacketSet::from_cubes)
    }

    /// A dimension and a set for it: often one of the common sets a cube
    /// codes rather than stores.
    fn dim_and_set() -> impl Strategy<Value = (usize, IntervalSet)> {
        (0..DIMS, 0u8..6, 0u128..4).prop_map(|(i, kind, v)| {
            let s = match kind {
                0..=2 if !COMMON[i][kind as usize + 1].is_empty() => {
                    COMMON[i][kind as usize + 1].clone()
                }
                _ => {
                    let v = v.min(Dim::ALL[i].max());
                    IntervalSet::range(v, (v + 1).min(Dim::ALL[i].max()))
                }
            };
            (i, s)
        })
    }

    proptest! {
        /// However a cube's dimensions were set, it reads back what was
        /// set, and equals (and hashes as) the cube built from those sets
        /// at once: the coding is canonical, so derived equality is exact.
        #[test]
        fn cube_reads_back_what_was_set(
            start in prop::bool::ANY,
            puts in prop::collection::vec(dim_and_set(), 0..24),
        ) {
            use std::hash::{BuildHasher, RandomState};
            let mut c = if start { Cube::full() } else { Cube::family(Family::Ipv4) };
            let mut model: Vec<IntervalSet> = (0..DIMS).map(|i| c.at(i).clone()).collect();
            for (i, s) in puts {
                c = c.with(Dim::ALL[i], s.clone()).unwrap();
                model[i] = s;
                for (j, m) in model.iter().enumerate() {
                    prop_assert_eq!(c.at(j), m);
                }
            }
            let built = Cube::build(|i| model[i].clone());
            prop_assert_eq!(&built, &c);
            let h = RandomState::new();
            prop_assert_eq!(h.hash_one(&built), h.hash_one(&c));
        }
    }

    #[test]
    fn common_sets_follow_the_dimension_order() {
        for d in Dim::ALL {
            assert_eq!(
                COMMON[d.index()][EVERY as usize],
                IntervalSet::range(0, d.max())
            );
        }
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

        /// The indexed paths (many cubes on both sides) agree with membership too,
        /// and `ordered_pieces` gives each set what no earlier counted set holds.
        #[test]
        fn indexed_operations_agree_with_membership(
            a in big_set(),
            b in big_set(),
            parts in prop::collection::vec(big_set(), 0..6),
        ) {
            let (u, i, d) = (a.union(&b), a.intersect(&b), a.difference(&b));
            let refs: Vec<&PacketSet> = parts.iter().collect();
            let pieces = ordered_pieces(&refs, |j| j % 2 == 0);
            let all = PacketSet::union_all(&parts);
            for p in all_packets() {
                let (ia, ib) = (a.contains(&p), b.contains(&p));
                prop_assert_eq!(u.contains(&p), ia || ib);
                prop_assert_eq!(i.contains(&p), ia && ib);
                prop_assert_eq!(d.contains(&p), ia && !ib);
                prop_assert_eq!(all.contains(&p), parts.iter().any(|s| s.contains(&p)));
                for (k, piece) in pieces.iter().enumerate() {
                    let earlier = parts[..k].iter().enumerate().any(|(j, s)| j % 2 == 0 && s.contains(&p));
                    prop_assert_eq!(piece.contains(&p), parts[k].contains(&p) && !earlier);
                }
            }
            prop_assert_eq!(a.intersects(&b), !i.is_empty());
            prop_assert!(disjoint(&u) && disjoint(&i) && disjoint(&d) && disjoint(&all));
            prop_assert!(pieces.iter().all(disjoint));
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

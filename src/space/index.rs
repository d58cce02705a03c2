//! An index of cubes by their extents in a few dimensions, so that the
//! cubes that may meet a given one are found without testing every cube.
//!
//! Large rulesets give sets of many cubes that each cover little of some
//! dimensions (a cluster IP and its port, a banned address): comparing every
//! cube of one set with every cube of the other is what made their algebra
//! quadratic. The index is a packed tree of boxes (each cube's hull in the
//! three dimensions that tell the cubes apart best): cubes are sorted into
//! leaves by the best dimension, then within slabs by the second, and each
//! node keeps the box around its children, so a query descends only into
//! nodes whose box overlaps its own. A cube whose set in the first key is a
//! few scattered ranges gets a box per range, so that those ranges, not
//! their hull, decide which queries find it.

use super::dim::Dim;
use super::interval::IntervalSet;
use super::set::Cube;

/// The dimensions an index may be keyed on, most telling first.
const KEYS: [Dim; 8] = [
    Dim::Dst,
    Dim::Src,
    Dim::Dport,
    Dim::Sport,
    Dim::In,
    Dim::Out,
    Dim::Icmp,
    Dim::Proto,
];

/// How many dimensions a box has.
const SIDES: usize = 3;
/// A cube whose set in the first key holds from two to this many ranges
/// is indexed by each of them, not by their hull: an object group's
/// scattered hosts have a hull as wide as every other group's, and only
/// the ranges tell the groups apart.
const SPLIT: usize = 32;
/// Children per node.
const FANOUT: usize = 8;

type Box3 = [(u128, u128); SIDES];

pub struct CubeIndex {
    dims: [Dim; SIDES],
    /// Whether a cube has several items (by the ranges of its first key).
    split: bool,
    /// Each cube's box, in leaf order, and its position in the indexed slice.
    items: Vec<(Box3, u32)>,
    /// The boxes of the nodes, bottom level first: node `k` of level 0 holds
    /// items `k*FANOUT..`, node `k` of level `l` nodes `k*FANOUT..` of `l-1`.
    levels: Vec<Vec<Box3>>,
}

fn overlaps(a: &Box3, b: &Box3) -> bool {
    a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1)
}

fn around(boxes: &[Box3]) -> Box3 {
    let mut out = boxes[0];
    for b in &boxes[1..] {
        for (o, x) in out.iter_mut().zip(b) {
            o.0 = o.0.min(x.0);
            o.1 = o.1.max(x.1);
        }
    }
    out
}

impl CubeIndex {
    /// An index of `cubes`, keyed on the dimensions that tell them apart best.
    pub fn new(cubes: &[&Cube]) -> CubeIndex {
        let dims = best_keys(cubes);
        let mut items: Vec<(Box3, u32)> = Vec::with_capacity(cubes.len());
        for (i, c) in cubes.iter().enumerate() {
            boxes(c, dims, |b| items.push((b, i as u32)));
        }
        let split = items.len() > cubes.len();
        // Sort-tile packing: slabs along the first dimension, each sorted
        // along the second, cut into leaves.
        let centre = |b: &Box3, k: usize| b[k].0 / 2 + b[k].1 / 2;
        items.sort_unstable_by_key(|it| centre(&it.0, 0));
        let leaves = items.len().div_ceil(FANOUT);
        let slabs = (leaves as f64).sqrt().ceil().max(1.0) as usize;
        let per_slab = (slabs * FANOUT).max(FANOUT);
        for slab in items.chunks_mut(per_slab) {
            slab.sort_unstable_by_key(|it| centre(&it.0, 1));
        }
        let mut levels = Vec::new();
        let mut below: Vec<Box3> = items
            .chunks(FANOUT)
            .map(|c| around(&c.iter().map(|it| it.0).collect::<Vec<_>>()))
            .collect();
        while below.len() > 1 {
            let next = below.chunks(FANOUT).map(around).collect();
            levels.push(below);
            below = next;
        }
        levels.push(below);
        CubeIndex {
            dims,
            split,
            items,
            levels,
        }
    }

    /// The positions [`overlapping`](Self::overlapping) finds, ascending (the
    /// order of the indexed slice), into `found` (cleared first).
    pub fn overlapping_sorted(&self, q: &Cube, found: &mut Vec<usize>) {
        found.clear();
        self.overlapping(q, |j| found.push(j));
        found.sort_unstable();
    }

    /// Calls `f`, once each, with the position of every indexed cube that
    /// overlaps `q` in the key dimensions (in their hulls, or in the ranges
    /// of the first): a superset of the cubes meeting `q`.
    pub fn overlapping(&self, q: &Cube, f: impl FnMut(usize)) {
        let mut queries: smallvec::SmallVec<[Box3; 1]> = smallvec::SmallVec::new();
        boxes(q, self.dims, |b| queries.push(b));
        if !self.split && queries.len() == 1 {
            return self.search(&queries[0], f);
        }
        // A cube may be found through several of its ranges, or by several
        // of the query's.
        let mut found = Vec::new();
        for qb in &queries {
            self.search(qb, |j| found.push(j));
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().for_each(f);
    }

    /// Calls `f` with the position of the cube of every item whose box
    /// overlaps `qb`.
    fn search(&self, qb: &Box3, mut f: impl FnMut(usize)) {
        let Some(top) = self.levels.last() else {
            return;
        };
        // Depth first, so the stack holds at most a node's children per
        // level: inline, as queries are many and each is small.
        let mut stack: smallvec::SmallVec<[(usize, usize); 64]> =
            (0..top.len()).map(|k| (self.levels.len() - 1, k)).collect();
        while let Some((level, k)) = stack.pop() {
            if !overlaps(&self.levels[level][k], qb) {
                continue;
            }
            let from = k * FANOUT;
            if level == 0 {
                let to = (from + FANOUT).min(self.items.len());
                for (b, i) in &self.items[from..to] {
                    if overlaps(b, qb) {
                        f(*i as usize);
                    }
                }
            } else {
                let to = (from + FANOUT).min(self.levels[level - 1].len());
                stack.extend((from..to).rev().map(|c| (level - 1, c)));
            }
        }
    }
}

/// The boxes a cube is indexed (or looked up) by: its hulls in the keys,
/// or, where its first key holds a few ranges, one box per range.
fn boxes(c: &Cube, dims: [Dim; SIDES], mut f: impl FnMut(Box3)) {
    let hull = dims.map(|d| c.get(d).hull().expect("cube dimensions are never empty"));
    let first = c.get(dims[0]).ranges();
    if (2..=SPLIT).contains(&first.len()) {
        for &r in first {
            let mut b = hull;
            b[0] = r;
            f(b);
        }
    } else {
        f(hull);
    }
}

/// The dimensions in which the fewest pairs of a sample of the cubes
/// overlap: those a query narrows down best (a few wide cubes in a
/// dimension make every query find them), best first.
fn best_keys(cubes: &[&Cube]) -> [Dim; SIDES] {
    const SAMPLE: usize = 48;
    let step = (cubes.len() / SAMPLE).max(1);
    let sample: Vec<&Cube> = cubes.iter().step_by(step).take(SAMPLE).copied().collect();
    let mut scored: Vec<(usize, usize, Dim)> = Vec::new();
    for (rank, d) in KEYS.into_iter().enumerate() {
        // What a query compares in the dimension as the first key: its
        // few ranges, or its hull.
        let keys: Vec<IntervalSet> = sample
            .iter()
            .map(|c| {
                let s = c.get(d);
                match s.hull() {
                    Some((a, b)) if s.ranges().len() > SPLIT => IntervalSet::range(a, b),
                    _ => s.clone(),
                }
            })
            .collect();
        let mut overlaps = 0;
        for (i, a) in keys.iter().enumerate() {
            overlaps += keys[i + 1..].iter().filter(|b| a.intersects(b)).count();
        }
        scored.push((overlaps, rank, d));
    }
    scored.sort_unstable();
    [scored[0].2, scored[1].2, scored[2].2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Family, IntervalSet};
    use proptest::prelude::*;

    fn cube(lo: u128, len: u128) -> Cube {
        Cube::family(Family::Ipv4)
            .with(Dim::Dst, IntervalSet::range(lo, lo + len))
            .unwrap()
    }

    proptest! {
        /// The index reports exactly the cubes whose key hull overlaps the query's.
        #[test]
        fn finds_every_overlapping_hull(
            spans in prop::collection::vec((0u128..200, 0u128..30), 0..80),
            q in (0u128..220, 0u128..40),
        ) {
            let cubes: Vec<Cube> = spans.iter().map(|&(a, l)| cube(a, l)).collect();
            let refs: Vec<&Cube> = cubes.iter().collect();
            let index = CubeIndex::new(&refs);
            let query = cube(q.0, q.1);
            let mut found = Vec::new();
            index.overlapping(&query, |i| found.push(i));
            found.sort_unstable();
            let expected: Vec<usize> = spans
                .iter()
                .enumerate()
                .filter(|(_, (a, l))| *a <= q.0 + q.1 && q.0 <= a + l)
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(found, expected);
        }

        /// Cubes of a few scattered ranges (indexed by each range) are
        /// found, once each, whenever they meet the query.
        #[test]
        fn finds_every_cube_of_ranges_that_meets(
            sets in prop::collection::vec(
                (prop::collection::vec((0u128..200, 0u128..6), 1..5), 0u128..100, 0u128..40),
                0..80,
            ),
            q in (prop::collection::vec((0u128..200, 0u128..6), 1..5), 0u128..100, 0u128..40),
        ) {
            let make = |(dst, src, len): &(Vec<(u128, u128)>, u128, u128)| {
                let dst = IntervalSet::from_ranges(dst.iter().map(|&(a, l)| (a, a + l)).collect());
                Cube::family(Family::Ipv4)
                    .with(Dim::Dst, dst)
                    .and_then(|c| c.with(Dim::Src, IntervalSet::range(*src, src + len)))
                    .unwrap()
            };
            let cubes: Vec<Cube> = sets.iter().map(make).collect();
            let refs: Vec<&Cube> = cubes.iter().collect();
            let index = CubeIndex::new(&refs);
            let query = make(&q);
            let mut found = Vec::new();
            index.overlapping(&query, |i| found.push(i));
            let mut once = found.clone();
            once.sort_unstable();
            once.dedup();
            prop_assert_eq!(once.len(), found.len());
            for (i, c) in cubes.iter().enumerate() {
                if c.intersects(&query) {
                    prop_assert!(found.contains(&i), "cube {} meets the query", i);
                }
            }
        }
    }
}

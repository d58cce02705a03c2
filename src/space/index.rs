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
//! nodes whose box overlaps its own.

use super::dim::Dim;
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
/// Children per node.
const FANOUT: usize = 8;

type Box3 = [(u128, u128); SIDES];

pub struct CubeIndex {
    dims: [Dim; SIDES],
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
        let hull =
            |c: &Cube| dims.map(|d| c.get(d).hull().expect("cube dimensions are never empty"));
        let mut items: Vec<(Box3, u32)> = cubes
            .iter()
            .enumerate()
            .map(|(i, c)| (hull(c), i as u32))
            .collect();
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

    /// Calls `f` with the position of every indexed cube whose hulls overlap
    /// those of `q` (a superset of the cubes meeting `q`).
    pub fn overlapping(&self, q: &Cube, mut f: impl FnMut(usize)) {
        let Some(top) = self.levels.last() else {
            return;
        };
        let qb = self
            .dims
            .map(|d| q.get(d).hull().expect("cube dimensions are never empty"));
        // Depth first, so the stack holds at most a node's children per
        // level: inline, as queries are many and each is small.
        let mut stack: smallvec::SmallVec<[(usize, usize); 64]> =
            (0..top.len()).map(|k| (self.levels.len() - 1, k)).collect();
        while let Some((level, k)) = stack.pop() {
            if !overlaps(&self.levels[level][k], &qb) {
                continue;
            }
            let from = k * FANOUT;
            if level == 0 {
                let to = (from + FANOUT).min(self.items.len());
                for (b, i) in &self.items[from..to] {
                    if overlaps(b, &qb) {
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

/// The dimensions in which the fewest pairs of a sample of the cubes
/// overlap: those a query narrows down best (a few wide cubes in a
/// dimension make every query find them), best first.
fn best_keys(cubes: &[&Cube]) -> [Dim; SIDES] {
    const SAMPLE: usize = 48;
    let step = (cubes.len() / SAMPLE).max(1);
    let sample: Vec<&Cube> = cubes.iter().step_by(step).take(SAMPLE).copied().collect();
    let mut scored: Vec<(usize, usize, Dim)> = Vec::new();
    for (rank, d) in KEYS.into_iter().enumerate() {
        let hulls: Vec<(u128, u128)> = sample.iter().filter_map(|c| c.get(d).hull()).collect();
        let mut overlaps = 0;
        for (i, a) in hulls.iter().enumerate() {
            overlaps += hulls[i + 1..]
                .iter()
                .filter(|b| a.0 <= b.1 && b.0 <= a.1)
                .count();
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
    }
}

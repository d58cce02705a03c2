//! Sets of integers as sorted, disjoint, non-adjacent closed intervals.
//!
//! Every dimension of the packet space (addresses, ports, protocol, interface
//! names, …) is a set of this kind, so one exact implementation serves them all.
//! Keeping the intervals canonical (sorted, merged) makes equality structural.

use smallvec::{SmallVec, smallvec};
use std::fmt;

/// Most sets are one range (a prefix, a port range, a protocol): inline.
type Ranges = SmallVec<[Range; 1]>;

/// A closed range `[lo, hi]`.
type Range = (u128, u128);

/// A set of `u128` values, stored as sorted, disjoint, non-adjacent `[lo, hi]` ranges.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct IntervalSet {
    ranges: Ranges,
}

impl fmt::Debug for IntervalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.ranges.iter().map(|&(a, b)| a..=b))
            .finish()
    }
}

impl IntervalSet {
    pub fn empty() -> Self {
        IntervalSet {
            ranges: Ranges::new(),
        }
    }

    /// The closed range `[lo, hi]`; empty when `lo > hi`.
    pub fn range(lo: u128, hi: u128) -> Self {
        if lo > hi {
            Self::empty()
        } else {
            IntervalSet {
                ranges: smallvec![(lo, hi)],
            }
        }
    }

    pub fn point(v: u128) -> Self {
        Self::range(v, v)
    }

    /// Builds a canonical set from ranges in any order, overlapping or not.
    pub fn from_ranges(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.retain(|&(a, b)| a <= b);
        ranges.sort_unstable();
        let mut out = Ranges::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        IntervalSet { ranges: out }
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, v: u128) -> bool {
        let i = self.ranges.partition_point(|&(_, hi)| hi < v);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    /// The number of values in the set, saturating at `u128::MAX`.
    pub fn len(&self) -> u128 {
        self.ranges.iter().fold(0u128, |n, &(a, b)| {
            n.saturating_add(b - a).saturating_add(1)
        })
    }

    pub fn min(&self) -> Option<u128> {
        self.ranges.first().map(|r| r.0)
    }

    pub fn is_single(&self) -> Option<u128> {
        match self.ranges.as_slice() {
            [(a, b)] if a == b => Some(*a),
            _ => None,
        }
    }

    /// The ranges that share a value with `[lo, hi]`, found by binary search:
    /// a long set (an address list with many holes) meets a short one in a
    /// few of its ranges, and only those need comparing.
    fn window(&self, lo: u128, hi: u128) -> &[(u128, u128)] {
        let from = self.ranges.partition_point(|&(_, b)| b < lo);
        let to = from + self.ranges[from..].partition_point(|&(a, _)| a <= hi);
        &self.ranges[from..to]
    }

    /// The smallest range holding the set.
    pub fn hull(&self) -> Option<(u128, u128)> {
        Some((self.ranges.first()?.0, self.ranges.last()?.1))
    }

    /// The two sets' ranges, each cut to where the other can meet it.
    fn windows<'a>(&'a self, other: &'a Self) -> (&'a [Range], &'a [Range]) {
        match (self.hull(), other.hull()) {
            (Some((a, b)), Some((c, d))) => (self.window(c, d), other.window(a, b)),
            _ => (&[], &[]),
        }
    }

    /// True when the two sets share a value; allocates nothing.
    pub fn intersects(&self, other: &Self) -> bool {
        let (x, y) = self.windows(other);
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            let (a, b) = x[i];
            let (c, d) = y[j];
            if b < c {
                i += 1;
            } else if d < a {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        let Some((lo, hi)) = self.hull() else {
            return true;
        };
        let other = other.window(lo, hi);
        let mut j = 0;
        for &(a, b) in &self.ranges {
            while j < other.len() && other[j].1 < a {
                j += 1;
            }
            match other.get(j) {
                Some(&(c, d)) if c <= a && b <= d => {}
                _ => return false,
            }
        }
        true
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let (x, y) = self.windows(other);
        let mut out = Ranges::new();
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            let (a, b) = x[i];
            let (c, d) = y[j];
            let lo = a.max(c);
            let hi = b.min(d);
            if lo <= hi {
                out.push((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        IntervalSet { ranges: out }
    }

    /// Both sets' ranges merged in one pass (each is sorted already).
    pub fn union(&self, other: &Self) -> Self {
        let (x, y) = (&self.ranges, &other.ranges);
        let mut out = Ranges::new();
        let (mut i, mut j) = (0, 0);
        while i < x.len() || j < y.len() {
            let next = if j == y.len() || (i < x.len() && x[i].0 <= y[j].0) {
                i += 1;
                x[i - 1]
            } else {
                j += 1;
                y[j - 1]
            };
            match out.last_mut() {
                Some(last) if next.0 <= last.1.saturating_add(1) => last.1 = last.1.max(next.1),
                _ => out.push(next),
            }
        }
        IntervalSet { ranges: out }
    }

    pub fn difference(&self, other: &Self) -> Self {
        let Some((lo, hi)) = self.hull() else {
            return Self::empty();
        };
        let other = other.window(lo, hi);
        let mut out = Ranges::new();
        let mut j = 0;
        for &(a, b) in &self.ranges {
            let mut lo = a;
            while j < other.len() && other[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            let mut done = false;
            while k < other.len() && other[k].0 <= b {
                let (c, d) = other[k];
                if c > lo {
                    out.push((lo, c - 1));
                }
                if d >= b {
                    done = true;
                    break;
                }
                lo = d + 1;
                k += 1;
            }
            if !done {
                out.push((lo, b));
            }
        }
        IntervalSet { ranges: out }
    }

    /// The complement within `[0, max]`.
    pub fn complement(&self, max: u128) -> Self {
        Self::range(0, max).difference(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small_set() -> impl Strategy<Value = IntervalSet> {
        prop::collection::vec((0u128..40, 0u128..6), 0..5).prop_map(|v| {
            IntervalSet::from_ranges(v.into_iter().map(|(a, l)| (a, a + l)).collect())
        })
    }

    fn members(s: &IntervalSet) -> Vec<bool> {
        (0..50).map(|v| s.contains(v)).collect()
    }

    proptest! {
        /// Each operation agrees, value by value, with the boolean operation on membership.
        #[test]
        fn operations_agree_with_membership(a in small_set(), b in small_set()) {
            let (ma, mb) = (members(&a), members(&b));
            for v in 0..50usize {
                prop_assert_eq!(a.intersect(&b).contains(v as u128), ma[v] && mb[v]);
                prop_assert_eq!(a.union(&b).contains(v as u128), ma[v] || mb[v]);
                prop_assert_eq!(a.difference(&b).contains(v as u128), ma[v] && !mb[v]);
                prop_assert_eq!(a.complement(49).contains(v as u128), v <= 49 && !ma[v]);
            }
            prop_assert_eq!(a.intersects(&b), !a.intersect(&b).is_empty());
            prop_assert_eq!(a.is_subset(&b), a.difference(&b).is_empty());
        }

        /// Results are canonical: sorted, disjoint and never adjacent.
        #[test]
        fn results_are_canonical(a in small_set(), b in small_set()) {
            for s in [a.intersect(&b), a.union(&b), a.difference(&b)] {
                for w in s.ranges().windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
            }
        }
    }

    #[test]
    fn extreme_bounds() {
        let all = IntervalSet::range(0, u128::MAX);
        assert_eq!(all.len(), u128::MAX);
        assert!(all.complement(u128::MAX).is_empty());
        let top = IntervalSet::point(u128::MAX);
        assert_eq!(all.difference(&top), IntervalSet::range(0, u128::MAX - 1));
    }
}

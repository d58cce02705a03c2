//! Sets of integers as sorted, disjoint, non-adjacent closed intervals.
//!
//! Every dimension of the packet space (addresses, ports, protocol, interface
//! names, …) is a set of this kind, so one exact implementation serves them all.
//! Keeping the intervals canonical (sorted, merged) makes equality structural.

use smallvec::SmallVec;
use std::fmt;

/// Ranges being built.
type Ranges = SmallVec<[Range; 2]>;

/// A closed range `[lo, hi]`.
type Range = (u128, u128);

/// A set of `u128` values, stored as sorted, disjoint, non-adjacent `[lo, hi]` ranges.
#[derive(Clone, Default)]
pub struct IntervalSet {
    ranges: store::Store,
}

impl PartialEq for IntervalSet {
    fn eq(&self, other: &Self) -> bool {
        self.kept_alike(other) || self.r() == other.r()
    }
}

impl Eq for IntervalSet {}

impl std::hash::Hash for IntervalSet {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.r().hash(h);
    }
}

impl fmt::Debug for IntervalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.r().iter().map(|&(a, b)| a..=b))
            .finish()
    }
}

impl IntervalSet {
    pub const fn empty() -> Self {
        IntervalSet {
            ranges: store::Store::EMPTY,
        }
    }

    /// The closed range `[lo, hi]`; empty when `lo > hi`.
    pub const fn range(lo: u128, hi: u128) -> Self {
        if lo > hi {
            Self::empty()
        } else {
            IntervalSet {
                ranges: store::Store::one((lo, hi)),
            }
        }
    }

    pub const fn point(v: u128) -> Self {
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
        IntervalSet::build(out)
    }

    /// Whether the two sets are kept alike: as one and the same range, as
    /// nothing, or as one shared list. Alike sets are equal, and equal sets
    /// of one range are alike.
    pub fn kept_alike(&self, other: &IntervalSet) -> bool {
        self.ranges.same(&other.ranges)
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        self.r()
    }

    fn r(&self) -> &[Range] {
        self.ranges.ranges()
    }

    /// A set of ranges already sorted, disjoint and apart.
    fn build(ranges: Ranges) -> Self {
        let ranges = match ranges.as_slice() {
            [] => store::Store::EMPTY,
            &[one] => store::Store::one(one),
            many => store::Store::shared(many.into()),
        };
        IntervalSet { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.r().is_empty()
    }

    pub fn contains(&self, v: u128) -> bool {
        let i = self.r().partition_point(|&(_, hi)| hi < v);
        self.r().get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    /// The number of values in the set, saturating at `u128::MAX`.
    pub fn len(&self) -> u128 {
        self.r().iter().fold(0u128, |n, &(a, b)| {
            n.saturating_add(b - a).saturating_add(1)
        })
    }

    pub fn min(&self) -> Option<u128> {
        self.r().first().map(|r| r.0)
    }

    pub fn is_single(&self) -> Option<u128> {
        match self.r() {
            [(a, b)] if a == b => Some(*a),
            _ => None,
        }
    }

    /// The ranges that share a value with `[lo, hi]`, found by binary search:
    /// a long set (an address list with many holes) meets a short one in a
    /// few of its ranges, and only those need comparing.
    fn window(&self, lo: u128, hi: u128) -> &[(u128, u128)] {
        let from = self.r().partition_point(|&(_, b)| b < lo);
        let to = from + self.r()[from..].partition_point(|&(a, _)| a <= hi);
        &self.r()[from..to]
    }

    /// The smallest range holding the set.
    pub fn hull(&self) -> Option<(u128, u128)> {
        Some((self.r().first()?.0, self.r().last()?.1))
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
        // Most sets are one range, and most pairs met are apart or one
        // range each: their hulls decide without a search.
        let (Some((a, b)), Some((c, d))) = (self.hull(), other.hull()) else {
            return false;
        };
        if b < c || d < a {
            return false;
        }
        if self.r().len() == 1 && other.r().len() == 1 {
            return true;
        }
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
        for &(a, b) in self.r() {
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

    /// Whether one range holds the whole of `other` (then results can share it).
    fn covers(&self, other: &Self) -> bool {
        match (self.r(), other.hull()) {
            ([(a, b)], Some((c, d))) => *a <= c && d <= *b,
            _ => false,
        }
    }

    /// Equal lists kept apart (built by different walks) give the one
    /// shared, so that later operations on the result find them alike.
    pub fn intersect(&self, other: &Self) -> Self {
        if other.covers(self) || self == other {
            return self.clone();
        }
        if self.covers(other) {
            return other.clone();
        }
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
        IntervalSet::build(out)
    }

    /// Both sets' ranges merged in one pass (each is sorted already).
    pub fn union(&self, other: &Self) -> Self {
        if other.is_empty() || self.covers(other) {
            return self.clone();
        }
        if self.is_empty() || other.covers(self) {
            return other.clone();
        }
        let (x, y) = (self.r(), other.r());
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
        IntervalSet::build(out)
    }

    /// What `self` holds in each gap between `other`'s ranges, its ranges
    /// found by galloping and copied whole: a long address list that loses
    /// one host, or loses all to one wide range, costs a few searches and a
    /// copy, not a step per range; where nothing is lost the list is shared.
    pub fn difference(&self, other: &Self) -> Self {
        let Some((lo, hi)) = self.hull() else {
            return Self::empty();
        };
        if self == other {
            return Self::empty();
        }
        let y = other.window(lo, hi);
        if y.is_empty() {
            return self.clone();
        }
        let x = self.r();
        let mut out = Ranges::new();
        // `x[at..]` holds what is left to look at.
        let mut at = 0;
        for k in 0..=y.len() {
            let start = match k.checked_sub(1) {
                Some(p) if y[p].1 == u128::MAX => break,
                Some(p) => y[p].1 + 1,
                None => 0,
            };
            let end = match y.get(k) {
                Some(&(0, _)) => continue,
                Some(&(c, _)) => c - 1,
                None => u128::MAX,
            };
            let first = gallop(x, at, |&(_, b)| b < start);
            let past = gallop(x, first, |&(a, _)| a <= end);
            if first < past {
                let inside = &x[first..past];
                out.push((inside[0].0.max(start), inside[0].1.min(end)));
                if let [_, middle @ .., last] = inside {
                    out.extend_from_slice(middle);
                    out.push((last.0, last.1.min(end)));
                }
                // The last range may go on past the next range of `other`.
                at = past - 1;
            } else {
                at = first;
            }
        }
        if out.as_slice() == x {
            return self.clone();
        }
        IntervalSet::build(out)
    }

    /// The complement within `[0, max]`.
    pub fn complement(&self, max: u128) -> Self {
        Self::range(0, max).difference(self)
    }
}

/// How a set's ranges are kept: most sets are one range (a prefix, a port
/// range, a protocol), kept inline. Longer ones (an address list, what is
/// left of the internet once a ban list is cut out of it) are shared: a cube
/// is copied for every rule that meets it, and copying a long list each time
/// cost time and memory in proportion to the rules times the list.
///
/// The three kinds share one pair of bounds, so that a set takes 32 bytes
/// where an enum of them took 48 (a large ruleset stores a set or two per
/// rule): `lo <= hi` is the one range `[lo, hi]`;
/// `(1, 0)` holds nothing; `(SHARED, hi)` holds a shared list, `hi` its
/// address (low 64 bits) and length (high 64 bits). No range is `(SHARED,
/// hi)` with `hi < SHARED`, as `SHARED` is the largest value, and no list's
/// length reaches 2^64 - 1, so the kinds never meet.
mod store {
    use super::Range;
    use std::sync::Arc;

    const SHARED: u128 = u128::MAX;

    pub struct Store {
        pair: Range,
    }

    impl Store {
        pub const EMPTY: Store = Store { pair: (1, 0) };

        /// `[lo, hi]`, not empty (checked: a pair with `lo > hi` would be
        /// taken for nothing, or for a list).
        pub const fn one(r: Range) -> Store {
            assert!(r.0 <= r.1, "a range holds a value");
            Store { pair: r }
        }

        pub fn shared(list: Arc<[Range]>) -> Store {
            let len = list.len() as u128;
            let ptr = Arc::into_raw(list) as *const Range as usize as u128;
            Store {
                pair: (SHARED, len << 64 | ptr),
            }
        }

        /// The shared list's pointer, if the store holds one.
        fn list(&self) -> Option<*const [Range]> {
            let (lo, hi) = self.pair;
            (lo == SHARED && hi < SHARED).then(|| {
                let ptr = hi as u64 as usize as *const Range;
                std::ptr::slice_from_raw_parts(ptr, (hi >> 64) as usize)
            })
        }

        pub fn ranges(&self) -> &[Range] {
            match self.list() {
                // SAFETY: the pointer came from `Arc::into_raw` in `shared`,
                // and this store holds one of the list's strong counts, so
                // the list lives at least as long as `self`.
                Some(list) => unsafe { &*list },
                None if self.pair.0 <= self.pair.1 => std::slice::from_ref(&self.pair),
                None => &[],
            }
        }

        /// Whether the two stores are alike: the same range, nothing, or
        /// the same shared list.
        pub fn same(&self, other: &Store) -> bool {
            self.pair == other.pair
        }
    }

    impl Default for Store {
        fn default() -> Store {
            Store::EMPTY
        }
    }

    impl Clone for Store {
        fn clone(&self) -> Store {
            if let Some(list) = self.list() {
                // SAFETY: as in `ranges`: the list is alive, and the new
                // store takes a strong count of its own.
                unsafe { Arc::increment_strong_count(list) };
            }
            Store { pair: self.pair }
        }
    }

    impl Drop for Store {
        fn drop(&mut self) {
            if let Some(list) = self.list() {
                // SAFETY: this store's strong count, taken in `shared` or
                // `clone`, is given back once.
                drop(unsafe { Arc::from_raw(list) });
            }
        }
    }
}

/// The first position from `from` on whose range fails `before` (true of a
/// prefix of `x[from..]`), found in steps that double and then by halves:
/// near positions cost little, far ones a logarithm.
fn gallop(x: &[Range], from: usize, before: impl Fn(&Range) -> bool) -> usize {
    let mut span = 1;
    while from + span <= x.len() && before(&x[from + span - 1]) {
        span *= 2;
    }
    let lo = from + span / 2;
    let hi = (from + span).min(x.len());
    lo + x[lo..hi].partition_point(before)
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

    /// Sets of many ranges, for the paths that search long lists.
    fn long_set() -> impl Strategy<Value = IntervalSet> {
        prop::collection::vec((0u128..200, 0u128..4), 0..40).prop_map(|v| {
            IntervalSet::from_ranges(v.into_iter().map(|(a, l)| (a, a + l)).collect())
        })
    }

    fn any_set() -> impl Strategy<Value = IntervalSet> {
        prop_oneof![small_set(), long_set()]
    }

    const VALUES: usize = 210;

    fn members(s: &IntervalSet) -> Vec<bool> {
        (0..VALUES as u128).map(|v| s.contains(v)).collect()
    }

    proptest! {
        /// Each operation agrees, value by value, with the boolean operation on membership.
        #[test]
        fn operations_agree_with_membership(a in any_set(), b in any_set()) {
            let (ma, mb) = (members(&a), members(&b));
            for v in 0..VALUES {
                prop_assert_eq!(a.intersect(&b).contains(v as u128), ma[v] && mb[v]);
                prop_assert_eq!(a.union(&b).contains(v as u128), ma[v] || mb[v]);
                prop_assert_eq!(a.difference(&b).contains(v as u128), ma[v] && !mb[v]);
                prop_assert_eq!(a.complement(49).contains(v as u128), v <= 49 && !ma[v]);
            }
            prop_assert_eq!(a.intersects(&b), !a.intersect(&b).is_empty());
            prop_assert_eq!(a.is_subset(&b), a.difference(&b).is_empty());
            prop_assert!(a.difference(&a).is_empty());
        }

        /// Results are canonical: sorted, disjoint and never adjacent.
        #[test]
        fn results_are_canonical(a in any_set(), b in any_set()) {
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

    #[test]
    fn the_kinds_of_store_hold_what_was_put_in() {
        // The largest value as a range of its own is not taken for a list.
        let top = IntervalSet::point(u128::MAX);
        assert_eq!(top.ranges(), [(u128::MAX, u128::MAX)]);
        let ends = IntervalSet::from_ranges(vec![(0, 0), (u128::MAX, u128::MAX)]);
        assert_eq!(ends.ranges(), [(0, 0), (u128::MAX, u128::MAX)]);
        assert!(IntervalSet::empty().ranges().is_empty());
        // A shared list outlives the set it was built for, and two lists
        // built apart are equal by their ranges.
        let copy = {
            let list = IntervalSet::from_ranges(vec![(1, 2), (5, 9), (20, 20)]);
            let copy = list.clone();
            assert_eq!(copy, list);
            copy
        };
        let again = IntervalSet::from_ranges(vec![(20, 20), (5, 9), (1, 2)]);
        assert_eq!(copy, again);
        assert_ne!(copy, ends);
        assert_eq!(copy.ranges(), [(1, 2), (5, 9), (20, 20)]);
    }
}

//! Which elements two sequences have in common, in order: the rules two
//! versions of a chain share. Any common subsequence is sound for the diff
//! (a packet that matches none of the rest meets the same rules in the same
//! order in both), so this takes a fast one rather than the longest: common
//! ends trimmed, then elements found once in each side anchor the middle
//! (patience diff), recursively in the gaps between anchors. Each round
//! costs the length of its gap and the work is bounded, so a sequence built
//! to defeat the anchors ends with its middle unaligned, never slowly.

use std::collections::HashMap;
use std::hash::Hash;

/// Positions `(i, j)` with `a[i] == b[j]`, increasing in both.
pub fn common<T: Eq + Hash>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    // Work allowed: a few passes over both sides, whatever the rounds.
    let mut budget = 8 * (a.len() + b.len()) + 64;
    let mut out = Vec::new();
    let mut gaps = vec![(0..a.len(), 0..b.len())];
    while let Some((mut ra, mut rb)) = gaps.pop() {
        while !ra.is_empty() && !rb.is_empty() && a[ra.start] == b[rb.start] {
            out.push((ra.start, rb.start));
            ra.start += 1;
            rb.start += 1;
        }
        while !ra.is_empty() && !rb.is_empty() && a[ra.end - 1] == b[rb.end - 1] {
            out.push((ra.end - 1, rb.end - 1));
            ra.end -= 1;
            rb.end -= 1;
        }
        let cost = ra.len() + rb.len();
        if ra.is_empty() || rb.is_empty() || cost > budget {
            continue;
        }
        budget -= cost;
        let anchors = anchors(&a[ra.clone()], &b[rb.clone()]);
        // The gaps before, between and after the anchors.
        let (mut i0, mut j0) = (ra.start, rb.start);
        for (i, j) in anchors {
            let (i, j) = (ra.start + i, rb.start + j);
            out.push((i, j));
            gaps.push((i0..i, j0..j));
            (i0, j0) = (i + 1, j + 1);
        }
        if (i0, j0) != (ra.start, rb.start) {
            gaps.push((i0..ra.end, j0..rb.end));
        }
    }
    out.sort_unstable();
    out
}

/// The elements found exactly once in each side, paired, as the longest
/// chain of pairs increasing in both (positions relative to the slices).
fn anchors<T: Eq + Hash>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    // Per element: its position in `a` and in `b`, if it occurs once there.
    let mut seen: HashMap<&T, (Once, Once)> = HashMap::with_capacity(a.len());
    for (i, x) in a.iter().enumerate() {
        seen.entry(x).or_default().0.note(i);
    }
    for (j, x) in b.iter().enumerate() {
        if let Some(e) = seen.get_mut(x) {
            e.1.note(j);
        }
    }
    let mut pairs: Vec<(usize, usize)> = seen
        .into_values()
        .filter_map(|(i, j)| Some((i.only()?, j.only()?)))
        .collect();
    pairs.sort_unstable();
    increasing(&pairs)
}

/// Where an element occurs: nowhere, once (at a position), or more often.
#[derive(Default, Clone, Copy)]
enum Once {
    #[default]
    None,
    At(usize),
    Many,
}

impl Once {
    fn note(&mut self, at: usize) {
        *self = match self {
            Once::None => Once::At(at),
            _ => Once::Many,
        };
    }

    fn only(self) -> Option<usize> {
        match self {
            Once::At(i) => Some(i),
            _ => None,
        }
    }
}

/// The longest subsequence of `pairs` (sorted by first) whose seconds
/// increase, by patience sorting: O(n log n).
fn increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k]: the pair ending the best chain of length k + 1 found so far;
    // back[p]: the pair before pair p in its chain.
    let mut tails: Vec<usize> = Vec::new();
    let mut back: Vec<Option<usize>> = vec![None; pairs.len()];
    for (p, &(_, j)) in pairs.iter().enumerate() {
        let k = tails.partition_point(|&t| pairs[t].1 < j);
        back[p] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(p);
        } else {
            tails[k] = p;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(p) = at {
        out.push(pairs[p]);
        at = back[p];
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A common subsequence: pairs increasing in both, equal elements.
    fn valid(a: &[u8], b: &[u8], pairs: &[(usize, usize)]) -> bool {
        pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
            && pairs.iter().all(|&(i, j)| a[i] == b[j])
    }

    #[test]
    fn one_edit_leaves_the_rest_aligned() {
        let a: Vec<u32> = (0..1000).collect();
        let mut b = a.clone();
        b[500] = 5000;
        b.insert(200, 7000);
        b.remove(800);
        let pairs = common(&a, &b);
        assert_eq!(pairs.len(), 998);
        assert!(!pairs.iter().any(|&(i, _)| i == 500 || i == 799));
    }

    #[test]
    fn a_moved_block_stays_aligned_one_way() {
        // Rules 100..200 moved to the end: one of the two blocks aligns.
        let a: Vec<u32> = (0..1000).collect();
        let b: Vec<u32> = (0..100).chain(200..1000).chain(100..200).collect();
        assert_eq!(common(&a, &b).len(), 900);
    }

    #[test]
    fn repeated_elements_align_by_the_ends_and_unique_anchors() {
        // No element is unique in the middle but the anchor: the gaps
        // around it still align from their ends.
        let a = [1, 1, 2, 1, 1, 9, 1, 2, 1];
        let b = [1, 2, 1, 1, 9, 1, 1, 2, 1];
        let pairs = common(&a, &b);
        assert!(valid(&a.map(|x| x as u8), &b.map(|x| x as u8), &pairs));
        assert!(pairs.contains(&(5, 4)), "{pairs:?}");
        assert!(pairs.len() >= 7, "{pairs:?}");
    }

    proptest! {
        #[test]
        fn pairs_form_a_common_subsequence(
            a in prop::collection::vec(0u8..6, 0..60),
            b in prop::collection::vec(0u8..6, 0..60),
        ) {
            let pairs = common(&a, &b);
            prop_assert!(valid(&a, &b, &pairs), "{:?}", pairs);
        }

        #[test]
        fn equal_sequences_align_whole(a in prop::collection::vec(0u8..4, 0..80)) {
            prop_assert_eq!(common(&a, &a).len(), a.len());
        }

        #[test]
        fn an_insertion_costs_nothing_else(
            a in prop::collection::vec(0u16..1000, 0..80),
            at in any::<prop::sample::Index>(),
        ) {
            // Distinct elements: every one is an anchor.
            let mut a = a;
            a.sort_unstable();
            a.dedup();
            let mut b = a.clone();
            b.insert(at.index(a.len() + 1), 5000);
            prop_assert_eq!(common(&a, &b).len(), a.len());
        }
    }
}

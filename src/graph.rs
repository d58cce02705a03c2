//! The chain graph (jumps and gotos between chains) in petgraph: jump loops
//! and nesting too deep to follow, which are input errors, and the chains
//! no base chain reaches.

use crate::model::{ChainId, Policy, Rule, RuleRef};
use fixedbitset::FixedBitSet;
use petgraph::algo::tarjan_scc;
use petgraph::visit::{
    Dfs, DfsPostOrder, GraphBase, GraphRef, IntoNeighbors, IntoNodeIdentifiers, NodeIndexable,
    VisitMap, Visitable,
};

/// Chains that jump into each other in a circle, and one jump of the circle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    /// The chains in jump order; the last jumps back to the first.
    pub chains: Vec<ChainId>,
    /// The jump from the first chain to the second.
    pub rule: RuleRef,
}

impl Loop {
    /// `jump loop between chains: A → B → A`, for the input error.
    pub fn message(&self, policy: &Policy) -> String {
        let names: Vec<&str> = self
            .chains
            .iter()
            .map(|&c| &*policy.chains[c].name)
            .collect();
        format!(
            "jump loop between chains: {} → {}",
            names.join(" → "),
            names[0]
        )
    }
}

/// The chain graph: a node per chain (its id), an edge per jump or goto.
///
/// It is the policy itself, seen through petgraph's traits, rather than a
/// graph built from it: a large dump jumps from most of its hundreds of
/// thousands of chains, and a copy of those edges (20 bytes each at the
/// least) would be held beside the whole policy each time it is walked.
#[derive(Clone, Copy)]
struct Jumps<'p>(&'p Policy);

impl GraphBase for Jumps<'_> {
    type NodeId = ChainId;
    type EdgeId = RuleRef;
}

impl GraphRef for Jumps<'_> {}

impl<'p> IntoNeighbors for Jumps<'p> {
    type Neighbors = std::iter::FilterMap<std::slice::Iter<'p, Rule>, fn(&Rule) -> Option<ChainId>>;

    /// The chains `c` jumps to, in rule order.
    fn neighbors(self, c: ChainId) -> Self::Neighbors {
        self.0.chains[c].rules.iter().filter_map(Rule::target)
    }
}

impl IntoNodeIdentifiers for Jumps<'_> {
    type NodeIdentifiers = std::ops::Range<ChainId>;

    fn node_identifiers(self) -> Self::NodeIdentifiers {
        0..self.0.chains.len()
    }
}

impl NodeIndexable for Jumps<'_> {
    fn node_bound(&self) -> usize {
        self.0.chains.len()
    }

    fn to_index(&self, c: ChainId) -> usize {
        c
    }

    fn from_index(&self, i: usize) -> ChainId {
        i
    }
}

impl Visitable for Jumps<'_> {
    type Map = FixedBitSet;

    fn visit_map(&self) -> FixedBitSet {
        FixedBitSet::with_capacity(self.0.chains.len())
    }

    fn reset_map(&self, map: &mut FixedBitSet) {
        map.clear();
        map.grow(self.0.chains.len());
    }
}

/// The jumps of chain `c`: each rule's place and the chain it goes to.
fn jumps(policy: &Policy, c: ChainId) -> impl Iterator<Item = (usize, ChainId)> + '_ {
    let rules = policy.chains[c].rules.iter().enumerate();
    rules.filter_map(|(i, r)| r.target().map(|t| (i, t)))
}

/// The most chains nested jumps may pass a packet through (a base chain
/// counts one). The walk of a packet recurses once per nested jump, so
/// deeper nesting (iptables allows any; nft stops at 16) is an input error
/// rather than a stack overflow. The command line's threads have stack
/// enough for it.
pub const MAX_DEPTH: usize = 1000;

/// A jump the evaluation cannot take: one that closes a loop, or one that
/// nests chains deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw {
    pub rule: RuleRef,
    /// The chain it jumps to.
    pub target: ChainId,
    pub message: String,
    pub expected: String,
}

/// The first jump loop, else the first jump too deep, if there is one.
pub fn flaw(policy: &Policy) -> Option<Flaw> {
    let Some(order) = callees_first(policy) else {
        let cycle = find_loop(Jumps(policy)).expect("chains with no order have a loop");
        return Some(Flaw {
            rule: cycle.rule,
            target: cycle.chains[1 % cycle.chains.len()],
            message: cycle.message(policy),
            expected: "expected chains that never jump back into themselves".into(),
        });
    };
    too_deep(policy, &order)
}

/// Every chain, each after the chains it jumps to; `None` when jumps loop.
fn callees_first(policy: &Policy) -> Option<Vec<ChainId>> {
    let g = Jumps(policy);
    let mut dfs = DfsPostOrder::empty(g);
    let mut order = Vec::with_capacity(policy.chains.len());
    for c in g.node_identifiers() {
        if !dfs.discovered.is_visited(&c) {
            dfs.move_to(c);
            while let Some(done) = dfs.next(g) {
                order.push(done);
            }
        }
    }
    // A depth-first walk finishes a chain after all it jumps to, unless a
    // jump leads back to a chain still open: only a loop does that.
    let mut finished = vec![0u32; policy.chains.len()];
    for (i, &c) in order.iter().enumerate() {
        finished[c] = u32::try_from(i).expect("a text of at most MAX_TEXT bytes");
    }
    let closes_loop = |c: ChainId| g.neighbors(c).any(|t| finished[t] >= finished[c]);
    (!order.iter().any(|&c| closes_loop(c))).then_some(order)
}

/// The jump at depth [`MAX_DEPTH`] on the deepest nesting from a base
/// chain, if any goes deeper, given every chain after those it jumps to.
fn too_deep(policy: &Policy, order: &[ChainId]) -> Option<Flaw> {
    // The most chains on a path of jumps from each chain.
    let mut depth = vec![1usize; policy.chains.len()];
    for &c in order {
        depth[c] = 1 + Jumps(policy)
            .neighbors(c)
            .map(|t| depth[t])
            .max()
            .unwrap_or(0);
    }
    let base = (0..policy.chains.len())
        .filter(|&c| policy.chains[c].base.is_some())
        .find(|&c| depth[c] > MAX_DEPTH)?;
    // Down the deepest path (the first jump of equals) to the jump that
    // goes past the limit.
    let deepest = |c| {
        let (i, t) = jumps(policy, c)
            .max_by_key(|&(i, t)| (depth[t], std::cmp::Reverse(i)))
            .expect("a chain deeper than one jumps on");
        (
            RuleRef {
                chain: c,
                index: Some(i),
            },
            t,
        )
    };
    let mut here = base;
    for _ in 1..MAX_DEPTH {
        here = deepest(here).1;
    }
    let (rule, target) = deepest(here);
    Some(Flaw {
        rule,
        target,
        message: format!(
            "too complex: jumps nest {} chains deep from {}, and octaverify follows at most {MAX_DEPTH} (the walk of a packet goes one level deeper per nested jump)",
            depth[base], policy.chains[base].name
        ),
        expected: format!("expected chains nested at most {MAX_DEPTH} deep"),
    })
}

/// The first jump loop, if there is one.
fn find_loop(g: Jumps<'_>) -> Option<Loop> {
    for scc in tarjan_scc(g) {
        let self_loop = scc.len() == 1 && g.neighbors(scc[0]).any(|t| t == scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        // Walk inside the component until a chain repeats: that walk's tail is a circle.
        let mut path = vec![scc[0]];
        loop {
            let here = *path.last().expect("path is never empty");
            let next = g
                .neighbors(here)
                .find(|n| scc.contains(n))
                .expect("every node of a cycle has a successor in it");
            if let Some(pos) = path.iter().position(|&n| n == next) {
                let cycle: Vec<ChainId> = path[pos..].to_vec();
                let second = cycle.get(1).copied().unwrap_or(cycle[0]);
                let (i, _) = jumps(g.0, cycle[0])
                    .find(|&(_, t)| t == second)
                    .expect("consecutive chains are joined");
                return Some(Loop {
                    rule: RuleRef {
                        chain: cycle[0],
                        index: Some(i),
                    },
                    chains: cycle,
                });
            }
            path.push(next);
        }
    }
    None
}

/// The chains reached from `base` through jumps and gotos (itself included).
pub fn reached(policy: &Policy, base: ChainId) -> impl Iterator<Item = ChainId> + '_ {
    let g = Jumps(policy);
    let mut dfs = Dfs::new(g, base);
    std::iter::from_fn(move || dfs.next(g))
}

/// For each chain, whether some base chain reaches it through jumps and gotos.
pub fn reachable(policy: &Policy) -> Vec<bool> {
    let mut seen = vec![false; policy.chains.len()];
    for (id, chain) in policy.chains.iter().enumerate() {
        if chain.base.is_some() {
            reached(policy, id).for_each(|c| seen[c] = true);
        }
    }
    seen
}

/// The base chains a chain is reached from: most chains of a large ruleset
/// have one or two, kept inline rather than in a block each.
pub type Roots = smallvec::SmallVec<[ChainId; 2]>;

/// For every chain, the base chains from which it is reached (itself, for
/// a base chain): one walk from each base chain, not one per question.
pub fn roots(policy: &Policy) -> Vec<Roots> {
    let mut out = vec![Roots::new(); policy.chains.len()];
    for (id, chain) in policy.chains.iter().enumerate() {
        if chain.base.is_some() {
            reached(policy, id).for_each(|c| out[c].push(id));
        }
    }
    out
}

/// For each chain, the rules that jump or go to it, in order.
pub fn callers(policy: &Policy) -> Vec<Vec<RuleRef>> {
    let mut out = vec![Vec::new(); policy.chains.len()];
    for c in 0..policy.chains.len() {
        for (i, t) in jumps(policy, c) {
            out[t].push(RuleRef {
                chain: c,
                index: Some(i),
            });
        }
    }
    out
}

/// Every chain, each after the chains that jump to it (the graph has no
/// loops: [`flaw`] refuses them first).
pub fn callers_first(policy: &Policy) -> Vec<ChainId> {
    let mut order = callees_first(policy).expect("jump loops are refused before");
    order.reverse();
    order
}

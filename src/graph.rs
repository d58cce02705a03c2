//! The chain graph (jumps and gotos between chains) in petgraph: jump loops
//! and nesting too deep to follow, which are input errors, and the chains
//! no base chain reaches.

use crate::model::{Action, ChainId, Policy, RuleRef};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, EdgeReference, NodeIndex};
use petgraph::visit::{Dfs, EdgeRef};

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

/// The graph with one node per chain (node index = chain id) and one edge per
/// jump or goto, weighted by the rule's place in its chain (the edge's
/// source). An edge takes 20 bytes, and the edges are counted before they are
/// added: a large dump jumps from most of its hundreds of thousands of chains,
/// and this graph is built beside the whole policy.
type Jumps = DiGraph<(), u32>;

fn build(policy: &Policy) -> Jumps {
    let is_jump = |r: &&crate::model::Rule| matches!(r.action, Action::Jump(_) | Action::Goto(_));
    let edges = policy
        .chains
        .iter()
        .map(|c| c.rules.iter().filter(is_jump).count())
        .sum();
    let mut g = DiGraph::with_capacity(policy.chains.len(), edges);
    for _ in &policy.chains {
        g.add_node(());
    }
    for (id, chain) in policy.chains.iter().enumerate() {
        for (i, rule) in chain.rules.iter().enumerate() {
            if let Action::Jump(t) | Action::Goto(t) = rule.action {
                let i = u32::try_from(i).expect("a text of at most MAX_TEXT bytes");
                g.add_edge(NodeIndex::new(id), NodeIndex::new(t), i);
            }
        }
    }
    g
}

/// The rule of a jump.
fn rule(e: EdgeReference<'_, u32>) -> RuleRef {
    RuleRef {
        chain: e.source().index(),
        index: Some(*e.weight() as usize),
    }
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
    let g = build(policy);
    // The order exists unless there is a loop; only then are the graph's
    // components found (their bookkeeping is a dozen bytes a chain).
    let Ok(order) = petgraph::algo::toposort(&g, None) else {
        let cycle = find_loop(&g).expect("a graph with no order has a loop");
        return Some(Flaw {
            rule: cycle.rule,
            target: cycle.chains[1 % cycle.chains.len()],
            message: cycle.message(policy),
            expected: "expected chains that never jump back into themselves".into(),
        });
    };
    too_deep(policy, &g, &order)
}

/// The jump at depth [`MAX_DEPTH`] on the deepest nesting from a base
/// chain, if any goes deeper, given the chains in an `order` where each
/// comes before the chains it jumps to.
fn too_deep(policy: &Policy, g: &Jumps, order: &[NodeIndex]) -> Option<Flaw> {
    // The most chains on a path of jumps from each chain.
    let mut depth = vec![1usize; policy.chains.len()];
    for &n in order.iter().rev() {
        depth[n.index()] = 1 + g.neighbors(n).map(|m| depth[m.index()]).max().unwrap_or(0);
    }
    let base = (0..policy.chains.len())
        .filter(|&c| policy.chains[c].base.is_some())
        .find(|&c| depth[c] > MAX_DEPTH)?;
    // Down the deepest path (the first jump of equals) to the jump that
    // goes past the limit.
    let deepest = |n| {
        g.edges(n)
            .max_by_key(|e| (depth[e.target().index()], std::cmp::Reverse(*e.weight())))
            .expect("a chain deeper than one jumps on")
    };
    let mut here = NodeIndex::new(base);
    for _ in 1..MAX_DEPTH {
        here = deepest(here).target();
    }
    let edge = deepest(here);
    Some(Flaw {
        rule: rule(edge),
        target: edge.target().index(),
        message: format!(
            "too complex: jumps nest {} chains deep from {}, and octaverify follows at most {MAX_DEPTH} (the walk of a packet goes one level deeper per nested jump)",
            depth[base], policy.chains[base].name
        ),
        expected: format!("expected chains nested at most {MAX_DEPTH} deep"),
    })
}

/// The first jump loop, if there is one.
fn find_loop(g: &Jumps) -> Option<Loop> {
    for scc in tarjan_scc(g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
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
                let cycle: Vec<NodeIndex> = path[pos..].to_vec();
                let second = cycle.get(1).copied().unwrap_or(cycle[0]);
                let edge = g
                    .edges_connecting(cycle[0], second)
                    .next()
                    .expect("consecutive chains are joined");
                return Some(Loop {
                    chains: cycle.iter().map(|n| n.index()).collect(),
                    rule: rule(edge),
                });
            }
            path.push(next);
        }
    }
    None
}

/// For each chain, whether some base chain reaches it through jumps and gotos.
pub fn reachable(policy: &Policy) -> Vec<bool> {
    let g = build(policy);
    let mut seen = vec![false; policy.chains.len()];
    for (id, chain) in policy.chains.iter().enumerate() {
        if chain.base.is_some() {
            let mut dfs = Dfs::new(&g, NodeIndex::new(id));
            while let Some(n) = dfs.next(&g) {
                seen[n.index()] = true;
            }
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
    let g = build(policy);
    let mut out = vec![Roots::new(); policy.chains.len()];
    for (id, chain) in policy.chains.iter().enumerate() {
        if chain.base.is_some() {
            let mut dfs = Dfs::new(&g, NodeIndex::new(id));
            while let Some(n) = dfs.next(&g) {
                out[n.index()].push(id);
            }
        }
    }
    out
}

/// For each chain, the rules that jump or go to it.
pub fn callers(policy: &Policy) -> Vec<Vec<RuleRef>> {
    let g = build(policy);
    g.node_indices()
        .map(|n| {
            g.edges_directed(n, petgraph::Direction::Incoming)
                .map(rule)
                .collect()
        })
        .collect()
}

/// Every chain, each after the chains that jump to it (the graph has no
/// loops: [`flaw`] refuses them first).
pub fn callers_first(policy: &Policy) -> Vec<ChainId> {
    petgraph::algo::toposort(&build(policy), None)
        .expect("jump loops are refused before")
        .into_iter()
        .map(|n| n.index())
        .collect()
}

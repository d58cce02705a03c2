//! The chain graph (jumps and gotos between chains) in petgraph: jump loops,
//! which are input errors, and the chains no base chain reaches.

use crate::model::{Action, ChainId, Policy, RuleRef};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;

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
            .map(|&c| policy.chains[c].name.as_str())
            .collect();
        format!(
            "jump loop between chains: {} → {}",
            names.join(" → "),
            names[0]
        )
    }
}

/// The graph with one node per chain (node index = chain id) and one edge per
/// jump or goto, weighted by the rule.
fn build(policy: &Policy) -> DiGraph<(), RuleRef> {
    let mut g = DiGraph::with_capacity(policy.chains.len(), 0);
    for _ in &policy.chains {
        g.add_node(());
    }
    for (id, chain) in policy.chains.iter().enumerate() {
        for (i, rule) in chain.rules.iter().enumerate() {
            if let Action::Jump(t) | Action::Goto(t) = rule.action {
                g.add_edge(
                    NodeIndex::new(id),
                    NodeIndex::new(t),
                    RuleRef {
                        chain: id,
                        index: Some(i),
                    },
                );
            }
        }
    }
    g
}

/// The first jump loop, if there is one.
pub fn find_loop(policy: &Policy) -> Option<Loop> {
    let g = build(policy);
    for scc in tarjan_scc(&g) {
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
                    .find_edge(cycle[0], second)
                    .expect("consecutive chains are joined");
                return Some(Loop {
                    chains: cycle.iter().map(|n| n.index()).collect(),
                    rule: g[edge],
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

/// For every chain, the base chains from which it is reached (itself, for
/// a base chain): one walk from each base chain, not one per question.
pub fn roots(policy: &Policy) -> Vec<Vec<ChainId>> {
    let g = build(policy);
    let mut out = vec![Vec::new(); policy.chains.len()];
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

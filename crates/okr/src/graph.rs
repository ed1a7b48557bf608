//! Loops in the alignment graph of an import (each objective points at
//! the objectives it aligns to). Pure, tested here.

/// Every loop found by a depth-first walk over `parents` (node → the
/// nodes it points at), each as the path that closes it, starting and
/// reported at the node where the walk re-entered it. A graph without
/// loops gives none.
pub fn cycles(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; parents.len()];
    let mut found = Vec::new();
    for start in 0..parents.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // The path being walked, with how far each node's edges were tried.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnPath;
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let Some(&parent) = parents[node].get(*next_edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            if parent >= parents.len() {
                continue;
            }
            match marks[parent] {
                Mark::New => {
                    marks[parent] = Mark::OnPath;
                    path.push((parent, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(on_path, _)| *on_path == parent).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(on_path, _)| *on_path).collect();
                    cycle.push(parent);
                    found.push(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn finds_a_loop_and_names_its_path() {
        let parents = vec![vec![1], vec![2], vec![0], vec![0]];
        assert_eq!(cycles(&parents), vec![vec![0, 1, 2, 0]]);
        assert_eq!(cycles(&[vec![], vec![0], vec![0, 1]]), Vec::<Vec<usize>>::new());
    }

    proptest! {
        /// Edges that only point at earlier nodes can never loop; one edge
        /// back from the first node to the last closes a loop.
        #[test]
        fn forward_graphs_have_none_and_a_back_edge_makes_one(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..1_000, 0..4), 2..60),
        ) {
            let mut parents: Vec<Vec<usize>> = edges
                .iter()
                .enumerate()
                .map(|(node, targets)| {
                    targets.iter().filter(|_| node > 0).map(|target| target % node.max(1)).collect()
                })
                .collect();
            prop_assert!(cycles(&parents).is_empty());
            let last = parents.len() - 1;
            // Make a chain from the last node down to 0, then close it.
            for (node, targets) in parents.iter_mut().enumerate().skip(1) {
                targets.push(node - 1);
            }
            parents[0].push(last);
            let found = cycles(&parents);
            prop_assert!(!found.is_empty());
            for cycle in found {
                prop_assert_eq!(cycle.first(), cycle.last());
                for pair in cycle.windows(2) {
                    prop_assert!(parents[pair[0]].contains(&pair[1]));
                }
            }
        }
    }
}

//! Pure rules of the org tree: materialized paths, and ordering a batch of
//! new units so every parent is written before its children.

use std::collections::{HashMap, HashSet};

pub fn child_path(parent_path: &str, id: &str) -> String {
    format!("{parent_path}{id}/")
}

pub fn root_path(id: &str) -> String {
    format!("/{id}/")
}

/// Why a row of a batch cannot be placed in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaceable {
    /// Its parent is neither in the database nor in the batch.
    MissingParent,
    /// Its parent chain within the batch loops back to itself.
    Cycle,
}

/// Orders a batch of new units (id, parent id or "" for a root) so that each
/// parent comes before its children. `existing` holds the ids already
/// stored. Returns the order, or every row that cannot be placed.
pub fn order_batch(
    rows: &[(String, String)],
    existing: &HashSet<String>,
) -> Result<Vec<usize>, Vec<(usize, Unplaceable)>> {
    let index_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(index, (id, _))| (id.as_str(), index))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for (index, (_, parent)) in rows.iter().enumerate() {
        if parent.is_empty() || existing.contains(parent) {
            ready.push(index);
        } else if let Some(&parent_index) = index_of.get(parent.as_str()) {
            children.entry(parent_index).or_default().push(index);
        } else {
            problems.push((index, Unplaceable::MissingParent));
        }
    }
    let mut order = Vec::with_capacity(rows.len());
    while let Some(index) = ready.pop() {
        order.push(index);
        if let Some(waiting) = children.remove(&index) {
            ready.extend(waiting);
        }
    }
    // Rows never reached hang below a missing parent or sit on a cycle.
    let placed: HashSet<usize> = order.iter().copied().collect();
    let missing: HashSet<usize> = problems.iter().map(|(index, _)| *index).collect();
    for index in 0..rows.len() {
        if !placed.contains(&index) && !missing.contains(&index) && on_cycle(index, rows, &index_of) {
            problems.push((index, Unplaceable::Cycle));
        }
    }
    if problems.is_empty() {
        Ok(order)
    } else {
        problems.sort_by_key(|(index, _)| *index);
        Err(problems)
    }
}

fn on_cycle(start: usize, rows: &[(String, String)], index_of: &HashMap<&str, usize>) -> bool {
    let mut current = start;
    for _ in 0..rows.len() {
        let Some(&parent) = index_of.get(rows[current].1.as_str()) else {
            return false;
        };
        if parent == start {
            return true;
        }
        current = parent;
    }
    false
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(id, parent)| ((*id).to_owned(), (*parent).to_owned()))
            .collect()
    }

    #[test]
    fn parents_come_first_whatever_the_input_order() {
        let batch = rows(&[("team", "dept"), ("dept", "acme"), ("acme", ""), ("other", "existing")]);
        let existing = HashSet::from(["existing".to_owned()]);
        let order = order_batch(&batch, &existing).unwrap_or_default();
        let position = |id: &str| order.iter().position(|&index| batch[index].0 == id);
        assert!(position("acme") < position("dept"));
        assert!(position("dept") < position("team"));
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn missing_parents_and_cycles_are_reported_per_row() {
        let batch = rows(&[("a", "b"), ("b", "a"), ("c", "nowhere"), ("d", "c"), ("e", "")]);
        let problems = order_batch(&batch, &HashSet::new()).err().unwrap_or_default();
        assert_eq!(
            problems,
            vec![
                (0, Unplaceable::Cycle),
                (1, Unplaceable::Cycle),
                (2, Unplaceable::MissingParent)
            ]
        );
    }

    proptest! {
        /// A random forest, shuffled: the order is a topological order.
        #[test]
        fn any_forest_orders_parents_before_children(
            parents in proptest::collection::vec(proptest::option::of(0usize..1000), 1..60),
            seed in any::<u64>(),
        ) {
            // Node i may only have a parent j < i: a forest, never a cycle.
            let mut batch: Vec<(String, String)> = parents
                .iter()
                .enumerate()
                .map(|(index, parent)| {
                    let parent = match parent {
                        Some(p) if index > 0 => format!("n{}", p % index),
                        _ => String::new(),
                    };
                    (format!("n{index}"), parent)
                })
                .collect();
            let len = batch.len();
            for index in 0..len {
                let swap_with = (seed as usize).wrapping_mul(index + 7) % len;
                batch.swap(index, swap_with);
            }
            let order = order_batch(&batch, &HashSet::new());
            prop_assert!(order.is_ok());
            let order = order.unwrap_or_default();
            prop_assert_eq!(order.len(), len);
            let mut seen = HashSet::new();
            for index in order {
                let (id, parent) = &batch[index];
                prop_assert!(parent.is_empty() || seen.contains(parent));
                seen.insert(id.clone());
            }
        }
    }
}

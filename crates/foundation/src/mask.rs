//! AIP-134 update masks.

use prost_types::FieldMask;

use crate::validation::FieldViolations;

/// A field an update may name: a resource's fields are an enum of these,
/// so that applying an update handles each one by name, and a field added
/// to the enum cannot be forgotten by a `match`.
pub trait MaskField: Copy + 'static {
    /// Its path in an update mask.
    fn path(self) -> &'static str;
}

impl MaskField for &'static str {
    fn path(self) -> &'static str {
        self
    }
}

/// The fields an update touches: the mask's paths, or every updatable field
/// when the mask is absent or empty. Unknown paths are violations.
pub fn update_paths<F: MaskField>(
    mask: Option<&FieldMask>,
    updatable: &[F],
    violations: &mut FieldViolations,
) -> Vec<F> {
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() || paths.iter().any(|path| path == "*") {
        return updatable.to_vec();
    }
    let mut chosen = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        match updatable.iter().find(|field| field.path() == path.as_str()) {
            Some(field) => chosen.push(*field),
            None => violations.add(
                format!("update_mask.paths[{index}]"),
                format!(
                    "{path:?} cannot be updated; updatable fields are {}",
                    updatable
                        .iter()
                        .map(|field| field.path())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_mask_means_everything_and_unknown_paths_are_violations() {
        let mut violations = FieldViolations::default();
        assert_eq!(update_paths(None, &["a", "b"], &mut violations), vec!["a", "b"]);
        let mask = FieldMask {
            paths: vec!["b".into(), "zzz".into()],
        };
        assert_eq!(update_paths(Some(&mask), &["a", "b"], &mut violations), vec!["b"]);
        assert_eq!(violations.violations()[0].0, "update_mask.paths[1]");
    }
}

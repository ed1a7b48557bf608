//! An objective's or metric's visibility, which services store as a flag
//! (`private`) and show in normal form (PUBLIC or PRIVATE, never unset).

use trellis_proto::common::v1::Visibility;

use crate::validation::FieldViolations;

/// The normal form: PRIVATE, or else PUBLIC.
pub fn normal(value: Visibility) -> Visibility {
    match value {
        Visibility::Private => Visibility::Private,
        Visibility::Public | Visibility::Unspecified => Visibility::Public,
    }
}

/// A stored visibility (storage messages number it as the API does) in
/// normal form; a number the API does not know reads as PUBLIC.
pub fn from_stored(value: i32) -> Visibility {
    normal(Visibility::try_from(value).unwrap_or(Visibility::Unspecified))
}

/// Whether a message's visibility field says PRIVATE.
pub fn is_private(value: i32) -> bool {
    value == Visibility::Private as i32
}

/// `value` in normal form (unset is PUBLIC), with a violation for a value
/// the API does not define.
pub fn check(value: i32, field: &str, violations: &mut FieldViolations) -> Visibility {
    match Visibility::try_from(value) {
        Ok(visibility) => normal(visibility),
        Err(_) => {
            violations.add(field, format!("{value} is not a visibility: PUBLIC or PRIVATE"));
            Visibility::Public
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_public_and_unknown_values_are_violations() {
        let mut violations = FieldViolations::default();
        assert_eq!(check(0, "v", &mut violations), Visibility::Public);
        assert_eq!(check(2, "v", &mut violations), Visibility::Private);
        assert!(violations.is_empty());
        assert_eq!(check(9, "v", &mut violations), Visibility::Public);
        assert_eq!(violations.violations()[0].0, "v");
        assert_eq!(normal(Visibility::Unspecified), Visibility::Public);
        assert!(is_private(normal(Visibility::Private) as i32));
    }
}

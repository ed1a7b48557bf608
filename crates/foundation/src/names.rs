//! Resource names and ids (AIP-122): `collection/{id}` with ids of lowercase
//! letters, digits and hyphens, starting with a letter, at most 63 long.

use crate::validation::FieldViolations;

const MAX_ID_LEN: usize = 63;

pub fn is_valid_id(id: &str) -> bool {
    id_shaped(id, |first| first.is_ascii_lowercase())
}

/// Like [`is_valid_id`], but may start with a digit: the id of a period
/// such as a cycle ("2027-q1") reads best starting with its year.
pub fn is_valid_period_id(id: &str) -> bool {
    id_shaped(id, |first| first.is_ascii_lowercase() || first.is_ascii_digit())
}

/// At most 63 characters of lowercase letters, digits and hyphens, not
/// ending with a hyphen, the first one accepted by `first_ok`.
fn id_shaped(id: &str, first_ok: impl Fn(char) -> bool) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    id.len() <= MAX_ID_LEN
        && first_ok(first)
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
}

/// A client-chosen id when valid, a generated one when empty.
pub fn id_or_generate(requested: &str, field: &str, violations: &mut FieldViolations) -> String {
    if requested.is_empty() {
        return generate_id();
    }
    violations.require(
        is_valid_id(requested),
        field,
        "must be 1-63 lowercase letters, digits or hyphens, starting with a letter",
    );
    requested.to_owned()
}

/// A fresh id that satisfies [`is_valid_id`].
pub fn generate_id() -> String {
    format!("x{}", uuid::Uuid::new_v4().simple())
}

/// `strategies/abc` → `abc` for collection `strategies`.
pub fn parse_name<'a>(name: &'a str, collection: &str) -> Option<&'a str> {
    let id = name.strip_prefix(collection)?.strip_prefix('/')?;
    is_valid_id(id).then_some(id)
}

/// `strategies/abc/choices/x` → (`abc`, `x`).
pub fn parse_child_name<'a>(name: &'a str, collection: &str, child_collection: &str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix(collection)?.strip_prefix('/')?;
    let (parent_id, rest) = rest.split_once('/')?;
    let child_id = rest.strip_prefix(child_collection)?.strip_prefix('/')?;
    (is_valid_id(parent_id) && is_valid_id(child_id)).then_some((parent_id, child_id))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn period_ids_may_start_with_a_year() {
        assert!(is_valid_period_id("2027-q1"));
        assert!(is_valid_period_id("fy27"));
        assert!(!is_valid_id("2027-q1"));
        for bad in ["", "2027-Q1", "-2027", "2027-", "2027_q1"] {
            assert!(!is_valid_period_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_follow_aip_122() {
        assert!(is_valid_id("growth-2027"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("Growth"));
        assert!(!is_valid_id("1growth"));
        assert!(!is_valid_id("growth-"));
        assert!(!is_valid_id(&"a".repeat(64)));
        assert!(is_valid_id(&generate_id()));
    }

    #[test]
    fn names_parse_into_ids() {
        assert_eq!(parse_name("strategies/abc", "strategies"), Some("abc"));
        assert_eq!(parse_name("strategies/", "strategies"), None);
        assert_eq!(parse_name("orgUnits/abc", "strategies"), None);
        assert_eq!(
            parse_child_name("strategies/s1/choices/c1", "strategies", "choices"),
            Some(("s1", "c1"))
        );
        assert_eq!(
            parse_child_name("strategies/s1/choices/", "strategies", "choices"),
            None
        );
    }

    proptest! {
        #[test]
        fn a_valid_id_round_trips_through_its_name(id in "[a-z][a-z0-9-]{0,40}[a-z0-9]") {
            let name = format!("strategies/{id}");
            prop_assert_eq!(parse_name(&name, "strategies"), Some(id.as_str()));
        }
    }
}

//! The strategy service's resource names: `strategies/{s}`, its choices
//! and assumptions `strategies/{s}/{collection}/{id}`, and revisions
//! `strategies/{s}@{n}`.

use trellis_foundation::names::{parse_child_name, parse_name};

pub const COLLECTION: &str = "strategies";
pub const CHOICES: &str = "choices";
pub const ASSUMPTIONS: &str = "assumptions";

/// The parent that lists every strategy's children (AIP-159).
pub const ANY_STRATEGY: &str = "strategies/-";

pub fn strategy_name(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

pub fn child_name(strategy_id: &str, collection: &str, id: &str) -> String {
    format!("{COLLECTION}/{strategy_id}/{collection}/{id}")
}

/// The id of a well-formed strategy name, or `INVALID_ARGUMENT` on `field`.
pub fn strategy_id<'a>(name: &'a str, field: &str) -> Result<&'a str, trellis_foundation::Error> {
    parse_name(name, COLLECTION).ok_or_else(|| {
        trellis_foundation::Error::invalid(field, format!("must be a {COLLECTION}/{{id}} name, got {name:?}"))
    })
}

/// (strategy id, child id) of `strategies/{s}/{collection}/{c}`.
pub fn child_ids<'a>(
    name: &'a str,
    collection: &str,
    field: &str,
) -> Result<(&'a str, &'a str), trellis_foundation::Error> {
    parse_child_name(name, COLLECTION, collection).ok_or_else(|| {
        trellis_foundation::Error::invalid(
            field,
            format!("must be a {COLLECTION}/{{id}}/{collection}/{{id}} name, got {name:?}"),
        )
    })
}

/// Splits `strategies/s1@7` into the name and revision (0 when absent).
pub fn split_revision(name: &str) -> Result<(&str, i64), trellis_foundation::Error> {
    match name.split_once('@') {
        None => Ok((name, 0)),
        Some((name, revision)) => match revision.parse::<i64>() {
            Ok(revision) if revision > 0 => Ok((name, revision)),
            _ => Err(trellis_foundation::Error::invalid(
                "name",
                format!("{revision:?} is not a revision number"),
            )),
        },
    }
}

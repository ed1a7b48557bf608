//! The org service's resource names: `orgUnits/{u}`.

use trellis_foundation::names::parse_name;

pub const COLLECTION: &str = "orgUnits";

pub fn unit_name(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

/// The id of a well-formed unit name, or an `INVALID_ARGUMENT` for `field`.
pub fn unit_id<'a>(name: &'a str, field: &str) -> Result<&'a str, trellis_foundation::Error> {
    parse_name(name, COLLECTION).ok_or_else(|| {
        trellis_foundation::Error::invalid(field, format!("must be an {COLLECTION}/{{id}} name, got {name:?}"))
    })
}

//! The health service's resource names: `healthMetrics/{m}`.

use trellis_foundation::{Error, names::parse_name};

pub const COLLECTION: &str = "healthMetrics";

pub fn metric_name(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

pub fn metric_id<'a>(name: &'a str, field: &str) -> Result<&'a str, Error> {
    parse_name(name, COLLECTION)
        .ok_or_else(|| Error::invalid(field, format!("{name:?} is not a {COLLECTION}/{{id}} name")))
}

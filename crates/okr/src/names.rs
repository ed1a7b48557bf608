//! The OKR service's resource names and feed types.

use trellis_foundation::{
    Error,
    names::{is_valid_id, is_valid_period_id, parse_child_name, parse_name},
};

pub const CYCLES: &str = "cycles";
pub const OBJECTIVES: &str = "objectives";
pub const KEY_RESULTS: &str = "keyResults";
pub const CHECK_INS: &str = "checkIns";
pub const REPLANS: &str = "replans";
pub const ORG_UNITS: &str = "orgUnits";
pub const HEALTH_METRICS: &str = "healthMetrics";

pub fn cycle_name(id: &str) -> String {
    format!("{CYCLES}/{id}")
}

pub fn objective_name(id: &str) -> String {
    format!("{OBJECTIVES}/{id}")
}

pub fn key_result_name(objective_id: &str, id: &str) -> String {
    format!("{OBJECTIVES}/{objective_id}/{KEY_RESULTS}/{id}")
}

pub fn check_in_name(objective_id: &str, key_result_id: &str, id: &str) -> String {
    format!("{OBJECTIVES}/{objective_id}/{KEY_RESULTS}/{key_result_id}/{CHECK_INS}/{id}")
}

pub fn replan_name(objective_id: &str, number: i64) -> String {
    format!("{OBJECTIVES}/{objective_id}/{REPLANS}/{number}")
}

pub fn org_unit_name(id: &str) -> String {
    format!("{ORG_UNITS}/{id}")
}

/// `cycles/{id}`: the id, or `INVALID_ARGUMENT` against `field`.
pub fn parse_cycle(name: &str) -> Option<&str> {
    let id = name.strip_prefix(CYCLES)?.strip_prefix('/')?;
    is_valid_period_id(id).then_some(id)
}

pub fn cycle_id<'a>(name: &'a str, field: &str) -> Result<&'a str, Error> {
    parse_cycle(name).ok_or_else(|| malformed(field, name, "cycles/{cycle}"))
}

pub fn objective_id<'a>(name: &'a str, field: &str) -> Result<&'a str, Error> {
    parse_name(name, OBJECTIVES).ok_or_else(|| malformed(field, name, "objectives/{objective}"))
}

pub fn key_result_ids<'a>(name: &'a str, field: &str) -> Result<(&'a str, &'a str), Error> {
    parse_child_name(name, OBJECTIVES, KEY_RESULTS)
        .ok_or_else(|| malformed(field, name, "objectives/{objective}/keyResults/{key_result}"))
}

pub fn org_unit_id<'a>(name: &'a str, field: &str) -> Result<&'a str, Error> {
    parse_name(name, ORG_UNITS).ok_or_else(|| malformed(field, name, "orgUnits/{unit}"))
}

/// `healthMetrics/{id}`.
pub fn is_health_metric(name: &str) -> bool {
    name.strip_prefix(HEALTH_METRICS)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(is_valid_id)
}

/// `strategies/{s}/choices/{c}`.
pub fn is_choice(name: &str) -> bool {
    parse_child_name(name, "strategies", "choices").is_some()
}

pub fn malformed(field: &str, name: &str, shape: &str) -> Error {
    Error::invalid(field, format!("{name:?} is not a {shape} name"))
}

//! From a feed event to a graph change.

use prost::{Message, Name};
use trellis_proto::{
    cascade::v1 as org_pb,
    feed::v1::{ChangeEvent, ChangeKind},
    health::v1 as health_pb,
    okr::v1 as okr_pb,
    strategy::v1 as strategy_pb,
};

use crate::graph::{Change, Resource};

/// The change an event makes to the graph; None for resources the graph
/// does not keep (assumptions, re-plans).
pub fn decode(event: &ChangeEvent) -> Result<Option<Change>, prost::DecodeError> {
    let bytes = event
        .resource
        .as_ref()
        .map(|any| any.value.as_slice())
        .unwrap_or_default();
    let deleted = event.kind() == ChangeKind::Deleted;
    let kind = event.resource_type.as_str();
    let resource = if is::<okr_pb::CheckIn>(kind) {
        if deleted {
            return Ok(None);
        }
        return Ok(Some(Change::CheckIn(okr_pb::CheckIn::decode(bytes)?)));
    } else if is::<org_pb::OrgUnit>(kind) {
        Resource::OrgUnit(org_pb::OrgUnit::decode(bytes)?)
    } else if is::<strategy_pb::Strategy>(kind) {
        Resource::Strategy(strategy_pb::Strategy::decode(bytes)?)
    } else if is::<strategy_pb::Choice>(kind) {
        Resource::Choice(strategy_pb::Choice::decode(bytes)?)
    } else if is::<okr_pb::Cycle>(kind) {
        Resource::Cycle(okr_pb::Cycle::decode(bytes)?)
    } else if is::<okr_pb::Objective>(kind) {
        Resource::Objective(okr_pb::Objective::decode(bytes)?)
    } else if is::<okr_pb::KeyResult>(kind) {
        Resource::KeyResult(okr_pb::KeyResult::decode(bytes)?)
    } else if is::<health_pb::HealthMetric>(kind) {
        Resource::HealthMetric(health_pb::HealthMetric::decode(bytes)?)
    } else {
        return Ok(None);
    };
    Ok(Some(if deleted {
        Change::Delete(event.resource_name.clone())
    } else {
        Change::Upsert(Box::new(resource))
    }))
}

/// Whether `type_name` is the full proto name of `M`, without building it.
fn is<M: Name>(type_name: &str) -> bool {
    type_name
        .strip_prefix(M::PACKAGE)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest == M::NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_match_exactly() {
        assert!(is::<okr_pb::KeyResult>("trellis.okr.v1.KeyResult"));
        assert!(!is::<okr_pb::KeyResult>("trellis.okr.v1.KeyResultX"));
        assert!(!is::<okr_pb::KeyResult>("trellis.okr.v2.KeyResult"));
        assert!(!is::<okr_pb::KeyResult>("trellis.okr.v1"));
    }
}

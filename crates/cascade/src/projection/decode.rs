//! From a feed event to a graph change.

use prost::Message;
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
    let resource = match event.resource_type.as_str() {
        "trellis.okr.v1.CheckIn" if !deleted => return Ok(Some(Change::CheckIn(okr_pb::CheckIn::decode(bytes)?))),
        "trellis.cascade.v1.OrgUnit" => Resource::OrgUnit(org_pb::OrgUnit::decode(bytes)?),
        "trellis.strategy.v1.Strategy" => Resource::Strategy(strategy_pb::Strategy::decode(bytes)?),
        "trellis.strategy.v1.Choice" => Resource::Choice(strategy_pb::Choice::decode(bytes)?),
        "trellis.okr.v1.Cycle" => Resource::Cycle(okr_pb::Cycle::decode(bytes)?),
        "trellis.okr.v1.Objective" => Resource::Objective(okr_pb::Objective::decode(bytes)?),
        "trellis.okr.v1.KeyResult" => Resource::KeyResult(okr_pb::KeyResult::decode(bytes)?),
        "trellis.health.v1.HealthMetric" => Resource::HealthMetric(health_pb::HealthMetric::decode(bytes)?),
        _ => return Ok(None),
    };
    Ok(Some(if deleted {
        Change::Delete(event.resource_name.clone())
    } else {
        Change::Upsert(Box::new(resource))
    }))
}

//! An org unit's row shown as the `OrgUnit` clients see.

use trellis_foundation::{etag::etag_for, time::to_timestamp};
use trellis_proto::cascade::v1 as pb;

use crate::names::unit_name;
use crate::store::entity::org_unit::Model;

pub fn to_proto(unit: &Model) -> pb::OrgUnit {
    pb::OrgUnit {
        name: unit_name(&unit.id),
        parent: if unit.parent_id.is_empty() {
            String::new()
        } else {
            unit_name(&unit.parent_id)
        },
        display_name: unit.display_name.clone(),
        kind: unit.kind.clone(),
        description: unit.description.clone(),
        lead: unit.lead.clone(),
        depth: unit.depth,
        etag: etag_for(unit.version),
        create_time: Some(to_timestamp(unit.create_micros)),
        update_time: Some(to_timestamp(unit.update_micros)),
        ancestors: unit.ancestor_ids().into_iter().map(unit_name).collect(),
    }
}

//! Org units between their proto form and the table, and request checks.

use trellis_foundation::{
    FieldViolations,
    etag::etag_for,
    names::{id_or_generate, parse_name},
    time::to_timestamp,
};
use trellis_proto::cascade::v1 as pb;

use super::{COLLECTION, entity::Model};

const MAX_DISPLAY_NAME: usize = 200;
const MAX_KIND: usize = 64;
const MAX_DESCRIPTION: usize = 4_000;

pub fn unit_name(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

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
        depth: unit.depth,
        etag: etag_for(unit.version),
        create_time: Some(to_timestamp(unit.create_micros)),
        update_time: Some(to_timestamp(unit.update_micros)),
        ancestors: unit.ancestor_ids().into_iter().map(unit_name).collect(),
    }
}

/// A create request, checked: the id to use and the parent's id ("" for a root).
pub struct NewUnit {
    pub id: String,
    pub parent_id: String,
    pub display_name: String,
    pub kind: String,
    pub description: String,
}

/// Checks one create request, adding every problem to `violations` with
/// field paths relative to the request.
pub fn check_create(request: &pb::CreateOrgUnitRequest, violations: &mut FieldViolations) -> NewUnit {
    let id = id_or_generate(&request.org_unit_id, "org_unit_id", violations);
    let Some(unit) = &request.org_unit else {
        violations.add("org_unit", "is required");
        return NewUnit {
            id,
            parent_id: String::new(),
            display_name: String::new(),
            kind: String::new(),
            description: String::new(),
        };
    };
    check_fields(unit, &["display_name", "kind", "description"], violations, "org_unit.");
    let parent_id = parse_parent(&unit.parent, "org_unit.parent", violations);
    NewUnit {
        id,
        parent_id,
        display_name: unit.display_name.trim().to_owned(),
        kind: unit.kind.trim().to_owned(),
        description: unit.description.clone(),
    }
}

/// Checks the unit's `fields` (all of them on create, the masked ones on
/// update).
pub fn check_fields(unit: &pb::OrgUnit, fields: &[&str], violations: &mut FieldViolations, prefix: &str) {
    for field in fields {
        let path = format!("{prefix}{field}");
        match *field {
            "display_name" => {
                violations.require_non_empty(&unit.display_name, &path);
                violations.require_max_len(&unit.display_name, MAX_DISPLAY_NAME, &path);
            }
            "kind" => violations.require_max_len(&unit.kind, MAX_KIND, &path),
            "description" => violations.require_max_len(&unit.description, MAX_DESCRIPTION, &path),
            _ => {}
        }
    }
}

/// "" for no parent, else the id of a well-formed `orgUnits/{id}`.
pub fn parse_parent(parent: &str, field: &str, violations: &mut FieldViolations) -> String {
    if parent.is_empty() {
        return String::new();
    }
    match parse_name(parent, COLLECTION) {
        Some(id) => id.to_owned(),
        None => {
            violations.add(field, format!("must be an {COLLECTION}/{{id}} name, got {parent:?}"));
            String::new()
        }
    }
}

/// The id of a well-formed unit name, or an `INVALID_ARGUMENT` for `field`.
pub fn unit_id<'a>(name: &'a str, field: &str) -> Result<&'a str, trellis_foundation::Error> {
    parse_name(name, COLLECTION).ok_or_else(|| {
        trellis_foundation::Error::invalid(field, format!("must be an {COLLECTION}/{{id}} name, got {name:?}"))
    })
}

//! Request checks for org units: every problem collected with its field
//! path, and the limits a unit and a batch of units are held to.

use crate::names::COLLECTION;
use trellis_foundation::{
    FieldViolations,
    mask::MaskField,
    names::{id_or_generate, parse_name},
};
use trellis_proto::cascade::v1 as pb;

/// The most units one BatchCreateOrgUnits may carry.
pub const MAX_BATCH: usize = 50_000;

/// The deepest a unit may sit (a root is at 0): 32 levels, well past real
/// organisations (under 20), and short enough that a unit's path of
/// 63-character ids fits every backend's index.
pub const MAX_DEPTH: i32 = 31;

const MAX_DISPLAY_NAME: usize = 200;

const MAX_KIND: usize = 64;

const MAX_DESCRIPTION: usize = 4_000;

/// A person as tokens name them: a subject or an email (at most 320).
const MAX_LEAD: usize = 320;

/// A create request, checked: the id to use and the parent's id ("" for a root).
pub struct NewUnit {
    pub id: String,
    pub parent_id: String,
    pub display_name: String,
    pub kind: String,
    pub description: String,
    pub lead: String,
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
            lead: String::new(),
        };
    };
    check_fields(unit, OrgUnitField::ALL, violations, "org_unit.");
    let parent_id = parse_parent(&unit.parent, "org_unit.parent", violations);
    NewUnit {
        id,
        parent_id,
        display_name: unit.display_name.trim().to_owned(),
        kind: unit.kind.trim().to_owned(),
        description: unit.description.clone(),
        lead: unit.lead.trim().to_owned(),
    }
}

/// An org unit's fields an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgUnitField {
    DisplayName,
    Kind,
    Description,
    Lead,
}

impl MaskField for OrgUnitField {
    fn path(self) -> &'static str {
        match self {
            OrgUnitField::DisplayName => "display_name",
            OrgUnitField::Kind => "kind",
            OrgUnitField::Description => "description",
            OrgUnitField::Lead => "lead",
        }
    }
}

impl OrgUnitField {
    pub const ALL: &[OrgUnitField] = &[
        OrgUnitField::DisplayName,
        OrgUnitField::Kind,
        OrgUnitField::Description,
        OrgUnitField::Lead,
    ];
}

/// Checks the unit's `fields` (all of them on create, the masked ones on
/// update).
pub fn check_fields(unit: &pb::OrgUnit, fields: &[OrgUnitField], violations: &mut FieldViolations, prefix: &str) {
    for field in fields {
        let path = format!("{prefix}{}", field.path());
        match field {
            OrgUnitField::DisplayName => {
                violations.require_non_empty(&unit.display_name, &path);
                violations.require_max_len(&unit.display_name, MAX_DISPLAY_NAME, &path);
            }
            OrgUnitField::Kind => violations.require_max_len(&unit.kind, MAX_KIND, &path),
            OrgUnitField::Description => violations.require_max_len(&unit.description, MAX_DESCRIPTION, &path),
            OrgUnitField::Lead => check_person(&unit.lead, &path, violations),
        }
    }
}

/// A person as tokens name people: one subject or email (or "" for none).
pub fn check_person(person: &str, path: &str, violations: &mut FieldViolations) {
    violations.require_max_len(person, MAX_LEAD, path);
    if person.trim().chars().any(char::is_whitespace) {
        violations.add(path, "a person is one subject or email, without spaces");
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

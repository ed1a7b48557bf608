//! `trellis org`: org units, one at a time or imported in bulk.

use clap::Subcommand;
use prost_types::FieldMask;
use trellis_proto::cascade::v1::{
    CreateOrgUnitRequest, DeleteOrgUnitRequest, GetOrgUnitRequest, ListDescendantsRequest, ListOrgUnitsRequest,
    MoveOrgUnitRequest, OrgUnit, UpdateOrgUnitRequest,
};

use crate::{
    Page,
    client::{Clients, named},
    failure::Failure,
    output::{Column, Printer},
};

const FIELDS: &[Column] = &[
    ("name", "name"),
    ("display name", "displayName"),
    ("kind", "kind"),
    ("parent", "parent"),
    ("depth", "depth"),
    ("ancestors", "ancestors"),
    ("description", "description"),
    ("lead", "lead"),
    ("etag", "etag"),
];
const COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("DISPLAY NAME", "displayName"),
    ("KIND", "kind"),
    ("PARENT", "parent"),
    ("LEAD", "lead"),
];

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org unit.
    Create {
        /// Its id, for example `emea-sales`.
        id: String,
        #[arg(long)]
        display_name: String,
        /// The unit above it; none for the root.
        #[arg(long, default_value = "")]
        parent: String,
        /// company, division, team, ...
        #[arg(long, default_value = "team")]
        kind: String,
        #[arg(long, default_value = "")]
        description: String,
        /// The person who leads it (a subject or email): missed check-ins
        /// escalate to them.
        #[arg(long, default_value = "")]
        lead: String,
    },
    /// Change an org unit's display name, kind, description or lead (only
    /// the ones given).
    Update {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// "" to have none.
        #[arg(long)]
        lead: Option<String>,
        /// Fail with exit code 5 if the unit changed since this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Show an org unit.
    Get { name: String },
    /// List org units, or with --under the subtree of one.
    List {
        /// Only units below this one.
        #[arg(long)]
        under: Option<String>,
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        page: Page,
    },
    /// Move a unit under another parent.
    Move {
        name: String,
        #[arg(long)]
        parent: String,
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Delete a unit with nothing below it.
    Delete {
        name: String,
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Create many units from a CSV
    /// (id,parent,kind,display_name,description,lead) or JSON file, all or
    /// nothing.
    Import { file: String },
}

pub async fn run(command: OrgCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut org = clients.org.clone();
    match command {
        OrgCommand::Create {
            id,
            display_name,
            parent,
            kind,
            description,
            lead,
        } => {
            let parent = if parent.is_empty() {
                parent
            } else {
                named("orgUnits", &parent)
            };
            let unit = org
                .create_org_unit(CreateOrgUnitRequest {
                    org_unit: Some(OrgUnit {
                        parent,
                        display_name,
                        kind,
                        description,
                        lead,
                        ..OrgUnit::default()
                    }),
                    org_unit_id: id.clone(),
                    request_id: String::new(),
                })
                .await
                .map_err(Failure::call(format!("creating orgUnits/{id}")))?
                .into_inner();
            printer.one(&unit, FIELDS)
        }
        OrgCommand::Update {
            name,
            display_name,
            kind,
            description,
            lead,
            etag,
        } => {
            let name = named("orgUnits", &name);
            let mut paths = Vec::new();
            for (path, given) in [
                ("display_name", &display_name),
                ("kind", &kind),
                ("description", &description),
                ("lead", &lead),
            ] {
                if given.is_some() {
                    paths.push(path.to_owned());
                }
            }
            if paths.is_empty() {
                return Err(Failure::Usage(
                    "nothing to change: give --display-name, --kind, --description or --lead".to_owned(),
                ));
            }
            let unit = org
                .update_org_unit(UpdateOrgUnitRequest {
                    org_unit: Some(OrgUnit {
                        name: name.clone(),
                        display_name: display_name.unwrap_or_default(),
                        kind: kind.unwrap_or_default(),
                        description: description.unwrap_or_default(),
                        lead: lead.unwrap_or_default(),
                        etag,
                        ..OrgUnit::default()
                    }),
                    update_mask: Some(FieldMask { paths }),
                })
                .await
                .map_err(Failure::call(format!("updating {name}")))?
                .into_inner();
            printer.one(&unit, FIELDS)
        }
        OrgCommand::Get { name } => {
            let name = named("orgUnits", &name);
            let unit = org
                .get_org_unit(GetOrgUnitRequest { name: name.clone() })
                .await
                .map_err(Failure::call(format!("reading {name}")))?
                .into_inner();
            printer.one(&unit, FIELDS)
        }
        OrgCommand::List { under, filter, page } => match under {
            Some(under) => {
                let name = named("orgUnits", &under);
                let response = org
                    .list_descendants(ListDescendantsRequest {
                        name: name.clone(),
                        max_depth: 0,
                        page_size: page.page_size,
                        page_token: page.page_token,
                    })
                    .await
                    .map_err(Failure::call(format!("listing the units under {name}")))?
                    .into_inner();
                printer.list(&response, "orgUnits", COLUMNS)
            }
            None => {
                let response = org
                    .list_org_units(ListOrgUnitsRequest {
                        page_size: page.page_size,
                        page_token: page.page_token,
                        filter,
                    })
                    .await
                    .map_err(Failure::call("listing org units"))?
                    .into_inner();
                printer.list(&response, "orgUnits", COLUMNS)
            }
        },
        OrgCommand::Move { name, parent, etag } => {
            let name = named("orgUnits", &name);
            let unit = org
                .move_org_unit(MoveOrgUnitRequest {
                    name: name.clone(),
                    new_parent: named("orgUnits", &parent),
                    etag,
                })
                .await
                .map_err(Failure::call(format!("moving {name}")))?
                .into_inner();
            printer.one(&unit, FIELDS)
        }
        OrgCommand::Delete { name, etag } => {
            let name = named("orgUnits", &name);
            org.delete_org_unit(DeleteOrgUnitRequest {
                name: name.clone(),
                etag,
            })
            .await
            .map_err(Failure::call(format!("deleting {name}")))?;
            printer.say(format!("deleted {name}"));
            Ok(())
        }
        OrgCommand::Import { file } => crate::import::org_units::import(&file, clients, printer).await,
    }
}

//! `trellis access`: who holds which role on an org unit (or on the whole
//! org, `-`), and what the caller may do there.

use clap::Subcommand;
use trellis_proto::access::v1::{Binding, GetIamPolicyRequest, Policy, SetIamPolicyRequest, TestIamPermissionsRequest};

use crate::{
    client::{Clients, named},
    commands::message_from_file,
    failure::Failure,
    output::{Column, Printer},
};

const BINDINGS: &[Column] = &[("ROLE", "role"), ("MEMBERS", "members")];

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Show the grants made on a unit (`-` for the whole org).
    Get { unit: String },
    /// Replace the grants on a unit: `--binding editor=group:eng,user:ann`
    /// once per role, or a Policy in proto3 JSON with --file.
    Set {
        unit: String,
        /// ROLE=MEMBER[,MEMBER...]; roles: viewer, contributor, editor, admin.
        #[arg(long = "binding", conflicts_with = "file")]
        bindings: Vec<String>,
        /// A trellis.access.v1.Policy as JSON (`-` reads stdin).
        #[arg(long)]
        file: Option<String>,
        /// Refuse (ABORTED) if the grants changed since this etag was read.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Which of these permissions you hold on a unit (read, checkIn,
    /// editOkrs, editStrategy, editCycles, editOrg, getIamPolicy,
    /// setIamPolicy).
    Test {
        unit: String,
        #[arg(required = true)]
        permissions: Vec<String>,
    },
}

/// A unit as typed (`eng`, `orgUnits/eng`, `-`) as the resource name.
fn resource(unit: &str) -> String {
    named("orgUnits", unit)
}

fn parse_binding(text: &str) -> Result<Binding, Failure> {
    let (role, members) = text
        .split_once('=')
        .ok_or_else(|| Failure::Usage(format!("--binding {text:?} is not ROLE=MEMBER[,MEMBER...]")))?;
    Ok(Binding {
        role: role.trim().to_owned(),
        members: members
            .split(',')
            .map(str::trim)
            .filter(|member| !member.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

pub async fn run(command: AccessCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut access = clients.access.clone();
    match command {
        AccessCommand::Get { unit } => {
            let resource = resource(&unit);
            let policy = access
                .get_iam_policy(GetIamPolicyRequest {
                    resource: resource.clone(),
                })
                .await
                .map_err(Failure::call(format!("reading the grants on {resource}")))?
                .into_inner();
            printer.list(&policy, "bindings", BINDINGS)
        }
        AccessCommand::Set {
            unit,
            bindings,
            file,
            etag,
        } => {
            let resource = resource(&unit);
            let mut policy = match file {
                Some(path) => message_from_file::<Policy>(&path)?,
                None => Policy {
                    bindings: bindings
                        .iter()
                        .map(|binding| parse_binding(binding))
                        .collect::<Result<_, _>>()?,
                    ..Policy::default()
                },
            };
            if !etag.is_empty() {
                policy.etag = etag;
            }
            let policy = access
                .set_iam_policy(SetIamPolicyRequest {
                    resource: resource.clone(),
                    policy: Some(policy),
                })
                .await
                .map_err(Failure::call(format!("setting the grants on {resource}")))?
                .into_inner();
            printer.list(&policy, "bindings", BINDINGS)
        }
        AccessCommand::Test { unit, permissions } => {
            let resource = resource(&unit);
            let held = access
                .test_iam_permissions(TestIamPermissionsRequest {
                    resource: resource.clone(),
                    permissions,
                })
                .await
                .map_err(Failure::call(format!("testing permissions on {resource}")))?
                .into_inner();
            printer.list(&held, "permissions", &[("PERMISSION", "")])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_parse_from_the_command_line() {
        let binding = parse_binding("editor=group:eng, user:ann").ok();
        assert_eq!(
            binding.map(|b| (b.role, b.members)),
            Some(("editor".to_owned(), vec!["group:eng".to_owned(), "user:ann".to_owned()]))
        );
        assert!(parse_binding("editor").is_err());
        assert_eq!(resource("-"), "orgUnits/-");
        assert_eq!(resource("orgUnits/eng"), "orgUnits/eng");
    }
}

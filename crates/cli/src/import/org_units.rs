//! `trellis org import`: a whole org from CSV (id, parent, kind,
//! display_name, description, lead) or JSON (rows of `CreateOrgUnitRequest`), in
//! one `BatchCreateOrgUnits` call: parents may be units of the same file,
//! and it is all or nothing.

use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, OrgUnit},
    common::v1::ValidationPage,
};

use crate::{
    client::{Clients, named},
    failure::Failure,
    import::{FileKind, kind_of, locate_violations, progress, read_csv, read_json_messages, refusal},
    output::Printer,
};

/// The server's cap on one batch.
const MAX_UNITS: usize = 50_000;

pub async fn import(path: &str, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let kind = kind_of(path)?;
    let (requests, lines) = match kind {
        FileKind::Csv => {
            let mut requests = Vec::new();
            let mut lines = Vec::new();
            for line in read_csv(
                path,
                &["id", "parent", "kind", "display_name", "description", "lead"],
                &["id", "display_name"],
            )? {
                let parent = line.get("parent");
                requests.push(CreateOrgUnitRequest {
                    org_unit: Some(OrgUnit {
                        parent: if parent.is_empty() {
                            String::new()
                        } else {
                            named("orgUnits", parent)
                        },
                        display_name: line.get("display_name").to_owned(),
                        kind: line.get("kind").to_owned(),
                        description: line.get("description").to_owned(),
                        lead: line.get("lead").to_owned(),
                        ..OrgUnit::default()
                    }),
                    org_unit_id: line.get("id").to_owned(),
                    request_id: String::new(),
                });
                lines.push(line.line);
            }
            (requests, lines)
        }
        FileKind::Json | FileKind::JsonLines => read_json_messages::<CreateOrgUnitRequest>(path, kind)?,
    };
    if requests.len() > MAX_UNITS {
        return Err(Failure::Usage(format!(
            "{path}: {} units; one import holds at most {MAX_UNITS}, so split the file by subtree",
            requests.len()
        )));
    }
    let bar = progress(requests.len(), "creating units");
    let count = requests.len();
    let request = BatchCreateOrgUnitsRequest {
        requests,
        request_id: String::new(),
        ..BatchCreateOrgUnitsRequest::default()
    };
    let answer = clients.org.clone().batch_create_org_units(request.clone()).await;
    bar.finish_and_clear();
    let response = match answer {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let validate = |page: ValidationPage| {
                let request = BatchCreateOrgUnitsRequest {
                    validate_only: true,
                    validation_page: Some(page),
                    ..request.clone()
                };
                let mut org = clients.org.clone();
                async move {
                    let answer = org.batch_create_org_units(request).await?;
                    Ok(answer.into_inner().validation.unwrap_or_default())
                }
            };
            let violations = refusal(status, validate)
                .await
                .map_err(Failure::call(format!("importing {path}")))?;
            return Err(locate_violations(path, violations, "requests", |index, field| {
                let line = lines.get(index).copied().unwrap_or(0);
                let field = match (kind, field.strip_prefix("org_unit.").unwrap_or(field)) {
                    (FileKind::Csv, "org_unit_id") => "id".to_owned(),
                    (FileKind::Csv, other) => other.to_owned(),
                    (_, _) => field.to_owned(),
                };
                (line, field)
            }));
        }
    };
    printer.say(format!("imported {count} org units from {path}"));
    if printer.format == crate::output::Format::Json {
        crate::output::print_json(&crate::output::to_json(&response, false)?)?;
    }
    Ok(())
}

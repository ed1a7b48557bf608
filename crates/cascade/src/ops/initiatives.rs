//! Initiatives: the work a unit does, held to the strategy filter
//! (`rhythm/serving.rs`). Every field is checked at once, references
//! included (the owner in the org table, the key results in the graph);
//! editors of the owning unit create and change them, as they do OKRs.

use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::Expr};
use trellis_access::{ORG_ROOT, Permission, ResourceKind};
use trellis_foundation::{
    FieldViolations, RequestContext,
    etag::{check_etag, etag_for},
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    mask::update_paths,
    members,
    names::{id_or_generate, parse_name},
    time::{now_micros, to_timestamp},
};
use trellis_proto::cascade::v1::{self as pb, initiative::Status};

use crate::{
    error::Error,
    fields::check_person,
    graph::NodeId,
    names::{COLLECTION as UNITS, unit_name},
    ops::{RhythmOps, sight::Asker},
    rhythm::{serving::Judgement, weeks::Week},
    store::{
        entity::initiative::{ActiveModel, Column, Entity, Model},
        queries,
    },
};

pub const COLLECTION: &str = "initiatives";
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4_000;
const MAX_KEY_RESULTS: usize = 20;
const UPDATABLE: &[&str] = &[
    "title",
    "description",
    "accountable",
    "key_results",
    "status",
    "target_week",
];

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new("owner", Expr::col(Column::OwnerId), FieldKind::ResourceName(UNITS)),
        FilterField::new(
            "status",
            Expr::col(Column::Status),
            FieldKind::Enum(&["NOT_NOW", "PLANNED", "IN_PROGRESS", "DONE", "DROPPED"]),
        ),
        FilterField::new("target_week", Expr::col(Column::TargetWeek), FieldKind::Text),
        FilterField::new("accountable", Expr::col(Column::Accountable), FieldKind::Text),
        FilterField::new("key_results", Expr::col(Column::KeyResults), FieldKind::Members),
    ]
}

pub fn to_proto(row: &Model) -> pb::Initiative {
    pb::Initiative {
        name: format!("{COLLECTION}/{}", row.id),
        owner: unit_name(&row.owner_id),
        title: row.title.clone(),
        description: row.description.clone(),
        accountable: row.accountable.clone(),
        key_results: members::decode(&row.key_results),
        status: Status::from_str_name(&row.status).unwrap_or(Status::Unspecified) as i32,
        status_reason: row.status_reason.clone(),
        target_week: row.target_week.clone(),
        etag: etag_for(row.version),
        create_time: Some(to_timestamp(row.create_micros)),
        update_time: Some(to_timestamp(row.update_micros)),
    }
}

/// Checks the initiative's `fields`; the target week in its written form.
fn check_fields(input: &pb::Initiative, fields: &[&str], violations: &mut FieldViolations) -> String {
    let mut target_week = String::new();
    for field in fields {
        let path = format!("initiative.{field}");
        match *field {
            "title" => {
                violations.require_non_empty(input.title.trim(), &path);
                violations.require_max_len(&input.title, MAX_TITLE, &path);
            }
            "description" => violations.require_max_len(&input.description, MAX_DESCRIPTION, &path),
            "accountable" => check_person(&input.accountable, &path, violations),
            "key_results" => {
                violations.require(
                    input.key_results.len() <= MAX_KEY_RESULTS,
                    &path,
                    format!("at most {MAX_KEY_RESULTS} key results"),
                );
                for (index, name) in input.key_results.iter().enumerate() {
                    let shaped = crate::graph::Kind::of_name(name) == Some(crate::graph::Kind::KeyResult);
                    violations.require(
                        shaped,
                        format!("{path}[{index}]"),
                        format!("must be an objectives/{{o}}/keyResults/{{k}} name, got {name:?}"),
                    );
                    if input.key_results[..index].contains(name) {
                        violations.add(format!("{path}[{index}]"), format!("{name} is listed twice"));
                    }
                }
            }
            "status" => violations.require(
                Status::try_from(input.status).is_ok(),
                &path,
                format!("{} is not a status", input.status),
            ),
            "target_week" if !input.target_week.is_empty() => match Week::parse(&input.target_week) {
                Some(week) => target_week = week.to_string(),
                None => violations.add(
                    path,
                    format!("must be an ISO week like 2027-W05, got {:?}", input.target_week),
                ),
            },
            _ => {}
        }
    }
    target_week
}

impl RhythmOps {
    /// What the graph says of `key_results` for work of `owner`, as the
    /// caller may see it (a key result it may not see is missing).
    pub(crate) async fn judge(
        &self,
        context: &RequestContext,
        owner: &str,
        key_results: &[String],
    ) -> Result<Judgement, Error> {
        let asker = Asker::new(self.access.reader(context).await);
        let owner = owner.to_owned();
        let key_results = key_results.to_vec();
        self.projection
            .read(move |graph| {
                asker.ask(graph, false, |sight| {
                    let sees = |id: NodeId| sight.sees(id);
                    crate::rhythm::serving::judge(graph, &owner, &key_results, &sees)
                })
            })
            .await
            .map_err(|err| Error::Corrupt(format!("reading the graph: {err}")))
    }

    /// The key results the graph does not hold, as violations.
    fn missing_key_results(judgement: &Judgement, key_results: &[String], violations: &mut FieldViolations) {
        // A malformed name is the shape check's to report.
        let shaped = |name: &String| crate::graph::Kind::of_name(name) == Some(crate::graph::Kind::KeyResult);
        for missing in judgement.missing.iter().filter(|name| shaped(name)) {
            if let Some(index) = key_results.iter().position(|name| name == missing) {
                violations.add(
                    format!("initiative.key_results[{index}]"),
                    format!("{missing} does not exist"),
                );
            }
        }
    }

    pub async fn create_initiative(
        &self,
        context: RequestContext,
        request: pb::CreateInitiativeRequest,
    ) -> Result<pb::Initiative, Error> {
        let input = request.initiative.clone().unwrap_or_default();
        let mut violations = FieldViolations::default();
        let id = id_or_generate(&request.initiative_id, "initiative_id", &mut violations);
        let target_week = check_fields(&input, UPDATABLE, &mut violations);
        let owner_id = match parse_name(&input.owner, UNITS) {
            Some(owner_id) => match queries::find(self.store.db.conn(), owner_id).await? {
                Some(_) => Some(owner_id.to_owned()),
                None => {
                    violations.add("initiative.owner", format!("{} does not exist", input.owner));
                    None
                }
            },
            None => {
                violations.add(
                    "initiative.owner",
                    format!("must be an {UNITS}/{{id}} name, got {:?}", input.owner),
                );
                None
            }
        };
        let judgement = self.judge(&context, &input.owner, &input.key_results).await?;
        Self::missing_key_results(&judgement, &input.key_results, &mut violations);
        violations.into_result()?;
        let owner_id = owner_id.unwrap_or_default();
        self.access
            .check_owned(
                &context,
                Permission::EditOkrs,
                ResourceKind::Objective,
                &id,
                &input.owner,
            )
            .await?;
        let asked = match input.status() {
            Status::Unspecified => Status::Planned,
            status => status,
        };
        let (status, reason) = if !judgement.serves {
            (Status::NotNow, judgement.reason)
        } else if asked == Status::NotNow {
            (Status::NotNow, "set aside by its owner".to_owned())
        } else {
            (asked, String::new())
        };
        let now = now_micros();
        let row = Model {
            id: id.clone(),
            owner_id,
            title: input.title.trim().to_owned(),
            description: input.description.clone(),
            accountable: input.accountable.trim().to_owned(),
            key_results: members::encode(&input.key_results),
            status: status.as_str_name().to_owned(),
            status_reason: reason,
            target_week,
            version: 1,
            create_micros: now,
            update_micros: now,
        };
        let name = format!("{COLLECTION}/{id}");
        self.store
            .create_once(&context, "CreateInitiative", &request, move |txn| async move {
                if Entity::find_by_id(row.id.clone()).one(txn.txn()).await?.is_some() {
                    return Err(Error::Exists { name });
                }
                Entity::insert(active(&row)).exec_without_returning(txn.txn()).await?;
                Ok((txn, to_proto(&row)))
            })
            .await
    }

    pub async fn get_initiative(
        &self,
        context: RequestContext,
        request: pb::GetInitiativeRequest,
    ) -> Result<pb::Initiative, Error> {
        let row = self.find_initiative(&request.name, "name").await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::Objective, ORG_ROOT, false, &request.name)?;
        Ok(to_proto(&row))
    }

    async fn find_initiative(&self, name: &str, field: &str) -> Result<Model, Error> {
        crate::store::find_by_name::<Entity>(self.store.db.conn(), name, COLLECTION, field).await
    }

    /// In id order.
    pub async fn list_initiatives(
        &self,
        context: RequestContext,
        request: pb::ListInitiativesRequest,
    ) -> Result<pb::ListInitiativesResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListInitiatives",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let reader = self.access.reader(&context).await;
        if !reader.may_read(ResourceKind::Objective, ORG_ROOT, false) {
            return Ok(pb::ListInitiativesResponse::default());
        }
        let rows = page.fetch(Entity::find(), Column::Id, self.store.db.conn()).await?;
        let (rows, next_page_token) = page.split(rows, |row| row.id.clone());
        Ok(pb::ListInitiativesResponse {
            initiatives: rows.iter().map(to_proto).collect(),
            next_page_token,
        })
    }

    pub async fn update_initiative(
        &self,
        context: RequestContext,
        request: pb::UpdateInitiativeRequest,
    ) -> Result<pb::Initiative, Error> {
        let patch = request.initiative.unwrap_or_default();
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), UPDATABLE, &mut violations);
        let target_week = check_fields(&patch, &paths, &mut violations);
        let row = self.find_initiative(&patch.name, "initiative.name").await?;
        let owner = unit_name(&row.owner_id);
        let mut updated = row.clone();
        for path in &paths {
            match *path {
                "title" => updated.title = patch.title.trim().to_owned(),
                "description" => updated.description.clone_from(&patch.description),
                "accountable" => updated.accountable = patch.accountable.trim().to_owned(),
                "key_results" => updated.key_results = members::encode(&patch.key_results),
                "status" if patch.status() != Status::Unspecified => {
                    updated.status = patch.status().as_str_name().to_owned();
                }
                "target_week" => updated.target_week.clone_from(&target_week),
                _ => {}
            }
        }
        let key_results = members::decode(&updated.key_results);
        let judgement = self.judge(&context, &owner, &key_results).await?;
        if paths.contains(&"key_results") {
            Self::missing_key_results(&judgement, &key_results, &mut violations);
        }
        violations.into_result()?;
        check_etag(&patch.etag, &etag_for(row.version), &patch.name)?;
        self.access
            .check_owned(&context, Permission::EditOkrs, ResourceKind::Objective, &row.id, &owner)
            .await?;
        let status = Status::from_str_name(&updated.status).unwrap_or(Status::Planned);
        let active_work = !matches!(status, Status::NotNow | Status::Done | Status::Dropped);
        if active_work && !judgement.serves {
            let from = if row.status == "NOT_NOW" {
                "out of NOT_NOW"
            } else {
                "on"
            };
            return Err(trellis_foundation::Error::FailedPrecondition(format!(
                "{} cannot go {from} as {}: it {}",
                patch.name,
                status.as_str_name(),
                judgement.reason
            ))
            .into());
        }
        updated.status_reason = match status {
            Status::NotNow if judgement.serves => "set aside by its owner".to_owned(),
            Status::NotNow => judgement.reason,
            _ => String::new(),
        };
        updated.version += 1;
        updated.update_micros = now_micros();
        crate::store::update_if_unchanged(
            &self.store,
            active(&updated),
            (Column::Id, row.id.clone()),
            (Column::Version, row.version),
            patch.name,
        )
        .await?;
        Ok(to_proto(&updated))
    }
}

fn active(row: &Model) -> ActiveModel {
    ActiveModel {
        id: Set(row.id.clone()),
        owner_id: Set(row.owner_id.clone()),
        title: Set(row.title.clone()),
        description: Set(row.description.clone()),
        accountable: Set(row.accountable.clone()),
        key_results: Set(row.key_results.clone()),
        status: Set(row.status.clone()),
        status_reason: Set(row.status_reason.clone()),
        target_week: Set(row.target_week.clone()),
        version: Set(row.version),
        create_micros: Set(row.create_micros),
        update_micros: Set(row.update_micros),
    }
}

//! The metric resource: create, get, list, update, delete.

use crate::error::Error;
use std::collections::HashMap;
use trellis_access::{Permission, ResourceKind};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::{check_etag, etag_for},
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    time::now_micros,
    visibility,
};
use trellis_proto::{cascade::v1::BatchGetOrgUnitsRequest, feed::v1::ChangeKind, health::v1 as pb};

use crate::{
    HealthOps,
    commands::{MetricPatch, NewMetric},
    escalation::Stage,
    fields::cadence_micros,
    names::{metric_id, metric_name},
    store::{
        codec::{expiry, to_proto},
        entity::{measurement, metric, status_change, step},
        snapshot::encode_config,
    },
};

/// Names one BatchGetHealthMetrics may ask for.
const MAX_BATCH_GET: usize = 1_000;
const STATUS_NAMES: &[&str] = &["GREEN", "YELLOW", "RED", "UNKNOWN"];
const DIRECTION_NAMES: &[&str] = &["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "BAND"];
const STAGE_NAMES: &[&str] = &["CLEAR", "ESCALATED", "BROKEN"];

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new(
            "owner",
            Expr::col(metric::Column::OwnerId),
            FieldKind::ResourceName("orgUnits"),
        ),
        FilterField::new(
            "status",
            Expr::col(metric::Column::Status),
            FieldKind::Enum(STATUS_NAMES),
        ),
        FilterField::new(
            "direction",
            Expr::col(metric::Column::Direction),
            FieldKind::Enum(DIRECTION_NAMES),
        ),
        FilterField::new(
            "escalation_stage",
            Expr::col(metric::Column::Stage),
            FieldKind::Enum(STAGE_NAMES),
        ),
        // The same field by its path in the resource, as AIP-160 traverses it.
        FilterField::new(
            "escalation.stage",
            Expr::col(metric::Column::Stage),
            FieldKind::Enum(STAGE_NAMES),
        ),
        FilterField::new(
            "visibility",
            Expr::col(metric::Column::Private),
            FieldKind::Flag("PRIVATE", "PUBLIC"),
        ),
    ]
}

/// A change to `metric`, seen only by those who may read it when it is
/// private.
pub(crate) fn change(kind: ChangeKind, metric: &pb::HealthMetric) -> NewChange {
    let owner = metric.owner.strip_prefix("orgUnits/").unwrap_or_default();
    NewChange::new(kind, metric.name.clone(), metric).private_to(owner, visibility::is_private(metric.visibility))
}

pub(crate) async fn find_metric(conn: &impl ConnectionTrait, id: &str) -> Result<metric::Model, Error> {
    metric::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::MetricNotFound { name: metric_name(id) })
}

/// Steps not yet confirmed, per metric among `ids`.
pub(crate) async fn pending_steps(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<HashMap<String, usize>, Error> {
    let rows: Vec<(String, i64)> = step::Entity::find()
        .select_only()
        .column(step::Column::MetricId)
        .column_as(step::Column::Seq.count(), "pending")
        .filter(step::Column::MetricId.is_in(ids.iter().cloned()))
        .group_by(step::Column::MetricId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, count)| (id, usize::try_from(count).unwrap_or(0)))
        .collect())
}

/// `rows` as clients see them now.
pub(crate) async fn show(conn: &impl ConnectionTrait, rows: &[metric::Model]) -> Result<Vec<pb::HealthMetric>, Error> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let pending = pending_steps(conn, &ids).await?;
    let now = now_micros();
    rows.iter()
        .map(|row| to_proto(row, pending.get(&row.id).copied().unwrap_or(0), now))
        .collect()
}

pub(crate) async fn show_one(conn: &impl ConnectionTrait, row: &metric::Model) -> Result<pb::HealthMetric, Error> {
    show(conn, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or_else(|| Error::Corrupt("a shown metric went missing".into()))
}

/// The row of a new metric with the checked configuration `stored`.
fn new_row(id: &str, stored: &pb::HealthMetric, now: i64) -> metric::Model {
    let mut row = metric::Model {
        id: id.to_owned(),
        owner_id: stored.owner.trim_start_matches("orgUnits/").to_owned(),
        private: visibility::is_private(stored.visibility),
        direction: stored.direction().as_str_name().to_owned(),
        version: 1,
        cadence_micros: cadence_micros(stored),
        snapshot: encode_config(stored),
        status: pb::Status::Unknown.as_str_name().to_owned(),
        status_micros: now,
        expire_micros: 0,
        latest_micros: 0,
        latest_value: 0.0,
        latest_level: String::new(),
        latest_source: String::new(),
        latest_record_micros: 0,
        level_since_micros: 0,
        fed_micros: 0,
        stage: Stage::Clear,
        stage_micros: now,
        consecutive_red: 0,
        red_while_escalated: 0,
        remedial_objective: String::new(),
        paused_objectives: String::new(),
        last_step: 0,
        create_micros: now,
        update_micros: now,
    };
    row.expire_micros = expiry(&row);
    row
}

impl HealthOps {
    pub async fn create_metric(
        &self,
        context: RequestContext,
        request: pb::CreateHealthMetricRequest,
    ) -> Result<pb::HealthMetric, Error> {
        let command = NewMetric::try_from(&request);
        // The owner too, whatever the shape: one answer, every problem.
        let mut violations = FieldViolations::default();
        if let Some(input) = &request.health_metric {
            self.check_owner_exists(&input.owner, "health_metric.owner", &mut violations)
                .await?;
        }
        let NewMetric { id, config } = violations.along_with(command)?;
        self.access
            .check_owned(
                &context,
                Permission::EditOkrs,
                ResourceKind::HealthMetric,
                &id,
                &config.owner,
            )
            .await?;
        let feed = self.store.feed.clone();
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateHealthMetric",
                &request,
                move |mut txn: WriteTxn| async move {
                    feed.serialize_writers(&txn).await?;
                    if metric::Entity::find_by_id(id.clone()).one(&*txn).await?.is_some() {
                        return Err(Error::MetricExists { name: metric_name(&id) });
                    }
                    let row = new_row(&id, &config, now_micros());
                    row.clone().into_active_model().insert(&*txn).await?;
                    status_change::Model {
                        metric_id: id.clone(),
                        change_micros: row.create_micros,
                        status: row.status.clone(),
                        previous: pb::Status::Unspecified.as_str_name().to_owned(),
                    }
                    .into_active_model()
                    .insert(&*txn)
                    .await?;
                    let shown = show_one(&*txn, &row).await?;
                    feed.append(&mut txn, &event_context, vec![change(ChangeKind::Created, &shown)])
                        .await?;
                    Ok((txn, shown))
                },
            )
            .await
    }

    async fn check_owner_exists(
        &self,
        owner: &str,
        field: &str,
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        // A malformed owner is the shape checks' to report.
        if trellis_foundation::names::parse_name(owner, "orgUnits").is_none() {
            return Ok(());
        }
        let response = self
            .peers
            .org
            .clone()
            .batch_get_org_units(BatchGetOrgUnitsRequest {
                names: vec![owner.to_owned()],
                allow_missing: true,
            })
            .await
            .map_err(Error::peer("org"))?
            .into_inner();
        if !response.missing.is_empty() {
            violations.add(field, format!("{owner} does not exist"));
        }
        Ok(())
    }

    /// Metrics by name, in the order asked; see `BatchGetHealthMetrics`.
    pub async fn batch_get_metrics(
        &self,
        context: RequestContext,
        request: pb::BatchGetHealthMetricsRequest,
    ) -> Result<pb::BatchGetHealthMetricsResponse, Error> {
        let mut violations = FieldViolations::default();
        violations.require(
            request.names.len() <= MAX_BATCH_GET,
            "names",
            format!("must hold at most {MAX_BATCH_GET} names, got {}", request.names.len()),
        );
        let mut asked = Vec::with_capacity(request.names.len());
        for (index, name) in request.names.iter().enumerate() {
            if let Some(id) = violations.absorb(metric_id(name, &format!("names[{index}]")))? {
                asked.push((name.clone(), id.to_owned()));
            }
        }
        violations.into_result()?;
        let conn = self.store.db.conn();
        let rows: HashMap<String, metric::Model> = metric::Entity::find()
            .filter(metric::Column::Id.is_in(asked.iter().map(|(_, id)| id.clone())))
            .all(conn)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        let reader = self.access.reader(&context).await;
        let mut found = Vec::with_capacity(asked.len());
        let mut missing = Vec::new();
        for (name, id) in asked {
            match rows.get(&id) {
                // A private metric the caller may not read is missing too.
                Some(row) if reader.may_read(ResourceKind::HealthMetric, &row.owner_id, row.private) => {
                    found.push(row.clone());
                }
                Some(row) if !row.private => {
                    reader.check(ResourceKind::HealthMetric, &row.owner_id, false, &name)?;
                }
                Some(_) | None => missing.push(name),
            }
        }
        if !missing.is_empty() && !request.allow_missing {
            return Err(Error::MetricsNotFound { names: missing });
        }
        Ok(pb::BatchGetHealthMetricsResponse {
            health_metrics: show(conn, &found).await?,
            missing,
        })
    }

    pub async fn get_metric(
        &self,
        context: RequestContext,
        request: pb::GetHealthMetricRequest,
    ) -> Result<pb::HealthMetric, Error> {
        let id = metric_id(&request.name, "name")?;
        let conn = self.store.db.conn();
        let row = find_metric(conn, id).await?;
        self.readable(&context, &row).await?;
        show_one(conn, &row).await
    }

    /// By id. The `status` filter reads the recorded status, which the
    /// sweep brings to UNKNOWN within a second of a cadence running out.
    pub async fn list_metrics(
        &self,
        context: RequestContext,
        request: pb::ListHealthMetricsRequest,
    ) -> Result<pb::ListHealthMetricsResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListHealthMetrics",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let conn = self.store.db.conn();
        let rows = page.fetch(metric::Entity::find(), metric::Column::Id, conn).await?;
        let (mut rows, next_page_token) = page.split(rows, |row| row.id.clone());
        // A page holds what the caller may read: it may come out shorter.
        let reader = self.access.reader(&context).await;
        rows.retain(|row| reader.may_read(ResourceKind::HealthMetric, &row.owner_id, row.private));
        Ok(pb::ListHealthMetricsResponse {
            health_metrics: show(conn, &rows).await?,
            next_page_token,
        })
    }

    /// New thresholds apply from the next measurement: recorded statuses
    /// are history.
    pub async fn update_metric(
        &self,
        context: RequestContext,
        request: pb::UpdateHealthMetricRequest,
    ) -> Result<pb::HealthMetric, Error> {
        let patch = MetricPatch::try_from(&request)?;
        let id = patch.id.as_str();

        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let mut row = find_metric(&*txn, id).await?;
        self.may(&context, Permission::EditOkrs, &row).await?;
        check_etag(&patch.etag, &etag_for(row.version), &patch.name)?;
        let stored = patch.apply(&crate::store::codec::decode_config(&row)?)?;
        if stored.owner != trellis_access::unit_name(&row.owner_id) {
            // Handed to another unit: it must be the caller's to give to.
            self.access
                .check_owned(
                    &context,
                    Permission::EditOkrs,
                    ResourceKind::HealthMetric,
                    id,
                    &stored.owner,
                )
                .await?;
        }
        row.owner_id = stored.owner.trim_start_matches("orgUnits/").to_owned();
        row.direction = stored.direction().as_str_name().to_owned();
        row.cadence_micros = cadence_micros(&stored);
        row.snapshot = encode_config(&stored);
        row.expire_micros = expiry(&row);
        let read_version = row.version;
        row.version += 1;
        row.update_micros = now_micros();
        let result = metric::Entity::update_many()
            .set(row.clone().into_active_model().reset_all())
            .filter(metric::Column::Id.eq(id))
            .filter(metric::Column::Version.eq(read_version))
            .exec(&*txn)
            .await?;
        if result.rows_affected != 1 {
            return Err(Error::stale(patch.name.clone()));
        }
        let shown = show_one(&*txn, &row).await?;
        self.store
            .feed
            .append(&mut txn, &context, vec![change(ChangeKind::Updated, &shown)])
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    /// With its measurements and history; refused while an escalation is
    /// open or any of its steps is unconfirmed.
    pub async fn delete_metric(
        &self,
        context: RequestContext,
        request: pb::DeleteHealthMetricRequest,
    ) -> Result<(), Error> {
        let id = metric_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let row = find_metric(&*txn, id).await?;
        self.may(&context, Permission::EditOkrs, &row).await?;
        check_etag(&request.etag, &etag_for(row.version), &request.name)?;
        let pending = pending_steps(&*txn, std::slice::from_ref(&row.id)).await?;
        if row.stage != Stage::Clear || !pending.is_empty() {
            return Err(Error::OpenEscalation {
                name: request.name.clone(),
                stage: row.stage.as_str(),
            });
        }
        let shown = show_one(&*txn, &row).await?;
        measurement::Entity::delete_many()
            .filter(measurement::Column::MetricId.eq(id))
            .exec(&*txn)
            .await?;
        status_change::Entity::delete_many()
            .filter(status_change::Column::MetricId.eq(id))
            .exec(&*txn)
            .await?;
        metric::Entity::delete_by_id(id.to_owned()).exec(&*txn).await?;
        self.store
            .feed
            .append(&mut txn, &context, vec![change(ChangeKind::Deleted, &shown)])
            .await?;
        Ok(txn.commit().await?)
    }
}

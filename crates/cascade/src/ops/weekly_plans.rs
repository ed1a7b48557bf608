//! Weekly plans: a unit's P1 and P2 priorities for an ISO week, each P1
//! naming the key result or initiative it moves, marked won or missed at
//! the week's end. A plan exists for every unit and week (empty until
//! written, as an AIP-156 singleton) and locks when the next week starts.
//! Its unit's contributors write it, as they check in.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use trellis_access::{Permission, ResourceKind};
use trellis_foundation::{
    FieldViolations, RequestContext,
    etag::{check_etag, etag_for},
    names::{is_valid_id, parse_name},
    paging::page_size,
    time::to_timestamp,
};
use trellis_proto::cascade::v1::{
    self as pb,
    priority::{Level, Outcome},
};

use crate::{
    error::Error,
    fields::check_person,
    graph::Kind,
    names::{COLLECTION as UNITS, unit_name},
    ops::{RhythmOps, initiatives},
    rhythm::weeks::Week,
    store::{
        entity::{
            initiative,
            weekly_plan::{ActiveModel, Column, Entity, Model},
        },
        queries,
    },
};

pub const COLLECTION: &str = "weeklyPlans";
const MAX_PRIORITIES: usize = 10;
const MAX_P1: usize = 3;
const MAX_TITLE: usize = 200;
const MAX_NOTE: usize = 280;
/// How far ahead a week may be planned.
const MAX_WEEKS_AHEAD: u64 = 52;

/// A priority as the row keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredPriority {
    level: String,
    title: String,
    #[serde(default)]
    key_result: String,
    #[serde(default)]
    initiative: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    outcome_note: String,
}

impl StoredPriority {
    fn from_proto(priority: &pb::Priority) -> StoredPriority {
        StoredPriority {
            level: priority.level().as_str_name().to_owned(),
            title: priority.title.trim().to_owned(),
            key_result: priority.key_result.clone(),
            initiative: priority.initiative.clone(),
            owner: priority.owner.trim().to_owned(),
            outcome: match priority.outcome() {
                Outcome::Unspecified => String::new(),
                outcome => outcome.as_str_name().to_owned(),
            },
            outcome_note: priority.outcome_note.trim().to_owned(),
        }
    }

    pub fn to_proto(&self) -> pb::Priority {
        pb::Priority {
            level: Level::from_str_name(&self.level).unwrap_or(Level::Unspecified) as i32,
            title: self.title.clone(),
            key_result: self.key_result.clone(),
            initiative: self.initiative.clone(),
            owner: self.owner.clone(),
            outcome: Outcome::from_str_name(&self.outcome).unwrap_or(Outcome::Unspecified) as i32,
            outcome_note: self.outcome_note.clone(),
        }
    }
}

/// The priorities a row holds.
pub fn priorities_of(row: &Model) -> Result<Vec<StoredPriority>, Error> {
    serde_json::from_str(&row.priorities)
        .map_err(|err| Error::Corrupt(format!("the priorities of {}/{}: {err}", row.unit_id, row.week)))
}

/// `orgUnits/{unit}/weeklyPlans/{week}` → the unit's id and the week.
pub fn parse_plan_name(name: &str) -> Option<(&str, Week)> {
    let rest = name.strip_prefix(UNITS)?.strip_prefix('/')?;
    let (unit, week) = rest.split_once(&format!("/{COLLECTION}/"))?;
    let week = Week::parse(week).filter(|week| week.id() == name.rsplit('/').next().unwrap_or_default())?;
    is_valid_id(unit).then_some((unit, week))
}

pub fn plan_name(unit_id: &str, week: Week) -> String {
    format!("{UNITS}/{unit_id}/{COLLECTION}/{}", week.id())
}

/// A plan as the API shows it; `row` is `None` for one never written.
pub fn to_proto(unit_id: &str, week: Week, row: Option<&Model>, now: i64) -> Result<pb::WeeklyPlan, Error> {
    let priorities = match row {
        Some(row) => priorities_of(row)?.iter().map(StoredPriority::to_proto).collect(),
        None => Vec::new(),
    };
    Ok(pb::WeeklyPlan {
        name: plan_name(unit_id, week),
        org_unit: unit_name(unit_id),
        week: week.to_string(),
        priorities,
        locked: now >= week.plus(1).start_micros(),
        week_start_time: Some(to_timestamp(week.start_micros())),
        etag: row.map(|row| etag_for(row.version)).unwrap_or_default(),
        update_time: row.map(|row| to_timestamp(row.update_micros)),
        updater: row.map(|row| row.updater.clone()).unwrap_or_default(),
    })
}

fn check_priority(priority: &pb::Priority, path: &str, violations: &mut FieldViolations) {
    match Level::try_from(priority.level) {
        Ok(Level::P1 | Level::P2) => {}
        _ => violations.add(format!("{path}.level"), "required: P1 or P2"),
    }
    violations.require_non_empty(priority.title.trim(), &format!("{path}.title"));
    violations.require_max_len(&priority.title, MAX_TITLE, &format!("{path}.title"));
    if !priority.key_result.is_empty() && Kind::of_name(&priority.key_result) != Some(Kind::KeyResult) {
        violations.add(
            format!("{path}.key_result"),
            format!(
                "must be an objectives/{{o}}/keyResults/{{k}} name, got {:?}",
                priority.key_result
            ),
        );
    }
    if !priority.initiative.is_empty() && parse_name(&priority.initiative, initiatives::COLLECTION).is_none() {
        violations.add(
            format!("{path}.initiative"),
            format!("must be an initiatives/{{id}} name, got {:?}", priority.initiative),
        );
    }
    if priority.level() == Level::P1 && priority.key_result.is_empty() && priority.initiative.is_empty() {
        violations.add(
            format!("{path}.key_result"),
            "a P1 names the key result or initiative it moves",
        );
    }
    check_person(&priority.owner, &format!("{path}.owner"), violations);
    violations.require(
        Outcome::try_from(priority.outcome).is_ok(),
        format!("{path}.outcome"),
        format!("{} is not an outcome", priority.outcome),
    );
    violations.require_max_len(&priority.outcome_note, MAX_NOTE, &format!("{path}.outcome_note"));
}

impl RhythmOps {
    /// The unit of plan `name` (it must exist) and the week.
    async fn plan_unit(&self, name: &str, field: &str) -> Result<(String, Week), Error> {
        let (unit_id, week) = parse_plan_name(name).ok_or_else(|| {
            trellis_foundation::Error::invalid(
                field,
                format!(
                    "must be an {UNITS}/{{unit}}/{COLLECTION}/{{week}} name with a week like 2027-w05, got {name:?}"
                ),
            )
        })?;
        queries::find_existing(self.store.db.conn(), unit_id, &unit_name(unit_id)).await?;
        Ok((unit_id.to_owned(), week))
    }

    pub async fn get_weekly_plan(
        &self,
        context: RequestContext,
        request: pb::GetWeeklyPlanRequest,
    ) -> Result<pb::WeeklyPlan, Error> {
        let (unit_id, week) = self.plan_unit(&request.name, "name").await?;
        self.access
            .reader(&context)
            .await
            .check(ResourceKind::OrgUnit, &unit_id, false, &request.name)?;
        let row = Entity::find_by_id((unit_id.clone(), week.id()))
            .one(self.store.db.conn())
            .await?;
        to_proto(&unit_id, week, row.as_ref(), self.now())
    }

    pub async fn update_weekly_plan(
        &self,
        context: RequestContext,
        request: pb::UpdateWeeklyPlanRequest,
    ) -> Result<pb::WeeklyPlan, Error> {
        let plan = request.weekly_plan.unwrap_or_default();
        let mut violations = FieldViolations::default();
        let parsed = parse_plan_name(&plan.name);
        if parsed.is_none() {
            violations.add(
                "weekly_plan.name",
                format!(
                    "must be an {UNITS}/{{unit}}/{COLLECTION}/{{week}} name with a week like 2027-w05, got {:?}",
                    plan.name
                ),
            );
        }
        violations.require(
            plan.priorities.len() <= MAX_PRIORITIES,
            "weekly_plan.priorities",
            format!("at most {MAX_PRIORITIES} priorities"),
        );
        let p1 = plan.priorities.iter().filter(|p| p.level() == Level::P1).count();
        violations.require(
            p1 <= MAX_P1,
            "weekly_plan.priorities",
            format!("at most {MAX_P1} P1 priorities: a week with more has none"),
        );
        for (index, priority) in plan.priorities.iter().enumerate() {
            check_priority(priority, &format!("weekly_plan.priorities[{index}]"), &mut violations);
        }
        self.priority_references(&context, &plan.priorities, &mut violations)
            .await?;
        let now = self.now();
        if let Some((_, week)) = parsed {
            violations.require(
                week.start_micros() <= Week::of_micros(now).plus(MAX_WEEKS_AHEAD).start_micros(),
                "weekly_plan.name",
                format!("a week at most {MAX_WEEKS_AHEAD} weeks ahead"),
            );
            let marked = plan.priorities.iter().any(|p| p.outcome() != Outcome::Unspecified);
            violations.require(
                !marked || week.start_micros() <= now,
                "weekly_plan.priorities",
                "outcomes are marked once the week has started",
            );
        }
        violations.into_result()?;
        let (unit_id, week) = self.plan_unit(&plan.name, "weekly_plan.name").await?;
        self.access
            .check_owned(
                &context,
                Permission::CheckIn,
                ResourceKind::Objective,
                "",
                &unit_name(&unit_id),
            )
            .await?;
        if now >= week.plus(1).start_micros() {
            return Err(trellis_foundation::Error::FailedPrecondition(format!(
                "{} is locked: week {} has ended",
                plan.name, week
            ))
            .into());
        }
        let stored: Vec<StoredPriority> = plan.priorities.iter().map(StoredPriority::from_proto).collect();
        let priorities =
            serde_json::to_string(&stored).map_err(|err| Error::Corrupt(format!("encoding priorities: {err}")))?;
        let txn = self.store.begin_write().await?;
        let existing = Entity::find_by_id((unit_id.clone(), week.id())).one(txn.txn()).await?;
        let version = existing.as_ref().map_or(0, |row| row.version);
        check_etag(&plan.etag, &etag_for(version), &plan.name)?;
        let row = Model {
            unit_id: unit_id.clone(),
            week: week.id(),
            week_start_micros: week.start_micros(),
            priorities,
            version: version + 1,
            updater: context.actor.clone(),
            update_micros: now,
        };
        let active = ActiveModel {
            unit_id: Set(row.unit_id.clone()),
            week: Set(row.week.clone()),
            week_start_micros: Set(row.week_start_micros),
            priorities: Set(row.priorities.clone()),
            version: Set(row.version),
            updater: Set(row.updater.clone()),
            update_micros: Set(row.update_micros),
        };
        let written = match existing {
            Some(_) => {
                Entity::update_many()
                    .set(active)
                    .filter(Column::UnitId.eq(unit_id.clone()))
                    .filter(Column::Week.eq(week.id()))
                    .filter(Column::Version.eq(version))
                    .exec(txn.txn())
                    .await?
                    .rows_affected
            }
            None => {
                Entity::insert(active)
                    .on_conflict(
                        OnConflict::columns([Column::UnitId, Column::Week])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(txn.txn())
                    .await?
            }
        };
        if written != 1 {
            return Err(trellis_foundation::Error::StaleEtag { resource: plan.name }.into());
        }
        txn.commit().await?;
        to_proto(&unit_id, week, Some(&row), now)
    }

    /// Key results that are not in the graph (or out of the caller's
    /// sight) and initiatives that do not exist, as violations.
    async fn priority_references(
        &self,
        context: &RequestContext,
        priorities: &[pb::Priority],
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        let key_results: Vec<String> = priorities
            .iter()
            .filter(|p| Kind::of_name(&p.key_result) == Some(Kind::KeyResult))
            .map(|p| p.key_result.clone())
            .collect();
        if !key_results.is_empty() {
            // Only whether each is there matters here, not whom it serves.
            let missing = self.judge(context, "", &key_results).await?.missing;
            for (index, priority) in priorities.iter().enumerate() {
                if missing.contains(&priority.key_result) {
                    violations.add(
                        format!("weekly_plan.priorities[{index}].key_result"),
                        format!("{} does not exist", priority.key_result),
                    );
                }
            }
        }
        let ids: Vec<String> = priorities
            .iter()
            .filter_map(|p| parse_name(&p.initiative, initiatives::COLLECTION).map(str::to_owned))
            .collect();
        if !ids.is_empty() {
            let found: Vec<String> = initiative::Entity::find()
                .filter(initiative::Column::Id.is_in(ids))
                .all(self.store.db.conn())
                .await?
                .into_iter()
                .map(|row| row.id)
                .collect();
            for (index, priority) in priorities.iter().enumerate() {
                let Some(id) = parse_name(&priority.initiative, initiatives::COLLECTION) else {
                    continue;
                };
                if !found.iter().any(|found| found == id) {
                    violations.add(
                        format!("weekly_plan.priorities[{index}].initiative"),
                        format!("{} does not exist", priority.initiative),
                    );
                }
            }
        }
        Ok(())
    }

    /// A unit's written plans, newest week first.
    pub async fn list_weekly_plans(
        &self,
        context: RequestContext,
        request: pb::ListWeeklyPlansRequest,
    ) -> Result<pb::ListWeeklyPlansResponse, Error> {
        let size = page_size(request.page_size)?;
        let unit_id = crate::names::unit_id(&request.parent, "parent")?.to_owned();
        let after: Option<i64> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListWeeklyPlans", &request.parent)?;
        queries::find_existing(self.store.db.conn(), &unit_id, &request.parent).await?;
        self.access
            .reader(&context)
            .await
            .check(ResourceKind::OrgUnit, &unit_id, false, &request.parent)?;
        let mut select = Entity::find().filter(Column::UnitId.eq(unit_id.clone()));
        if let Some(after) = after {
            select = select.filter(Column::WeekStartMicros.lt(after));
        }
        let rows = select
            .order_by_desc(Column::WeekStartMicros)
            .limit(size + 1)
            .all(self.store.db.conn())
            .await?;
        let (rows, next) = trellis_foundation::paging::split_page(rows, size, |row| row.week_start_micros);
        let now = self.now();
        let mut plans = Vec::with_capacity(rows.len());
        for row in &rows {
            let week = Week::of_micros(row.week_start_micros);
            plans.push(to_proto(&unit_id, week, Some(row), now)?);
        }
        Ok(pb::ListWeeklyPlansResponse {
            weekly_plans: plans,
            next_page_token: next
                .map(|position| {
                    self.store
                        .page_tokens
                        .encode("ListWeeklyPlans", &request.parent, &position)
                })
                .unwrap_or_default(),
        })
    }

    /// This week's priorities owned by one of `names` without an outcome.
    pub(crate) async fn owed_priorities(&self, names: &[String]) -> Result<Vec<pb::OwedPriority>, Error> {
        let week = Week::of_micros(self.now());
        // Only plans whose text names one of them as an owner are read;
        // the exact check follows on the parsed priorities.
        let mut named = sea_orm::Condition::any();
        for name in names {
            let owner = serde_json::to_string(name).map_err(|err| Error::Corrupt(format!("encoding {name}: {err}")))?;
            named = named.add(Column::Priorities.contains(format!("\"owner\":{owner}")));
        }
        let rows = Entity::find()
            .filter(Column::WeekStartMicros.eq(week.start_micros()))
            .filter(named)
            .all(self.store.db.conn())
            .await?;
        let mut owed = Vec::new();
        for row in &rows {
            for (index, priority) in priorities_of(row)?.iter().enumerate() {
                if priority.outcome.is_empty() && names.contains(&priority.owner) {
                    owed.push(pb::OwedPriority {
                        weekly_plan: plan_name(&row.unit_id, week),
                        index: i32::try_from(index).unwrap_or(i32::MAX),
                        priority: Some(priority.to_proto()),
                    });
                }
            }
        }
        Ok(owed)
    }
}

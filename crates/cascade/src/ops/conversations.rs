//! The rhythm's conversations as callers see them: get, list, close, and a
//! person's inbox. A conversation is read as its subject is (a key result
//! as its objective, a metric as itself), so a private subject's
//! conversations stay inside the owning unit's reach.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use trellis_access::{ORG_ROOT, Permission, Reader, Resource, ResourceKind, unit_id};
use trellis_foundation::{
    FieldViolations, RequestContext,
    context::Caller,
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    names::parse_name,
    time::now_micros,
};
use trellis_proto::cascade::v1 as pb;

use crate::{
    error::Error,
    ops::RhythmOps,
    store::{
        codec::conversation_to_proto,
        conversations::{CLOSED, COLOUR_CHANGED, MISSED_CHECK_IN, OPEN},
        entity::{
            conversation::{Column, Entity, Model},
            escalation,
        },
    },
};

pub const COLLECTION: &str = "conversations";
/// The longest closing note.
pub const MAX_NOTE_CHARS: usize = 4_000;
/// Conversations per inbox list.
pub const INBOX_LIMIT: u64 = 1_000;

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new("person", Expr::col(Column::Person), FieldKind::Text),
        FilterField::new("subject", Expr::col(Column::Subject), FieldKind::Text),
        FilterField::new("org_unit", Expr::col(Column::OrgUnit), FieldKind::Text),
        FilterField::new("state", Expr::col(Column::State), FieldKind::Enum(&[OPEN, CLOSED])),
        FilterField::new(
            "reason",
            Expr::col(Column::Reason),
            FieldKind::Enum(&[COLOUR_CHANGED, MISSED_CHECK_IN]),
        ),
    ]
}

/// The kind the access policy reads a conversation's subject as.
fn subject_kind(row: &Model) -> ResourceKind {
    if row.subject.starts_with("healthMetrics/") {
        ResourceKind::HealthMetric
    } else {
        ResourceKind::Objective
    }
}

fn owning_unit(row: &Model) -> &str {
    unit_id(&row.org_unit).unwrap_or(ORG_ROOT)
}

fn readable(reader: &Reader, row: &Model) -> bool {
    reader.may_read(subject_kind(row), owning_unit(row), row.private)
}

/// The names the caller goes by: its token's subject and email, or the
/// actor it declared when no authentication is configured.
fn caller_names(context: &RequestContext) -> Vec<String> {
    match &context.caller {
        Caller::Verified(principal) => std::iter::once(principal.subject.clone())
            .chain(principal.email.clone())
            .collect(),
        Caller::Unchecked | Caller::System => vec![context.actor.clone()],
    }
}

impl RhythmOps {
    /// The readable conversation `name`, or NOT_FOUND.
    async fn find(&self, reader: &Reader, name: &str, field: &str) -> Result<Model, Error> {
        let id = parse_name(name, COLLECTION).ok_or_else(|| {
            trellis_foundation::Error::invalid(field, format!("must be a {COLLECTION}/{{id}} name, got {name:?}"))
        })?;
        match self.conversations.get(id).await? {
            Some(row) if readable(reader, &row) => Ok(row),
            _ => Err(Error::NotFound { name: name.to_owned() }),
        }
    }

    /// Rows as the API shows them, each with its escalations.
    async fn shown(&self, rows: Vec<Model>) -> Result<Vec<pb::Conversation>, Error> {
        let missed: Vec<String> = rows
            .iter()
            .filter(|row| row.reason == MISSED_CHECK_IN)
            .map(|row| row.id.clone())
            .collect();
        let escalations = self.conversations.escalations(&missed).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let steps: Vec<&escalation::Model> = escalations
                    .iter()
                    .filter(|step| step.conversation_id == row.id)
                    .collect();
                conversation_to_proto(row, &steps)
            })
            .collect())
    }

    pub async fn get(
        &self,
        context: RequestContext,
        request: pb::GetConversationRequest,
    ) -> Result<pb::Conversation, Error> {
        let reader = self.access.reader(&context).await;
        let row = self.find(&reader, &request.name, "name").await?;
        Ok(self.shown(vec![row]).await?.remove(0))
    }

    /// Newest first (ids sort so).
    pub async fn list(
        &self,
        context: RequestContext,
        request: pb::ListConversationsRequest,
    ) -> Result<pb::ListConversationsResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListConversations",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let rows = page
            .fetch(Entity::find(), Column::Id, self.conversations.db().conn())
            .await?;
        let (rows, next_page_token) = page.split(rows, |row| row.id.clone());
        let reader = self.access.reader(&context).await;
        let rows = rows.into_iter().filter(|row| readable(&reader, row)).collect();
        Ok(pb::ListConversationsResponse {
            conversations: self.shown(rows).await?,
            next_page_token,
        })
    }

    pub async fn close(
        &self,
        context: RequestContext,
        request: pb::CloseConversationRequest,
    ) -> Result<pb::Conversation, Error> {
        let mut violations = FieldViolations::default();
        if parse_name(&request.name, COLLECTION).is_none() {
            violations.add(
                "name",
                format!("must be a {COLLECTION}/{{id}} name, got {:?}", request.name),
            );
        }
        let note = request.note.trim();
        violations.require(!note.is_empty(), "note", "required: why it moved and what will be done");
        violations.require(
            note.chars().count() <= MAX_NOTE_CHARS,
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        );
        violations.into_result()?;
        let reader = self.access.reader(&context).await;
        let row = self.find(&reader, &request.name, "name").await?;
        if row.state != OPEN {
            return Err(trellis_foundation::Error::FailedPrecondition(format!(
                "{} was closed already by {}",
                request.name, row.closed_by
            ))
            .into());
        }
        self.may_close(&context, &row).await?;
        let closed = self
            .conversations
            .close(&row.id, note, &context.actor, now_micros())
            .await?
            .ok_or_else(|| trellis_foundation::Error::StaleEtag {
                resource: request.name.clone(),
            })?;
        Ok(self.shown(vec![closed]).await?.remove(0))
    }

    /// Its person, whoever a missed check-in reached, and editors of the
    /// owning unit may close a conversation.
    async fn may_close(&self, context: &RequestContext, row: &Model) -> Result<(), Error> {
        let names = caller_names(context);
        if names.contains(&row.person) {
            return Ok(());
        }
        let escalated = self.conversations.escalations(std::slice::from_ref(&row.id)).await?;
        if escalated.iter().any(|step| names.contains(&step.person)) {
            return Ok(());
        }
        let unit = owning_unit(row);
        let resource = Resource::owned(subject_kind(row), &row.id, unit).private(row.private);
        Ok(self.access.check(context, Permission::EditOkrs, &resource).await?)
    }

    /// A person's open conversations and the missed check-ins escalated to
    /// them (the caller's, when no person is named).
    pub async fn inbox(&self, context: RequestContext, request: pb::GetInboxRequest) -> Result<pb::Inbox, Error> {
        let person = request.person.trim();
        if person.chars().count() > 320 {
            return Err(trellis_foundation::Error::invalid("person", "must be at most 320 characters").into());
        }
        let names = if person.is_empty() {
            caller_names(&context)
        } else {
            vec![person.to_owned()]
        };
        let reader = self.access.reader(&context).await;
        let own = Entity::find()
            .filter(Column::Person.is_in(names.clone()))
            .filter(Column::State.eq(OPEN))
            .order_by_asc(Column::Id)
            .limit(INBOX_LIMIT)
            .all(self.conversations.db().conn())
            .await?
            .into_iter()
            .filter(|row| readable(&reader, row))
            .collect();
        let escalated = self
            .conversations
            .escalated_to(&names, INBOX_LIMIT)
            .await?
            .into_iter()
            .filter(|row| readable(&reader, row))
            .collect();
        Ok(pb::Inbox {
            person: names.first().cloned().unwrap_or_default(),
            conversations: self.shown(own).await?,
            escalated: self.shown(escalated).await?,
            priorities: self.owed_priorities(&names).await?,
        })
    }
}

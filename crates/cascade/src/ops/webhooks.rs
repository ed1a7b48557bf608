//! Webhook subscriptions and their deliveries (`background/webhooks.rs`
//! sends them). Only an admin of the whole org may see or change them: a
//! webhook receives every change of the company.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use trellis_access::{ORG_ROOT, Permission, Resource};
use trellis_foundation::{
    FieldViolations, RequestContext, Store,
    etag::{check_etag, etag_for},
    mask::update_paths,
    members,
    names::id_or_generate,
    paging::page_size,
    time::{now_micros, to_timestamp},
};
use trellis_proto::cascade::v1::{self as pb, webhook_delivery::State};

use crate::{
    error::Error,
    store::entity::{
        webhook::{ActiveModel, Column, Entity, Model},
        webhook_delivery,
    },
};

pub const COLLECTION: &str = "webhooks";
/// Webhooks one company may have.
pub const MAX_WEBHOOKS: u64 = 100;
const MAX_URL: usize = 2_048;
const MAX_DISPLAY_NAME: usize = 200;
const MAX_EVENT_TYPES: usize = 50;
const MAX_EVENT_TYPE: usize = 200;
const SECRET_LENGTHS: std::ops::RangeInclusive<usize> = 24..=256;
const UPDATABLE: &[&str] = &["display_name", "url", "event_types", "secret", "paused"];

/// Webhook subscriptions, on the cascade's store.
#[derive(Debug, Clone)]
pub struct WebhookOps {
    pub(crate) store: Store,
    pub(crate) access: trellis_access::Access,
}

/// Whether a CloudEvent of type `event_type` goes to a webhook asking for
/// `wanted` (exact types, or prefixes ending in `*`; none is every type).
pub fn wants(wanted: &[String], event_type: &str) -> bool {
    wanted.is_empty()
        || wanted.iter().any(|wanted| match wanted.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => wanted == event_type,
        })
}

/// `https://`, or `http://` to this host; the reason otherwise.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("is not a URL: {err}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials; the signature proves who sends".into());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => return Err("has no host".into()),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("must be https:// (plain http:// only to this host)".into()),
        scheme => Err(format!("must be https://, not {scheme}://")),
    }
}

fn check_fields(input: &pb::Webhook, fields: &[&str], creating: bool, violations: &mut FieldViolations) {
    for field in fields {
        let path = format!("webhook.{field}");
        match *field {
            "display_name" => violations.require_max_len(&input.display_name, MAX_DISPLAY_NAME, &path),
            "url" => {
                violations.require_non_empty(&input.url, &path);
                violations.require_max_len(&input.url, MAX_URL, &path);
                if !input.url.is_empty()
                    && input.url.len() <= MAX_URL
                    && let Err(reason) = check_url(&input.url)
                {
                    violations.add(path, format!("{:?} {reason}", input.url));
                }
            }
            "event_types" => {
                violations.require(
                    input.event_types.len() <= MAX_EVENT_TYPES,
                    &path,
                    format!("at most {MAX_EVENT_TYPES} event types"),
                );
                for (index, event_type) in input.event_types.iter().take(MAX_EVENT_TYPES).enumerate() {
                    let body = event_type.strip_suffix('*').unwrap_or(event_type);
                    let shaped = !event_type.is_empty()
                        && event_type.len() <= MAX_EVENT_TYPE
                        && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
                    violations.require(
                        shaped,
                        format!("{path}[{index}]"),
                        format!(
                            "must be a CloudEvent type like trellis.okr.v1.Objective.updated, or a prefix ending \
                             in * (letters, digits, . and _; at most {MAX_EVENT_TYPE} characters), got {event_type:?}"
                        ),
                    );
                }
            }
            "secret" if creating || !input.secret.is_empty() => violations.require(
                SECRET_LENGTHS.contains(&input.secret.chars().count()),
                &path,
                format!(
                    "must be {} to {} characters (a random one: openssl rand -base64 32)",
                    SECRET_LENGTHS.start(),
                    SECRET_LENGTHS.end()
                ),
            ),
            _ => {}
        }
    }
}

impl WebhookOps {
    pub fn new(store: Store) -> WebhookOps {
        WebhookOps {
            store,
            access: trellis_access::Access::open(),
        }
    }

    pub fn with_access(self, access: trellis_access::Access) -> WebhookOps {
        WebhookOps { access, ..self }
    }

    async fn check_admin(&self, context: &RequestContext) -> Result<(), Error> {
        Ok(self
            .access
            .check(context, Permission::SetIamPolicy, &Resource::org_unit(ORG_ROOT))
            .await?)
    }

    async fn to_proto(&self, row: &Model) -> Result<pb::Webhook, Error> {
        let count = |state: State| {
            webhook_delivery::Entity::find()
                .filter(webhook_delivery::Column::WebhookId.eq(row.id.clone()))
                .filter(webhook_delivery::Column::State.eq(state.as_str_name()))
                .count(self.store.db.conn())
        };
        Ok(pb::Webhook {
            name: format!("{COLLECTION}/{}", row.id),
            display_name: row.display_name.clone(),
            url: row.url.clone(),
            event_types: members::decode(&row.event_types),
            secret: String::new(),
            paused: row.paused,
            create_time: Some(to_timestamp(row.create_micros)),
            update_time: Some(to_timestamp(row.update_micros)),
            etag: etag_for(row.version),
            creator: row.creator.clone(),
            pending_deliveries: i64::try_from(count(State::Pending).await?).unwrap_or(i64::MAX),
            dead_lettered_deliveries: i64::try_from(count(State::DeadLettered).await?).unwrap_or(i64::MAX),
        })
    }

    pub async fn create_webhook(
        &self,
        context: RequestContext,
        request: pb::CreateWebhookRequest,
    ) -> Result<pb::Webhook, Error> {
        let input = request.webhook.clone().unwrap_or_default();
        let mut violations = FieldViolations::default();
        let id = id_or_generate(&request.webhook_id, "webhook_id", &mut violations);
        check_fields(&input, UPDATABLE, true, &mut violations);
        violations.into_result()?;
        self.check_admin(&context).await?;
        let now = now_micros();
        let row = Model {
            id: id.clone(),
            display_name: input.display_name.trim().to_owned(),
            url: input.url.clone(),
            event_types: members::encode(&input.event_types),
            secret: input.secret.clone(),
            paused: input.paused,
            creator: context.actor.clone(),
            version: 1,
            create_micros: now,
            update_micros: now,
        };
        let name = format!("{COLLECTION}/{id}");
        let shown = self.to_proto(&row).await?;
        self.store
            .create_once(&context, "CreateWebhook", &request, move |txn| async move {
                if Entity::find_by_id(row.id.clone()).one(txn.txn()).await?.is_some() {
                    return Err(Error::Exists { name });
                }
                let existing = Entity::find().count(txn.txn()).await?;
                if existing >= MAX_WEBHOOKS {
                    return Err(trellis_foundation::Error::ResourceExhausted(format!(
                        "there are {existing} webhooks already, the most one company may have; delete one first"
                    ))
                    .into());
                }
                Entity::insert(active(&row)).exec_without_returning(txn.txn()).await?;
                Ok((txn, shown))
            })
            .await
    }

    pub async fn get_webhook(
        &self,
        context: RequestContext,
        request: pb::GetWebhookRequest,
    ) -> Result<pb::Webhook, Error> {
        self.check_admin(&context).await?;
        let row = self.find(&request.name, "name").await?;
        self.to_proto(&row).await
    }

    async fn find(&self, name: &str, field: &str) -> Result<Model, Error> {
        crate::store::find_by_name::<Entity>(self.store.db.conn(), name, COLLECTION, field).await
    }

    /// In id order.
    pub async fn list_webhooks(
        &self,
        context: RequestContext,
        request: pb::ListWebhooksRequest,
    ) -> Result<pb::ListWebhooksResponse, Error> {
        let size = page_size(request.page_size)?;
        let after: Option<String> = self.store.page_tokens.decode(&request.page_token, "ListWebhooks", "")?;
        self.check_admin(&context).await?;
        let mut select = Entity::find();
        if let Some(after) = after {
            select = select.filter(Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(Column::Id)
            .limit(size + 1)
            .all(self.store.db.conn())
            .await?;
        let (rows, next) = trellis_foundation::paging::split_page(rows, size, |row| row.id.clone());
        let mut webhooks = Vec::with_capacity(rows.len());
        for row in &rows {
            webhooks.push(self.to_proto(row).await?);
        }
        Ok(pb::ListWebhooksResponse {
            webhooks,
            next_page_token: next
                .map(|id| self.store.page_tokens.encode("ListWebhooks", "", &id))
                .unwrap_or_default(),
        })
    }

    pub async fn update_webhook(
        &self,
        context: RequestContext,
        request: pb::UpdateWebhookRequest,
    ) -> Result<pb::Webhook, Error> {
        let patch = request.webhook.unwrap_or_default();
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), UPDATABLE, &mut violations);
        check_fields(&patch, &paths, false, &mut violations);
        let row = self.find(&patch.name, "webhook.name").await?;
        violations.into_result()?;
        self.check_admin(&context).await?;
        check_etag(&patch.etag, &etag_for(row.version), &patch.name)?;
        let mut updated = row.clone();
        for path in &paths {
            match *path {
                "display_name" => updated.display_name = patch.display_name.trim().to_owned(),
                "url" => updated.url.clone_from(&patch.url),
                "event_types" => updated.event_types = members::encode(&patch.event_types),
                // Empty keeps the secret: it is never read back to resend.
                "secret" if !patch.secret.is_empty() => updated.secret.clone_from(&patch.secret),
                "paused" => updated.paused = patch.paused,
                _ => {}
            }
        }
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
        self.to_proto(&updated).await
    }

    pub async fn delete_webhook(
        &self,
        context: RequestContext,
        request: pb::DeleteWebhookRequest,
    ) -> Result<(), Error> {
        let row = self.find(&request.name, "name").await?;
        self.check_admin(&context).await?;
        check_etag(&request.etag, &etag_for(row.version), &request.name)?;
        let txn = self.store.begin_write().await?;
        let deleted = Entity::delete_many()
            .filter(Column::Id.eq(row.id.clone()))
            .filter(Column::Version.eq(row.version))
            .exec(txn.txn())
            .await?;
        if deleted.rows_affected != 1 {
            return Err(trellis_foundation::Error::StaleEtag { resource: request.name }.into());
        }
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::WebhookId.eq(row.id))
            .exec(txn.txn())
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_webhook_deliveries(
        &self,
        context: RequestContext,
        request: pb::ListWebhookDeliveriesRequest,
    ) -> Result<pb::ListWebhookDeliveriesResponse, Error> {
        use webhook_delivery::Column as Delivery;
        let size = page_size(request.page_size)?;
        let state = State::try_from(request.state).map_err(|_| {
            trellis_foundation::Error::invalid("state", format!("{} is not a delivery state", request.state))
        })?;
        let query = state.as_str_name();
        let after: Option<(i64, i64, String)> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListWebhookDeliveries", query)?;
        let row = self.find(&request.parent, "parent").await?;
        self.check_admin(&context).await?;
        let mut select = webhook_delivery::Entity::find().filter(Delivery::WebhookId.eq(row.id.clone()));
        if state != State::Unspecified {
            select = select.filter(Delivery::State.eq(state.as_str_name()));
        }
        if let Some((micros, sequence, event_id)) = after {
            select = select.filter(
                Condition::any()
                    .add(Delivery::CreateMicros.lt(micros))
                    .add(
                        Condition::all()
                            .add(Delivery::CreateMicros.eq(micros))
                            .add(Delivery::Sequence.lt(sequence)),
                    )
                    .add(
                        Condition::all()
                            .add(Delivery::CreateMicros.eq(micros))
                            .add(Delivery::Sequence.eq(sequence))
                            .add(Delivery::EventId.lt(event_id)),
                    ),
            );
        }
        let rows = select
            .order_by_desc(Delivery::CreateMicros)
            .order_by_desc(Delivery::Sequence)
            .order_by_desc(Delivery::EventId)
            .limit(size + 1)
            .all(self.store.db.conn())
            .await?;
        let (rows, next) = trellis_foundation::paging::split_page(rows, size, |delivery| {
            (delivery.create_micros, delivery.sequence, delivery.event_id.clone())
        });
        Ok(pb::ListWebhookDeliveriesResponse {
            deliveries: rows.iter().map(delivery_to_proto).collect(),
            next_page_token: next
                .map(|position| self.store.page_tokens.encode("ListWebhookDeliveries", query, &position))
                .unwrap_or_default(),
        })
    }
}

fn delivery_to_proto(row: &webhook_delivery::Model) -> pb::WebhookDelivery {
    let state = State::from_str_name(&row.state).unwrap_or(State::Unspecified);
    let micros = |micros: i64| (micros > 0).then(|| to_timestamp(micros));
    pb::WebhookDelivery {
        name: format!("{COLLECTION}/{}/deliveries/{}", row.webhook_id, row.event_id),
        event_id: row.event_id.clone(),
        event_type: row.event_type.clone(),
        subject: row.subject.clone(),
        state: state as i32,
        attempts: row.attempts,
        last_status_code: row.last_status_code,
        last_error: row.last_error.clone(),
        create_time: Some(to_timestamp(row.create_micros)),
        last_attempt_time: micros(row.last_attempt_micros),
        next_attempt_time: if state == State::Pending && row.attempts > 0 {
            micros(row.next_attempt_micros)
        } else {
            None
        },
    }
}

fn active(row: &Model) -> ActiveModel {
    ActiveModel {
        id: Set(row.id.clone()),
        display_name: Set(row.display_name.clone()),
        url: Set(row.url.clone()),
        event_types: Set(row.event_types.clone()),
        secret: Set(row.secret.clone()),
        paused: Set(row.paused),
        creator: Set(row.creator.clone()),
        version: Set(row.version),
        create_micros: Set(row.create_micros),
        update_micros: Set(row.update_micros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_exactly_or_by_prefix() {
        let wanted = vec![
            "trellis.health.v1.*".to_owned(),
            "trellis.okr.v1.Objective.updated".to_owned(),
        ];
        assert!(wants(&wanted, "trellis.health.v1.HealthMetric.updated"));
        assert!(wants(&wanted, "trellis.okr.v1.Objective.updated"));
        assert!(!wants(&wanted, "trellis.okr.v1.Objective.created"));
        assert!(wants(&[], "anything"));
    }

    #[test]
    fn receivers_are_https_or_on_this_host() {
        assert!(check_url("https://chat.example.com/hooks/1").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://[::1]:9/hook").is_ok());
        assert!(check_url("http://chat.example.com/hook").is_err());
        assert!(check_url("ftp://example.com/x").is_err());
        assert!(check_url("https://user:pw@example.com/").is_err());
        assert!(check_url("not a url").is_err());
    }
}

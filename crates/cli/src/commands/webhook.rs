//! `trellis webhook`: signed webhook subscriptions and their deliveries
//! (admin of the whole org).

use clap::{Subcommand, ValueEnum};
use prost_types::FieldMask;
use trellis_proto::cascade::v1::{
    CreateWebhookRequest, DeleteWebhookRequest, GetWebhookRequest, ListWebhookDeliveriesRequest, ListWebhooksRequest,
    UpdateWebhookRequest, Webhook, webhook_delivery::State,
};

use crate::{
    Page,
    client::{Clients, named},
    failure::Failure,
    output::{Column, Printer},
};

const WEBHOOK: &[Column] = &[
    ("NAME", "name"),
    ("URL", "url"),
    ("EVENT TYPES", "eventTypes"),
    ("PAUSED", "paused"),
    ("PENDING", "pendingDeliveries"),
    ("DEAD", "deadLetteredDeliveries"),
];
const DELIVERY: &[Column] = &[
    ("EVENT", "eventId"),
    ("TYPE", "eventType"),
    ("SUBJECT", "subject"),
    ("STATE", "state"),
    ("ATTEMPTS", "attempts"),
    ("STATUS", "lastStatusCode"),
    ("ERROR", "lastError"),
];

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to event types; the secret signs every delivery.
    Create {
        id: String,
        #[arg(long)]
        url: String,
        /// A CloudEvent type, or a prefix ending in `*`
        /// (`trellis.health.v1.*`); repeat for more; none sends every event.
        #[arg(long = "type")]
        event_types: Vec<String>,
        /// 24 to 256 characters (better in TRELLIS_WEBHOOK_SECRET than on
        /// the command line).
        #[arg(long, env = "TRELLIS_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    Get {
        id: String,
    },
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Queue events without sending them.
    Pause {
        id: String,
    },
    /// Send what was queued while paused, and go on.
    Resume {
        id: String,
    },
    Delete {
        id: String,
    },
    /// A webhook's deliveries, newest first.
    Deliveries {
        id: String,
        #[arg(long, value_enum)]
        state: Option<DeliveryState>,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeliveryState {
    Pending,
    Delivered,
    DeadLettered,
}

pub async fn run(command: WebhookCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut webhooks = clients.webhooks.clone();
    match command {
        WebhookCommand::Create {
            id,
            url,
            event_types,
            secret,
            display_name,
        } => {
            let made = webhooks
                .create_webhook(CreateWebhookRequest {
                    webhook: Some(Webhook {
                        display_name,
                        url,
                        event_types,
                        secret,
                        ..Webhook::default()
                    }),
                    webhook_id: id.clone(),
                    request_id: String::new(),
                })
                .await
                .map_err(Failure::call(format!("creating webhook {id}")))?
                .into_inner();
            printer.one(&made, WEBHOOK)
        }
        WebhookCommand::Get { id } => {
            let name = named("webhooks", &id);
            let shown = webhooks
                .get_webhook(GetWebhookRequest { name: name.clone() })
                .await
                .map_err(Failure::call(format!("reading {name}")))?
                .into_inner();
            printer.one(&shown, WEBHOOK)
        }
        WebhookCommand::List { page } => {
            let listed = webhooks
                .list_webhooks(ListWebhooksRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing webhooks"))?
                .into_inner();
            printer.list(&listed, "webhooks", WEBHOOK)
        }
        WebhookCommand::Pause { id } => set_paused(&mut webhooks, &id, true, printer).await,
        WebhookCommand::Resume { id } => set_paused(&mut webhooks, &id, false, printer).await,
        WebhookCommand::Delete { id } => {
            let name = named("webhooks", &id);
            webhooks
                .delete_webhook(DeleteWebhookRequest {
                    name: name.clone(),
                    etag: String::new(),
                })
                .await
                .map_err(Failure::call(format!("deleting {name}")))?;
            printer.say(format!("deleted {name}"));
            Ok(())
        }
        WebhookCommand::Deliveries { id, state, page } => {
            let parent = named("webhooks", &id);
            let state = match state {
                None => State::Unspecified,
                Some(DeliveryState::Pending) => State::Pending,
                Some(DeliveryState::Delivered) => State::Delivered,
                Some(DeliveryState::DeadLettered) => State::DeadLettered,
            };
            let listed = webhooks
                .list_webhook_deliveries(ListWebhookDeliveriesRequest {
                    parent: parent.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                    state: state as i32,
                })
                .await
                .map_err(Failure::call(format!("listing the deliveries of {parent}")))?
                .into_inner();
            printer.list(&listed, "deliveries", DELIVERY)
        }
    }
}

async fn set_paused(
    webhooks: &mut trellis_proto::cascade::v1::webhook_service_client::WebhookServiceClient<crate::client::Conn>,
    id: &str,
    paused: bool,
    printer: Printer,
) -> Result<(), Failure> {
    let name = named("webhooks", id);
    let updated = webhooks
        .update_webhook(UpdateWebhookRequest {
            webhook: Some(Webhook {
                name: name.clone(),
                paused,
                ..Webhook::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["paused".into()],
            }),
        })
        .await
        .map_err(Failure::call(format!("updating {name}")))?
        .into_inner();
    printer.one(&updated, WEBHOOK)
}

//! Access checks for this process: with `--auth-mode oidc`, one
//! [`Authorizer`] shared by every service here, its copy of the org tree
//! and grants kept by following the cascade's feed (in process when the
//! cascade runs here, from its peer otherwise); without, checks are open.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures::{StreamExt, stream::BoxStream};
use prost::Name;
use tokio::task::JoinHandle;
use tonic::Status;
use trellis_access::{Access, Authorizer, PolicyEngine};
use trellis_foundation::{ChangeFeed, trace::PeerChannel};
use trellis_proto::{
    access::v1::Policy,
    cascade::v1::{OrgUnit, org_service_client::OrgServiceClient},
    feed::v1::{ChangeEvent, WatchChangesRequest},
};

use crate::settings::{AuthMode, Settings};

/// How long the follower waits before opening the feed again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where the org tree and its grants come from.
pub enum OrgFeed {
    /// The cascade runs in this process.
    Local(ChangeFeed),
    Peer(OrgServiceClient<PeerChannel>),
}

impl OrgFeed {
    async fn open(&mut self, after_sequence: i64) -> Result<BoxStream<'static, Result<ChangeEvent, Status>>, Status> {
        // Every event of the cascade's feed is one of these two.
        let request = WatchChangesRequest {
            after_sequence,
            resource_types: vec![OrgUnit::full_name(), Policy::full_name()],
            heartbeats: true,
        };
        Ok(match self {
            OrgFeed::Local(feed) => feed.watch(request, None).boxed(),
            OrgFeed::Peer(client) => client.watch_changes(request).await?.into_inner().boxed(),
        })
    }
}

/// The checks this process's services make, and the task keeping them
/// current (none when checks are open).
pub struct AccessChecks {
    pub access: Access,
    follower: Option<JoinHandle<()>>,
}

impl AccessChecks {
    /// Open checks without authentication; with `oidc`, the policy
    /// (`--policy-file` or the default), which must parse and fit the
    /// schema or the server does not start.
    pub async fn start(settings: &Settings, feed: impl FnOnce() -> anyhow::Result<OrgFeed>) -> anyhow::Result<Self> {
        if settings.auth_mode == AuthMode::None {
            return Ok(AccessChecks {
                access: Access::open(),
                follower: None,
            });
        }
        let engine = match &settings.policy_file {
            Some(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .with_context(|| format!("reading the policy file {}", path.display()))?;
                PolicyEngine::new(&text).map_err(|err| anyhow::anyhow!("the policy file {}: {err}", path.display()))?
            }
            None => PolicyEngine::default_policy().map_err(anyhow::Error::msg)?,
        };
        let authorizer = Authorizer::new(engine);
        let follower = tokio::spawn(follow(Arc::clone(&authorizer), feed()?));
        Ok(AccessChecks {
            access: Access::checked(authorizer),
            follower: Some(follower),
        })
    }

    pub fn stop(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
    }
}

/// Applies the cascade's feed to the authorizer for the life of the
/// process, opening it again after any failure where it left off.
async fn follow(authorizer: Arc<Authorizer>, mut feed: OrgFeed) {
    loop {
        match feed.open(authorizer.cursor()).await {
            Ok(mut events) => {
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => authorizer.apply(&event),
                        Err(status) => {
                            tracing::warn!(error = %status.message(), "the org feed for access checks broke off");
                            break;
                        }
                    }
                }
            }
            Err(status) => tracing::warn!(error = %status.message(), "opening the org feed for access checks"),
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

//! `trellis audit verify`: walks a service's change feed from its first
//! event and checks every link of its hash chain (see docs/audit.md),
//! naming the first broken one.

use clap::{Subcommand, ValueEnum};
use futures::{Stream, StreamExt};
use prost::Name;
use serde_json::json;
use tonic::Status;
use trellis_proto::{
    access::v1::Policy,
    cascade::v1::OrgUnit,
    chain::{Broken, Verifier},
    feed::v1::{ChangeEvent, WatchChangesRequest},
};

use crate::{
    client::Clients,
    failure::Failure,
    output::{Format, Printer, print_json},
};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no stored event of a service's feed was changed, removed
    /// or reordered since it was written. Needs to read every event, so
    /// private ones too: run it as an admin of the whole org.
    Verify {
        #[arg(value_enum)]
        service: Service,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Service {
    Strategy,
    Okr,
    Health,
    /// The cascade's own feed: org units and grants.
    Cascade,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Strategy => "strategy",
            Service::Okr => "okr",
            Service::Health => "health",
            Service::Cascade => "cascade",
        }
    }
}

/// How a walk ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Every event up to the feed's head when the walk began links.
    Intact,
    Broken(Broken),
    /// The events from `from` to the head never arrived: one was removed
    /// (the feed stops at a gap), or the caller may not read them.
    Unread {
        from: i64,
        head: i64,
    },
}

pub async fn run(command: AuditCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let AuditCommand::Verify { service } = command;
    let request = WatchChangesRequest {
        after_sequence: 0,
        heartbeats: true,
        resource_types: match service {
            Service::Cascade => vec![OrgUnit::full_name(), Policy::full_name()],
            _ => Vec::new(),
        },
    };
    let doing = format!("reading the {} feed", service.name());
    let stream = match service {
        Service::Strategy => clients.strategy.clone().watch_changes(request).await,
        Service::Okr => clients.okr.clone().watch_changes(request).await,
        Service::Health => clients.health.clone().watch_changes(request).await,
        Service::Cascade => clients.org.clone().watch_changes(request).await,
    }
    .map_err(Failure::call(doing.clone()))?
    .into_inner();
    let mut verifier = Verifier::default();
    let outcome = walk(stream, &mut verifier).await.map_err(Failure::call(doing))?;
    report(service, &verifier, &outcome, printer)?;
    match outcome {
        Outcome::Intact => Ok(()),
        Outcome::Broken(broken) => Err(Failure::Tampered(format!("{} feed: {broken}", service.name()))),
        Outcome::Unread { from, head } => Err(Failure::Tampered(format!(
            "{} feed: event {from} never arrived (the head is {head}): it was removed from the store, \
             or it is about a private object you may not read (run as an org admin to check every \
             event); the chain holds up to event {}",
            service.name(),
            from - 1
        ))),
    }
}

/// Checks the feed's events in order up to the head the first heartbeat
/// names (events committed during the walk are left for the next one).
pub async fn walk(
    mut stream: impl Stream<Item = Result<ChangeEvent, Status>> + Unpin,
    verifier: &mut Verifier,
) -> Result<Outcome, Status> {
    let mut target: Option<i64> = None;
    let mut read_since_heartbeat = true;
    while let Some(event) = stream.next().await {
        let event = event?;
        if event.sequence == 0 {
            let head = *target.get_or_insert(event.head_sequence);
            if verifier.verified() >= head {
                return Ok(Outcome::Intact);
            }
            // A second heartbeat with nothing between: the rest is hidden.
            if !read_since_heartbeat {
                return Ok(Outcome::Unread {
                    from: verifier.verified() + 1,
                    head,
                });
            }
            read_since_heartbeat = false;
            continue;
        }
        read_since_heartbeat = true;
        if let Err(broken) = verifier.check(&event) {
            return Ok(Outcome::Broken(broken));
        }
        if target.is_some_and(|head| verifier.verified() >= head) {
            return Ok(Outcome::Intact);
        }
    }
    Err(Status::unavailable("the feed ended before its head was reached"))
}

fn report(service: Service, verifier: &Verifier, outcome: &Outcome, printer: Printer) -> Result<(), Failure> {
    let intact = *outcome == Outcome::Intact;
    if printer.format == Format::Json {
        let broken = match outcome {
            Outcome::Broken(Broken::Mismatch { sequence, .. }) => Some(*sequence),
            Outcome::Broken(Broken::Gap { expected, .. }) | Outcome::Unread { from: expected, .. } => Some(*expected),
            Outcome::Intact => None,
        };
        return print_json(&json!({
            "service": service.name(),
            "intact": intact,
            "verified": verifier.verified(),
            "lastHash": verifier.last_hash(),
            "firstBroken": broken,
        }));
    }
    if intact {
        printer.say(format!(
            "{}: {} events, every link intact; last hash {}",
            service.name(),
            verifier.verified(),
            verifier.last_hash()
        ));
    }
    Ok(())
}

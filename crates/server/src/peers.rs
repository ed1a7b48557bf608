//! The gRPC clients a process's services reach each other with: each peer
//! at its configured address (`--peer-*`), or this process itself, over a
//! lazily connected channel that carries the caller's trace context and
//! marks the call as coming from a Trellis service.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};
use trellis_cascade::{OrgOps, Source};
use trellis_foundation::{
    credentials::ServiceToken,
    trace::{PeerChannel, service_channel},
};
use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient,
    health::v1::health_metric_service_client::HealthMetricServiceClient, okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};

use crate::settings::{ServiceName, Settings};

/// The calls one service of this process makes to `peer` (this process
/// itself when `None`), traced and presenting the credentials of
/// `foundation::credentials`: its own work is done as `service`.
pub struct Caller<'a> {
    pub settings: &'a Settings,
    pub local_addr: SocketAddr,
    /// The principal of the service's own work, "trellis-health".
    pub service: &'static str,
    /// The server's own token, for peers in other processes.
    pub token: &'a ServiceToken,
}

impl Caller<'_> {
    fn channel(&self, peer: Option<&str>) -> anyhow::Result<PeerChannel> {
        let channel = peer_channel(self.settings, peer, self.local_addr)?;
        Ok(service_channel(
            channel,
            self.service,
            peer.is_none(),
            self.token.clone(),
        ))
    }
}

/// A generated client to `peer`, held to the message limit both ways.
macro_rules! peer_client {
    ($client:ident, $peer:expr, $caller:expr) => {
        $client::new($caller.channel($peer.as_deref())?)
            .max_decoding_message_size($caller.settings.max_message_bytes)
            .max_encoding_message_size($caller.settings.max_message_bytes)
    };
}

pub fn org_client(caller: &Caller<'_>) -> anyhow::Result<OrgServiceClient<PeerChannel>> {
    Ok(peer_client!(OrgServiceClient, caller.settings.peer_cascade, caller))
}

pub fn strategy_client(caller: &Caller<'_>) -> anyhow::Result<StrategyServiceClient<PeerChannel>> {
    Ok(peer_client!(
        StrategyServiceClient,
        caller.settings.peer_strategy,
        caller
    ))
}

pub fn okr_client(caller: &Caller<'_>) -> anyhow::Result<OkrServiceClient<PeerChannel>> {
    Ok(peer_client!(OkrServiceClient, caller.settings.peer_okr, caller))
}

pub fn health_client(caller: &Caller<'_>) -> anyhow::Result<HealthMetricServiceClient<PeerChannel>> {
    Ok(peer_client!(
        HealthMetricServiceClient,
        caller.settings.peer_health,
        caller
    ))
}

/// The feeds the cascade projection follows: its own org units in
/// process, the others from this process or their configured peers.
pub fn feed_sources(
    settings: &Settings,
    local_addr: SocketAddr,
    token: &ServiceToken,
    org: &OrgOps,
) -> anyhow::Result<Vec<Source>> {
    let wants = |service| settings.services.contains(&service);
    let max = settings.max_message_bytes;
    // Traced like every peer call, so a feed reader presents this
    // service's credentials.
    let caller = Caller {
        settings,
        local_addr,
        service: "trellis-cascade",
        token,
    };
    let channel = |service, peer: &Option<String>| -> anyhow::Result<Option<PeerChannel>> {
        if wants(service) || peer.is_some() {
            Ok(Some(caller.channel(peer.as_deref())?))
        } else {
            Ok(None)
        }
    };
    let strategy = match channel(ServiceName::Strategy, &settings.peer_strategy)? {
        Some(channel) => Source::Strategy(StrategyServiceClient::new(channel).max_decoding_message_size(max)),
        None => Source::Unconfigured("strategy"),
    };
    let okr = match channel(ServiceName::Okr, &settings.peer_okr)? {
        Some(channel) => Source::Okr(OkrServiceClient::new(channel).max_decoding_message_size(max)),
        None => Source::Unconfigured("okr"),
    };
    let health = match channel(ServiceName::Health, &settings.peer_health)? {
        Some(channel) => Source::Health(HealthMetricServiceClient::new(channel).max_decoding_message_size(max)),
        None => Source::Unconfigured("health"),
    };
    Ok(vec![Source::Org(org.store().feed.clone()), strategy, okr, health])
}

/// A lazily connected channel to a peer, or to this process itself (over
/// TLS when it serves TLS).
pub fn peer_channel(settings: &Settings, peer: Option<&str>, local_addr: SocketAddr) -> anyhow::Result<Channel> {
    let url = match peer {
        Some(peer) => peer.to_owned(),
        None if settings.serves_tls() => format!("https://{local_addr}"),
        None => format!("http://{local_addr}"),
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("peer address {url:?}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = crate::tls::client_config(settings, &url, peer.is_none())? {
        endpoint = endpoint.tls_config(tls).with_context(|| format!("TLS for {url}"))?;
    }
    Ok(endpoint.connect_lazy())
}

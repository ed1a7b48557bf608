//! Authentication as one tower layer: with `--auth-mode oidc`, every call
//! but a health probe must carry a bearer token the [`Verifier`] accepts.
//! The verified [`Principal`] rides on the request (the services read the
//! actor from it) and the token stays at hand for the peer calls the
//! request makes. A call without a good token is answered UNAUTHENTICATED
//! with a short reason before any handler runs; one over its principal's
//! request quota, RESOURCE_EXHAUSTED. A call from this same
//! process's own work (an escalation step, a feed reader) that presents the
//! process's internal credential, or a client certificate of the mTLS CA
//! whose common name is the service's, runs as that service's principal. A
//! service's call within a user's request presents both: it runs as the
//! user, with the service recorded as the actor on the user's behalf.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::{Status, codegen::http, transport::server::TlsConnectInfo};
use tower_layer::Layer;
use tower_service::Service;
use trellis_access::{Rejection, Verifier};

use crate::connections::ConnectionInfo;
use trellis_foundation::{
    context::{ActingService, Principal},
    credentials::{
        INTERNAL_HEADER, SERVICE_AUTHORIZATION_HEADER, SERVICE_HEADER, is_internal_secret, with_caller_token,
    },
};

/// The services whose own work may present the internal credential.
pub(crate) const SERVICES: [&str; 5] = [
    "trellis-strategy",
    "trellis-okr",
    "trellis-health",
    "trellis-cascade",
    "trellis-access",
];

/// The service a call from this same process's own work comes from, when
/// it presents the process's internal credential.
fn internal_caller(headers: &http::HeaderMap) -> Option<&'static str> {
    let presented = headers.get(INTERNAL_HEADER)?.to_str().ok()?;
    if !is_internal_secret(presented) {
        return None;
    }
    let service = headers.get(SERVICE_HEADER)?.to_str().ok()?;
    SERVICES.into_iter().find(|known| *known == service)
}

fn text(value: &Option<http::HeaderValue>) -> Option<&str> {
    value.as_ref().and_then(|value| value.to_str().ok())
}

fn unauthenticated(request: &HttpRequest, what: &str, rejection: &Rejection) -> HttpResponse {
    tracing::debug!(path = request.uri().path(), reason = %rejection, "unauthenticated");
    Status::unauthenticated(format!("{what}{rejection}")).into_http()
}

/// The service a verified client certificate names: its subject's common
/// name is one of [`SERVICES`]. The certificate chains to
/// `--tls-client-ca` (the handshake checked it), whose holder decides
/// who gets a certificate naming a service.
fn certified_service(request: &HttpRequest) -> Option<&'static str> {
    let info = request.extensions().get::<TlsConnectInfo<ConnectionInfo>>()?;
    let certificates = info.peer_certs()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(certificates.first()?.as_ref()).ok()?;
    let name = certificate.subject().iter_common_name().next()?.as_str().ok()?;
    SERVICES.into_iter().find(|service| *service == name)
}

type HttpRequest = http::Request<tonic::body::Body>;
type HttpResponse = http::Response<tonic::body::Body>;

/// Checks credentials when a verifier is set; passes everything when not.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Option<Arc<Verifier>>,
    quotas: Option<Arc<Quotas>>,
}

impl AuthLayer {
    /// `quota_per_second` requests a second per verified principal (0: no
    /// quota).
    pub fn new(verifier: Option<Arc<Verifier>>, quota_per_second: u32) -> AuthLayer {
        AuthLayer {
            verifier,
            quotas: Quotas::new(quota_per_second).map(Arc::new),
        }
    }
}

/// How many principals' buckets are kept before idle ones are dropped.
const TRIM_EVERY: u64 = 65_536;

/// A request quota per principal: a GCRA bucket of `per_second` a second,
/// bursts of twice that.
pub struct Quotas {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    per_second: u32,
    checks: AtomicU64,
}

impl Quotas {
    fn new(per_second: u32) -> Option<Quotas> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
        Some(Quotas {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            per_second,
            checks: AtomicU64::new(0),
        })
    }

    /// RESOURCE_EXHAUSTED once `subject` is over its quota.
    fn admit(&self, subject: &Arc<str>) -> Result<(), Status> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TRIM_EVERY == TRIM_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(subject).map_err(|_| {
            Status::resource_exhausted(format!(
                "over the request quota of {} a second for one principal; retry shortly",
                self.per_second
            ))
        })
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            quotas: self.quotas.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Option<Arc<Verifier>>,
    quotas: Option<Arc<Quotas>>,
}

impl<S> Service<HttpRequest> for AuthService<S>
where
    S: Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: HttpRequest) -> Self::Future {
        let mut inner = crate::ready_inner(&mut self.inner);
        let Some(verifier) = self.verifier.clone() else {
            return Box::pin(inner.call(request));
        };
        if request.uri().path().starts_with("/grpc.health.") {
            return Box::pin(inner.call(request));
        }
        let internal = internal_caller(request.headers()).or_else(|| certified_service(&request));
        if let Some(service) = internal
            && !request.headers().contains_key(http::header::AUTHORIZATION)
        {
            request.extensions_mut().insert(Arc::new(Principal {
                subject: service.to_owned(),
                email: None,
                groups: Vec::new(),
                service: true,
            }));
            return Box::pin(inner.call(request));
        }
        let quotas = self.quotas.clone();
        // Shared copies of the headers' bytes, not new strings.
        let authorization = request.headers().get(http::header::AUTHORIZATION).cloned();
        let service_authorization = request.headers().get(SERVICE_AUTHORIZATION_HEADER).cloned();
        Box::pin(async move {
            let verified = match verifier.verify(text(&authorization)).await {
                Ok(verified) => verified,
                Err(rejection) => return Ok(unauthenticated(&request, "", &rejection)),
            };
            // A service acting within a user's request: proven by the
            // internal credential or its client certificate, else by its
            // own token.
            let acting = match (internal, &service_authorization) {
                (Some(service), _) => Some((Arc::from(service), false)),
                (None, Some(_)) => match verifier.verify(text(&service_authorization)).await {
                    Ok(service) => Some((service.subject, !service.principal.service)),
                    Err(rejection) => return Ok(unauthenticated(&request, "the service credential: ", &rejection)),
                },
                (None, None) => None,
            };
            // Quotas hold whoever presented a token for the call, but for
            // Trellis's own services.
            let charged = match &acting {
                Some((service, true)) => Some(service),
                Some((_, false)) => None,
                None if verified.principal.service => None,
                None => Some(&verified.subject),
            };
            if let (Some(quotas), Some(subject)) = (&quotas, charged)
                && let Err(status) = quotas.admit(subject)
            {
                return Ok(status.into_http());
            }
            request.extensions_mut().insert(verified.principal);
            if let Some((service, _)) = acting {
                request.extensions_mut().insert(ActingService(service));
            }
            with_caller_token(verified.token, inner.call(request)).await
        })
    }
}

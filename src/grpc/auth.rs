//! Caller authentication and authorization for the payment API, as a layer
//! in front of every service: bearer tokens (`authorization: Bearer …`) or
//! verified client certificates identify the caller, its scopes decide what
//! it may call, and its rate limit how often. Health and reflection stay
//! open for probes and debugging.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::body::Body;
use tonic::transport::server::TlsConnectInfo;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::callers::{Callers, Identity, Scope, required_scope};
use super::rate_limit::RateLimiter;
use super::status::DOMAIN;
use crate::domain::Reason;
use crate::payments::Caller;

/// Whether callers must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every payment call needs a known caller with the scope for it.
    Required,
    /// Anyone may call, as `anonymous` (sandbox mode, or explicitly off).
    Off,
}

pub struct AuthSettings {
    pub mode: AuthMode,
    pub callers: Callers,
    pub limiter: RateLimiter,
    /// Most metadata entries a call may carry.
    pub max_metadata_entries: usize,
    /// Most bytes of metadata (names and values) a call may carry.
    pub max_metadata_bytes: usize,
}

#[derive(Clone)]
pub struct AuthLayer {
    settings: Arc<AuthSettings>,
}

impl AuthLayer {
    pub fn new(settings: AuthSettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            settings: self.settings.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    settings: Arc<AuthSettings>,
}

fn refusal(code: Code, reason: Reason, message: &str, scope: Option<Scope>) -> Status {
    let mut details = ErrorDetails::new();
    let metadata: std::collections::HashMap<String, String> = scope
        .map(|s| [("scope".to_owned(), s.as_str().to_owned())].into())
        .unwrap_or_default();
    details.set_error_info(reason.as_str(), DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

/// The common name of the verified client certificate, if the connection
/// has one.
fn certificate_name<B>(request: &Request<B>) -> Option<String> {
    let info = request
        .extensions()
        .get::<TlsConnectInfo<super::connections::Peer>>()?;
    let certs = info.peer_certs()?;
    let leaf = certs.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(cn)
}

impl AuthSettings {
    fn identify<B>(&self, request: &Request<B>) -> Result<Identity, Status> {
        let bearer = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| {
                value
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim)
            });
        match bearer {
            Some(Some(token)) => self.callers.by_token(token).ok_or_else(|| {
                refusal(
                    Code::Unauthenticated,
                    Reason::InvalidCredentials,
                    "the bearer token is not valid",
                    None,
                )
            }),
            Some(None) => Err(refusal(
                Code::Unauthenticated,
                Reason::InvalidCredentials,
                "the authorization metadata must be `Bearer <token>`",
                None,
            )),
            None => match certificate_name(request) {
                Some(name) => self.callers.by_certificate(&name).ok_or_else(|| {
                    refusal(
                        Code::Unauthenticated,
                        Reason::InvalidCredentials,
                        "the client certificate belongs to no configured caller",
                        None,
                    )
                }),
                None => Err(refusal(
                    Code::Unauthenticated,
                    Reason::MissingCredentials,
                    "a caller token (`authorization: Bearer <token>`) or client certificate is required",
                    None,
                )),
            },
        }
    }

    /// The caller the request may proceed as, or why it may not.
    fn admit<B>(&self, request: &Request<B>) -> Result<Option<Caller>, Status> {
        let Some(scope) = required_scope(request.uri().path()) else {
            return Ok(None);
        };
        let headers = request.headers();
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if headers.len() > self.max_metadata_entries || bytes > self.max_metadata_bytes {
            return Err(refusal(
                Code::ResourceExhausted,
                Reason::MetadataTooLarge,
                &format!(
                    "at most {} metadata entries of {} bytes in all are accepted",
                    self.max_metadata_entries, self.max_metadata_bytes
                ),
                None,
            ));
        }
        let caller = match self.mode {
            AuthMode::Off => Caller::anonymous(),
            AuthMode::Required => {
                let identity = self.identify(request)?;
                if !identity.scopes.contains(&scope) {
                    return Err(refusal(
                        Code::PermissionDenied,
                        Reason::MissingScope,
                        &format!("{} lacks the {} scope", identity.name, scope.as_str()),
                        Some(scope),
                    ));
                }
                let caller = Caller::owning(identity.name, identity.owner);
                if identity.scopes.contains(&Scope::AllOrders) {
                    caller.seeing_all()
                } else {
                    caller
                }
            }
        };
        if let Err(wait) = self.limiter.check(&caller.name) {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                Reason::RateLimited.as_str(),
                DOMAIN,
                std::collections::HashMap::new(),
            );
            details.set_retry_info(Some(wait));
            return Err(Status::with_error_details(
                Code::ResourceExhausted,
                format!("{} is over its rate limit", caller.name),
                details,
            ));
        }
        Ok(Some(caller))
    }
}

impl<S> Service<Request<Body>> for Authenticated<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, S::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.settings.admit(&request) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    tracing::Span::current().record("caller", caller.name.as_str());
                    if let Some(access) = request.extensions().get::<super::access::AccessRecord>()
                    {
                        access.set_caller(&caller.name);
                    }
                    request.extensions_mut().insert(caller);
                }
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                tracing::debug!(code = ?status.code(), "call refused before the API");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

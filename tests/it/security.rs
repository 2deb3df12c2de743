//! Only the services that should may call, only for what they may do, only
//! as often as allowed, over TLS when configured — and nothing secret
//! reaches a log line.

use std::collections::HashMap;

use kessai::grpc::callers::token_hash;
use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::helpers::{TestApp, assert_error, base_env, payjp_authorize, unique_key};

pub(crate) const CHECKOUT: &str = "tok_checkout_3b9f2c7d1e5a4f60";
pub(crate) const CHECKOUT_TWIN: &str = "tok_checkout2_8a1d7c3e9f0b2a46";
pub(crate) const REFUNDS: &str = "tok_refunds_5c2e8f1a7b3d9e04";
pub(crate) const READER: &str = "tok_reader_9e4b1f6c2a8d5e37";
pub(crate) const OTHER_SHOP: &str = "tok_othershop_1f7a3c9e5b2d8a60";
pub(crate) const OPERATOR: &str = "tok_operator_6d2b8e4a1c9f3e75";

fn fresh_sqlite() -> String {
    let dir = std::env::temp_dir().join("kessai-it");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}/{}.sqlite", dir.display(), ulid::Ulid::new())
}

fn callers() -> String {
    serde_json::json!([
        // One shop whose checkout charges and whose support refunds.
        {"name": "checkout", "token_sha256": token_hash(CHECKOUT), "scopes": ["charge", "read"], "owner": "shop"},
        {"name": "checkout-twin", "token_sha256": token_hash(CHECKOUT_TWIN), "scopes": ["charge", "read"], "owner": "shop"},
        {"name": "refunds", "token_sha256": token_hash(REFUNDS), "scopes": ["refund", "read"], "owner": "shop"},
        {"name": "reader", "token_sha256": token_hash(READER), "scopes": ["read"], "owner": "shop"},
        {"name": "checkout-service-cert", "certificate_cn": "checkout-service", "scopes": ["charge", "read"], "owner": "shop"},
        // Another shop on the same kessai, and an operator who sees all.
        {"name": "other-shop", "token_sha256": token_hash(OTHER_SHOP), "scopes": ["charge", "refund", "read"]},
        {"name": "operator", "token_sha256": token_hash(OPERATOR), "scopes": ["read", "orders:all"]},
    ])
    .to_string()
}

pub(crate) async fn with_auth(extra: &[(&str, &str)]) -> TestApp {
    let mut env = base_env(&fresh_sqlite());
    env.insert("KESSAI_AUTH".into(), "true".into());
    env.insert("KESSAI_CALLERS".into(), callers());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    TestApp::spawn_with(env).await
}

pub(crate) fn as_caller<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub(crate) async fn authorize_as(
    app: &TestApp,
    token: &str,
    key: &str,
) -> Result<v1::Order, Status> {
    let request = as_caller(token, payjp_authorize(key, 5_000, "pm_test_approve"));
    Ok(app
        .client
        .clone()
        .authorize(request)
        .await?
        .into_inner()
        .order
        .unwrap())
}

#[tokio::test]
async fn calls_without_valid_credentials_are_unauthenticated() {
    let app = with_auth(&[]).await;
    let anonymous = app
        .client
        .clone()
        .authorize(payjp_authorize(&unique_key("a"), 5_000, "pm_test_approve"))
        .await;
    assert_error(anonymous, Code::Unauthenticated, "MISSING_CREDENTIALS");
    let wrong = authorize_as(&app, "tok_not_a_caller", &unique_key("a")).await;
    let status = assert_error(wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert!(!status.message().contains("tok_not_a_caller"));
    let mut basic = Request::new(v1::ListOrdersRequest::default());
    basic
        .metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    assert_error(
        app.client.clone().list_orders(basic).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn scopes_decide_what_a_caller_may_do() {
    let app = with_auth(&[]).await;
    let order = authorize_as(&app, CHECKOUT, &unique_key("a"))
        .await
        .unwrap();
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("c"),
        order_id: order.id.clone(),
        ..Default::default()
    };
    app.client
        .clone()
        .capture(as_caller(CHECKOUT, capture))
        .await
        .unwrap();

    let refund = || v1::RefundRequest {
        idempotency_key: unique_key("r"),
        order_id: order.id.clone(),
        amount: Some(100),
        ..Default::default()
    };
    let status = assert_error(
        app.client
            .clone()
            .refund(as_caller(CHECKOUT, refund()))
            .await,
        Code::PermissionDenied,
        "MISSING_SCOPE",
    );
    assert_eq!(
        status.get_details_error_info().unwrap().metadata["scope"],
        "refund"
    );
    app.client
        .clone()
        .refund(as_caller(REFUNDS, refund()))
        .await
        .unwrap();

    let get = v1::GetOrderRequest {
        order_id: order.id.clone(),
        refresh: false,
    };
    app.client
        .clone()
        .get_order(as_caller(READER, get))
        .await
        .unwrap();
    app.client
        .clone()
        .list_orders(as_caller(READER, v1::ListOrdersRequest::default()))
        .await
        .unwrap();
    let void = v1::VoidRequest {
        idempotency_key: unique_key("v"),
        order_id: order.id.clone(),
    };
    assert_error(
        app.client.clone().void(as_caller(READER, void)).await,
        Code::PermissionDenied,
        "MISSING_SCOPE",
    );
    assert_error(
        authorize_as(&app, REFUNDS, &unique_key("a")).await,
        Code::PermissionDenied,
        "MISSING_SCOPE",
    );
}

#[tokio::test]
async fn the_history_records_who_did_what_and_keys_belong_to_their_caller() {
    let app = with_auth(&[]).await;
    let order = authorize_as(&app, CHECKOUT, "shared-key").await.unwrap();
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("c"),
        order_id: order.id.clone(),
        ..Default::default()
    };
    app.client
        .clone()
        .capture(as_caller(CHECKOUT, capture))
        .await
        .unwrap();
    let refund = v1::RefundRequest {
        idempotency_key: unique_key("r"),
        order_id: order.id.clone(),
        amount: Some(500),
        ..Default::default()
    };
    app.client
        .clone()
        .refund(as_caller(REFUNDS, refund))
        .await
        .unwrap();
    let id = kessai::domain::OrderId::parse(&order.id, "order_id").unwrap();
    let actors: Vec<(String, String)> = app
        .store
        .events(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event_type, e.actor))
        .collect();
    assert!(
        actors.contains(&("authorization.requested".into(), "checkout".into())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("capture.succeeded".into(), "checkout".into())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("refund.settled".into(), "refunds".into())),
        "{actors:?}"
    );
    // Another caller's identical key is another request.
    let twin = authorize_as(&app, CHECKOUT_TWIN, "shared-key")
        .await
        .unwrap();
    assert_ne!(twin.id, order.id);
}

#[tokio::test]
async fn health_and_reflection_stay_open_and_reflection_can_be_switched_off() {
    use tokio_stream::StreamExt;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    let list = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let app = with_auth(&[]).await;
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    let mut stream = ServerReflectionClient::new(app.channel.clone())
        .server_reflection_info(tokio_stream::iter([list()]))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(stream.next().await, Some(Ok(_))));

    let closed = with_auth(&[("KESSAI_REFLECTION", "false")]).await;
    let refused = ServerReflectionClient::new(closed.channel.clone())
        .server_reflection_info(tokio_stream::iter([list()]))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::Unimplemented);
}

#[tokio::test]
async fn a_caller_over_its_rate_limit_is_told_when_to_retry() {
    let app = with_auth(&[
        ("KESSAI_RATE_LIMIT_PER_SECOND", "1"),
        ("KESSAI_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let list = || as_caller(READER, v1::ListOrdersRequest::default());
    app.client.clone().list_orders(list()).await.unwrap();
    app.client.clone().list_orders(list()).await.unwrap();
    let status = assert_error(
        app.client.clone().list_orders(list()).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    let retry = status
        .get_details_retry_info()
        .unwrap()
        .retry_delay
        .unwrap();
    assert!(
        retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_secs(1),
        "{retry:?}"
    );
    // Another caller has its own bucket.
    app.client
        .clone()
        .list_orders(as_caller(CHECKOUT, v1::ListOrdersRequest::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn oversized_calls_are_refused() {
    let app = with_auth(&[("KESSAI_MAX_MESSAGE_BYTES", "4096")]).await;
    let mut request = payjp_authorize(&unique_key("a"), 5_000, "pm_test_approve");
    request.description = "x".repeat(200);
    request.metadata = (0..40)
        .map(|i| (format!("key{i}"), "v".repeat(200)))
        .collect();
    let big = app
        .client
        .clone()
        .authorize(as_caller(CHECKOUT, request))
        .await
        .unwrap_err();
    assert_eq!(big.code(), Code::ResourceExhausted, "{big:?}");
    assert_eq!(
        big.get_details_error_info().unwrap().reason,
        "MESSAGE_TOO_LARGE"
    );

    let mut crowded = as_caller(READER, v1::ListOrdersRequest::default());
    for i in 0..70 {
        crowded.metadata_mut().insert(
            tonic::metadata::MetadataKey::from_bytes(format!("x-extra-{i}").as_bytes()).unwrap(),
            "1".parse().unwrap(),
        );
    }
    assert_error(
        app.client.clone().list_orders(crowded).await,
        Code::ResourceExhausted,
        "METADATA_TOO_LARGE",
    );

    let mut huge = as_caller(READER, v1::ListOrdersRequest::default());
    huge.metadata_mut()
        .insert("x-huge", "h".repeat(20_000).parse().unwrap());
    assert_error(
        app.client.clone().list_orders(huge).await,
        Code::ResourceExhausted,
        "METADATA_TOO_LARGE",
    );

    // A 20,000-character key: refused with the reason, the key not quoted.
    let mut long_key = as_caller(READER, v1::ListOrdersRequest::default());
    long_key.metadata_mut().insert(
        tonic::metadata::MetadataKey::from_bytes("k".repeat(20_000).as_bytes()).unwrap(),
        "1".parse().unwrap(),
    );
    let refused = assert_error(
        app.client.clone().list_orders(long_key).await,
        Code::ResourceExhausted,
        "METADATA_TOO_LARGE",
    );
    assert!(refused.message().len() < 200, "{}", refused.message());

    // The refusals cost the connection nothing: the next call on it works.
    app.client
        .clone()
        .list_orders(as_caller(READER, v1::ListOrdersRequest::default()))
        .await
        .expect("the connection is still up");
    assert_eq!(app.count("orders").await, 0);
}

/// A CA, a server certificate for localhost and client certificates.
pub(crate) struct Pki {
    pub ca_pem: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
    pub stranger_cert: String,
    pub stranger_key: String,
}

pub(crate) fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let leaf = |names: Vec<String>, cn: &str, issuer: &CertifiedIssuer<'_, KeyPair>| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let authority = ca("kessai test CA");
    let stranger_ca = ca("somebody else's CA");
    let (server_cert, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        "kessai",
        &authority,
    );
    let (client_cert, client_key) = leaf(vec![], "checkout-service", &authority);
    let (stranger_cert, stranger_key) = leaf(vec![], "checkout-service", &stranger_ca);
    Pki {
        ca_pem: authority.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

pub(crate) fn write_pem(name: &str, pem: &str) -> String {
    let dir = std::env::temp_dir()
        .join("kessai-it")
        .join(format!("tls-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

pub(crate) fn tls_env(pki: &Pki, mutual: bool) -> HashMap<String, String> {
    let mut env = base_env(&fresh_sqlite());
    env.insert(
        "KESSAI_TLS_CERT_FILE".into(),
        write_pem("server.pem", &pki.server_cert),
    );
    env.insert(
        "KESSAI_TLS_KEY_FILE".into(),
        write_pem("server.key", &pki.server_key),
    );
    if mutual {
        env.insert(
            "KESSAI_TLS_CLIENT_CA_FILE".into(),
            write_pem("ca.pem", &pki.ca_pem),
        );
        env.insert("KESSAI_AUTH".into(), "true".into());
        env.insert("KESSAI_CALLERS".into(), callers());
    }
    env
}

async fn connect(
    addr: std::net::SocketAddr,
    tls: Option<ClientTlsConfig>,
) -> Result<PaymentServiceClient<Channel>, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://{addr}")).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(PaymentServiceClient::new(endpoint.connect().await?))
}

#[tokio::test]
async fn tls_serves_only_tls() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    let app = TestApp::spawn_with_tls(tls_env(&pki, false), Some(trust)).await;
    app.authorized_payjp(1_000).await;
    let plaintext = match connect(app.addr, None).await {
        Ok(mut client) => client
            .list_orders(v1::ListOrdersRequest::default())
            .await
            .err(),
        Err(_) => None,
    };
    assert!(
        plaintext.is_none_or(|status| status.code() != Code::Ok),
        "plaintext is refused"
    );
}

#[tokio::test]
async fn mutual_tls_identifies_the_caller_by_its_certificate() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let client = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost")
        .identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    let app = TestApp::spawn_with_tls(tls_env(&pki, true), Some(client)).await;
    let order = app.authorized_payjp(1_000).await;
    let id = kessai::domain::OrderId::parse(&order.id, "order_id").unwrap();
    let events = app.store.events(&id).await.unwrap();
    assert_eq!(
        events[0].actor, "checkout-service-cert",
        "the certificate's caller is in the history"
    );
    let refund = v1::RefundRequest {
        idempotency_key: unique_key("r"),
        order_id: order.id,
        ..Default::default()
    };
    assert_error(
        app.client.clone().refund(refund).await,
        Code::PermissionDenied,
        "MISSING_SCOPE",
    );

    // No client certificate, or one from another CA: no connection.
    let no_cert = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    let stranger = no_cert
        .clone()
        .identity(Identity::from_pem(&pki.stranger_cert, &pki.stranger_key));
    for tls in [no_cert, stranger] {
        let refused = match connect(app.addr, Some(tls)).await {
            Ok(mut client) => client
                .list_orders(v1::ListOrdersRequest::default())
                .await
                .is_err(),
            Err(_) => true,
        };
        assert!(refused, "a client without a trusted certificate is refused");
    }
}

//! Traces: a caller's W3C trace context continues through kessai's spans to
//! the provider's HTTP request, and the spans leave over OTLP (to a
//! collector this test serves) carrying ids, never card data.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chrono::Datelike;
use kessai::clock::SystemClock;
use kessai::proto::v1;
use kessai::sandbox::Sandbox;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message;
use tonic::metadata::MetadataValue;

use crate::helpers::{Backend, base_env, fresh_database, payjp_authorize, unique_key};
use crate::process::{KessaiProcess, provider_env};

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP trace receiver: `POST /v1/traces` with a protobuf body.
async fn collector() -> (SocketAddr, Received) {
    async fn export(State(spans): State<Received>, body: Bytes) -> Vec<u8> {
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
        let mut spans = spans.lock().unwrap();
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    let spans = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, spans)
}

/// An OTLP/gRPC trace receiver.
async fn grpc_collector() -> (SocketAddr, Received) {
    struct Collector(Received);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.0.lock().unwrap();
            for resource in request.into_inner().resource_spans {
                for scope in resource.scope_spans {
                    spans.extend(scope.spans);
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    let spans = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(Collector(spans.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    (addr, spans)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::IntValue(i) => i.to_string(),
            any_value::Value::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

/// Every string an exported span carries: name, attribute keys and
/// values, event names and attributes.
fn texts(span: &Span) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    let attributes = span
        .attributes
        .iter()
        .chain(span.events.iter().flat_map(|e| &e.attributes));
    for kv in attributes {
        out.push(kv.key.clone());
        if let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            out.push(match value {
                any_value::Value::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            });
        }
    }
    out.extend(span.events.iter().map(|e| e.name.clone()));
    out
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Whether `span` is `ancestor` or one of its descendants.
fn descends_from(spans: &HashMap<Vec<u8>, &Span>, span: &Span, ancestor: &Span) -> bool {
    let mut current = Some(span);
    while let Some(s) = current {
        if s.span_id == ancestor.span_id {
            return true;
        }
        current = spans.get(&s.parent_span_id).copied();
    }
    false
}

const CARD_NUMBER: &str = "5200000000001005";
const CVC: &str = "7319";

fn card_authorize(key: &str) -> v1::AuthorizeRequest {
    crate::helpers::card_authorize(key, 3_000, CARD_NUMBER, CVC, chrono::Utc::now().year() + 3)
}

fn traced<T>(message: T, trace_id: &str, parent_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    request
        .metadata_mut()
        .insert("traceparent", MetadataValue::try_from(traceparent).unwrap());
    request
        .metadata_mut()
        .insert("tracestate", MetadataValue::from_static("shop=checkout"));
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_trace_continues_through_kessai_to_the_provider() {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let (collector_addr, exported) = collector().await;
    let url = fresh_database(Backend::Sqlite).await;
    let mut env = base_env(&url);
    env.extend(provider_env(&sandbox));
    env.insert(
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        format!("http://{collector_addr}"),
    );
    env.insert("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into());
    let kessai = KessaiProcess::start(&env);
    let mut client = kessai.client().await;

    let trace_id = random_hex(16);
    let caller_span = random_hex(8);
    let key = unique_key("auth");
    let order = client
        .authorize(traced(
            payjp_authorize(&key, 5_000, "pm_test_approve"),
            &trace_id,
            &caller_span,
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let card_trace = random_hex(16);
    let card_key = unique_key("auth");
    let card_order = client
        .authorize(traced(
            card_authorize(&card_key),
            &card_trace,
            &random_hex(8),
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    // Without a traceparent, kessai starts a trace of its own.
    client
        .get_order(v1::GetOrderRequest {
            order_id: order.id.clone(),
            refresh: true,
        })
        .await
        .unwrap();
    // Health probes are not traced.
    let probe_trace = random_hex(16);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", kessai.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(traced(
            tonic_health::pb::HealthCheckRequest::default(),
            &probe_trace,
            &random_hex(8),
        ))
        .await
        .unwrap();
    let logs = kessai.logs();
    kessai.terminate();

    let spans = exported.lock().unwrap().clone();
    assert!(
        !spans
            .iter()
            .any(|s| hex::encode(&s.trace_id) == probe_trace),
        "a health probe was traced"
    );
    let trace = hex::decode(&trace_id).unwrap();
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let by_id: HashMap<Vec<u8>, &Span> = in_trace.iter().map(|s| (s.span_id.clone(), *s)).collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();

    // The server span is the caller's span's child.
    let server = in_trace
        .iter()
        .find(|s| s.name == "kessai.v1.PaymentService/Authorize")
        .unwrap_or_else(|| panic!("no server span in {names:?}"));
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(hex::encode(&server.parent_span_id), caller_span);
    assert_eq!(attribute(server, "rpc.system").as_deref(), Some("grpc"));

    // The handler's span names the order, the provider and the caller's key.
    let handler = in_trace
        .iter()
        .find(|s| s.name == "Authorize")
        .unwrap_or_else(|| panic!("no Authorize span in {names:?}"));
    assert!(descends_from(&by_id, handler, server));
    assert_eq!(
        attribute(handler, "order_id").as_deref(),
        Some(order.id.as_str())
    );
    assert_eq!(attribute(handler, "provider").as_deref(), Some("payjp"));
    assert_eq!(
        attribute(handler, "idempotency_key").as_deref(),
        Some(key.as_str())
    );

    // The provider call is a client span below it, with the provider's
    // idempotency key (the order id, for an authorization).
    let call = in_trace
        .iter()
        .find(|s| s.name == "payjp authorize")
        .unwrap_or_else(|| panic!("no provider span in {names:?}"));
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert!(descends_from(&by_id, call, handler));
    assert_eq!(
        attribute(call, "order_id").as_deref(),
        Some(order.id.as_str())
    );
    assert_eq!(attribute(call, "provider").as_deref(), Some("payjp"));
    assert_eq!(attribute(call, "operation").as_deref(), Some("authorize"));
    assert_eq!(
        attribute(call, "idempotency_key").as_deref(),
        Some(order.id.as_str())
    );
    assert_eq!(attribute(call, "outcome").as_deref(), Some("success"));

    // PAY.JP was sent the same trace, from inside the provider call's span,
    // with the caller's trace state.
    let received = sandbox.received().all();
    let to_payjp: Vec<_> = received
        .iter()
        .filter(|r| r.path.starts_with("/payjp/v2/payment_flows"))
        .filter(|r| r.trace_id() == Some(trace_id.as_str()))
        .collect();
    assert!(!to_payjp.is_empty(), "{received:?}");
    for request in &to_payjp {
        let parent = request
            .traceparent
            .as_deref()
            .unwrap()
            .split('-')
            .nth(2)
            .unwrap();
        let parent = by_id
            .get(&hex::decode(parent).unwrap())
            .unwrap_or_else(|| panic!("{parent} is not an exported span"));
        assert!(descends_from(&by_id, parent, call));
        assert_eq!(request.tracestate.as_deref(), Some("shop=checkout"));
    }

    // The card authorization: PaymentOptions got its trace too.
    assert!(
        received
            .iter()
            .any(|r| r.path.starts_with("/paymentoptions")
                && r.trace_id() == Some(card_trace.as_str())),
        "{received:?}"
    );
    let card_call = spans
        .iter()
        .find(|s| s.name == "paymentoptions authorize")
        .expect("the card authorization's provider span");
    assert_eq!(hex::encode(&card_call.trace_id), card_trace);
    assert_eq!(
        attribute(card_call, "order_id").as_deref(),
        Some(card_order.id.as_str())
    );

    // The refresh without a traceparent: a trace of kessai's own, with a
    // provider span of its own.
    let fetch = spans
        .iter()
        .find(|s| s.name == "payjp fetch")
        .expect("the refresh's provider span");
    assert_ne!(fetch.trace_id, trace);
    assert_eq!(
        attribute(fetch, "order_id").as_deref(),
        Some(order.id.as_str())
    );

    // No span, and no log line, carries the card number or the CVC.
    for span in &spans {
        for text in texts(span) {
            assert!(!text.contains(CARD_NUMBER), "{}: {text}", span.name);
            assert!(!text.contains(&CARD_NUMBER[6..12]), "{}: {text}", span.name);
            assert_ne!(text, CVC, "{}", span.name);
            let key = text.to_ascii_lowercase();
            assert!(
                !key.contains("cvc") && !key.contains("card_number"),
                "{}: {text}",
                span.name
            );
        }
    }
    let logs = serde_json::to_string(&logs).unwrap();
    assert!(!logs.contains(CARD_NUMBER));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace_instead_of_failing_the_call() {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let url = fresh_database(Backend::Sqlite).await;
    let mut env = base_env(&url);
    env.extend(provider_env(&sandbox));
    let kessai = KessaiProcess::start(&env);
    let mut client = kessai.client().await;
    let mut request = tonic::Request::new(payjp_authorize(
        &unique_key("auth"),
        1_000,
        "pm_test_approve",
    ));
    request.metadata_mut().insert(
        "traceparent",
        MetadataValue::from_static("00-not-a-trace-01"),
    );
    let order = client
        .authorize(request)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), v1::OrderStatus::Authorized);
    let sent = sandbox.received().all();
    let ids: Vec<&str> = sent.iter().filter_map(|r| r.trace_id()).collect();
    assert!(!ids.is_empty(), "the provider still gets a trace: {sent:?}");
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && *id != "00000000000000000000000000000000")
    );
    kessai.terminate();
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_can_leave_over_otlp_grpc() {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let (collector_addr, exported) = grpc_collector().await;
    let url = fresh_database(Backend::Sqlite).await;
    let mut env = base_env(&url);
    env.extend(provider_env(&sandbox));
    env.insert(
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        format!("http://{collector_addr}"),
    );
    env.insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into());
    let kessai = KessaiProcess::start(&env);
    let mut client = kessai.client().await;
    let trace_id = random_hex(16);
    let order = client
        .authorize(traced(
            payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve"),
            &trace_id,
            &random_hex(8),
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    kessai.terminate();

    let spans = exported.lock().unwrap().clone();
    let call = spans
        .iter()
        .find(|s| s.name == "payjp authorize")
        .unwrap_or_else(|| panic!("{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(hex::encode(&call.trace_id), trace_id);
    assert_eq!(
        attribute(call, "order_id").as_deref(),
        Some(order.id.as_str())
    );
    sandbox.stop().await;
}

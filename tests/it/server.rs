//! The server around the API: health, reflection, request ids, shutdown.

use std::time::Duration;

use kessai::proto::v1;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, TestApp};

async fn health(app: &TestApp, service: &str) -> ServingStatus {
    let response = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers");
    response.into_inner().status()
}

async fn eventually_serving(app: &TestApp, service: &str) {
    for _ in 0..50 {
        if health(app, service).await == ServingStatus::Serving {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service} never became SERVING");
}

#[tokio::test]
async fn liveness_and_readiness_answer_serving() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(health(&app, "").await, ServingStatus::Serving);
    eventually_serving(&app, "kessai.v1.PaymentService").await;
}

#[tokio::test]
async fn draining_turns_both_not_serving_and_finishes_calls_in_flight() {
    let mut env = crate::helpers::base_env(&format!(
        "sqlite://{}/{}.sqlite",
        std::env::temp_dir().join("kessai-it").display(),
        ulid::Ulid::new()
    ));
    env.insert("KESSAI_DRAIN_DELAY_SECS".into(), "2".into());
    let app = TestApp::spawn_with(env).await;
    eventually_serving(&app, "kessai.v1.PaymentService").await;
    let order = app.authorized_payjp(1_000).await;

    app.payjp.faults().set_latency(Duration::from_millis(800));
    let in_flight = {
        let mut client = app.client.clone();
        let id = order.id.clone();
        tokio::spawn(async move {
            client
                .capture(v1::CaptureRequest {
                    idempotency_key: "drain-capture".into(),
                    order_id: id,
                    ..Default::default()
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.shutdown_token().cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(health(&app, "").await, ServingStatus::NotServing);
    assert_eq!(
        health(&app, "kessai.v1.PaymentService").await,
        ServingStatus::NotServing
    );
    let captured = in_flight
        .await
        .unwrap()
        .expect("the call in flight finishes");
    assert_eq!(captured.into_inner().order.unwrap().amount_captured, 1_000);
}

#[tokio::test]
async fn reflection_lists_the_payment_service_in_both_versions() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(app.channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let Some(Ok(response)) = stream.next().await else {
        panic!("a reflection answer");
    };
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"kessai.v1.PaymentService".to_owned()),
        "{names:?}"
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1Client;
    let v1_request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut v1_stream = V1Client::new(app.channel.clone())
        .server_reflection_info(tokio_stream::iter([v1_request]))
        .await
        .expect("v1 reflection")
        .into_inner();
    assert!(matches!(v1_stream.next().await, Some(Ok(_))));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut request = tonic::Request::new(v1::GetOrderRequest {
        order_id: kessai::domain::OrderId::generate().to_string(),
        refresh: false,
    });
    request
        .metadata_mut()
        .insert("x-request-id", "req-from-caller".parse().unwrap());
    let status = app.client.clone().get_order(request).await.unwrap_err();
    assert_eq!(
        status.metadata().get("x-request-id").unwrap(),
        "req-from-caller"
    );

    let response = app
        .client
        .clone()
        .list_orders(v1::ListOrdersRequest::default())
        .await
        .unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .expect("a generated request id");
    assert_eq!(generated.len(), 26, "a ULID");
}

//! A collector kessai cannot reach is said once, at WARN, naming the
//! endpoint (without its credentials or the headers), however many batches
//! of spans fail after it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kessai::proto::v1;

use crate::process::KessaiProcess;

const WARNING: &str = "OTLP span export failed";

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn warnings(kessai: &KessaiProcess) -> Vec<serde_json::Value> {
    kessai.logs_starting(WARNING)
}

#[tokio::test]
async fn an_unreachable_collector_is_said_once_with_its_endpoint() {
    for (protocol, path) in [("http/protobuf", "/v1/traces"), ("grpc", "/")] {
        let port = closed_port();
        let env: HashMap<String, String> = [
            ("KESSAI_DATABASE_URL", crate::helpers::fresh_sqlite()),
            ("KESSAI_SANDBOX_STATE", "memory".into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://kessai:hunter2@127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.into()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=sesame42".into()),
            // A batch every 100 ms, each given up within half a second.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let kessai = KessaiProcess::start(&env);
        let mut client = kessai.client().await;
        let call = || v1::GetOrderRequest {
            order_id: "not-an-order".into(),
            ..Default::default()
        };
        let first_call = Instant::now();
        while warnings(&kessai).is_empty() {
            assert!(
                first_call.elapsed() < Duration::from_secs(10),
                "{protocol}: no warning within 10 s; the WARN lines: {:?}",
                kessai
                    .logs()
                    .into_iter()
                    .filter(|l| l["level"] == "WARN")
                    .collect::<Vec<_>>()
            );
            let _ = client.get_order(call()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Many more batches fail.
        for _ in 0..20 {
            let _ = client.get_order(call()).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let warned = warnings(&kessai);
        assert_eq!(warned.len(), 1, "{protocol}: {warned:?}");
        assert_eq!(warned[0]["level"], "WARN", "{protocol}: {warned:?}");
        assert_eq!(
            warned[0]["endpoint"],
            format!("http://127.0.0.1:{port}{path}"),
            "{protocol}: {warned:?}"
        );
        let text = serde_json::to_string(&kessai.logs()).unwrap();
        for secret in ["hunter2", "sesame42"] {
            assert!(!text.contains(secret), "{protocol}: {secret} in the logs");
        }
    }
}

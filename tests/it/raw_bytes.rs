//! Arbitrary bytes as the request message of every RPC: kessai answers each
//! with a code that names the caller's mistake (or serves a message that
//! happens to decode), never INTERNAL or UNKNOWN, writes no half-record, and
//! keeps serving.

use bytes::{Buf, BufMut};
use kessai::proto::v1;
use rand::{Rng, SeedableRng};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::helpers::{Backend, TestApp};

const METHODS: [&str; 7] = [
    "Authorize",
    "Capture",
    "Refund",
    "Void",
    "GetOrder",
    "ListOrders",
    "WatchOrderEvents",
];

/// Sends the bytes as they are, and reads whatever comes back as bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// Random bytes, or a valid message with a few bytes flipped.
fn case(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let mut bytes = if rng.random_bool(0.5) {
        let len = rng.random_range(0..300);
        (0..len).map(|_| rng.random()).collect()
    } else {
        let valid = v1::ListOrdersRequest {
            page_size: 5,
            merchant_reference: "r".into(),
            ..Default::default()
        };
        prost::Message::encode_to_vec(&valid)
    };
    for _ in 0..rng.random_range(0..4) {
        if !bytes.is_empty() {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_request_bytes_never_reach_internal() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65_7373_6169);
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..60 {
        for method in METHODS {
            let bytes = case(&mut rng);
            grpc.ready().await.expect("the connection is up");
            let path =
                http::uri::PathAndQuery::try_from(format!("/kessai.v1.PaymentService/{method}"))
                    .unwrap();
            let code = if method == "WatchOrderEvents" {
                let request = tonic::Request::new(bytes.clone());
                match grpc.server_streaming(request, path, Raw).await {
                    Ok(mut stream) => {
                        // A stream that opened: its first message or end, briefly.
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_millis(20),
                            stream.get_mut().message(),
                        )
                        .await;
                        Code::Ok
                    }
                    Err(status) => status.code(),
                }
            } else {
                match grpc
                    .unary(tonic::Request::new(bytes.clone()), path, Raw)
                    .await
                {
                    Ok(_) => Code::Ok,
                    Err(status) => status.code(),
                }
            };
            assert!(
                !matches!(code, Code::Internal | Code::Unknown),
                "round {round}, {method}, {bytes:02x?}: {code:?}"
            );
            *codes.entry(format!("{method} {code:?}")).or_default() += 1;
        }
    }
    eprintln!("{codes:#?}");
    assert!(
        codes.keys().any(|k| k.ends_with("InvalidArgument")),
        "{codes:?}"
    );
    // Nothing half-written: no refused call left an order or a key.
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
    app.client
        .clone()
        .list_orders(v1::ListOrdersRequest::default())
        .await
        .expect("still serving");
}

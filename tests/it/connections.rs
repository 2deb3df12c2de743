//! Connection discipline on the gRPC port: a capped number of connections,
//! a deadline for the first bytes, and idle connections closed — while a
//! connection with a call or a stream in progress is left alone. The
//! webhook, metrics and console listeners keep the same, with a header
//! deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, base_env, fresh_database, fresh_sqlite};
use crate::process::KessaiProcess;

/// The HTTP/2 client preface and an empty SETTINGS frame: a complete
/// handshake from the client's side.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn spawn(settings: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = base_env(&fresh_database(Backend::Sqlite).await);
    for (name, value) in settings {
        env.insert((*name).into(), (*value).into());
    }
    TestApp::spawn_with(env).await
}

/// How long until kessai closes `socket` (reading and dropping whatever it
/// sends), at most `within`; `None` if it stays open.
async fn closed_after(socket: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A header line every 300 ms, at most 20, until kessai closes `slow`.
async fn trickle_headers(slow: &mut TcpStream) {
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_finishes_its_preface_is_closed() {
    let app = spawn(&[("KESSAI_HANDSHAKE_TIMEOUT_SECS", "1")]).await;
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(&PREFACE[..10]).await.unwrap();
    let mut complete = TcpStream::connect(app.addr).await.unwrap();
    complete.write_all(PREFACE).await.unwrap();

    for socket in [&mut silent, &mut half] {
        let closed = closed_after(socket, Duration::from_secs(5)).await;
        assert!(
            closed.is_some_and(|after| after < Duration::from_secs(3)),
            "{closed:?}"
        );
    }
    assert_eq!(
        closed_after(&mut complete, Duration::from_millis(1_500)).await,
        None,
        "a finished handshake stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_place() {
    let app = spawn(&[
        ("KESSAI_MAX_CONNECTIONS", "2"),
        ("KESSAI_HANDSHAKE_TIMEOUT_SECS", "60"),
    ])
    .await;
    let holders = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;

    let url = format!("http://{}", app.addr);
    let waiting = tokio::spawn(async move {
        let mut client = PaymentServiceClient::connect(url)
            .await
            .expect("connects once there is room");
        client.list_orders(v1::ListOrdersRequest::default()).await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "no call is answered while every place is taken"
    );
    drop(holders);
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("answered once a place frees");
    answered.unwrap().expect("ListOrders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_one_with_a_stream_is_not() {
    let app = spawn(&[("KESSAI_IDLE_TIMEOUT_SECS", "1")]).await;
    let opened = Instant::now();
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(PREFACE).await.unwrap();

    // A watcher on a connection of its own, quiet for longer than the
    // idle timeout, still gets the next event.
    let order = app.authorized_payjp(1_000).await;
    let watcher_channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut stream = crate::helpers::watch_order(watcher_channel, &order.id).await;
    while tokio::time::timeout(Duration::from_millis(300), stream.message())
        .await
        .is_ok()
    {}

    assert!(
        closed_after(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "the idle connection was closed"
    );
    let closed = opened.elapsed();
    assert!(
        closed >= Duration::from_millis(900),
        "not before the idle timeout: {closed:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    app.capture(&order.id, None, false).await.expect("capture");
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event in time");
    assert!(
        event.expect("the stream is open").is_some(),
        "the watcher's connection stayed open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sender_that_trickles_its_headers_is_cut_off() {
    let app = spawn(&[("KESSAI_WEBHOOK_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(app.webhook_addr).await.unwrap();
    slow.write_all(b"POST /webhooks/payjp HTTP/1.1\r\nHost: kessai\r\n")
        .await
        .unwrap();
    let trickle = trickle_headers(&mut slow);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("the writes end");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut off after the header deadline: {:?}",
        started.elapsed()
    );

    // A sender that sends its request at once is answered.
    let answered = reqwest::Client::new()
        .post(format!("http://{}/webhooks/payjp", app.webhook_addr))
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        answered.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "no token: refused, but answered"
    );
}

/// `kessai serve` (sandbox mode, its own process: the metrics recorder is
/// process-wide) with the metrics listener on and `settings`.
fn with_metrics(settings: &[(&str, &str)]) -> KessaiProcess {
    let mut env: HashMap<String, String> = [
        ("KESSAI_DATABASE_URL", fresh_sqlite()),
        ("KESSAI_SANDBOX_STATE", "memory".into()),
        ("KESSAI_METRICS_ADDR", "127.0.0.1:0".into()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for (name, value) in settings {
        env.insert((*name).into(), (*value).into());
    }
    KessaiProcess::start(&env)
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: kessai\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_closes_silent_slow_and_idle_connections() {
    let kessai = with_metrics(&[
        ("KESSAI_HANDSHAKE_TIMEOUT_SECS", "1"),
        ("KESSAI_IDLE_TIMEOUT_SECS", "1"),
    ]);
    let addr = kessai.metrics_addr.expect("the metrics listener is on");
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(&SCRAPE[..10]).await.unwrap();
    // Past the first bytes, then one header line at a time, never the end.
    let mut trickling = TcpStream::connect(addr).await.unwrap();
    trickling
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: kessai\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let line = format!("X-Slow-{i}: 1\r\n");
            if trickling.write_all(line.as_bytes()).await.is_err() {
                return Some(trickling);
            }
        }
        None
    });
    // A scrape answered, then nothing more on its connection.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(SCRAPE).await.unwrap();

    for (name, socket) in [("silent", &mut silent), ("half a request line", &mut half)] {
        let closed = closed_after(socket, Duration::from_secs(5)).await;
        assert!(
            closed.is_some_and(|after| after < Duration::from_secs(3)),
            "{name}: {closed:?}"
        );
    }
    let mut trickled = trickle
        .await
        .unwrap()
        .expect("the trickling sender is cut off");
    assert!(
        closed_after(&mut trickled, Duration::from_secs(2))
            .await
            .is_some()
    );
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200", "the scrape was answered");
    let closed = closed_after(&mut idle, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "the idle scraper's connection: {closed:?}"
    );

    // The listener still answers.
    assert!(kessai.scrape().await.contains("kessai_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_connections_beyond_the_cap_wait_for_a_place() {
    let kessai = with_metrics(&[
        ("KESSAI_METRICS_MAX_CONNECTIONS", "2"),
        ("KESSAI_HANDSHAKE_TIMEOUT_SECS", "60"),
    ]);
    let addr = kessai.metrics_addr.expect("the metrics listener is on");
    let holders = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut waiting = TcpStream::connect(addr)
        .await
        .expect("queued by the kernel");
    waiting.write_all(SCRAPE).await.unwrap();
    let mut answer = [0u8; 12];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), waiting.read_exact(&mut answer))
            .await
            .is_err(),
        "no scrape is answered while every place is taken"
    );
    drop(holders);
    tokio::time::timeout(Duration::from_secs(5), waiting.read_exact(&mut answer))
        .await
        .expect("answered once a place frees")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(kessai.scrape().await.contains("kessai_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_cuts_off_slow_silent_and_surplus_connections() {
    let app = spawn(&[
        ("KESSAI_CONSOLE_ADDR", "127.0.0.1:0"),
        ("KESSAI_CONSOLE_MAX_CONNECTIONS", "2"),
        ("KESSAI_HANDSHAKE_TIMEOUT_SECS", "1"),
        ("KESSAI_IDLE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let console = app.console_addr.expect("the console is on");

    // A client that says nothing, and one that trickles its headers, are
    // both closed within the first bytes' and headers' deadline.
    let mut silent = TcpStream::connect(console).await.unwrap();
    let mut slow = TcpStream::connect(console).await.unwrap();
    slow.write_all(b"GET /sign-in HTTP/1.1\r\nHost: kessai\r\n")
        .await
        .unwrap();
    let trickle = trickle_headers(&mut slow);
    // Meanwhile both places are taken: a third client waits.
    let url = format!("http://{console}/sign-in");
    let waiting = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "no page while both places are taken"
    );
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("the writes end");
    let closed = closed_after(&mut silent, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a silent connection is closed");
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("answered once a place frees")
        .unwrap()
        .expect("the sign-in page");
    assert_eq!(answered, reqwest::StatusCode::OK);

    // An idle connection after a page is closed too.
    let mut idle = TcpStream::connect(console).await.unwrap();
    idle.write_all(b"GET /sign-in HTTP/1.1\r\nHost: kessai\r\n\r\n")
        .await
        .unwrap();
    let closed = closed_after(&mut idle, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "an idle connection is closed");
}

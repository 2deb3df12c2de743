//! The console in a real browser: Debian's chromium, headless, driven
//! through WebDriver (chromedriver) over its HTTP protocol. Each page is
//! saved as a screenshot under `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{OPS, VIEWER, card_order, console_app, order};
use crate::tools;

/// The W3C name of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots directory");
    dir
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is installed by tests/tools/install.sh browser")
}

impl Driver {
    async fn start() -> Self {
        tools::ensure("browser");
        tools::require("chromedriver", "--version", "Debian's chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut driver = Self {
            process,
            http,
            session: String::new(),
            base,
        };
        for _ in 0..100 {
            if driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("kessai-chromium-{}", ulid::Ulid::new()));
        let created = driver
            .call(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium(),
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,1100",
                                 "--lang=en-US", format!("--user-data-dir={}", profile.display())],
                    },
                }}}),
            )
            .await;
        driver.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        answer["value"].clone()
    }

    async fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn go(&self, url: &str) {
        self.session("POST", "/url", json!({"url": url})).await;
    }

    async fn source(&self) -> String {
        self.session("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects, waiting for it up to 10 s.
    async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let found = self
                .session(
                    "POST",
                    "/element",
                    json!({"using": "css selector", "value": css}),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {css} in the page:\n{}", self.source().await);
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.session("POST", &format!("/element/{element}/clear"), json!({}))
            .await;
        self.session(
            "POST",
            &format!("/element/{element}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.session("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// Two clicks in a row on `css`, as an impatient operator's double click.
    async fn double_click(&self, css: &str) {
        let element = self.find(css).await;
        let origin = json!({ELEMENT: element});
        self.session(
            "POST",
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "origin": origin, "x": 0, "y": 0},
                    {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
                    {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
                ]}]}),
        )
        .await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self.session("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot"))
            .expect("base64");
        std::fs::write(screenshots().join(format!("{name}.png")), bytes).expect("saved");
    }

    /// Waits until the page's source contains `text` (10 s).
    async fn until_shown(&self, text: &str) -> String {
        for _ in 0..100 {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{text:?} never appeared:\n{}", self.source().await);
    }

    async fn quit(&self) {
        self.session("DELETE", "", Value::Null).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_day_in_a_real_browser() {
    let app = console_app().await;
    let order_a = card_order(&app, "hanako.sato@example.jp", "佐藤 花子", "cart-7781").await;
    let other = card_order(&app, "jiro@example.com", "Jiro Tanaka", "cart-7782").await;
    let console = format!("http://{}", app.console_addr.expect("the console is on"));
    let driver = Driver::start().await;

    driver.go(&format!("{console}/orders")).await;
    driver.find("#token").await;
    driver.screenshot("01-sign-in").await;
    driver.type_into("#token", OPS).await;
    driver.click("#sign-in").await;
    driver.find("#orders").await;
    driver.screenshot("02-orders").await;

    // Search by e-mail, then by part of the name.
    driver.type_into("#q", "hanako.sato@example").await;
    driver.click("#search").await;
    // The answer's page, not the one the search was typed into.
    let found = driver.until_shown(r#"value="hanako.sato@example""#).await;
    assert!(found.contains(&format!(r#"data-order="{}""#, order_a.id)));
    assert!(!found.contains(&other.id));
    driver.screenshot("03-search-by-email").await;
    driver.type_into("#q", "佐藤花").await;
    driver.click("#search").await;
    // The answer's page, not the one the search was typed into.
    let found = driver.until_shown(r#"value="佐藤花""#).await;
    assert!(found.contains(&format!(r#"data-order="{}""#, order_a.id)));
    assert!(!found.contains(&other.id));
    driver.screenshot("04-search-by-name").await;

    // The order, then a part captured with a description, by a double click.
    driver
        .click(&format!(r#"a[href="/orders/{}"]"#, order_a.id))
        .await;
    driver.find("#capture-form").await;
    driver.screenshot("05-order").await;
    driver.type_into("#capture-amount", "3000").await;
    driver
        .type_into("#capture-description", "one item out of stock")
        .await;
    driver.double_click("#capture").await;
    driver.find("#flash").await;
    driver.screenshot("06-captured").await;
    let after = order(&app, &order_a.id).await;
    assert_eq!(after.captures.len(), 1, "a double click is one capture");
    assert_eq!(after.amount_captured, 3_000);

    // The Uncaptured tab no longer lists it.
    driver.go(&format!("{console}/orders")).await;
    driver.click("#tab-uncaptured").await;
    driver.until_shown(r#"class="on">Uncaptured"#).await;
    assert!(!driver.source().await.contains(&order_a.id));
    driver.screenshot("07-uncaptured").await;

    // Refund with a reason; the timeline shows it.
    driver.go(&format!("{console}/orders/{}", order_a.id)).await;
    driver.type_into("#refund-amount", "1000").await;
    driver
        .click(r#"#refund-reason option[value="requested_by_customer"]"#)
        .await;
    driver
        .type_into("#refund-description", "returned by post")
        .await;
    driver.click("#refund").await;
    let page = driver.until_shown(r#"id="flash""#).await;
    assert!(
        page.contains("refund.settled"),
        "the timeline lists the refund"
    );
    driver.screenshot("08-refunded").await;
    assert_eq!(order(&app, &order_a.id).await.amount_refunded, 1_000);

    // The overview's chart counts both.
    driver.go(&format!("{console}/overview")).await;
    let overview = driver.until_shown(r#"id="chart-paymentoptions-JPY""#).await;
    assert!(overview.contains(r#"data-captured="3000" data-refunded="1000""#));
    driver.screenshot("09-overview").await;

    // A read-only operator sees no action, and one posted anyway is refused.
    driver.click("#sign-out").await;
    driver.type_into("#token", VIEWER).await;
    driver.click("#sign-in").await;
    driver.find("#orders").await;
    driver.go(&format!("{console}/orders/{}", other.id)).await;
    driver.find("#read-only").await;
    driver.screenshot("10-read-only").await;
    driver
        .session(
            "POST",
            "/execute/sync",
            json!({"script": format!(
                "const f = document.createElement('form'); f.method = 'post'; f.action = '/orders/{}/capture';\
                 for (const [k, v] of [['csrf', document.querySelector('#sign-out-form input').value], ['key', 'console-ro-1'], ['amount', '1000']]) {{\
                   const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i); }}\
                 document.body.appendChild(f); f.submit();", other.id), "args": []}),
        )
        .await;
    driver.until_shown("Your token may not do this").await;
    driver.screenshot("11-refused").await;
    assert_eq!(order(&app, &other.id).await.amount_captured, 0);
    driver.quit().await;
}

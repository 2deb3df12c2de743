//! A browser without JavaScript, enough for the console: keeps cookies,
//! does not follow redirects (the tests look at them), posts forms.

use std::collections::HashMap;

use crate::helpers::TestApp;

pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    /// `Accept-Language`, when set.
    pub language: Option<String>,
}

/// One answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: HashMap<String, String>,
    pub set_cookie: Vec<String>,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").map(String::as_str)
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let addr = app.console_addr.expect("KESSAI_CONSOLE_ADDR is set");
        Self::at(&format!("http://{addr}"))
    }

    /// A browser for the console at `base` (`http://host:port`).
    pub fn at(base: &str) -> Self {
        // reqwest's rustls wants a process-wide provider, even for http://.
        kessai::tls_provider::install_crypto_provider();
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
            cookies: HashMap::new(),
            language: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, String)]) -> Answer {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    pub async fn sign_in(&mut self, token: &str) -> Answer {
        self.post("/sign-in", &[("token", token.to_owned())]).await
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Answer {
        if !self.cookies.is_empty() {
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", cookie.join("; "));
        }
        if let Some(language) = &self.language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.expect("the console answers");
        let status = response.status().as_u16();
        let mut headers = HashMap::new();
        let mut set_cookie = Vec::new();
        for (name, value) in response.headers() {
            let value = value.to_str().unwrap_or_default().to_owned();
            if name == "set-cookie" {
                set_cookie.push(value.clone());
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty() || value.contains("Max-Age=0") {
                        self.cookies.remove(k);
                    } else {
                        self.cookies.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
            headers.insert(name.as_str().to_owned(), value);
        }
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            body,
            headers,
            set_cookie,
        }
    }
}

/// The value of input `name` in the form with id `form` of a page.
pub fn field(page: &str, form: &str, name: &str) -> String {
    let start = page
        .find(&format!(r#"id="{form}""#))
        .unwrap_or_else(|| panic!("no form {form} in the page:\n{page}"));
    let rest = &page[start..];
    let end = rest.find("</form>").unwrap_or(rest.len());
    let rest = &rest[..end];
    let at = rest
        .find(&format!(r#"name="{name}""#))
        .unwrap_or_else(|| panic!("no field {name} in form {form}"));
    let value = &rest[at..];
    let value = &value[value.find(r#"value=""#).expect("a value") + 7..];
    value[..value.find('"').expect("the value ends")].to_owned()
}

/// `text` as a query-string value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

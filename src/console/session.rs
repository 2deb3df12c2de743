//! Operators' sessions: a signed cookie (HMAC under a key derived from the
//! fingerprint key, so every replica accepts every other's) naming the
//! caller and when the session ends. The caller is looked up again on each
//! request, so a token removed from `KESSAI_CALLERS` ends its sessions at
//! the next restart. Every form carries a CSRF token bound to the session.

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Console;
use super::html::{esc, page};
use super::i18n::{Lang, M};
use crate::grpc::callers::Scope;
use crate::payments::Caller;

pub const SESSION_COOKIE: &str = "kessai_console";

/// Separates this use of the fingerprint key from its others.
const PURPOSE: &[u8] = b"kessai console session v1\0";

/// Signs and checks session cookies.
pub struct Sessions {
    key: [u8; 32],
    ttl: chrono::Duration,
    secure: bool,
}

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    owner: String,
    scopes: Vec<Scope>,
    /// The token every form of this session carries.
    pub csrf: String,
    pub lang: Lang,
}

impl Operator {
    /// The caller the use cases see: named after the operator (so the
    /// order's history says who acted), seeing what the scopes allow.
    pub fn caller(&self) -> Caller {
        let caller = Caller::owning(format!("console:{}", self.name), self.owner.clone());
        if self.scopes.contains(&Scope::AllOrders) {
            caller.seeing_all()
        } else {
            caller
        }
    }

    pub fn may_charge(&self) -> bool {
        self.scopes.contains(&Scope::Charge)
    }

    pub fn may_refund(&self) -> bool {
        self.scopes.contains(&Scope::Refund)
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl Sessions {
    pub fn new(fingerprint_key: &SecretString, ttl: chrono::Duration, secure: bool) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(fingerprint_key.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(PURPOSE);
        Self {
            key: mac.finalize().into_bytes().into(),
            ttl,
            secure,
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
            mac.update(b"\0");
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// A new session's cookie for caller `name`.
    fn issue(&self, name: &str, now: chrono::DateTime<chrono::Utc>) -> String {
        let name = URL_SAFE_NO_PAD.encode(name);
        let until = (now + self.ttl).timestamp().to_string();
        let nonce = hex::encode(rand::random::<[u8; 12]>());
        let tag = self.mac(&[
            b"session",
            name.as_bytes(),
            until.as_bytes(),
            nonce.as_bytes(),
        ]);
        format!(
            "{name}.{until}.{nonce}.{}",
            URL_SAFE_NO_PAD.encode(&tag[..16])
        )
    }

    /// The caller a cookie names, if it is ours and has not ended.
    fn open(&self, cookie: &str, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let mut parts = cookie.split('.');
        let (name, until, nonce, tag) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(&[
            b"session",
            name.as_bytes(),
            until.as_bytes(),
            nonce.as_bytes(),
        ]);
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != 16 || !bool::from(expected[..16].ct_eq(&tag)) {
            return None;
        }
        if until.parse::<i64>().ok()? <= now.timestamp() {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()
    }

    fn csrf(&self, cookie: &str) -> String {
        hex::encode(&self.mac(&[b"csrf", cookie.as_bytes()])[..16])
    }

    fn set_cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        )
    }
}

/// The value of cookie `name` in a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// Not signed in: to the sign-in page.
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/sign-in").into_response()
    }
}

impl FromRequestParts<Console> for Operator {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, Self::Rejection> {
        let inner = &console.inner;
        let value = cookie(&parts.headers, SESSION_COOKIE).ok_or(SignInFirst)?;
        let name = inner.sessions.open(value, inner.now()).ok_or(SignInFirst)?;
        let (owner, scopes) = match &inner.callers {
            None if name == SANDBOX_OPERATOR => (name.clone(), sandbox_scopes()),
            None => return Err(SignInFirst),
            Some(callers) => {
                let identity = callers.by_name(&name).ok_or(SignInFirst)?;
                if !identity.scopes.contains(&Scope::Console) {
                    return Err(SignInFirst);
                }
                (identity.owner, identity.scopes)
            }
        };
        Ok(Operator {
            csrf: inner.sessions.csrf(value),
            name,
            owner,
            scopes,
            lang: Lang::of(&parts.headers),
        })
    }
}

/// Who signs in when authentication is off (sandbox mode).
const SANDBOX_OPERATOR: &str = "sandbox-operator";

fn sandbox_scopes() -> Vec<Scope> {
    vec![
        Scope::Console,
        Scope::Read,
        Scope::Charge,
        Scope::Refund,
        Scope::AllOrders,
    ]
}

pub async fn sign_in_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    sign_in_form(&console, Lang::of(&headers), None, StatusCode::OK)
}

fn sign_in_form(console: &Console, lang: Lang, error: Option<M>, status: StatusCode) -> Response {
    let error = error
        .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, esc(lang.t(m))))
        .unwrap_or_default();
    let body = if console.inner.callers.is_none() {
        format!(
            r#"<h1>{}</h1>{error}<p>{}</p>
<form method="post" action="/sign-in"><input type="hidden" name="token" value="">
<button type="submit" id="sign-in">{}</button></form>"#,
            esc(lang.t(M::SignIn)),
            esc(lang.t(M::SandboxSignIn)),
            esc(lang.t(M::Enter)),
        )
    } else {
        format!(
            r#"<h1>{}</h1>{error}<p>{}</p>
<form method="post" action="/sign-in">
<label>{} <input type="password" name="token" id="token" autocomplete="off" required></label>
<button type="submit" id="sign-in">{}</button></form>"#,
            esc(lang.t(M::SignIn)),
            esc(lang.t(M::SignInHelp)),
            esc(lang.t(M::Token)),
            esc(lang.t(M::SignIn)),
        )
    };
    (
        status,
        Html(page(lang, None, lang.t(M::SignIn), "/sign-in", &body)),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
}

pub async fn sign_in(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let inner = &console.inner;
    let name = match &inner.callers {
        None => Some(SANDBOX_OPERATOR.to_owned()),
        Some(callers) => callers
            .by_token(form.token.trim())
            .filter(|identity| identity.scopes.contains(&Scope::Console))
            .map(|identity| identity.name),
    };
    let lang = Lang::of(&headers);
    let Some(name) = name else {
        tracing::info!("a console sign-in was refused");
        return sign_in_form(&console, lang, Some(M::BadToken), StatusCode::UNAUTHORIZED);
    };
    tracing::info!(operator = %name, "an operator signed in to the console");
    let value = inner.sessions.issue(&name, inner.now());
    let mut response = Redirect::to("/orders").into_response();
    let cookie = inner
        .sessions
        .set_cookie(&value, inner.sessions.ttl.num_seconds());
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(console): State<Console>,
    operator: Operator,
    Form(form): Form<SignOutForm>,
) -> Response {
    if !operator.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, operator.lang.t(M::StaleForm)).into_response();
    }
    let mut response = Redirect::to("/sign-in").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&console.inner.sessions.set_cookie("", 0)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(
            &SecretString::from("a fingerprint key of enough length"),
            chrono::Duration::hours(8),
            false,
        )
    }

    #[test]
    fn a_session_opens_until_it_ends_and_not_when_altered() {
        let s = sessions();
        let now = chrono::Utc::now();
        let cookie = s.issue("ops-alice", now);
        assert_eq!(s.open(&cookie, now).as_deref(), Some("ops-alice"));
        assert_eq!(s.open(&cookie, now + chrono::Duration::hours(9)), None);
        let forged = cookie.replacen(
            &URL_SAFE_NO_PAD.encode("ops-alice"),
            &URL_SAFE_NO_PAD.encode("ops-admin"),
            1,
        );
        assert_eq!(s.open(&forged, now), None);
        let other = Sessions::new(
            &SecretString::from("another key of enough length!"),
            chrono::Duration::hours(8),
            false,
        );
        assert_eq!(other.open(&cookie, now), None);
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let s = sessions();
        let now = chrono::Utc::now();
        let (a, b) = (s.issue("x", now), s.issue("x", now));
        assert_ne!(s.csrf(&a), s.csrf(&b));
        assert_eq!(s.csrf(&a), s.csrf(&a));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_with_tls() {
        let secure = Sessions::new(
            &SecretString::from("a fingerprint key of enough length"),
            chrono::Duration::hours(8),
            true,
        );
        let cookie = secure.set_cookie("v", 60);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("; Secure"));
        assert!(!sessions().set_cookie("v", 60).contains("Secure"));
    }
}

//! Who may call: callers configured by name, each with a token (stored only
//! as its SHA-256) or a client-certificate common name, and the scopes they
//! hold.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GetOrder, ListOrders, WatchOrderEvents.
    Read,
    /// Authorize, Capture, Void.
    Charge,
    /// Refund.
    Refund,
    /// Every order, whoever owns it (operators, a support console). Without
    /// it a caller sees only the orders of its owner.
    #[serde(rename = "orders:all")]
    AllOrders,
    /// Sign in to the operator console (what they may do there is what
    /// their other scopes allow: without charge or refund, only look).
    Console,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Charge => "charge",
            Scope::Refund => "refund",
            Scope::AllOrders => "orders:all",
            Scope::Console => "console",
        }
    }
}

/// The scope a method needs; `None` for methods outside the payment API
/// (health, reflection), which stay open.
pub fn required_scope(path: &str) -> Option<Scope> {
    let method = path.strip_prefix("/kessai.v1.PaymentService/")?;
    Some(match method {
        "Authorize" | "Capture" | "Void" => Scope::Charge,
        "Refund" => Scope::Refund,
        "GetOrder" | "ListOrders" | "WatchOrderEvents" => Scope::Read,
        // Any method added later, until it is classified.
        _ => Scope::Read,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerConfig {
    name: String,
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    certificate_cn: Option<String>,
    scopes: Vec<Scope>,
    /// Whose orders it creates and sees; its name unless set. Callers that
    /// split the scopes of one service share an owner.
    #[serde(default)]
    owner: Option<String>,
}

struct Caller {
    name: String,
    owner: String,
    token_sha256: Option<[u8; 32]>,
    certificate_cn: Option<String>,
    scopes: Vec<Scope>,
}

/// The configured callers.
#[derive(Default)]
pub struct Callers {
    callers: Vec<Caller>,
}

impl fmt::Debug for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.callers.iter().map(|c| (&c.name, &c.scopes)))
            .finish()
    }
}

/// A caller kessai recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub owner: String,
    pub scopes: Vec<Scope>,
}

impl Callers {
    /// Parses `KESSAI_CALLERS`: a JSON array of
    /// `{"name", "token_sha256" | "certificate_cn", "scopes": [...]}`.
    pub fn parse(json: &SecretString) -> Result<Self, String> {
        let configs: Vec<CallerConfig> = serde_json::from_str(json.expose_secret())
            .map_err(|e| format!("not a JSON array of callers: {e}"))?;
        let mut callers = Vec::with_capacity(configs.len());
        for config in configs {
            if config.name.is_empty() || config.name.len() > 64 {
                return Err("every caller needs a name of 1–64 characters".into());
            }
            let token_sha256 = config
                .token_sha256
                .map(|hex_hash| {
                    let bytes = hex::decode(hex_hash.trim()).map_err(|_| {
                        format!("{}: token_sha256 must be 64 hex characters", config.name)
                    })?;
                    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                        format!("{}: token_sha256 must be 64 hex characters", config.name)
                    })
                })
                .transpose()?;
            if token_sha256.is_none() && config.certificate_cn.is_none() {
                return Err(format!(
                    "{}: needs token_sha256 or certificate_cn",
                    config.name
                ));
            }
            if callers.iter().any(|c: &Caller| c.name == config.name) {
                return Err(format!("{}: the name is used twice", config.name));
            }
            let owner = config.owner.unwrap_or_else(|| config.name.clone());
            if owner.is_empty() || owner.len() > 64 {
                return Err(format!("{}: an owner needs 1–64 characters", config.name));
            }
            callers.push(Caller {
                owner,
                name: config.name,
                token_sha256,
                certificate_cn: config.certificate_cn,
                scopes: config.scopes,
            });
        }
        Ok(Self { callers })
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }

    /// The caller a bearer token belongs to. Every configured hash is
    /// compared, in constant time, so timing tells nothing about which
    /// bytes matched.
    pub fn by_token(&self, token: &str) -> Option<Identity> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for caller in &self.callers {
            if let Some(hash) = &caller.token_sha256
                && bool::from(hash.ct_eq(&presented))
            {
                found = Some(caller);
            }
        }
        found.map(Caller::identity)
    }

    /// The caller of this name (a console session names its caller).
    pub fn by_name(&self, name: &str) -> Option<Identity> {
        self.callers
            .iter()
            .find(|c| c.name == name)
            .map(Caller::identity)
    }

    /// The caller a verified client certificate's common name belongs to.
    pub fn by_certificate(&self, common_name: &str) -> Option<Identity> {
        self.callers
            .iter()
            .find(|c| c.certificate_cn.as_deref() == Some(common_name))
            .map(Caller::identity)
    }
}

impl Caller {
    fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            owner: self.owner.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The hex SHA-256 of a token, as `KESSAI_CALLERS` stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callers() -> Callers {
        let json = format!(
            r#"[{{"name":"checkout","token_sha256":"{}","scopes":["charge","read"]}},
               {{"name":"ops","certificate_cn":"ops-console","scopes":["read"]}}]"#,
            token_hash("tok_checkout")
        );
        Callers::parse(&SecretString::from(json)).unwrap()
    }

    #[test]
    fn a_token_finds_its_caller_and_a_wrong_one_nobody() {
        let callers = callers();
        let checkout = callers.by_token("tok_checkout").unwrap();
        assert_eq!(checkout.name, "checkout");
        assert_eq!(checkout.scopes, [Scope::Charge, Scope::Read]);
        assert!(callers.by_token("tok_checkouT").is_none());
        assert!(callers.by_token("").is_none());
    }

    #[test]
    fn a_certificate_name_finds_its_caller() {
        assert_eq!(callers().by_certificate("ops-console").unwrap().name, "ops");
        assert!(callers().by_certificate("checkout").is_none());
    }

    #[test]
    fn methods_need_their_scopes_and_probes_none() {
        assert_eq!(
            required_scope("/kessai.v1.PaymentService/Capture"),
            Some(Scope::Charge)
        );
        assert_eq!(
            required_scope("/kessai.v1.PaymentService/Refund"),
            Some(Scope::Refund)
        );
        assert_eq!(
            required_scope("/kessai.v1.PaymentService/GetOrder"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/kessai.v1.PaymentService/WatchOrderEvents"),
            Some(Scope::Read)
        );
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            required_scope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
    }

    #[test]
    fn malformed_configurations_are_refused_without_echoing_them() {
        for bad in [
            "not json",
            r#"[{"name":"x","scopes":["read"]}]"#,
            r#"[{"name":"x","token_sha256":"abcd","scopes":["read"]}]"#,
            r#"[{"name":"x","certificate_cn":"x","scopes":["admin"]}]"#,
            r#"[{"name":"","certificate_cn":"x","scopes":[]}]"#,
        ] {
            let error = Callers::parse(&SecretString::from(bad)).unwrap_err();
            assert!(!error.contains("abcd"), "{error}");
        }
    }
}

//! Which of the providers' environments kessai talks to (its own
//! simulators, the providers' test environments, or their live ones), and
//! whether each configured key fits its provider's shape and that mode.
//! A key for the other environment is refused at start: a test key in
//! production takes orders no money follows, and a live key in testing
//! charges real cards. What is said of a key is at most its prefix
//! (`sk_live_…`), never the key.

use secrecy::{ExposeSecret, SecretString};

use super::Env;

pub const PROVIDER_MODE: &str = "KESSAI_PROVIDER_MODE";

/// Where provider calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The built-in simulators (`KESSAI_SANDBOX`); configured keys are not
    /// used.
    Sandbox,
    /// The providers' test environments: their test keys, no real money.
    Test,
    /// The providers' live environments: real money.
    Live,
}

impl Mode {
    /// `KESSAI_PROVIDER_MODE` (`test` or `live`, live by default) outside
    /// sandbox mode.
    pub fn from_env(env: &Env<'_>, sandbox: bool) -> Self {
        let asked = match env
            .get(PROVIDER_MODE)
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => None,
            Some(v) if v == "test" => Some(Mode::Test),
            Some(v) if v == "live" => Some(Mode::Live),
            Some(other) => {
                env.reject(
                    PROVIDER_MODE,
                    format!("must be test or live, got {other:?}"),
                );
                None
            }
        };
        match (sandbox, asked) {
            (true, Some(Mode::Live)) => {
                env.reject_with_example(
                    PROVIDER_MODE,
                    "is live while kessai serves its built-in simulators (KESSAI_SANDBOX=true, or \
                     no provider credential is set); set KESSAI_SANDBOX=false with live keys, or \
                     unset it",
                    "test",
                );
                Mode::Sandbox
            }
            (true, _) => Mode::Sandbox,
            (false, asked) => asked.unwrap_or(Mode::Live),
        }
    }

    pub fn is_sandbox(self) -> bool {
        self == Mode::Sandbox
    }
}

/// What a provider's secret keys look like: a test and a live prefix and
/// the characters after it; `public` the prefixes of its public keys, a
/// mistake a secret's place invites.
pub struct KeyShape {
    pub provider: &'static str,
    pub test: &'static str,
    pub live: &'static str,
    pub public: &'static [&'static str],
    pub body: fn(u8) -> bool,
    /// `body` in words.
    pub body_says: &'static str,
}

/// What a key is, as far as its shape tells.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    Test,
    Live,
    /// A public key, with its prefix.
    Public(&'static str),
    /// A known prefix with a bad rest, or no known prefix at all.
    Malformed(Option<&'static str>),
}

impl KeyShape {
    /// Whether `key` is a test or live secret key of this shape.
    pub fn fits(&self, key: &str) -> bool {
        matches!(self.read(key), Read::Test | Read::Live)
    }

    fn read(&self, key: &str) -> Read {
        for (prefix, read) in [(self.test, Read::Test), (self.live, Read::Live)] {
            if let Some(rest) = key.strip_prefix(prefix) {
                return if !rest.is_empty() && rest.bytes().all(self.body) {
                    read
                } else {
                    Read::Malformed(Some(prefix))
                };
            }
        }
        match self.public.iter().find(|p| key.starts_with(**p)) {
            Some(prefix) => Read::Public(prefix),
            None => Read::Malformed(None),
        }
    }

    /// A well-shaped key of `mode`, to show.
    fn example(&self, mode: Mode) -> String {
        match mode {
            Mode::Live => format!("{}…", self.live),
            Mode::Sandbox | Mode::Test => format!("{}…", self.test),
        }
    }
}

/// Records on `env` what is wrong with the secret read from `name` (or
/// `name_FILE`) for a provider of `shape`, in `mode`.
pub fn check_secret_key(
    env: &Env<'_>,
    name: &str,
    key: &SecretString,
    shape: &KeyShape,
    mode: Mode,
) {
    let source = env.secret_source(name);
    let problem = match (shape.read(key.expose_secret()), mode) {
        (Read::Test, Mode::Sandbox | Mode::Test) | (Read::Live, Mode::Live) => return,
        (Read::Public(prefix), _) => format!(
            "is a public key ({prefix}…), which only a browser or an app uses; kessai needs the {} \
             secret key",
            shape.provider
        ),
        (Read::Malformed(prefix), _) => format!(
            "is not a {} secret key{}: one is {} or {} followed by {}",
            shape.provider,
            prefix.map_or(String::new(), |p| format!(
                " (it starts {p}… but what follows does not fit)"
            )),
            shape.test,
            shape.live,
            shape.body_says,
        ),
        (Read::Test, Mode::Live) => format!(
            "is a test key ({}…) but kessai is in live mode (KESSAI_PROVIDER_MODE=live, the default \
             outside sandbox mode), where a test key takes orders no money follows; set the live \
             key, or KESSAI_PROVIDER_MODE=test to use the providers' test environments",
            shape.test
        ),
        (Read::Live, Mode::Test) => format!(
            "is a live key ({}…) but KESSAI_PROVIDER_MODE is test, where it would charge real \
             cards; set the test key, or KESSAI_PROVIDER_MODE=live",
            shape.live
        ),
        (Read::Live, Mode::Sandbox) => format!(
            "is a live key ({}…) while kessai serves its built-in simulators (KESSAI_SANDBOX=true), \
             which never use it; unset it, or set KESSAI_SANDBOX=false to serve the real providers",
            shape.live
        ),
    };
    env.reject_with_example(&source, problem, &shape.example(mode));
}

/// Records on `env` a value sent as a header (an API key, a merchant id)
/// that no header could carry: empty after trimming is unset already, so
/// only spaces or control characters inside are left to refuse.
pub fn check_header_value(env: &Env<'_>, name: &str, value: &str, what: &str) {
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        let source = env.secret_source(name);
        env.reject(
            &source,
            format!("{what} must be printable ASCII without spaces (it is sent in a header)"),
        );
    }
}

/// Records on `env` a base URL pointing at the other environment than
/// `mode`'s, when `live_host` and `test_host` tell them apart.
pub fn check_base_url(
    env: &Env<'_>,
    name: &str,
    url: &str,
    (test_host, live_host): (&str, &str),
    mode: Mode,
) {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let set = if env.get(name).is_some() {
        ""
    } else {
        " (the default)"
    };
    match (mode, host.as_deref()) {
        (Mode::Test, Some(host)) if host == live_host => env.reject_with_example(
            name,
            format!(
                "{url}{set} is the live host but KESSAI_PROVIDER_MODE is test, where it would \
                 charge real cards"
            ),
            &format!("https://{test_host}"),
        ),
        (Mode::Live, Some(host)) if host == test_host => env.reject_with_example(
            name,
            format!(
                "{url} is the test host but kessai is in live mode (KESSAI_PROVIDER_MODE=live, \
                 the default outside sandbox mode); set KESSAI_PROVIDER_MODE=test to use it"
            ),
            &format!("https://{live_host}"),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env_vars::ConfigError;

    /// The problem recorded for one key, for the tests.
    fn problem(shape: &KeyShape, key: &str, mode: Mode) -> Option<ConfigError> {
        let vars = std::collections::HashMap::from([("KEY".to_owned(), key.to_owned())]);
        let lookup = |name: &str| vars.get(name).cloned();
        let env = Env::new(&lookup);
        check_secret_key(&env, "KEY", &SecretString::from(key), shape, mode);
        env.into_errors().pop()
    }

    use crate::providers::smartpay::config::KEY_SHAPE as SHAPE;

    #[test]
    fn a_key_of_its_mode_passes_and_any_other_says_why_without_the_key() {
        assert_eq!(problem(&SHAPE, "sk_test_abc123", Mode::Test), None);
        assert_eq!(problem(&SHAPE, "sk_test_abc123", Mode::Sandbox), None);
        assert_eq!(problem(&SHAPE, "sk_live_abc123", Mode::Live), None);
        for (key, mode, says, example) in [
            (
                "sk_test_hush42",
                Mode::Live,
                "is a test key (sk_test_…)",
                "sk_live_…",
            ),
            (
                "sk_live_hush42",
                Mode::Test,
                "is a live key (sk_live_…)",
                "sk_test_…",
            ),
            (
                "sk_live_hush42",
                Mode::Sandbox,
                "built-in simulators",
                "sk_test_…",
            ),
            (
                "pk_live_hush42",
                Mode::Live,
                "is a public key (pk_live_…)",
                "sk_live_…",
            ),
            (
                "sk_live_hu sh42",
                Mode::Live,
                "it starts sk_live_…",
                "sk_live_…",
            ),
            (
                "hush42",
                Mode::Test,
                "is not a Smartpay secret key: one is",
                "sk_test_…",
            ),
        ] {
            let error = problem(&SHAPE, key, mode).expect(key).to_string();
            assert!(error.starts_with("KEY: "), "{error}");
            assert!(error.contains(says), "{key}: {error}");
            assert!(
                error.ends_with(&format!("(for example KEY={example})")),
                "{key}: {error}"
            );
            assert!(!error.contains("hush"), "the key leaked: {error}");
        }
    }
}

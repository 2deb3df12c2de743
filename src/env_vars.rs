//! Reading `KESSAI_*` variables: trimmed, typed, secrets from a value or a
//! `…_FILE`, and the error a bad one gives (naming the variable, never
//! echoing a secret). A leaf: the configuration and each provider's own
//! block read through it.

use secrecy::SecretString;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name}: {problem}")]
    Invalid { name: String, problem: String },
    #[error("{0}")]
    Inconsistent(String),
}

pub fn invalid(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

pub fn read_file(name: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| invalid(name, format!("cannot read {path}: {e}")))
}

pub struct Env<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|e| invalid(name, e.to_string()))
            })
            .transpose()
    }

    pub fn parse_bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self
            .get(name)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(None),
            Some("1" | "true" | "yes" | "on") => Ok(Some(true)),
            Some("0" | "false" | "no" | "off") => Ok(Some(false)),
            Some(other) => Err(invalid(
                name,
                format!("must be true or false, got {other:?}"),
            )),
        }
    }

    /// A provider's secret key (`key`, or `key_FILE`) and base URL: `None`
    /// when the key is unset, or in sandbox mode where a simulator stands in.
    pub fn key_and_url(
        &self,
        sandbox: bool,
        key: &str,
        url: &str,
        default_url: &str,
    ) -> Result<Option<(SecretString, String)>, ConfigError> {
        match (sandbox, self.secret(key)?) {
            (true, _) | (false, None) => Ok(None),
            (false, Some(secret)) => Ok(Some((
                secret,
                self.get(url).unwrap_or_else(|| default_url.into()),
            ))),
        }
    }

    /// `NAME`, or the contents of the file at `NAME_FILE`.
    pub fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(value) = self.get(name) {
            return Ok(Some(SecretString::from(value.trim().to_owned())));
        }
        let file_var = format!("{name}_FILE");
        match self.get(&file_var) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(&path)
                .map(|v| Some(SecretString::from(v.trim().to_owned())))
                .map_err(|e| invalid(&file_var, format!("cannot read {path}: {e}"))),
        }
    }
}

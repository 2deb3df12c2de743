//! Reading `KESSAI_*` variables: trimmed, typed, secrets from a value or a
//! `…_FILE`, and the error a bad one gives (naming the variable, never
//! echoing a secret). A leaf: the configuration and each provider's own
//! block read through it.
//!
//! A bad value does not stop the reading: [`Env`] records it and the reader
//! goes on with the default, so one message can list every mistake at once.

use std::cell::RefCell;
use std::fmt;

use secrecy::SecretString;

pub mod known;
pub mod provider_keys;

pub use provider_keys::Mode;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name}: {problem}{}", example_of(name, example.as_deref()))]
    Invalid {
        name: String,
        problem: String,
        /// A good value where the problem calls for another than the list's.
        example: Option<String>,
    },
    #[error("{0}")]
    Inconsistent(String),
    #[error("{name}: not a kessai variable{}", suggestion.map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("{}", Several(.0))]
    Several(Vec<ConfigError>),
}

fn example_of(name: &str, given: Option<&str>) -> String {
    let base = name.strip_suffix("_FILE").unwrap_or(name);
    match (given, known::find(base)) {
        (Some(example), _) if base == name => format!(" (for example {name}={example})"),
        (Some(example), _) => format!(" (for example a file holding {example})"),
        (None, Some(var)) if base == name => format!(" (for example {}={})", var.name, var.example),
        (None, _) => String::new(),
    }
}

struct Several<'a>(&'a [ConfigError]);

impl fmt::Display for Several<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problems:", self.0.len())?;
        for error in self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// One error, or all of them in one.
    pub fn all(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }
}

pub fn invalid(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        problem: problem.into(),
        example: None,
    }
}

pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: RefCell<Vec<ConfigError>>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            errors: RefCell::default(),
        }
    }

    /// Records that `name`'s value is wrong; the reader goes on with its
    /// default.
    pub fn reject(&self, name: &str, problem: impl Into<String>) {
        self.errors.borrow_mut().push(invalid(name, problem));
    }

    /// As [`Self::reject`], with the good value to show.
    pub fn reject_with_example(&self, name: &str, problem: impl Into<String>, example: &str) {
        self.errors.borrow_mut().push(ConfigError::Invalid {
            name: name.to_owned(),
            problem: problem.into(),
            example: Some(example.to_owned()),
        });
    }

    /// What [`Self::reject`] recorded, in order.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors.into_inner()
    }

    /// The file's contents; empty (and the problem recorded) when it
    /// cannot be read.
    pub fn read_file(&self, name: &str, path: &str) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            self.reject(name, format!("cannot read {path}: {e}"));
            String::new()
        })
    }

    /// A recorded error as the value's absence.
    fn recorded<T>(&self, result: Result<Option<T>, ConfigError>) -> Option<T> {
        result.unwrap_or_else(|error| {
            self.errors.borrow_mut().push(error);
            None
        })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let parsed = self
            .get(name)
            .map(|v| {
                // Never a secret here (those are read by `secret`): the
                // value is shown, as what kessai read may not be what was meant.
                let v = v.trim();
                v.parse::<T>()
                    .map_err(|e| invalid(name, format!("{e}, got {v:?}")))
            })
            .transpose();
        Ok(self.recorded(parsed))
    }

    pub fn parse_bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        let parsed = match self
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
        };
        Ok(self.recorded(parsed))
    }

    /// A provider's secret key (`key`, or `key_FILE`), checked against its
    /// `shape` and `mode`, and base URL: `None` when the key is unset, or in
    /// sandbox mode where a simulator stands in.
    pub fn key_and_url(
        &self,
        mode: Mode,
        (key, shape): (&str, &provider_keys::KeyShape),
        url: &str,
        default_url: &str,
    ) -> Result<Option<(SecretString, String)>, ConfigError> {
        let Some(secret) = self.secret(key)? else {
            return Ok(None);
        };
        provider_keys::check_secret_key(self, key, &secret, shape, mode);
        if mode.is_sandbox() {
            return Ok(None);
        }
        Ok(Some((
            secret,
            self.get(url).unwrap_or_else(|| default_url.into()),
        )))
    }

    /// The variable a secret is read from: `name`, or `name_FILE`.
    pub fn secret_source(&self, name: &str) -> String {
        if self.get(name).is_some() {
            name.to_owned()
        } else {
            format!("{name}_FILE")
        }
    }

    /// `NAME`, or the contents of the file at `NAME_FILE`.
    pub fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(value) = self.get(name) {
            return Ok(Some(SecretString::from(value.trim().to_owned())));
        }
        let file_var = format!("{name}_FILE");
        let read = match self.get(&file_var) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(&path)
                .map(|v| Some(SecretString::from(v.trim().to_owned())))
                .map_err(|e| invalid(&file_var, format!("cannot read {path}: {e}"))),
        };
        Ok(self.recorded(read))
    }
}

//! The router's configuration: path, bearer token, timeout, concurrency
//! limit, and what the landing page shows.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::shared_token::SharedBearerToken;

/// Why a [`MetricsConfig`] or a [`BearerToken`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The path does not start with `/`, or holds a capture or wildcard (`{`,
    /// `}`, `*`, or a segment starting with `:`).
    #[error(
        "invalid metrics path `{path}`: it must start with `/` and hold no `{{`, `}}`, `*` or segment starting with `:`"
    )]
    InvalidPath {
        /// The refused path.
        path: String,
    },
    /// The request timeout is zero.
    #[error("the request timeout must be greater than zero")]
    ZeroTimeout,
    /// The concurrency limit is zero (every request would wait until it timed out).
    #[error("the concurrency limit must be at least 1")]
    ZeroConcurrencyLimit,
    /// The bearer token is empty (after trimming surrounding whitespace).
    #[error("the bearer token is empty")]
    EmptyToken,
    /// The bearer token holds a character that cannot appear in an HTTP header
    /// token (only visible ASCII, `!` to `~`, is allowed).
    #[error("the bearer token holds a character other than visible ascii")]
    InvalidToken,
    /// The bearer token is longer than [`BearerToken::MAX_LEN`] bytes.
    #[error("the bearer token is longer than {max} bytes")]
    TokenTooLong {
        /// The maximum length in bytes.
        max: usize,
    },
    /// A [`ServeConfig`](crate::ServeConfig) timeout is zero.
    #[error("the {which} timeout must be greater than zero")]
    ZeroServeTimeout {
        /// Which timeout: `header-read` or `idle`.
        which: &'static str,
    },
    /// The cap on open connections of a [`ServeConfig`](crate::ServeConfig) is zero.
    #[error("the connection cap must be at least 1")]
    ZeroMaxConnections,
    /// The metrics path is one of the other routes of [`app_with`](crate::app_with)
    /// (`/`, `/-/healthy`, `/-/ready`).
    #[error("the metrics path `{path}` is taken by another route of the app")]
    PathConflict {
        /// The refused path.
        path: String,
    },
}

/// A secret bearer token. Its `Debug` output never shows the token.
///
/// The token is compared in constant time: the comparison always runs over a
/// fixed-size buffer of [`MAX_LEN`](Self::MAX_LEN) bytes, so its duration
/// depends neither on the secret's length nor on where a guess first differs.
///
/// ```
/// use vitals_http::BearerToken;
///
/// let token = BearerToken::new("s3cr3t\n").unwrap(); // read from a file: the newline is trimmed
/// assert!(token.verify("s3cr3t"));
/// assert!(!token.verify("s3cr3"));
/// assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
/// ```
#[derive(Clone)]
pub struct BearerToken {
    padded: Box<[u8; BearerToken::MAX_LEN]>,
    len: usize,
}

impl BearerToken {
    /// The longest token accepted, in bytes.
    pub const MAX_LEN: usize = 512;

    /// A token from its text; surrounding whitespace (a token file's trailing
    /// newline) is trimmed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyToken`], [`ConfigError::InvalidToken`] (a character
    /// other than visible ASCII) or [`ConfigError::TokenTooLong`].
    pub fn new(token: impl AsRef<str>) -> Result<Self, ConfigError> {
        let token = token.as_ref().trim();
        if token.is_empty() {
            return Err(ConfigError::EmptyToken);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidToken);
        }
        if token.len() > Self::MAX_LEN {
            return Err(ConfigError::TokenTooLong { max: Self::MAX_LEN });
        }
        let mut padded = Box::new([0_u8; Self::MAX_LEN]);
        padded[..token.len()].copy_from_slice(token.as_bytes());
        Ok(Self {
            padded,
            len: token.len(),
        })
    }

    /// Whether `candidate` is this token, compared in constant time.
    #[must_use]
    pub fn verify(&self, candidate: impl AsRef<[u8]>) -> bool {
        let candidate = candidate.as_ref();
        // The cap is public; a longer candidate cannot be the token.
        if candidate.len() > Self::MAX_LEN {
            return false;
        }
        let mut padded = [0_u8; Self::MAX_LEN];
        padded[..candidate.len()].copy_from_slice(candidate);
        let same_bytes = padded[..].ct_eq(&self.padded[..]);
        let same_len = (candidate.len() as u64).ct_eq(&(self.len as u64));
        bool::from(same_bytes & same_len)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// How [`router_with`](crate::router_with) and [`app_with`](crate::app_with)
/// serve the endpoint.
///
/// ```
/// use std::time::Duration;
/// use vitals_http::{BearerToken, MetricsConfig};
///
/// let config = MetricsConfig::new()
///     .path("/internal/vitals")
///     .bearer_token(BearerToken::new("s3cr3t").unwrap())
///     .timeout(Duration::from_secs(5))
///     .concurrency_limit(16)
///     .service_name("orchestrator");
/// assert!(format!("{config:?}").contains("<redacted>"));
/// ```
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub(crate) path: String,
    pub(crate) token: Option<SharedBearerToken>,
    pub(crate) timeout: Duration,
    pub(crate) concurrency_limit: usize,
    pub(crate) service_name: String,
    pub(crate) docs_url: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            path: Self::DEFAULT_PATH.to_owned(),
            token: None,
            timeout: Self::DEFAULT_TIMEOUT,
            concurrency_limit: Self::DEFAULT_CONCURRENCY_LIMIT,
            service_name: Self::DEFAULT_SERVICE_NAME.to_owned(),
            docs_url: Self::DEFAULT_DOCS_URL.to_owned(),
        }
    }
}

impl MetricsConfig {
    /// The default path, `/metrics`.
    pub const DEFAULT_PATH: &'static str = "/metrics";
    /// The default request timeout, 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default number of requests served at once, 64; more wait for a slot
    /// (within the timeout).
    pub const DEFAULT_CONCURRENCY_LIMIT: usize = 64;

    /// The default service name on the landing page, `vitals`.
    pub const DEFAULT_SERVICE_NAME: &'static str = "vitals";
    /// The default documentation link on the landing page: the crate's docs.
    pub const DEFAULT_DOCS_URL: &'static str = "https://docs.rs/vitals-http";

    /// The defaults: `/metrics`, no authentication, 10 s, 64 requests at once.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the endpoint at `path` instead of `/metrics`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request (`None`: no authentication).
    #[must_use]
    pub fn bearer_token(mut self, token: impl Into<Option<BearerToken>>) -> Self {
        self.token = token.into().map(SharedBearerToken::new);
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request, checked
    /// against the current value of `token`, which its other clones can
    /// [`replace`](SharedBearerToken::replace) while the router serves
    /// (`None`: no authentication).
    #[must_use]
    pub fn shared_bearer_token(mut self, token: impl Into<Option<SharedBearerToken>>) -> Self {
        self.token = token.into();
        self
    }

    /// How long a request may take, waiting for a slot included, before it is
    /// answered `503 Service Unavailable`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many requests are served at once; more wait for a slot.
    #[must_use]
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.concurrency_limit = limit;
        self
    }

    /// The service's name, the title of the landing page of
    /// [`app_with`](crate::app_with) (default [`DEFAULT_SERVICE_NAME`](Self::DEFAULT_SERVICE_NAME)).
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Where the landing page's documentation link points (default
    /// [`DEFAULT_DOCS_URL`](Self::DEFAULT_DOCS_URL)).
    #[must_use]
    pub fn docs_url(mut self, url: impl Into<String>) -> Self {
        self.docs_url = url.into();
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPath`], [`ConfigError::ZeroTimeout`] or
    /// [`ConfigError::ZeroConcurrencyLimit`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let path = &self.path;
        let capture = path.split('/').any(|segment| segment.starts_with(':'));
        if !path.starts_with('/') || path.contains(['{', '}', '*']) || capture {
            return Err(ConfigError::InvalidPath { path: path.clone() });
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.concurrency_limit == 0 {
            return Err(ConfigError::ZeroConcurrencyLimit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_and_length() {
        let token = BearerToken::new("abc").unwrap();
        assert!(token.verify("abc"));
        assert!(!token.verify("abd"));
        assert!(!token.verify("ab"));
        assert!(!token.verify("abcd"));
        assert!(!token.verify(""));
        assert!(!token.verify("abc\0"));
        assert!(!token.verify("a".repeat(BearerToken::MAX_LEN + 1)));
        let long = "x".repeat(BearerToken::MAX_LEN);
        assert!(BearerToken::new(&long).unwrap().verify(&long));
    }

    #[test]
    fn tokens_are_checked_at_construction() {
        assert_eq!(
            BearerToken::new(" \n").unwrap_err(),
            ConfigError::EmptyToken
        );
        assert_eq!(
            BearerToken::new("a b").unwrap_err(),
            ConfigError::InvalidToken
        );
        assert_eq!(
            BearerToken::new("ä").unwrap_err(),
            ConfigError::InvalidToken
        );
        assert_eq!(
            BearerToken::new("x".repeat(BearerToken::MAX_LEN + 1)).unwrap_err(),
            ConfigError::TokenTooLong {
                max: BearerToken::MAX_LEN
            }
        );
        assert!(BearerToken::new("tok\n").unwrap().verify("tok"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = MetricsConfig::new().bearer_token(BearerToken::new("hunter2").unwrap());
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn configs_are_validated() {
        assert!(MetricsConfig::new().validate().is_ok());
        for bad in ["metrics", "", "/m/{id}", "/m/*rest", "/m/:id"] {
            assert!(
                matches!(
                    MetricsConfig::new().path(bad).validate(),
                    Err(ConfigError::InvalidPath { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            MetricsConfig::new().timeout(Duration::ZERO).validate(),
            Err(ConfigError::ZeroTimeout)
        );
        assert_eq!(
            MetricsConfig::new().concurrency_limit(0).validate(),
            Err(ConfigError::ZeroConcurrencyLimit)
        );
    }
}

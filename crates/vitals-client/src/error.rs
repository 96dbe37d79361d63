//! The crate's errors.

use std::time::Duration;

/// A body that is not a contract-v1 envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not JSON.
    #[error("the body is not JSON")]
    NotJson(#[source] serde_json::Error),

    /// JSON, but not a vitals envelope.
    #[error("not a vitals envelope: {reason}")]
    NotAnEnvelope {
        /// What is missing or wrong.
        reason: &'static str,
    },

    /// An envelope of another contract version.
    #[error("unsupported schema_version {version} (this consumer reads version 1)")]
    UnsupportedVersion {
        /// The version the body declares.
        version: u64,
    },

    /// A known field has another JSON type than contract v1 gives it.
    #[error("the snapshot does not have the shape of contract v1")]
    Shape(#[source] serde_json::Error),
}

/// Why a snapshot could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL cannot be used.
    #[error("invalid URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },

    /// The URL's scheme is not served by this build.
    #[error("unsupported URL scheme {scheme:?} (this build fetches {supported})")]
    UnsupportedScheme {
        /// The scheme as given.
        scheme: String,
        /// The schemes this build fetches.
        supported: &'static str,
    },

    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),

    /// The target did not answer: connection refused, no route, a name that
    /// does not resolve.
    #[error("cannot reach {target}")]
    Unreachable {
        /// The target.
        target: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },

    /// No complete answer within the timeout.
    #[error("no answer from {target} within {}", crate::duration::format(*timeout))]
    Timeout {
        /// The target.
        target: String,
        /// The timeout.
        timeout: Duration,
    },

    /// The server refused the credentials (401 or 403).
    #[error("{target} answered {status}: missing or wrong bearer token")]
    Unauthorized {
        /// The target.
        target: String,
        /// The HTTP status.
        status: u16,
    },

    /// Another status than 200.
    #[error("{target} answered HTTP status {status}")]
    Status {
        /// The target.
        target: String,
        /// The HTTP status.
        status: u16,
    },

    /// The answer broke off or could not be decoded (gzip).
    #[error("cannot read the answer of {target}")]
    Body {
        /// The target.
        target: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },

    /// The answer (decompressed) is longer than the fetcher's limit
    /// ([`HttpFetcherBuilder::max_body_bytes`](crate::HttpFetcherBuilder::max_body_bytes)):
    /// reading stopped there.
    #[error("the answer of {target} is longer than {limit} bytes")]
    TooLarge {
        /// The target.
        target: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The answer is not a contract-v1 envelope.
    #[error(transparent)]
    Parse(#[from] ParseError),

    /// A failure of a [`Fetch`](crate::Fetch) implementation outside this
    /// crate (an in-process fetcher, a fake); see [`FetchError::other`].
    #[error("{message}")]
    Other {
        /// What failed, for people.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl FetchError {
    /// A failure of a [`Fetch`](crate::Fetch) implementation outside this
    /// crate, with its cause when it has one.
    #[must_use]
    pub fn other(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        FetchError::Other {
            message: message.into(),
            source,
        }
    }

    /// A short, stable `snake_case` code for the failure: `invalid_url`,
    /// `unsupported_scheme`, `client`, `unreachable`, `timeout`,
    /// `unauthorized`, `http_status`, `body`, `too_large`, `not_json`,
    /// `not_an_envelope`, `unsupported_version`, `shape` or `other`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "invalid_url",
            FetchError::UnsupportedScheme { .. } => "unsupported_scheme",
            FetchError::Client(_) => "client",
            FetchError::Unreachable { .. } => "unreachable",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Unauthorized { .. } => "unauthorized",
            FetchError::Status { .. } => "http_status",
            FetchError::Body { .. } => "body",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Parse(ParseError::NotJson(_)) => "not_json",
            FetchError::Parse(ParseError::NotAnEnvelope { .. }) => "not_an_envelope",
            FetchError::Parse(ParseError::UnsupportedVersion { .. }) => "unsupported_version",
            FetchError::Parse(ParseError::Shape(_)) => "shape",
            FetchError::Other { .. } => "other",
        }
    }
}

/// A duration that does not parse (`"10m"`, `"90s"`, `"1h30m"`, `"500ms"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration")]
    Empty,
    /// A part is not a number followed by a unit.
    #[error(
        "invalid duration {text:?}: expected a number and a unit (ms, s, m, h, d), like 90s or 1h30m"
    )]
    Invalid {
        /// The text as given.
        text: String,
    },
    /// Too long to represent.
    #[error("duration {text:?} is too long")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// A threshold that cannot be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// No threshold of that name.
    #[error("unknown threshold {name:?} (known: {known})")]
    Unknown {
        /// The name as given.
        name: String,
        /// The known names.
        known: &'static str,
    },
    /// Not `name=value`.
    #[error("expected NAME=VALUE, got {text:?}")]
    Assignment {
        /// The text as given.
        text: String,
    },
    /// The value is not a duration.
    #[error("threshold {name}")]
    Duration {
        /// The threshold.
        name: &'static str,
        /// Why the value does not parse.
        #[source]
        source: DurationError,
    },
    /// The value is not a usable number.
    #[error("threshold {name}: {value:?} is not {expected}")]
    Number {
        /// The threshold.
        name: &'static str,
        /// The value as given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
}

/// Options the rules cannot be generated from
/// ([`RuleFile::generate`](crate::rules::RuleFile::generate)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The job cannot be a label matcher.
    #[error("invalid job {job:?}: {reason}")]
    Job {
        /// The job as given.
        job: String,
        /// Why not.
        reason: &'static str,
    },
    /// A window the rules cannot use.
    #[error("invalid {name}: {reason}")]
    Window {
        /// The threshold or option.
        name: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// A number that is negative or not finite.
    #[error("invalid {name}: {value} is not a finite, non-negative number")]
    Number {
        /// The threshold.
        name: &'static str,
        /// The value, as text.
        value: String,
    },
}

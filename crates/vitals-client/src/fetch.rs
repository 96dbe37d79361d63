//! Getting snapshots: the [`Fetch`] trait and its HTTP implementation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::FetchError;
use crate::model::Body;

/// Where snapshots come from.
///
/// A watcher needs one thing from its target: the next body. The HTTP
/// implementation is [`HttpFetcher`]; the `vitals` command also has an
/// in-process one that builds snapshots from a database through the
/// collector (it lives in the command, so that this crate never links the
/// collector); a test implements it over canned bodies:
///
/// ```
/// use vitals_client::{Body, Fetch, FetchError, async_trait};
///
/// struct Canned(&'static str);
///
/// #[async_trait]
/// impl Fetch for Canned {
///     async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
///         Ok(self.0.as_bytes().to_vec())
///     }
///     fn target(&self) -> &str {
///         "canned"
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let off = Canned(r#"{"schema_version":1,"enabled":false}"#);
/// assert_eq!(off.fetch().await.unwrap(), Body::Disabled);
/// # }
/// ```
#[async_trait]
pub trait Fetch: Send + Sync {
    /// The raw body of the next snapshot (JSON, already decompressed).
    ///
    /// # Errors
    ///
    /// [`FetchError`] when no body could be had.
    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError>;

    /// What is fetched, for people (a URL, a database path).
    fn target(&self) -> &str;

    /// The next snapshot, parsed with [`Body::from_slice`].
    ///
    /// # Errors
    ///
    /// [`FetchError`] when no body could be had, [`FetchError::Parse`] when
    /// it is not a contract-v1 envelope.
    async fn fetch(&self) -> Result<Body, FetchError> {
        let body = self.fetch_body().await?;
        Ok(Body::from_slice(&body)?)
    }
}

#[async_trait]
impl<T: Fetch + ?Sized> Fetch for Box<T> {
    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
        (**self).fetch_body().await
    }
    fn target(&self) -> &str {
        (**self).target()
    }
    async fn fetch(&self) -> Result<Body, FetchError> {
        (**self).fetch().await
    }
}

#[async_trait]
impl<T: Fetch + ?Sized> Fetch for Arc<T> {
    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
        (**self).fetch_body().await
    }
    fn target(&self) -> &str {
        (**self).target()
    }
    async fn fetch(&self) -> Result<Body, FetchError> {
        (**self).fetch().await
    }
}

/// The schemes this build fetches.
#[cfg(feature = "rustls")]
const SCHEMES: &str = "http and https";
#[cfg(not(feature = "rustls"))]
const SCHEMES: &str = "http only; https needs the `rustls` feature";

/// Fetches snapshots from a vitals endpoint over HTTP.
///
/// It asks for JSON (`Accept: application/json`), accepts gzip, sends the
/// bearer token when it has one, gives up after its timeout and stops
/// reading an answer longer than its limit (decompressed, so that a small
/// compressed answer cannot fill the memory either). A URL with no path
/// (`http://127.0.0.1:9464`) means its `/metrics`.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    url: url::Url,
    target: String,
    token: Option<Arc<str>>,
    timeout: Duration,
    max_body_bytes: usize,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("url", &self.target)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// The default timeout of one fetch.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// The default limit of an answer's length, decompressed: 64 MiB, far
    /// above a snapshot of many thousands of active tasks.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

    /// A fetcher of `url` with the defaults (no token, [`Self::DEFAULT_TIMEOUT`]).
    ///
    /// # Errors
    ///
    /// As [`HttpFetcherBuilder::build`].
    pub fn new(url: &str) -> Result<Self, FetchError> {
        Self::builder(url).build()
    }

    /// A builder for a fetcher of `url`.
    #[must_use]
    pub fn builder(url: &str) -> HttpFetcherBuilder {
        HttpFetcherBuilder {
            url: url.to_owned(),
            token: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The URL fetched.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.target
    }
}

#[async_trait]
impl Fetch for HttpFetcher {
    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(FetchError::Unauthorized {
                target: self.target.clone(),
                status: status.as_u16(),
            });
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                target: self.target.clone(),
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        loop {
            let chunk = response.chunk().await.map_err(|e| self.reading(e))?;
            let Some(chunk) = chunk else {
                return Ok(body);
            };
            if body.len().saturating_add(chunk.len()) > self.max_body_bytes {
                return Err(FetchError::TooLarge {
                    target: self.target.clone(),
                    limit: self.max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
    }

    fn target(&self) -> &str {
        &self.target
    }
}

impl HttpFetcher {
    fn transport(&self, source: reqwest::Error) -> FetchError {
        if source.is_timeout() {
            self.timed_out()
        } else {
            FetchError::Unreachable {
                target: self.target.clone(),
                source,
            }
        }
    }

    fn reading(&self, source: reqwest::Error) -> FetchError {
        if source.is_timeout() {
            self.timed_out()
        } else {
            FetchError::Body {
                target: self.target.clone(),
                source,
            }
        }
    }

    fn timed_out(&self) -> FetchError {
        FetchError::Timeout {
            target: self.target.clone(),
            timeout: self.timeout,
        }
    }
}

/// Configures an [`HttpFetcher`].
pub struct HttpFetcherBuilder {
    url: String,
    token: Option<String>,
    timeout: Duration,
    max_body_bytes: usize,
}

impl fmt::Debug for HttpFetcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcherBuilder")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl HttpFetcherBuilder {
    /// Sends `Authorization: Bearer TOKEN` (surrounding whitespace trimmed;
    /// an empty token sends nothing).
    #[must_use]
    pub fn bearer_token(mut self, token: Option<&str>) -> Self {
        self.token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        self
    }

    /// Gives up on a fetch after `timeout` (connect, send and read).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Stops reading an answer longer than `limit` bytes, decompressed
    /// (default [`HttpFetcher::DEFAULT_MAX_BODY_BYTES`]), with
    /// [`FetchError::TooLarge`].
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Builds the fetcher.
    ///
    /// # Errors
    ///
    /// [`FetchError::InvalidUrl`] when the URL does not parse,
    /// [`FetchError::UnsupportedScheme`] for a scheme this build does not
    /// fetch, [`FetchError::Client`] when the HTTP client cannot be built.
    pub fn build(self) -> Result<HttpFetcher, FetchError> {
        let mut url = url::Url::parse(&self.url).map_err(|source| FetchError::InvalidUrl {
            url: self.url.clone(),
            source,
        })?;
        let supported =
            url.scheme() == "http" || (url.scheme() == "https" && cfg!(feature = "rustls"));
        if !supported {
            return Err(FetchError::UnsupportedScheme {
                scheme: url.scheme().to_owned(),
                supported: SCHEMES,
            });
        }
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/metrics");
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .gzip(true)
            .no_proxy()
            .build()
            .map_err(FetchError::Client)?;
        Ok(HttpFetcher {
            client,
            target: url.to_string(),
            url,
            token: self.token.map(Arc::from),
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

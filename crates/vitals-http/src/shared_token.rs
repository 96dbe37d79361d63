//! [`SharedBearerToken`]: a bearer token that can be replaced while the router serves.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::BearerToken;

/// A [`BearerToken`] that can be replaced at run time, for token rotation
/// without a restart (`vitals serve` re-reads its token file on `SIGHUP`).
///
/// Clones share the token: keep one, hand another to
/// [`MetricsConfig::shared_bearer_token`](crate::MetricsConfig::shared_bearer_token),
/// and [`replace`](Self::replace) it; the next request is checked against the
/// new token. Its `Debug` output never shows the token.
///
/// ```
/// use vitals_http::{BearerToken, SharedBearerToken};
///
/// let shared = SharedBearerToken::new(BearerToken::new("old").unwrap());
/// let served = shared.clone();
/// shared.replace(BearerToken::new("new").unwrap());
/// assert!(served.verify("new"));
/// assert!(!served.verify("old"));
/// ```
#[derive(Clone)]
pub struct SharedBearerToken(Arc<RwLock<BearerToken>>);

impl SharedBearerToken {
    /// A shared handle on `token`.
    #[must_use]
    pub fn new(token: BearerToken) -> Self {
        Self(Arc::new(RwLock::new(token)))
    }

    /// Replaces the token for every clone; requests checked from now on need the new one.
    pub fn replace(&self, token: BearerToken) {
        // The lock guards a plain value that no panic can leave half-written.
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// Whether `candidate` is the current token, compared in constant time
    /// (see [`BearerToken::verify`]).
    #[must_use]
    pub fn verify(&self, candidate: impl AsRef<[u8]>) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .verify(candidate)
    }
}

impl From<BearerToken> for SharedBearerToken {
    fn from(token: BearerToken) -> Self {
        Self::new(token)
    }
}

impl fmt::Debug for SharedBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedBearerToken(<redacted>)")
    }
}

//! The watcher's fetcher: HTTP through `vitals-client`, or the collector in
//! process for `--db`.
//!
//! The in-process fetcher lives here, in the command (which links the
//! collector through the facade), so that `vitals-client` itself never
//! depends on a collector crate.

use std::sync::Arc;

use vitals::Assembler;
use vitals_client::{Fetch, FetchError, HttpFetcher, async_trait};

use super::{Args, WatchError};
use crate::CliError;
use crate::stack::{self, StackConfig};

/// The fetcher `args` ask for.
pub(super) fn fetcher(args: &Args) -> Result<Arc<dyn Fetch>, CliError> {
    if let Some(db) = &args.db {
        let config = StackConfig {
            db: db.clone(),
            proc_root: args.proc_root.clone(),
            section_timeout: None,
            min_interval: None,
            enabled: true,
            // The watcher's own process is not what it watches.
            process_metrics: false,
        };
        return Ok(Arc::new(InProcess {
            assembler: stack::assembler(&config)?,
            target: db.display().to_string(),
        }));
    }
    // clap requires one of URL and --db.
    let url = args.url.as_deref().unwrap_or_default();
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::TokenFile {
                path: path.clone(),
                source,
            })?;
            if text.trim().is_empty() {
                return Err(WatchError::EmptyToken { path: path.clone() }.into());
            }
            Some(text)
        }
        None => None,
    };
    let fetcher = HttpFetcher::builder(url)
        .bearer_token(token.as_deref())
        .timeout(args.timeout)
        .build()
        .map_err(WatchError::Target)?;
    Ok(Arc::new(fetcher))
}

/// Snapshots built in this process from a database, through the same
/// assembler `vitals snapshot` uses, and read back as JSON like any other.
#[derive(Debug)]
pub(crate) struct InProcess {
    assembler: Assembler,
    target: String,
}

#[async_trait]
impl Fetch for InProcess {
    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
        // A build never fails: a missing database is a degraded snapshot.
        Ok(self.assembler.build().await.to_json().as_bytes().to_vec())
    }

    fn target(&self) -> &str {
        &self.target
    }
}

//! `vitals serve --disable-file PATH`: the kill switch follows a file, checked on every request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use vitals::KillSwitch;

/// The file and the switch it drives.
#[derive(Debug, Clone)]
struct DisableFile {
    path: Arc<PathBuf>,
    switch: KillSwitch,
    /// Serializes check-and-set, so that a request that saw the file cannot
    /// be overtaken by one that saw it earlier turning the switch back on.
    order: Arc<Mutex<()>>,
}

impl DisableFile {
    /// Sets the switch from the file: off while it exists. When it cannot
    /// be told (the directory is unreadable), off: a kill switch fails closed.
    fn refresh(&self) {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        let disabled = self.path.try_exists().unwrap_or(true);
        if self.switch.is_enabled() == disabled {
            self.switch.set_enabled(!disabled);
            if disabled {
                tracing::info!(file = %self.path.display(), "disable file present: snapshots off");
            } else {
                tracing::info!(file = %self.path.display(), "disable file gone: snapshots on");
            }
        }
    }
}

/// Wraps `router` so that, before every request, the kill switch is set
/// from `path` (one `stat`): off while the file exists, on when it does not.
/// A build reads the switch when it starts, so no section runs for a
/// request that arrives while the file exists.
pub(crate) fn layer(router: Router, path: PathBuf, switch: KillSwitch) -> Router {
    let state = DisableFile {
        path: Arc::new(path),
        switch,
        order: Arc::new(Mutex::new(())),
    };
    state.refresh();
    router.layer(middleware::from_fn_with_state(state, check))
}

async fn check(State(state): State<DisableFile>, request: Request, next: Next) -> Response {
    state.refresh();
    next.run(request).await
}

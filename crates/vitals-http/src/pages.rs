//! The routes beside `/metrics`: the landing page `/` and the probes
//! `/-/healthy` and `/-/ready`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vitals_core::{Assembler, SectionStatus};

use crate::config::MetricsConfig;
use crate::service::method_not_allowed;

/// The path of the liveness probe.
pub const HEALTHY_PATH: &str = "/-/healthy";

/// The path of the readiness probe.
pub const READY_PATH: &str = "/-/ready";

/// The content type of the probes' one-line answers.
const PLAIN: &str = "text/plain; charset=utf-8";

/// The probes, without authentication (they reveal only a status word).
pub(crate) fn probes(assembler: Assembler) -> Router {
    Router::new()
        .route(HEALTHY_PATH, get(healthy).fallback(method_not_allowed))
        .route(
            READY_PATH,
            get(ready)
                .fallback(method_not_allowed)
                .with_state(assembler),
        )
}

/// `200 healthy` while the process serves; builds nothing.
async fn healthy() -> Response {
    plain(StatusCode::OK, "healthy")
}

/// `200 ready` once a snapshot was built and the last one had no section in
/// `error`, `panic` or `timeout` (or while the kill switch is off: the
/// endpoint then answers at once); `503 not ready: …` otherwise. Builds nothing.
async fn ready(State(assembler): State<Assembler>) -> Response {
    match readiness(&assembler) {
        Ok(()) => plain(StatusCode::OK, "ready"),
        Err(reason) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {reason}"),
        ),
    }
}

/// Why the assembler is not ready, in a few words that name no section and
/// carry no error message (the probe needs no token).
fn readiness(assembler: &Assembler) -> Result<(), String> {
    if !assembler.kill_switch().is_enabled() {
        return Ok(());
    }
    let Some(last) = assembler.latest() else {
        return Err("no snapshot built yet".to_owned());
    };
    let failed = [
        SectionStatus::Error,
        SectionStatus::Panic,
        SectionStatus::Timeout,
    ]
    .into_iter()
    .find(|status| last.reports().iter().any(|r| r.status == *status));
    match failed {
        Some(status) => Err(format!(
            "a section's status was {} in the last snapshot",
            status.as_str()
        )),
        None => Ok(()),
    }
}

fn plain(status: StatusCode, line: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(PLAIN)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        format!("{line}\n"),
    )
        .into_response()
}

/// The landing page of `config`, rendered once.
pub(crate) fn landing(config: &MetricsConfig) -> Arc<str> {
    let name = escape(&config.service_name);
    let docs = escape(&config.docs_url);
    // Relative links: the page also works when the app is nested under a prefix.
    let metrics = escape(config.path.trim_start_matches('/'));
    let healthy = HEALTHY_PATH.trim_start_matches('/');
    let ready = READY_PATH.trim_start_matches('/');
    let version = env!("CARGO_PKG_VERSION");
    let mut page = String::with_capacity(1024);
    // Writing to a String cannot fail.
    let _ = write!(
        page,
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head><meta charset=\"utf-8\"><title>{name}</title></head>\n\
         <body>\n\
         <h1>{name}</h1>\n\
         <p>Raw-signal snapshots of this service, served by vitals {version}.</p>\n\
         <ul>\n\
         <li><a href=\"{metrics}?format=json\">{metrics}</a> as JSON (the snapshot)</li>\n\
         <li><a href=\"{metrics}?format=openmetrics\">{metrics}</a> as OpenMetrics</li>\n\
         <li><a href=\"{metrics}?format=prometheus\">{metrics}</a> in the Prometheus text format</li>\n\
         <li><a href=\"{healthy}\">/{healthy}</a> and <a href=\"{ready}\">/{ready}</a>, the probes</li>\n\
         <li><a href=\"{docs}\">documentation</a></li>\n\
         </ul>\n\
         </body>\n\
         </html>\n"
    );
    Arc::from(page)
}

/// The landing page as a response.
pub(crate) fn html(page: &str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page.to_owned(),
    )
        .into_response()
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn the_landing_page_links_relative_to_the_mount() {
        let config = MetricsConfig::new()
            .path("/internal/vitals")
            .service_name("orch <1>")
            .docs_url("https://example.org/docs?a=1&b=2");
        let page = landing(&config);
        assert!(page.contains("<title>orch &lt;1&gt;</title>"), "{page}");
        assert!(
            page.contains("href=\"internal/vitals?format=prometheus\""),
            "{page}"
        );
        assert!(page.contains("href=\"-/ready\""), "{page}");
        assert!(
            page.contains("href=\"https://example.org/docs?a=1&amp;b=2\""),
            "{page}"
        );
    }
}

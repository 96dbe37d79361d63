//! The `/metrics` route: handler, authentication, 405, and the layers around
//! them; and [`build_app`], which adds the landing page and the probes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use vitals_core::Assembler;

use crate::config::MetricsConfig;
use crate::negotiate::{Format, negotiate};
use crate::openmetrics::{OPENMETRICS_CONTENT_TYPE, encode_openmetrics};
use crate::pages;
use crate::shared_token::SharedBearerToken;
use crate::text::{TEXT_CONTENT_TYPE, encode_text};

/// The content type of a JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The value of the `Allow` header on a 405.
const ALLOW: &str = "GET, HEAD";

/// The `WWW-Authenticate` challenge on a 401.
const CHALLENGE: &str = "Bearer realm=\"vitals\"";

/// The `Vary` header of an answer that depends on negotiation.
const VARY: &str = "accept, accept-encoding";

/// Builds the `/metrics` router from a configuration already validated.
pub(crate) fn build(assembler: Assembler, config: &MetricsConfig) -> Router {
    Router::new().route(&config.path, metrics_route(assembler, config))
}

/// Builds the `/metrics` route, the landing page and the probes from a
/// configuration already validated (its path free of the other routes).
pub(crate) fn build_app(assembler: Assembler, config: &MetricsConfig) -> Router {
    let landing = pages::landing(config);
    let landing: MethodRouter = get(move || {
        let landing = Arc::clone(&landing);
        async move { pages::html(&landing) }
    })
    .fallback(method_not_allowed)
    .layer(compression());
    let landing = with_auth(landing, config.token.as_ref());
    build(assembler.clone(), config)
        .route("/", landing)
        .merge(pages::probes(assembler))
}

/// `GET`/`HEAD` with a snapshot, under the concurrency limit, the bearer
/// token, the timeout and compression (innermost first).
fn metrics_route(assembler: Assembler, config: &MetricsConfig) -> MethodRouter {
    let endpoint: MethodRouter = get(metrics)
        .fallback(method_not_allowed)
        .with_state(assembler);
    let limited = endpoint.layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit));
    let timed: MethodRouter = with_auth(limited, config.token.as_ref()).layer(
        TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.timeout),
    );
    timed.layer(compression())
}

/// gzip when `Accept-Encoding` allows it (above 32 bytes), identity otherwise.
fn compression() -> CompressionLayer {
    CompressionLayer::new().quality(CompressionLevel::Fastest)
}

/// `route` behind the bearer token, when one is configured.
fn with_auth(route: MethodRouter, token: Option<&SharedBearerToken>) -> MethodRouter {
    match token {
        Some(token) => route.layer(middleware::from_fn_with_state(token.clone(), authenticate)),
        None => route,
    }
}

async fn metrics(
    State(assembler): State<Assembler>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let format = negotiate(query.as_deref(), accept);
    let snapshot = assembler.build().await;
    let (content_type, body) = match format {
        Format::Json => (JSON_CONTENT_TYPE, Body::from(snapshot.to_json().to_owned())),
        Format::OpenMetrics => (
            OPENMETRICS_CONTENT_TYPE,
            Body::from(encode_openmetrics(assembler.metric_families(&snapshot))),
        ),
        Format::Text => (
            TEXT_CONTENT_TYPE,
            Body::from(encode_text(assembler.metric_families(&snapshot))),
        ),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static(VARY)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// `405 Method Not Allowed` with `Allow: GET, HEAD`.
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static(ALLOW))],
    )
        .into_response()
}

/// Extracts the token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.as_bytes();
    if values.next().is_some() {
        return None;
    }
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value.get(7..)?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

async fn authenticate(
    State(token): State<SharedBearerToken>,
    request: Request,
    next: Next,
) -> Response {
    match bearer(request.headers()) {
        Some(candidate) if token.verify(candidate) => next.run(request).await,
        _ => {
            tracing::debug!("vitals: request without a valid bearer token refused");
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                )],
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer(&headers(&["Bearer abc"])), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers(&["bearer   abc  "])), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers(&["BEARER abc"])), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers(&["Bearer "])), None);
        assert_eq!(bearer(&headers(&["Bearer"])), None);
        assert_eq!(bearer(&headers(&["Basic abc"])), None);
        assert_eq!(bearer(&headers(&["Bearerabc"])), None);
        assert_eq!(bearer(&headers(&["Bearer a", "Bearer b"])), None);
        assert_eq!(bearer(&headers(&[])), None);
    }
}

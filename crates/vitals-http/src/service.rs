//! The route: handler, authentication, 405, and the layers around them.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use vitals_core::Assembler;

use crate::config::MetricsConfig;
use crate::negotiate::{Format, negotiate};
use crate::openmetrics::{OPENMETRICS_CONTENT_TYPE, encode_openmetrics};
use crate::shared_token::SharedBearerToken;

/// The content type of a JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The value of the `Allow` header on a 405.
const ALLOW: &str = "GET, HEAD";

/// The `WWW-Authenticate` challenge on a 401.
const CHALLENGE: &str = "Bearer realm=\"vitals\"";

/// Builds the router from a configuration already validated.
pub(crate) fn build(assembler: Assembler, config: MetricsConfig) -> Router {
    let endpoint: MethodRouter = get(metrics)
        .fallback(method_not_allowed)
        .with_state(assembler);
    let limited = endpoint.layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit));
    let authed = match config.token {
        Some(token) => limited.layer(middleware::from_fn_with_state(token, authenticate)),
        None => limited,
    };
    let route = authed.layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        config.timeout,
    ));
    Router::new().route(&config.path, route)
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
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static("accept")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
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

//! `HttpFetcher` against a one-shot HTTP server on loopback.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use vitals_client::{Body, Fetch, FetchError, HttpFetcher};

const SNAPSHOT: &str = r#"{"schema_version":1,"generated_at":"2026-11-28T02:40:13Z","clk_tck":100,"stages":[],"queue":null,"agents":[],"cost":null}"#;

/// Serves one connection: reads the request head, answers `status`,
/// `headers` and `body`, and returns the request head it read.
fn serve_once(
    status: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        String::from_utf8(request).unwrap()
    });
    (addr, handle)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn fetches_gzip_json_with_the_token() {
    let (addr, server) = serve_once(
        "200 OK",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        gzip(SNAPSHOT),
    );
    // No path: the fetcher asks for /metrics.
    let fetcher = HttpFetcher::builder(&format!("http://{addr}"))
        .bearer_token(Some(" s3cr3t\n"))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert_eq!(fetcher.url(), format!("http://{addr}/metrics"));
    assert!(
        !format!("{fetcher:?}").contains("s3cr3t"),
        "the token is not in Debug"
    );
    let body = fetcher.fetch().await.unwrap();
    assert_eq!(body.snapshot().unwrap().clk_tck, Some(100));
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with("get /metrics http/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("authorization: bearer s3cr3t\r\n"),
        "{request}"
    );
    assert!(
        request.contains("accept: application/json\r\n"),
        "{request}"
    );
    assert!(request.contains("accept-encoding: gzip"), "{request}");
}

#[tokio::test]
async fn the_kill_switch_body_is_fetched_as_a_value() {
    let (addr, server) = serve_once(
        "200 OK",
        &[],
        br#"{"schema_version":1,"enabled":false}"#.to_vec(),
    );
    let fetcher = HttpFetcher::new(&format!("http://{addr}/metrics")).unwrap();
    assert_eq!(fetcher.fetch().await.unwrap(), Body::Disabled);
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(
        !request.contains("authorization"),
        "no token, no header: {request}"
    );
}

/// Fetches from a server answering `status` and `body`; the error's kind.
async fn failure(status: &str, body: &str) -> (String, String) {
    let (addr, server) = serve_once(status, &[], body.as_bytes().to_vec());
    let fetcher = HttpFetcher::new(&format!("http://{addr}/metrics")).unwrap();
    let error = fetcher.fetch().await.unwrap_err();
    server.join().unwrap();
    (error.kind().to_owned(), error.to_string())
}

#[tokio::test]
async fn http_failures_have_their_own_kinds() {
    let (kind, message) = failure("401 Unauthorized", "").await;
    assert_eq!(kind, "unauthorized");
    assert!(message.contains("bearer token"), "{message}");
    assert_eq!(failure("403 Forbidden", "").await.0, "unauthorized");
    let (kind, message) = failure("503 Service Unavailable", "").await;
    assert_eq!(kind, "http_status");
    assert!(message.contains("503"), "{message}");
    assert_eq!(failure("200 OK", "<html>hello</html>").await.0, "not_json");
    let (kind, message) = failure("200 OK", r#"{"schema_version":2}"#).await;
    assert_eq!(kind, "unsupported_version");
    assert!(message.contains("schema_version 2"), "{message}");
}

#[tokio::test]
async fn an_unreachable_target_is_unreachable() {
    // A port that was just free: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fetcher = HttpFetcher::new(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    let error = fetcher.fetch().await.unwrap_err();
    assert!(matches!(error, FetchError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.kind(), "unreachable");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers; ends when the test says so (bounded).
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(20));
        drop(stream);
    });
    let fetcher = HttpFetcher::builder(&format!("http://{addr}/metrics"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = fetcher.fetch().await.unwrap_err();
    assert_eq!(error.kind(), "timeout", "{error:?}");
    assert!(error.to_string().contains("within 300ms"), "{error}");
    done.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn unusable_urls_are_refused_when_built() {
    let error = HttpFetcher::new("not a url").unwrap_err();
    assert_eq!(error.kind(), "invalid_url");
    let error = HttpFetcher::new("ftp://example.invalid/metrics").unwrap_err();
    assert_eq!(error.kind(), "unsupported_scheme");
    #[cfg(not(feature = "rustls"))]
    {
        let error = HttpFetcher::new("https://example.invalid/metrics").unwrap_err();
        assert!(error.to_string().contains("rustls"), "{error}");
    }
    #[cfg(feature = "rustls")]
    assert!(HttpFetcher::new("https://example.invalid/metrics").is_ok());
}

/// An answer longer than the limit, decompressed, stops the read: a small
/// gzip body that inflates to a megabyte is refused at 64 KiB; a body of
/// exactly the limit is read.
#[tokio::test]
async fn an_answer_longer_than_the_limit_is_refused_after_decompression() {
    let inflated = format!("{SNAPSHOT}{}", " ".repeat(1024 * 1024));
    let bomb = gzip(&inflated);
    assert!(bomb.len() < 64 * 1024, "the compressed body is small");
    let (addr, server) = serve_once("200 OK", &[("Content-Encoding", "gzip")], bomb);
    let fetcher = HttpFetcher::builder(&format!("http://{addr}/metrics"))
        .max_body_bytes(64 * 1024)
        .build()
        .unwrap();
    let error = fetcher.fetch().await.unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: 65536, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), "too_large");
    server.join().unwrap();

    let (addr, server) = serve_once("200 OK", &[], SNAPSHOT.as_bytes().to_vec());
    let fetcher = HttpFetcher::builder(&format!("http://{addr}/metrics"))
        .max_body_bytes(SNAPSHOT.len())
        .build()
        .unwrap();
    assert!(fetcher.fetch().await.is_ok());
    server.join().unwrap();
}

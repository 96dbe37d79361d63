//! `vitals_http::serve` over real loopback sockets: the header-read timeout,
//! the idle timeout, the connection cap, the shutdown grace period, and the
//! shared bearer token. Every wait is bounded; bounds are generous (several
//! seconds) and only say "ends within".
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tower::ServiceExt;
use vitals_core::Assembler;
use vitals_http::{
    BearerToken, MetricsConfig, ServeConfig, ServeCounts, ServeStats, Server, SharedBearerToken,
};

/// A bound on "this ends": far above what any of these needs.
const BOUND: Duration = Duration::from_secs(10);

/// A small app: `/fast`, `/slow` (sleeps 3 s), `/hang` (sleeps a minute),
/// `/big` (32 MiB, more than any socket buffer).
fn app() -> Router {
    Router::new()
        .route("/fast", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_secs(3)).await;
                "slow"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 32 << 20] }))
}

struct Running {
    addr: SocketAddr,
    stats: ServeStats,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn start(config: ServeConfig) -> Running {
    start_app(app(), config).await
}

async fn start_app(app: Router, config: ServeConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(listener, app, config).unwrap();
    let stats = server.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stats,
        stop: Some(stop),
        task,
    }
}

impl Running {
    fn counts(&self) -> ServeCounts {
        self.stats.counts()
    }

    /// Triggers the shutdown and waits (bounded) for `run` to return; returns how long it took.
    async fn stop(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        timeout(BOUND, self.task)
            .await
            .expect("the server stops within the bound")
            .unwrap();
        started.elapsed()
    }
}

/// `GET path` on a new connection, the status code (0 when the connection closed without one).
async fn get_status(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0; // closed before the request was sent
    }
    let mut raw = Vec::new();
    let _ = timeout(BOUND, stream.read_to_end(&mut raw))
        .await
        .expect("an answer or a close within the bound");
    let text = String::from_utf8_lossy(&raw);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A connection that sent half a request line.
async fn half_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /fast HT").await.unwrap();
    stream
}

/// Waits (bounded) until the server closes `stream` (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0_u8; 256];
    loop {
        match timeout(BOUND, stream.read(&mut buf)).await {
            Err(_) => panic!("the server did not close the connection within {BOUND:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Polls `check` until it holds, at most [`BOUND`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !check() {
        assert!(Instant::now() < deadline, "not within {BOUND:?}: {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("not within {BOUND:?}: {what}"))
}

#[tokio::test]
async fn a_slow_request_head_is_closed_by_the_header_read_timeout() {
    let server = start(ServeConfig::new().header_read_timeout(Duration::from_millis(500))).await;
    let mut slow = half_request(server.addr).await;
    // A byte every 200 ms does not keep it open: the timeout is for the whole head.
    let drip = async {
        for _ in 0..100 {
            sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"T").await.is_err() {
                break;
            }
        }
    };
    within("the drip ends", drip).await;
    closed_by_server(&mut slow).await;
    let silent = &mut TcpStream::connect(server.addr).await.unwrap();
    closed_by_server(silent).await;
    eventually("two header timeouts counted", || {
        server.counts().header_timeouts == 2
    })
    .await;
    assert_eq!(get_status(server.addr, "/fast").await, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_by_the_idle_timeout() {
    let server = start(
        ServeConfig::new()
            .header_read_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_millis(500)),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Never read: the answer stalls in the socket buffers.
    eventually("the stalled connection is closed as idle", || {
        server.counts().idle_closed == 1
    })
    .await;
    assert_eq!(server.counts().open, 0);
    assert_eq!(get_status(server.addr, "/fast").await, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_running_handler_is_not_idle() {
    let server = start(ServeConfig::new().idle_timeout(Duration::from_millis(300))).await;
    assert_eq!(get_status(server.addr, "/slow").await, 200);
    assert_eq!(server.counts().idle_closed, 0);
    server.stop().await;
}

#[tokio::test]
async fn beyond_the_cap_the_oldest_idle_connection_makes_room() {
    let server = start(
        ServeConfig::new()
            .max_connections(4)
            .header_read_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(half_request(server.addr).await);
    }
    // A normal scrape gets its answer at once, not after the header timeout.
    let status = within("a scrape past the cap", get_status(server.addr, "/fast")).await;
    assert_eq!(status, 200);
    eventually("evictions counted", || server.counts().evicted >= 7).await;
    assert!(server.counts().open <= 4, "{:?}", server.counts());
    // The first ones were closed first.
    closed_by_server(&mut slow[0]).await;
    server.stop().await;
}

#[tokio::test]
async fn beyond_the_cap_with_every_connection_busy_the_new_one_is_refused() {
    let server = start(ServeConfig::new().max_connections(2)).await;
    let addr = server.addr;
    let busy: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { get_status(addr, "/slow").await }))
        .collect();
    eventually("two connections open", || server.counts().open == 2).await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get_status(addr, "/fast").await,
        0,
        "refused: closed at once"
    );
    assert_eq!(server.counts().refused, 1);
    for answer in busy {
        assert_eq!(answer.await.unwrap(), 200);
    }
    // Room again.
    assert_eq!(get_status(addr, "/fast").await, 200);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let server = start(ServeConfig::new()).await;
    let addr = server.addr;
    let answer = tokio::spawn(async move { get_status(addr, "/slow").await });
    eventually("the request is in flight", || server.counts().open == 1).await;
    server.stop().await;
    assert_eq!(answer.await.unwrap(), 200);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn shutdown_ends_within_the_grace_period() {
    let server = start(ServeConfig::new().shutdown_grace(Duration::from_millis(300))).await;
    let addr = server.addr;
    let answer = tokio::spawn(async move { get_status(addr, "/hang").await });
    eventually("the request is in flight", || server.counts().open == 1).await;
    let stats = server.stats.clone();
    let took = server.stop().await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(stats.counts().forced_at_shutdown, 1);
    assert_eq!(answer.await.unwrap(), 0, "closed without an answer");
}

#[tokio::test]
async fn zero_limits_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = Server::new(listener, app(), ServeConfig::new().max_connections(0)).unwrap_err();
    assert_eq!(error.to_string(), "the connection cap must be at least 1");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = vitals_http::serve(
        listener,
        app(),
        ServeConfig::new().header_read_timeout(Duration::ZERO),
        async {},
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the header-read timeout must be greater than zero"
    );
}

#[tokio::test]
async fn a_shared_token_is_replaced_while_serving() {
    let token = SharedBearerToken::new(BearerToken::new("first").unwrap());
    let assembler = Assembler::builder().build().unwrap();
    let app = vitals_http::router_with(
        assembler,
        MetricsConfig::new().shared_bearer_token(token.clone()),
    )
    .unwrap();
    let status = |bearer: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::get("/metrics")
                .header("authorization", format!("Bearer {bearer}"))
                .body(Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(status("first").await, StatusCode::OK);
    token.replace(BearerToken::new("second").unwrap());
    assert_eq!(status("first").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status("second").await, StatusCode::OK);
    assert!(format!("{token:?}").contains("<redacted>"));
}

/// `GET path` with extra header lines, on a new connection: the raw answer.
async fn get_raw(addr: SocketAddr, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(BOUND, stream.read_to_end(&mut raw))
        .await
        .expect("an answer within the bound")
        .unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_app_served_by_the_server_keeps_its_routes_token_and_gzip() {
    let token = SharedBearerToken::new(BearerToken::new("first").unwrap());
    let assembler = Assembler::builder().build().unwrap();
    let app = vitals_http::app_with(
        assembler,
        MetricsConfig::new().shared_bearer_token(token.clone()),
    )
    .unwrap();
    let server = start_app(app, ServeConfig::new()).await;
    let bearer = |token: &str| format!("Authorization: Bearer {token}\r\n");

    // The probes need no token, before and after a rotation; `/-/ready`
    // waits for a first snapshot.
    assert_eq!(get_status(server.addr, "/-/healthy").await, 200);
    assert_eq!(get_status(server.addr, "/-/ready").await, 503);
    for path in ["/", "/metrics"] {
        assert_eq!(get_status(server.addr, path).await, 401, "{path}");
        let raw = get_raw(server.addr, path, &bearer("first")).await;
        assert_eq!(status_of(&raw), 200, "{path}: {raw}");
    }
    assert_eq!(get_status(server.addr, "/-/ready").await, 200);

    token.replace(BearerToken::new("second").unwrap());
    for path in ["/", "/metrics"] {
        let old = get_raw(server.addr, path, &bearer("first")).await;
        assert_eq!(status_of(&old), 401, "{path}: {old}");
        let new = get_raw(server.addr, path, &bearer("second")).await;
        assert_eq!(status_of(&new), 200, "{path}: {new}");
    }
    assert_eq!(get_status(server.addr, "/-/healthy").await, 200);
    assert_eq!(get_status(server.addr, "/-/ready").await, 200);

    // Negotiation and compression pass through the server.
    let headers = format!(
        "{}Accept: text/plain\r\nAccept-Encoding: gzip\r\n",
        bearer("second")
    );
    let raw = get_raw(server.addr, "/metrics", &headers).await;
    let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert_eq!(status_of(&raw), 200, "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let counts = server.counts();
    assert!(counts.accepted >= 12, "{counts:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_waits_at_most_the_header_read_timeout_for_the_next_request() {
    let server = start(
        ServeConfig::new()
            .header_read_timeout(Duration::from_millis(500))
            .idle_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0_u8; 1024];
    let n = within("the first answer", stream.read(&mut buf))
        .await
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then silent: closed by the header-read timeout, not the idle one.
    closed_by_server(&mut stream).await;
    eventually("a header timeout counted", || {
        server.counts().header_timeouts == 1
    })
    .await;
    server.stop().await;
}

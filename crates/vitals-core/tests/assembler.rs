//! The assembler's promises, each checked against the whole envelope.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers and fakes outside #[test] functions"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use vitals_core::testing::{OrderedJson, SnapshotExt};
use vitals_core::{
    Assembler, AssemblerBuilder, BuildError, Clock, Collect, ErrorInfo, Fallback, FixedClock,
    HeaderFields, KillSwitch, Resources, Section, SectionError, SectionStatus, SectionValue,
    async_trait, register_section,
};

/// A section whose behaviour is a closure over the context.
struct Fake {
    key: &'static str,
    order: i32,
    fallback: Fallback,
    deadline: Option<Duration>,
    calls: Arc<AtomicUsize>,
    run: Box<
        dyn Fn(Collect) -> futures::future::BoxFuture<'static, Result<Value, SectionError>>
            + Send
            + Sync,
    >,
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fake").field("key", &self.key).finish()
    }
}

impl Fake {
    fn new<F, Fut>(key: &'static str, fallback: Fallback, run: F) -> Self
    where
        F: Fn(Collect) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, SectionError>> + Send + 'static,
    {
        Self {
            key,
            order: 100,
            fallback,
            deadline: None,
            calls: Arc::default(),
            run: Box::new(move |cx| Box::pin(run(cx))),
        }
    }

    fn value(key: &'static str, value: Value) -> Self {
        Self::new(key, Fallback::Null, move |_| {
            let value = value.clone();
            async move { Ok(value) }
        })
    }

    fn order(mut self, order: i32) -> Self {
        self.order = order;
        self
    }

    fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

#[async_trait]
impl Section for Fake {
    fn key(&self) -> &str {
        self.key
    }
    fn fallback(&self) -> Fallback {
        self.fallback
    }
    fn order(&self) -> i32 {
        self.order
    }
    fn deadline(&self) -> Option<Duration> {
        self.deadline
    }
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (self.run)(cx.clone()).await.map(SectionValue::from)
    }
}

fn builder() -> AssemblerBuilder {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 28, 2, 40, 13)
        .single()
        .unwrap();
    Assembler::builder()
        .clock(FixedClock::at(at))
        .clk_tck(|| Some(100))
}

fn header() -> Value {
    json!({"schema_version": 1, "generated_at": "2026-11-28T02:40:13Z", "clk_tck": 100})
}

fn envelope(sections: Value, meta: Value) -> Value {
    let mut body = header();
    if let Value::Object(sections) = sections {
        for (k, v) in sections {
            body[k] = v;
        }
    }
    let mut collector = serde_json::Map::new();
    collector.insert("elapsed_ms".into(), json!(0));
    collector.insert("sections".into(), meta);
    body["collector"] = Value::Object(collector);
    body
}

#[tokio::test]
async fn a_healthy_snapshot_has_the_header_sections_and_meta() {
    let a = builder()
        .section(Fake::value("alpha", json!({"x": 1})))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"alpha": {"x": 1}}),
            json!({"alpha": {"status": "ok", "elapsed_ms": 0}})
        )
    );
}

#[tokio::test]
async fn an_erroring_section_falls_back_alone() {
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(Fake::new("broken", Fallback::EmptyArray, |_| async {
            Err(SectionError::msg("missing_table", "no such table: tasks"))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1, "broken": []}),
            json!({
                "alpha": {"status": "ok", "elapsed_ms": 0},
                "broken": {"status": "error", "elapsed_ms": 0,
                           "error": {"kind": "missing_table", "message": "no such table: tasks"}}
            })
        )
    );
}

#[tokio::test]
async fn a_stored_error_info_fails_the_same_way_on_every_build() {
    let info = ErrorInfo::new("missing_table", "no such table: tasks");
    let recipe = info.clone();
    let a = builder()
        .section(Fake::new("broken", Fallback::Null, move |_| {
            let error = recipe.to_error();
            async move { Err(error) }
        }))
        .build()
        .unwrap();
    for _ in 0..2 {
        let snap = a.build().await;
        let report = snap.report("broken").unwrap();
        assert_eq!(report.status, SectionStatus::Error);
        assert_eq!(report.error.as_ref(), Some(&info));
    }
    let chained = SectionError::new("io", std::io::Error::other("disk gone"));
    assert_eq!(ErrorInfo::from(&chained), ErrorInfo::new("io", "disk gone"));
}

#[tokio::test]
async fn a_panicking_section_falls_back_and_poisons_nothing() {
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(Fake::new("boom", Fallback::Null, |cx| async move {
            if cx.snapshot_id() > 0 {
                panic!("section exploded");
            }
            Ok(json!(0))
        }))
        .build()
        .unwrap();
    for _ in 0..2 {
        let snap = a.build().await;
        assert_eq!(
            snap.body_with_zero_timings(),
            envelope(
                json!({"alpha": 1, "boom": null}),
                json!({
                    "alpha": {"status": "ok", "elapsed_ms": 0},
                    "boom": {"status": "panic", "elapsed_ms": 0,
                             "error": {"kind": "panic", "message": "section exploded"}}
                })
            )
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_section_sleeping_past_its_deadline_times_out_on_time() {
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(
            Fake::new("slow", Fallback::EmptyObject, |_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(json!("late"))
            })
            .deadline(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let snap = a.build().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the build waited for the sleeper"
    );
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1, "slow": {}}),
            json!({
                "alpha": {"status": "ok", "elapsed_ms": 0},
                "slow": {"status": "timeout", "elapsed_ms": 0,
                         "error": {"kind": "timeout", "message": "no value within 100 ms"}}
            })
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_thread_times_out_then_reports_busy_until_it_ends() {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let finished = Arc::new(AtomicUsize::new(0));
    let section = {
        let finished = Arc::clone(&finished);
        Fake::new("stuck", Fallback::Null, move |_| {
            let gate = Arc::clone(&gate);
            let finished = Arc::clone(&finished);
            async move {
                // Blocks a worker thread the way a hung syscall would,
                // until the test releases it.
                let _ = gate.lock().unwrap().recv();
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(json!("done"))
            }
        })
        .deadline(Duration::from_millis(50))
    };
    let calls = Arc::clone(&section.calls);
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(section)
        .build()
        .unwrap();

    // The first build returns although the section is still blocked.
    let first = a.build().await;
    assert_eq!(
        first.report("stuck").unwrap().status,
        SectionStatus::Timeout
    );
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the build returned while the work goes on"
    );
    assert_eq!(first.body()["alpha"], 1);

    // The next build does not start a second copy: it says busy at once.
    let second = a.build().await;
    assert_eq!(
        second.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1, "stuck": null}),
            json!({
                "alpha": {"status": "ok", "elapsed_ms": 0},
                "stuck": {"status": "busy", "elapsed_ms": 0,
                          "error": {"kind": "busy",
                                    "message": "a previous run of this section is still in flight"}}
            })
        )
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Once the stuck run really ends, the section runs again.
    assert_eq!(a.in_flight(), ["stuck"]);
    release.send(()).unwrap();
    release.send(()).unwrap();
    a.settled().await;
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert!(a.in_flight().is_empty());
    let third = a.build().await;
    assert_eq!(third.report("stuck").unwrap().status, SectionStatus::Ok);
    assert_eq!(third.body()["stuck"], "done");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unrepresentable_deadline_means_no_deadline() {
    let a = builder()
        .default_deadline(Duration::MAX)
        .section(Fake::value("alpha", json!(1)))
        .section(Fake::value("beta", json!(2)).deadline(Duration::MAX))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1, "beta": 2}),
            json!({
                "alpha": {"status": "ok", "elapsed_ms": 0},
                "beta": {"status": "ok", "elapsed_ms": 0}
            })
        )
    );
}

#[tokio::test]
async fn a_failed_field_degrades_only_that_field() {
    let a = builder()
        .section(Fake::new("queue", Fallback::Null, |cx| async move {
            let counts = cx
                .field("counts", async {
                    Ok::<_, SectionError>(json!({"queued": 2}))
                })
                .await;
            let breaker = cx
                .field("breaker", async {
                    Err::<Value, _>(SectionError::msg("probe", "worker not initialised"))
                })
                .await;
            Ok(json!({"counts": counts, "breaker": breaker}))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"queue": {"counts": {"queued": 2}, "breaker": null}}),
            json!({"queue": {"status": "degraded", "elapsed_ms": 0, "fields": [
                {"field": "breaker", "kind": "probe", "message": "worker not initialised"}
            ]}})
        )
    );
}

#[tokio::test]
async fn the_kill_switch_flips_at_run_time_both_ways() {
    let switch = KillSwitch::new(true);
    let a = builder()
        .kill_switch(switch.clone())
        .section(Fake::value("alpha", json!(1)))
        .build()
        .unwrap();
    assert_eq!(a.build().await.body()["alpha"], 1);

    switch.set_enabled(false);
    let off = a.build().await;
    assert!(!off.is_enabled());
    assert_eq!(off.to_json(), r#"{"schema_version":1,"enabled":false}"#);

    a.kill_switch().set_enabled(true);
    let on = a.build().await;
    assert_eq!(
        on.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1}),
            json!({"alpha": {"status": "ok", "elapsed_ms": 0}})
        )
    );
}

#[tokio::test]
async fn keys_come_in_header_then_order_then_name_order() {
    let a = builder()
        .section(Fake::value("zeta", json!(0)).order(5))
        .section(Fake::value("beta", json!(0)))
        .section(Fake::value("alpha", json!(0)))
        .section(Fake::value("omega", json!(0)).order(1))
        .build()
        .unwrap();
    assert_eq!(a.keys(), ["omega", "zeta", "alpha", "beta"]);
    let snap = a.build().await;
    let doc = OrderedJson::parse(snap.to_json()).unwrap();
    assert_eq!(
        doc.keys(),
        [
            "schema_version",
            "generated_at",
            "clk_tck",
            "omega",
            "zeta",
            "alpha",
            "beta",
            "collector"
        ]
    );
    assert_eq!(
        doc["collector"]["sections"].keys(),
        ["omega", "zeta", "alpha", "beta"]
    );
}

#[test]
fn invalid_section_sets_are_refused_with_typed_errors() {
    let err = |b: AssemblerBuilder| b.build().unwrap_err();
    assert_eq!(
        err(builder().section(Fake::value("", json!(0)))),
        BuildError::EmptyKey
    );
    assert_eq!(
        err(builder().section(Fake::value("  ", json!(0)))),
        BuildError::EmptyKey
    );
    for reserved in [
        "schema_version",
        "generated_at",
        "clk_tck",
        "enabled",
        "collector",
    ] {
        assert_eq!(
            err(builder().section(Fake::value(reserved, json!(0)))),
            BuildError::ReservedKey {
                key: reserved.into()
            }
        );
    }
    assert_eq!(
        err(builder()
            .section(Fake::value("a", json!(0)))
            .section(Fake::value("a", json!(1)))),
        BuildError::DuplicateKey { key: "a".into() }
    );
}

#[tokio::test]
async fn a_hundred_concurrent_builds_share_one() {
    let section = Fake::new("slowish", Fallback::Null, |_| async {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        Ok(json!(1))
    });
    let calls = Arc::clone(&section.calls);
    let a = builder().section(section).build().unwrap();
    let snaps = futures::future::join_all((0..100).map(|_| a.build())).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one build served all callers"
    );
    assert!(snaps.iter().all(|s| Arc::ptr_eq(s, &snaps[0])));
    // The next call after the shared build ended builds anew.
    let _ = a.build().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_stops_waiting_leaves_no_stale_build_behind() {
    let section = Fake::new("slow", Fallback::Null, |_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(json!(1))
    });
    let calls = Arc::clone(&section.calls);
    let a = builder().section(section).build().unwrap();
    // The only caller gives up mid-build, as a request timeout does.
    let gave_up = tokio::time::timeout(Duration::from_millis(10), a.build()).await;
    assert!(gave_up.is_err());
    // The build goes on without it and its snapshot becomes the latest.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        a.latest().is_some(),
        "the abandoned build's snapshot was lost"
    );
    // A later call builds anew instead of getting the abandoned, old build.
    let _ = a.build().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_minimum_interval_reuses_the_last_snapshot() {
    let section = Fake::value("alpha", json!(1));
    let calls = Arc::clone(&section.calls);
    let a = builder()
        .min_interval(Duration::from_secs(5))
        .section(section)
        .build()
        .unwrap();
    let first = a.build().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let second = a.build().await;
    assert!(Arc::ptr_eq(&first, &second));
    tokio::time::advance(Duration::from_secs(5)).await;
    let _third = a.build().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_broken_clock_gives_an_empty_timestamp_and_unknown_ages() {
    let a = Assembler::builder()
        .clock(FixedClock::broken())
        .section(Fake::new("ages", Fallback::Null, |cx| async move {
            Ok(json!(cx.seconds_since(Utc::now())))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(snap.body()["generated_at"], "");
    assert_eq!(snap.body()["clk_tck"], Value::Null);
    assert_eq!(snap.body()["ages"], Value::Null);
}

#[derive(Debug)]
struct PanickingClock;

impl Clock for PanickingClock {
    fn now(&self) -> Option<chrono::DateTime<Utc>> {
        panic!("clock exploded")
    }
}

#[tokio::test]
async fn a_panicking_clock_is_a_broken_clock() {
    let a = Assembler::builder()
        .clock(PanickingClock)
        .section(Fake::value("alpha", json!(1)))
        .build()
        .unwrap();
    for _ in 0..2 {
        let snap = a.build().await;
        assert_eq!(snap.body()["generated_at"], "");
        assert_eq!(snap.body()["alpha"], 1);
        assert_eq!(snap.report("alpha").unwrap().status, SectionStatus::Ok);
    }
}

/// A section whose synchronous hooks panic, and whose collect fails.
#[derive(Debug)]
struct BadHooks;

#[async_trait]
impl Section for BadHooks {
    fn key(&self) -> &str {
        "bad"
    }
    fn fallback(&self) -> Fallback {
        panic!("no fallback")
    }
    fn deadline(&self) -> Option<Duration> {
        panic!("no deadline")
    }
    fn header(&self) -> HeaderFields {
        panic!("no header")
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        Err(SectionError::msg("x", "failed"))
    }
}

/// A section that knows the clock tick rate, as the agents section does.
#[derive(Debug)]
struct Ticks(&'static str, Option<u64>);

#[async_trait]
impl Section for Ticks {
    fn key(&self) -> &str {
        self.0
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    fn header(&self) -> HeaderFields {
        HeaderFields::default().with_clk_tck(self.1)
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        Ok(SectionValue::null())
    }
}

#[tokio::test]
async fn clk_tck_comes_from_the_first_section_that_knows_it() {
    let clk_tck = |builder: AssemblerBuilder| async move {
        builder.build().unwrap().build().await.body()["clk_tck"].clone()
    };
    let sections = || {
        Assembler::builder()
            .section_at(1, Ticks("a", None))
            .section(BadHooks)
            .section(Ticks("c", Some(250)))
            .section(Ticks("d", Some(100)))
    };
    assert_eq!(clk_tck(sections()).await, json!(250));
    // The builder's own provider wins over the sections.
    assert_eq!(clk_tck(sections().clk_tck(|| Some(64))).await, json!(64));
    assert_eq!(clk_tck(sections().clk_tck(|| None)).await, Value::Null);
    // Nobody knows: null.
    assert_eq!(
        clk_tck(Assembler::builder().section(Ticks("a", None))).await,
        Value::Null
    );
}

#[tokio::test]
async fn panicking_section_hooks_fall_back_to_defaults() {
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(BadHooks)
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.body_with_zero_timings(),
        envelope(
            json!({"alpha": 1, "bad": null}),
            json!({
                "alpha": {"status": "ok", "elapsed_ms": 0},
                "bad": {"status": "error", "elapsed_ms": 0,
                        "error": {"kind": "x", "message": "failed"}}
            })
        )
    );
}

#[tokio::test]
async fn a_panicking_clk_tck_provider_gives_null() {
    let a = Assembler::builder()
        .clk_tck(|| -> Option<u64> { panic!("no sysconf") })
        .build()
        .unwrap();
    assert_eq!(a.build().await.body()["clk_tck"], Value::Null);
}

#[tokio::test]
async fn all_ages_in_one_snapshot_use_one_instant() {
    let a = builder()
        .section(Fake::new("a", Fallback::Null, |cx| async move {
            Ok(json!(cx.now().map(|t| t.to_rfc3339())))
        }))
        .section(Fake::new("b", Fallback::Null, |cx| async move {
            Ok(json!(cx.now().map(|t| t.to_rfc3339())))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(snap.body()["a"], "2026-11-28T02:40:13+00:00");
    assert_eq!(snap.body()["a"], snap.body()["b"]);
}

#[tokio::test]
async fn sections_share_work_through_the_scratch() {
    #[derive(Clone)]
    struct Rows(Arc<Vec<i64>>);
    let queries = Arc::new(AtomicUsize::new(0));
    let make = |key: &'static str| {
        let queries = Arc::clone(&queries);
        Fake::new(key, Fallback::Null, move |cx| {
            let queries = Arc::clone(&queries);
            async move {
                let rows = cx
                    .scratch()
                    .get_or_init(|| async {
                        queries.fetch_add(1, Ordering::SeqCst);
                        Rows(Arc::new(vec![1, 2, 3]))
                    })
                    .await;
                Ok(json!(rows.0.len()))
            }
        })
    };
    let a = builder()
        .section(make("agents"))
        .section(make("cost"))
        .build()
        .unwrap();
    let snap = a.build().await;
    assert_eq!(
        (snap.body()["agents"].clone(), snap.body()["cost"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(queries.load(Ordering::SeqCst), 1);
    let _ = a.build().await;
    assert_eq!(
        queries.load(Ordering::SeqCst),
        2,
        "scratch lives for one snapshot only"
    );
}

#[derive(Clone)]
struct Greeting(&'static str);

fn greeting_factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let greeting = resources.get::<Greeting>()?;
    Some(Box::new(Fake::value("greeting", json!(greeting.0))))
}

register_section!("greeting", 50, greeting_factory);

#[tokio::test]
async fn registered_sections_are_built_from_their_resources() {
    assert!(
        vitals_core::registered()
            .iter()
            .any(|d| d.name == "greeting" && d.order == 50)
    );
    let without = builder().registered(&Resources::new()).build().unwrap();
    assert!(without.keys().is_empty());
    let with = builder()
        .registered(&Resources::new().with(Greeting("hello")))
        .build()
        .unwrap();
    assert_eq!(with.keys(), ["greeting"]);
    assert_eq!(with.build().await.body()["greeting"], "hello");
}

#[tokio::test]
async fn a_section_can_watch_its_cancellation() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let section = {
        let cancelled = Arc::clone(&cancelled);
        Fake::new("polite", Fallback::Null, move |cx| {
            let cancelled = Arc::clone(&cancelled);
            async move {
                cx.cancelled().await;
                cancelled.fetch_add(1, Ordering::SeqCst);
                Err(SectionError::msg("interrupted", "stopped on request"))
            }
        })
        .deadline(Duration::from_millis(20))
    };
    let a = builder().section(section).build().unwrap();
    let snap = a.build().await;
    assert_eq!(
        snap.report("polite").unwrap().status,
        SectionStatus::Timeout
    );
    for _ in 0..200 {
        if cancelled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        1,
        "the section saw its cancellation"
    );
}

#[tokio::test]
async fn metric_families_include_collector_success_and_duration() {
    let a = builder()
        .section(Fake::value("alpha", json!(1)))
        .section(Fake::new("broken", Fallback::Null, |_| async {
            Err(SectionError::msg("x", "y"))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    let families = a.metric_families(&snap);
    let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vitals_enabled",
            "vitals_build",
            "vitals_schema_version",
            "vitals_collector_success",
            "vitals_collector_duration",
            "vitals_collector_status",
            "vitals_collector_degraded_fields"
        ]
    );
    let family = |name: &str| families.iter().find(|f| f.name == name).unwrap();
    let success = family("vitals_collector_success");
    let values: Vec<_> = success
        .samples
        .iter()
        .map(|s| (s.labels[0].1.as_str(), s.value))
        .collect();
    assert_eq!(values, [("alpha", 1.0), ("broken", 0.0)]);

    let build = family("vitals_build");
    assert_eq!(build.kind, vitals_core::export::MetricKind::Info);
    assert_eq!(
        build.samples[0].labels,
        [("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]
    );
    assert_eq!(family("vitals_schema_version").samples[0].value, 1.0);

    // One sample per (section, status): 1 for the section's status, 0 otherwise.
    let status: Vec<_> = family("vitals_collector_status")
        .samples
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| (s.labels[0].1.as_str(), s.labels[1].1.as_str()))
        .collect();
    assert_eq!(status, [("alpha", "ok"), ("broken", "error")]);
    assert_eq!(
        family("vitals_collector_status").samples.len(),
        2 * SectionStatus::ALL.len()
    );
    let degraded: Vec<_> = family("vitals_collector_degraded_fields")
        .samples
        .iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(degraded, [0.0, 0.0]);
}

#[tokio::test]
async fn the_degraded_field_count_and_status_reach_the_metrics() {
    let a = builder()
        .section(Fake::new("partial", Fallback::Null, |cx| async move {
            let a = cx
                .field("a", async { Err::<u8, _>(SectionError::msg("io", "x")) })
                .await;
            let b = cx.field("b", async { Ok::<_, SectionError>(1) }).await;
            let c = cx
                .field("c", async { Err::<u8, _>(SectionError::msg("io", "y")) })
                .await;
            Ok(json!([a, b, c]))
        }))
        .build()
        .unwrap();
    let snap = a.build().await;
    let families = a.metric_families(&snap);
    let family = |name: &str| families.iter().find(|f| f.name == name).unwrap();
    assert_eq!(
        family("vitals_collector_degraded_fields").samples[0].value,
        2.0
    );
    let on: Vec<_> = family("vitals_collector_status")
        .samples
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.labels[1].1.as_str())
        .collect();
    assert_eq!(on, ["degraded"]);
    assert_eq!(family("vitals_collector_success").samples[0].value, 1.0);
}

//! Drawing the watcher's state with ratatui: header, agents, queue, cost,
//! footer, help. Pure: the same function draws the real terminal and the
//! screen tests' `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row as TableRow, Table, Wrap};
use vitals_client::{SectionStatus, Snapshot, Verdict};

use super::model::{Report, Row, Status, Watcher};

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, watcher: &Watcher) {
    let [header, agents, panels, footer] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Min(4),
        Constraint::Length(7),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, watcher);
    draw_agents(frame, agents, watcher);
    let [queue, cost] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(panels);
    draw_queue(frame, queue, watcher);
    draw_cost(frame, cost, watcher);
    draw_footer(frame, footer, watcher);
    if watcher.help {
        draw_help(frame, frame.area());
    }
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The colour of a verdict.
pub(crate) fn verdict_style(verdict: Verdict) -> Style {
    match verdict {
        Verdict::Busy => Style::new().fg(Color::Green),
        Verdict::Idle => Style::new().fg(Color::Cyan),
        Verdict::Stuck => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        Verdict::Gone => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Verdict::New => Style::new().fg(Color::Blue),
        _ => dim(),
    }
}

fn section_style(status: Option<&SectionStatus>) -> Style {
    match status {
        Some(SectionStatus::Ok) => Style::new().fg(Color::Green),
        Some(SectionStatus::Degraded) => Style::new().fg(Color::Yellow),
        None => dim(),
        Some(_) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// `key status` per section of the meta section (or `key` alone when the
/// collector reports none, as the original Python collector does).
pub(crate) fn section_spans(snapshot: &Snapshot) -> Vec<(String, String, Style)> {
    match &snapshot.collector {
        Some(collector) => collector
            .sections
            .iter()
            .map(|(key, meta)| {
                let status = meta
                    .status
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string);
                (key.to_owned(), status, section_style(meta.status.as_ref()))
            })
            .collect(),
        None => ["stages", "queue", "agents", "cost"]
            .iter()
            .map(|key| ((*key).to_owned(), "(no meta)".to_owned(), dim()))
            .collect(),
    }
}

/// The status line's text and style.
pub(crate) fn status_line(watcher: &Watcher) -> (String, Style) {
    match &watcher.status {
        Status::Waiting => ("waiting for the first sample...".to_owned(), dim()),
        Status::Ok => {
            let agents = watcher.report.as_ref().map_or(0, |r| r.agents.len());
            let rates = match watcher.report.as_ref().and_then(|r| r.interval_s) {
                Some(s) if s > 0 => format!("rates over {s}s"),
                _ => "no rates yet (one sample)".to_owned(),
            };
            (
                format!("ok: {agents} agent(s), {rates}, sample {}", watcher.samples),
                Style::new().fg(Color::Green),
            )
        }
        Status::Disabled { retry_in } => (
            format!(
                "collector disabled (kill switch off): it publishes no snapshot; retrying in {}",
                vitals_client::duration::format(*retry_in)
            ),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Status::Failed {
            kind,
            message,
            retry_in,
            failures,
        } => (
            format!(
                "{kind} (retrying in {}, {failures} failure(s) in a row): {message}",
                vitals_client::duration::format(*retry_in)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, watcher: &Watcher) {
    let mut first = vec![Span::styled(watcher.target.clone(), bold())];
    let mut sections = vec![Span::styled("sections ", dim())];
    if let Some(snapshot) = &watcher.latest {
        first.push(Span::raw(format!(
            "  generated_at {}  schema v{}  every {}",
            if snapshot.generated_at.is_empty() {
                "(none)"
            } else {
                &snapshot.generated_at
            },
            snapshot.schema_version,
            vitals_client::duration::format(watcher.interval)
        )));
        for (key, status, style) in section_spans(snapshot) {
            sections.push(Span::raw(format!("{key} ")));
            sections.push(Span::styled(status, style));
            sections.push(Span::raw("  "));
        }
    } else {
        sections.push(Span::styled("(no snapshot yet)", dim()));
    }
    if watcher.paused {
        first.push(Span::styled(
            "  PAUSED",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let (status, style) = status_line(watcher);
    let text = vec![
        Line::from(first),
        Line::from(sections),
        Line::from(Span::styled(status, style)),
    ];
    let block = Block::bordered().title(" vitals watch ");
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

/// The agents table's columns.
pub(crate) const COLUMNS: [&str; 9] = [
    "AGENT", "JOB", "PID", "ST", "RUNTIME", "CPU%", "TREE%", "RSS", "VERDICT",
];

/// The cells of one agent, as text.
pub(crate) fn cells(row: &Row) -> [String; 9] {
    let a = &row.delta.agent;
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    [
        a.agent.clone().unwrap_or_else(|| "-".to_owned()),
        opt(a.job_id),
        opt(a.pid),
        a.state.clone().unwrap_or_else(|| "-".to_owned()),
        a.runtime_s.map_or_else(|| "-".to_owned(), runtime),
        percent(row.delta.cpu),
        percent(row.delta.tree_cpu),
        a.rss_bytes.map_or_else(|| "-".to_owned(), bytes),
        row.verdict.to_string(),
    ]
}

fn draw_agents(frame: &mut Frame<'_>, area: Rect, watcher: &Watcher) {
    let rows = watcher.rows().into_iter().map(|row| {
        let style = verdict_style(row.verdict);
        let cells = cells(row);
        let [name, rest @ ..] = cells;
        let mut out = vec![Cell::from(name)];
        let last = rest.len() - 1;
        for (i, text) in rest.into_iter().enumerate() {
            out.push(if i == last {
                Cell::from(text).style(style)
            } else {
                Cell::from(text)
            });
        }
        TableRow::new(out)
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(2),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    let count = watcher.report.as_ref().map_or(0, |r| r.agents.len());
    let title = format!(" agents ({count}) sorted by {} ", watcher.sort.as_str());
    let table = Table::new(rows, widths)
        .header(TableRow::new(COLUMNS).style(bold()))
        .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

/// The queue panel's lines, as text with a style each.
pub(crate) fn queue_lines(watcher: &Watcher) -> Vec<(String, Style)> {
    let Some(snapshot) = &watcher.latest else {
        return vec![("-".to_owned(), dim())];
    };
    let Some(queue) = &snapshot.queue else {
        return vec![missing(snapshot, "queue")];
    };
    let report: Option<&Report> = watcher.report.as_ref();
    let delta = report.and_then(|r| r.queue.as_ref());
    let counts = queue.counts.as_ref().map_or_else(
        || "counts -".to_owned(),
        |c| {
            c.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("  ")
        },
    );
    let trend = match delta.and_then(|d| d.depth_change) {
        Some(0) => "= 0".to_owned(),
        Some(c) if c > 0 => format!("↑ +{c}"),
        Some(c) => format!("↓ {c}"),
        None => "(no trend yet)".to_owned(),
    };
    let finished = delta
        .and_then(|d| d.finished_per_hour)
        .map_or_else(String::new, |f| format!(", {f:.0} finished/h"));
    let backlog = report.is_some_and(|r| r.backlog);
    let depth = format!(
        "depth {} {trend}{finished}{}",
        queue
            .depth
            .map_or_else(|| "-".to_owned(), |d| d.to_string()),
        if backlog { "  BACKLOG" } else { "" }
    );
    let retries = queue.retries.as_ref().map_or_else(
        || "retries -".to_owned(),
        |r| {
            let n = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            format!(
                "retries {} job(s), {} attempt(s), max {}",
                n(r.jobs_with_retries),
                n(r.total_attempts),
                n(r.max_attempts)
            )
        },
    );
    let breaker = match &queue.breaker {
        None => "breaker -".to_owned(),
        Some(b) => match b.get("state").and_then(|s| s.as_str()) {
            Some(state) => format!("breaker {state}"),
            None => format!("breaker {b}"),
        },
    };
    let alert = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
    vec![
        (counts, Style::new()),
        (depth, if backlog { alert } else { Style::new() }),
        (
            retries,
            if report.is_some_and(|r| r.retrying) {
                alert
            } else {
                Style::new()
            },
        ),
        (breaker, Style::new()),
    ]
}

/// The cost panel's lines, as text with a style each.
pub(crate) fn cost_lines(watcher: &Watcher) -> Vec<(String, Style)> {
    let Some(snapshot) = &watcher.latest else {
        return vec![("-".to_owned(), dim())];
    };
    let Some(cost) = &snapshot.cost else {
        return vec![missing(snapshot, "cost")];
    };
    let report = watcher.report.as_ref();
    let delta = report.and_then(|r| r.cost.as_ref());
    let spend = delta
        .and_then(|d| d.usd_per_hour)
        .map_or_else(|| "spend -/h".to_owned(), |r| format!("spend ${r:.2}/h"));
    let tokens = delta.and_then(|d| d.tokens_per_hour).map_or_else(
        || "tokens -/min".to_owned(),
        |r| format!("tokens {:.0}/min", r / 60.0),
    );
    let total = cost.aggregate.as_ref().map_or_else(
        || "total -".to_owned(),
        |a| {
            format!(
                "total ${:.2} over {} run(s)",
                a.cost_usd.unwrap_or_default(),
                a.runs.unwrap_or_default()
            )
        },
    );
    let running = cost.running.as_ref().map_or_else(
        || "running -".to_owned(),
        |r| {
            let priced = r.iter().filter(|c| c.cost_usd.is_some()).count();
            format!("running {} ({priced} priced)", r.len())
        },
    );
    let over = report.is_some_and(|r| r.overspending);
    vec![
        (
            spend,
            if over {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            },
        ),
        (tokens, Style::new()),
        (total, Style::new()),
        (running, dim()),
    ]
}

/// Why a section has no value: its status and error from the meta section.
fn missing(snapshot: &Snapshot, key: &str) -> (String, Style) {
    let Some(meta) = snapshot.section(key) else {
        return (format!("no {key} section (null or absent)"), dim());
    };
    let status = meta
        .status
        .as_ref()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    let error = meta.error.as_ref().map_or_else(String::new, |e| {
        format!(
            " ({}): {}",
            e.kind.as_deref().unwrap_or("?"),
            e.message.as_deref().unwrap_or("")
        )
    });
    (
        format!("{key} {status}{error}"),
        section_style(meta.status.as_ref()),
    )
}

fn panel(frame: &mut Frame<'_>, area: Rect, title: &str, lines: Vec<(String, Style)>) {
    let text: Vec<Line<'_>> = lines
        .into_iter()
        .map(|(text, style)| Line::from(Span::styled(text, style)))
        .collect();
    frame.render_widget(
        Paragraph::new(text)
            .block(Block::bordered().title(title.to_owned()))
            .wrap(Wrap { trim: true }),
        area,
    );
}

fn draw_queue(frame: &mut Frame<'_>, area: Rect, watcher: &Watcher) {
    panel(frame, area, " queue ", queue_lines(watcher));
}

fn draw_cost(frame: &mut Frame<'_>, area: Rect, watcher: &Watcher) {
    panel(frame, area, " cost ", cost_lines(watcher));
}

fn draw_footer(frame: &mut Frame<'_>, area: Rect, watcher: &Watcher) {
    let key = |k: &'static str| Span::styled(k, bold());
    let line = Line::from(vec![
        key(" q"),
        Span::raw(" quit  "),
        key("s"),
        Span::raw(format!(" sort ({})  ", watcher.sort.as_str())),
        key("p"),
        Span::raw(if watcher.paused {
            " resume  "
        } else {
            " pause  "
        }),
        key("?"),
        Span::raw(" help"),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let lines = [
        "q, Esc, Ctrl-C   quit",
        "s                cycle the sort: verdict, cpu, runtime, job",
        "p                pause / resume sampling",
        "?                this help",
        "",
        "CPU%: own process, TREE%: with its children (100 = one core)",
        "busy   CPU at least stuck_cpu now (own or tree)",
        "idle   under stuck_cpu, not long enough to be stuck",
        "stuck  under stuck_cpu over stuck_window, after stuck_min_runtime",
        "gone   dead, zombie, or its pid now names another process",
        "new    no rate yet;  unknown: no pid or unreadable process",
    ];
    let width = 72.min(area.width);
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines.iter().map(|l| Line::from(*l)).collect::<Vec<_>>())
            .block(Block::bordered().title(" help ")),
        popup,
    );
}

/// A fraction of one core as a percentage, one decimal (`-` without a rate).
pub(crate) fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "-".to_owned(), |f| format!("{:.1}", f * 100.0))
}

/// Seconds as `45s`, `12m05s`, `3h07m`, `2d04h`.
pub(crate) fn runtime(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Bytes as `512K`, `100.0M`, `1.5G`.
pub(crate) fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    const K: f64 = 1024.0;
    if n < K * K {
        format!("{:.0}K", n / K)
    } else if n < K * K * K {
        format!("{:.1}M", n / (K * K))
    } else {
        format!("{:.1}G", n / (K * K * K))
    }
}

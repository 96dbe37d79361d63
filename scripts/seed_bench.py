#!/usr/bin/env python3
"""Time the original Python collector against `vitals bench`, side by side.

The seed (`shared/seed/metrics.py`) names its database helpers but does not
ship them; `shared/reference/schema.sql` says what each one means. This
script implements them as plain SQL through Python's own `sqlite3` module,
the way a Python orchestrator would, and times whole `build_metrics()`
builds (connection opened at the start of a build and closed at its end,
every helper a statement of its own, the running-agents query run twice as
the seed runs it, `/proc/<pid>/stat` read for each running agent).

With `--vitals BIN`, each round also runs `BIN bench --db PATH --iterations K
--json` right after the seed's build, so that both see the same machine
load; the report then lists the seed and the Rust figures of the same run.

    scripts/seed_bench.py --db /work/perfdb/L.db --rounds 15 \
        --vitals target/release/vitals [--json]

Only reads the database. It opens it read-write, as the orchestrator does:
a read-only connection to a WAL database would leave `-wal`/`-shm` files
behind and change how the Rust store opens the file afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

KNOWN_STATUSES = ("queued", "running", "done", "failed", "cancelled")


# --- the seed's helpers, as reference/schema.sql describes them -------------

def get_active_tasks_for_reconcile(conn):
    # The reference meaning (terminal stages filtered in SQL, through the
    # partial index idx_tasks_active_stage), age in SQL as the seed says.
    cur = conn.execute(
        "SELECT id, work_item_id, repo, stage, "
        "CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', stage_entered_at) AS INTEGER) AS age_s "
        "FROM tasks WHERE stage NOT IN ('done', 'cancelled') ORDER BY id"
    )
    return [dict(row) for row in cur]


def job_status_counts(conn):
    counts = {status: 0 for status in KNOWN_STATUSES}
    for status, n in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"):
        counts[status] = n
    return counts


def queue_retry_stats(conn):
    row = conn.execute(
        "SELECT COUNT(CASE WHEN attempts > 0 THEN 1 END), COALESCE(SUM(attempts), 0), "
        "COALESCE(MAX(attempts), 0) FROM jobs WHERE status IN ('queued', 'running')"
    ).fetchone()
    return {"jobs_with_retries": row[0], "total_attempts": row[1], "max_attempts": row[2]}


def get_running_agents(conn):
    cur = conn.execute(
        "SELECT j.id AS job_id, j.agent, j.repo, j.pid, j.model, j.effort, "
        "CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', j.started_at) AS INTEGER) AS running_age_s, "
        "r.id AS run_id, r.cost_usd, r.input_tokens, r.output_tokens, "
        "r.cache_read_tokens, r.cache_creation_tokens "
        "FROM jobs AS j LEFT JOIN agent_runs AS r "
        "ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id) "
        "WHERE j.status = 'running' ORDER BY j.id"
    )
    return [dict(row) for row in cur]


def agent_cost_totals(conn):
    row = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens), 0), "
        "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), "
        "COALESCE(SUM(cache_creation_tokens), 0) FROM agent_runs"
    ).fetchone()
    keys = ("runs", "cost_usd", "input_tokens", "output_tokens",
            "cache_read_tokens", "cache_creation_tokens")
    return dict(zip(keys, row))


# --- the seed's build_metrics(), section by section -------------------------

def read_cpu_ticks(pid):
    if pid is None:
        return None
    try:
        with open(f"/proc/{int(pid)}/stat", "r") as f:
            data = f.read()
        rparen = data.rfind(") ")
        if rparen == -1:
            return None
        rest = data[rparen + 2:].split()
        return int(rest[11]) + int(rest[12])
    except Exception:  # noqa: BLE001 - as the seed
        return None


def build_metrics(path):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        out = {
            "schema_version": 1,
            "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clk_tck": os.sysconf("SC_CLK_TCK"),
        }
        out["stages"] = [
            {"work_item": t["work_item_id"], "stage": t["stage"], "age_in_stage_s": t["age_s"],
             "repo": t["repo"], "task_id": t["id"]}
            for t in get_active_tasks_for_reconcile(conn)
            if t["stage"] not in ("done", "cancelled")
        ]
        counts = job_status_counts(conn)
        out["queue"] = {
            "counts": counts, "depth": counts.get("queued"), "retries": queue_retry_stats(conn),
            "breaker": None, "max_concurrency": None, "poll_interval": None,
        }
        out["agents"] = [
            {"agent": j["agent"], "run_id": j["run_id"], "job_id": j["job_id"], "repo": j["repo"],
             "pid": j["pid"], "runtime_s": j["running_age_s"], "model": j["model"],
             "effort": j["effort"], "cpu_ticks": read_cpu_ticks(j["pid"])}
            for j in get_running_agents(conn)
        ]
        running = [
            {"run_id": j["run_id"], "job_id": j["job_id"], "agent": j["agent"],
             "cost_usd": j["cost_usd"], "input_tokens": j["input_tokens"],
             "output_tokens": j["output_tokens"], "cache_read_tokens": j["cache_read_tokens"],
             "cache_creation_tokens": j["cache_creation_tokens"]}
            for j in get_running_agents(conn)
        ]
        out["cost"] = {"running": running, "aggregate": agent_cost_totals(conn)}
        return out
    finally:
        conn.close()


def time_seed(path):
    started = time.perf_counter()
    body = build_metrics(path)
    elapsed = (time.perf_counter() - started) * 1000.0
    json.dumps(body)  # a snapshot that serializes (not timed, as vitals bench does not time it)
    return elapsed


def time_vitals(binary, path, iterations):
    out = subprocess.run(
        [binary, "bench", "--db", path, "--iterations", str(iterations), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    report = json.loads(out)
    return {name: summary["p50_ms"] for name, summary in report.items()}


def summary(samples, unit="_ms"):
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else [ordered[0]] * 3
    return {
        "median" + unit: round(statistics.median(ordered), 3),
        "q1" + unit: round(q[0], 3),
        "q3" + unit: round(q[2], 3),
        "min" + unit: round(ordered[0], 3),
        "max" + unit: round(ordered[-1], 3),
        "n": len(ordered),
    }


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "python_sqlite": sqlite3.sqlite_version,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="the database (only read)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds (one seed build each)")
    parser.add_argument("--vitals", help="the vitals binary: also run `vitals bench` each round")
    parser.add_argument("--vitals-iterations", type=int, default=1,
                        help="`vitals bench --iterations` per round (its medians are kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--hold-open", action="store_true",
                        help="keep a connection of this script open throughout, as a running "
                             "orchestrator does: a WAL database then keeps its -wal and -shm files "
                             "and is read with locking (no twin connection for the Rust side)")
    args = parser.parse_args()
    held = None
    if args.hold_open:
        held = sqlite3.connect(args.db)
        held.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()

    load_at_start = os.getloadavg()
    time_seed(args.db)  # warms the page cache, and fails early on a bad file
    samples = {"seed": []}
    for _ in range(args.rounds):
        samples["seed"].append(time_seed(args.db))
        if args.vitals:
            for name, ms in time_vitals(args.vitals, args.db, args.vitals_iterations).items():
                samples.setdefault(name, []).append(ms)
    if held is not None:
        held.close()
    report = {
        "db": args.db,
        "hold_open": args.hold_open,
        "machine": machine(),
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg(),
        "series": {name: summary(s) for name, s in samples.items()},
    }
    if "cold" in samples:
        ratios = [c / s for c, s in zip(samples["cold"], samples["seed"])]
        report["cold_over_seed_per_round"] = summary(ratios, unit="")
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.db}: {args.rounds} rounds; load {report['loadavg_at_start'][0]:.2f} -> "
          f"{report['loadavg_at_end'][0]:.2f}")
    print(f"{'series':<16} {'median ms':>10} {'q1':>10} {'q3':>10} {'min':>10} {'max':>10}")
    for name, s in report["series"].items():
        print(f"{name:<16} {s['median_ms']:>10.3f} {s['q1_ms']:>10.3f} {s['q3_ms']:>10.3f} "
              f"{s['min_ms']:>10.3f} {s['max_ms']:>10.3f}")
    if "cold_over_seed_per_round" in report:
        r = report["cold_over_seed_per_round"]
        print(f"cold / seed per round: median {r['median']:.3f}, "
              f"min {r['min']:.3f}, max {r['max']:.3f}")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measure what the background recount of `vitals serve` costs in CPU.

Starts `vitals serve --db PATH` (incremental aggregates, the default
reconcile interval of 60 s), scrapes `/metrics` every `--every` seconds for
`--minutes` minutes, then reads the CPU time (utime + stime, in clock
ticks) of each of its threads from `/proc/<pid>/task/<tid>/stat` and stops
it. The recount thread is named `vitals-sqlite-recount` (`comm` shows the
first 15 bytes). Its CPU time over the wall time of the run is the share
of one core the recount costs.

    scripts/recount_cpu.py --vitals target/release/vitals --db /work/perfdb/L.db --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def threads(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        out[f"{comm} ({tid})"] = ticks
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vitals", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between scrapes")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [args.vitals, "serve", "--db", args.db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    clk_tck = os.sysconf("SC_CLK_TCK")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=30).read()
                break
            except OSError:
                time.sleep(0.1)
        # The first scrape (cold) is done: measure from here on.
        before = threads(server.pid)
        started = time.monotonic()
        scrapes = 0
        latencies = []
        while time.monotonic() - started < args.minutes * 60:
            t = time.monotonic()
            urllib.request.urlopen(url, timeout=30).read()
            latencies.append((time.monotonic() - t) * 1000)
            scrapes += 1
            time.sleep(max(0.0, args.every - (time.monotonic() - t)))
        wall = time.monotonic() - started
        after = threads(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {"wall_s": round(wall, 1), "scrapes": scrapes, "clk_tck": clk_tck, "threads": {}}
    for name, ticks in after.items():
        used = ticks - before.get(name, 0)
        report["threads"][name] = {
            "cpu_s": round(used / clk_tck, 3),
            "share_of_one_core_pct": round(100.0 * used / clk_tck / wall, 3),
        }
    latencies.sort()
    report["scrape_ms_median"] = round(latencies[len(latencies) // 2], 2) if latencies else None
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())

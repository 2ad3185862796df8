"""The suite's results as a Markdown table and a PNG chart.

python -m bench.report          (re-renders bench/results/latest.md and .png from latest.json)
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS = "ours", "ours, no id_token", "authlib peer", "express peer"
ASGI_HELLO, STARLETTE_HELLO = "bare ASGI hello", "Starlette hello"
PEERS = (AUTHLIB, EXPRESS)
TEACHER = "teacher (6 sections, 10 resources)"
SESSION_LIMIT = 3 * 1024
README = Path(__file__).resolve().parent.parent / "README.md"
RSS_LIMIT_MB = 60.0

Results = dict[str, Any]


def _f(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if not math.isnan(r[key])]
    return statistics.median(values) if values else float("nan")


def paired_ratio(validation: list[dict[str, Any]], arm: str, reference: str) -> float:
    """Median over repetitions of arm ÷ reference, both measured in the same repetition."""
    by_rep: dict[int, dict[str, float]] = {}
    for row in validation:
        by_rep.setdefault(row["repetition"], {})[row["arm"]] = row["rps"]
    ratios = [rep[arm] / rep[reference] for rep in by_rep.values() if arm in rep and reference in rep]
    return statistics.median(ratios) if ratios else float("nan")


def validation_summary(results: Results) -> dict[str, dict[str, float]]:
    rows = results["validation"]
    summary: dict[str, dict[str, float]] = {}
    for arm in (ASGI_HELLO, STARLETTE_HELLO, OURS, AUTHLIB, EXPRESS):
        mine = [r for r in rows if r["arm"] == arm]
        if not mine:
            continue
        summary[arm] = {
            "rps": _median(mine, "rps"),
            "min": min(r["rps"] for r in mine),
            "max": max(r["rps"] for r in mine),
            "p50_ms": _median(mine, "p50_ms"),
            "p99_ms": _median(mine, "p99_ms"),
            "errors": sum(r["errors"] for r in mine),
            "redis": _median(mine, "redis_per_request"),
            "cpu_us": _median(mine, "server_cpu_us_per_request"),
            "vs_hello": paired_ratio(rows, arm, STARLETTE_HELLO),
        }
    return summary


def login_row(results: Results, arm: str, users: int) -> dict[str, Any] | None:
    return next((r for r in results["logins"] if r["arm"] == arm and r["users"] == users), None)


def _shape_row(results: Results, arm: str) -> dict[str, Any] | None:
    """Per-login counts from the lightest-loaded run with completions (fewest logins cut off)."""
    rows = sorted(
        (r for r in results["logins"] if r["arm"] == arm and r["completed"]), key=lambda r: r["users"]
    )
    return rows[0] if rows else None


def targets(results: Results) -> list[tuple[str, str, bool]]:
    latency = results["latency_ms"]
    val = validation_summary(results)
    out: list[tuple[str, str, bool]] = []
    ours = val.get(OURS, {})
    ratio = ours.get("vs_hello", float("nan"))
    by_cpu = val.get(STARLETTE_HELLO, {}).get("cpu_us", float("nan")) / ours.get("cpu_us", float("nan"))
    out.append(
        (
            "validation ≥ 0.30 × Starlette hello (same run)",
            f"{ratio:.2f} × (by server CPU per request: {by_cpu:.2f} ×)",
            ratio >= 0.30,
        )
    )
    rps = ours.get("rps", float("nan"))
    cpu_us = ours.get("cpu_us", float("nan"))
    out.append(
        (
            "validation ≥ 8,000 req/s",
            f"{_f(rps)} req/s; {cpu_us:.0f} µs of server CPU per request, so at most "
            f"{_f(1e6 / cpu_us)}/s on a whole core",
            rps >= 8000,
        )
    )
    half = next((r for r in results["open_loop"] if r["arm"] == OURS and r["fraction"] == 0.5), None)
    p99 = half["p99_ms"] if half else float("nan")
    out.append(("validation p99 ≤ 5 ms at half the saturation rate (open loop)", f"{p99:.2f} ms", p99 <= 5))
    exact = results["round_trips"]
    redis_rt = exact["valid"]["redis_per_request"]
    out.append(("exactly 1 Redis round trip per valid check", f"{redis_rt:.3f}", redis_rt == 1))
    bad = exact["bad"]["redis_per_request"]
    out.append(("0 Redis round trips for a bad token", f"{bad:.3f}", bad == 0))
    for arm, k in ((OURS_NO_ID_TOKEN, 3), (OURS, 2)):
        row = login_row(results, arm, 1)
        p50 = row["p50_ms"] if row else float("nan")
        callback = row["callback_p50_ms"] if row else float("nan")
        floor = k * latency
        label = "without an id_token" if arm == OURS_NO_ID_TOKEN else "with an id_token"
        out.append(
            (
                f"login p50 at 1 user ≤ 1.15 × {k} × {latency:g} ms ({label})",
                f"{p50:.1f} ms = {p50 / floor:.2f} × (the callback alone {callback:.1f} ms = "
                f"{callback / floor:.2f} ×)",
                p50 <= 1.15 * floor,
            )
        )
    row = login_row(results, OURS, 64)
    rate = row["logins_per_s"] if row else float("nan")
    cpu_ms = row["server_cpu_ms_per_login"] if row else float("nan")
    out.append(
        (
            "≥ 500 logins/s at 64 users (1 worker)",
            f"{_f(rate)}/s; {cpu_ms:.1f} ms of server CPU per login, so at most {_f(1000 / cpu_ms)}/s "
            "on a whole core",
            rate >= 500,
        )
    )
    p99 = row["p99_ms"] if row else float("nan")
    floor = 2 * latency
    out.append(
        (
            f"login p99 at 64 users ≤ 1.5 × {floor:g} ms",
            f"{p99:.0f} ms = {p99 / floor:.2f} ×",
            p99 <= 1.5 * floor,
        )
    )
    size = results["sizes"][OURS][TEACHER]["memory_usage"]
    out.append(("teacher session ≤ 3 KB in Redis (MEMORY USAGE)", f"{_f(size)} B", size <= SESSION_LIMIT))
    rss = results["rss_mb"][OURS]
    out.append(("RSS ≤ 60 MB per worker", f"{rss:.0f} MB", rss <= RSS_LIMIT_MB))
    behind = rows_behind(results)
    out.append(
        (
            "ahead of both peers on every row",
            "yes" if not behind else "behind on: " + "; ".join(behind),
            not behind,
        )
    )
    return out


def rows_behind(results: Results) -> list[str]:
    """The comparisons in which a peer does better than ours."""
    behind: list[str] = []
    val = validation_summary(results)

    def compare(
        label: str, mine: float, theirs: float, peer: str, better: Callable[[float, float], bool]
    ) -> None:
        if not math.isnan(theirs) and (math.isnan(mine) or not better(mine, theirs)):
            behind.append(f"{label} ({peer})")

    for peer in PEERS:
        higher, lower = (lambda a, b: a > b), (lambda a, b: a < b)
        compare(
            "validation req/s",
            val.get(OURS, {}).get("rps", math.nan),
            val.get(peer, {}).get("rps", math.nan),
            peer,
            higher,
        )
        for users in sorted({r["users"] for r in results["logins"]}):
            mine, theirs = login_row(results, OURS, users), login_row(results, peer, users)
            if mine and theirs:
                compare(f"logins/s at {users}", mine["logins_per_s"], theirs["logins_per_s"], peer, higher)
                compare(f"login p50 at {users}", mine["p50_ms"], theirs["p50_ms"], peer, lower)
        for role in results["sizes"][OURS]:
            compare(
                f"session bytes, {role}",
                results["sizes"][OURS][role]["memory_usage"],
                results["sizes"][peer][role]["memory_usage"],
                peer,
                lower,
            )
        compare("RSS", results["rss_mb"][OURS], results["rss_mb"][peer], peer, lower)
    return behind


def markdown(results: Results) -> str:
    v = results["versions"]
    plan = results["plan"]
    latency = results["latency_ms"]
    kind = "quick run (`--quick`)" if results["quick"] else "full run"
    lines = [
        "# Benchmark results",
        "",
        f"{results['when']}, {kind}, {results['seconds']:.0f} s. One worker per server; "
        f"{v['cpus']} CPUs: the servers on one, Redis, the sandbox and the load generators on the other. "
        f"Python {v['python']}, Starlette {v['starlette']}, uvicorn {v['uvicorn']}, "
        f"redis-py {v['redis-py']}, "
        f"node {v['node']}, Redis {v['redis-server']}, {v['wrk']}. Produced by `make bench`; see the README "
        'section "Benchmarks" for how to read it.',
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {measured} | {'yes' if ok else '**no**'} |" for name, measured, ok in targets(results)
    ]
    lines += ["", "## Summary", "", summary(results)]

    val = validation_summary(results)
    lines += [
        "",
        f"## Validation: `GET /auth/verify` with a valid session (wrk, 64 connections, closed loop, "
        f"{plan['repetitions']} × {plan['validation_seconds']:g} s per arm, arms alternating)",
        "",
        "| server | req/s (median) | min–max | p50 ms | p99 ms | ÷ Starlette hello "
        "| server CPU µs / request | Redis commands / request | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, row in val.items():
        redis_cell = "–" if arm in (ASGI_HELLO, STARLETTE_HELLO) else f"{row['redis']:.2f}"
        lines.append(
            f"| {arm} | {_f(row['rps'])} | {_f(row['min'])}–{_f(row['max'])} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['vs_hello']:.2f} | {row['cpu_us']:.0f} | {redis_cell} | "
            f"{row['errors']} |"
        )
    ref = results["redis_benchmark"]
    exact = results["round_trips"]
    ours_rps = val.get(OURS, {}).get("rps", float("nan"))
    commands = ", ".join(
        f"{name} {count:,}" for name, count in sorted(results.get("verify_commands", {}).items())
    )
    lines += [
        "",
        f"- Physical reference: `redis-benchmark` GET, 50 clients, {ref['value_bytes']:,} B values: "
        f"**{_f(ref['get_per_s'])} GET/s**; ours uses {ours_rps / ref['get_per_s']:.2f} of it.",
        f"- Redis commands per `/auth/verify`, counted exactly over {exact['valid']['requests']} sequential "
        f"requests each: valid ticket {exact['valid']['redis_per_request']:.3f} "
        f"({exact['valid']['as_expected']} answered 200), forged, malformed or absent ticket "
        f"{exact['bad']['redis_per_request']:.3f} ({exact['bad']['as_expected']} answered 401). "
        "The table's column is wrk's count, which includes requests still in flight when it stops.",
        f"- Redis commands during the validation phase, all arms: {commands}.",
        "",
        "Open loop: requests due at a fixed rate over at most 64 kept-alive connections, latency "
        "measured from when each was due (no coordinated omission); the Starlette hello at the same "
        "rate shows what the machine, the generator and the server alone add. Server CPU per request "
        "is higher than under wrk's closed loop, where 64 requests are always waiting: evenly spaced "
        "requests arrive one at a time, so each pays its own wake-ups and socket writes and shares no "
        "Redis pipeline; 1e6 ÷ that figure is the rate at which the server would be busy all the time. "
        'Redis shares its CPU with the generator ("load side busy"): when that CPU is busy, Redis '
        "answers later, and ours (not the hello, which does not use Redis) waits for it.",
        "",
        "| server | rate (÷ ours' saturation) | achieved/s | p50 ms | p99 ms | p99.9 ms | errors "
        "| server CPU µs / request | load side busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["open_loop"]:
        lines.append(
            f"| {row['arm']} | {_f(row['rate'])} ({row['fraction']:.0%}) | {_f(row['achieved'])} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['p999_ms']:.2f} | {row['errors']} "
            f"| {_f(row.get('server_cpu_us_per_request', float('nan')))} "
            f"| {_f(row.get('load_side_busy_pct', float('nan')))} % |"
        )

    lines += [
        "",
        f"## Logins: authorize → callback → session, {latency:g} ms injected into every Clever call "
        f"({plan['login_seconds']:g} s per arm after {plan['login_warmup']:g} s warm-up, closed loop)",
        "",
        "Latency is the whole browser login: the app's login URL, Clever's authorize, the callback "
        "(the callback alone in its own column). The floor is k × the injected latency, k being the "
        "sequential Clever round trips of the flow. CPU is per process over the arm (100 % = one core); "
        '"load side busy" is how busy the CPUs of Redis, the sandbox and the load generator were: '
        "near 100 % the harness, not the server, limits the rate, and the server's CPU per login gives "
        "its own ceiling (1000 ÷ ms per login).",
        "",
        "| server | users | logins/s | p50 ms | p99 ms | callback p50 ms | errors | server CPU "
        "| server CPU ms / login | sandbox CPU | load side busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in (OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS):
        for row in sorted((r for r in results["logins"] if r["arm"] == arm), key=lambda r: r["users"]):
            lines.append(
                f"| {arm} | {row['users']} | {_f(row['logins_per_s'], 1)} | {_f(row['p50_ms'], 1)} | "
                f"{_f(row['p99_ms'], 1)} | {_f(row['callback_p50_ms'], 1)} | {row['errors']} | "
                f"{row['server_cpu_pct']:.0f} % | {row['server_cpu_ms_per_login']:.1f} | "
                f"{row['sandbox_cpu_pct']:.0f} % | {row['load_side_busy_pct']:.0f} % |"
            )
    skipped = results.get("skipped", [])
    if skipped:
        lines += [
            "",
            "Not run: "
            + "; ".join(f"{s['arm']} at {s['users']} users ({s['why']})" for s in skipped)
            + ". An arm that finishes almost nothing at some concurrency would finish nothing at a higher "
            "one and leave its cut-off logins queued in the server for minutes.",
        ]
    lines += [
        "",
        "| server | sequential Clever round trips (callback p50 at 1 user ÷ latency) "
        "| Clever calls / login | "
        "new upstream connections / login | calls |",
        "|---|---:|---:|---:|---|",
    ]
    for arm in (OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS):
        one = login_row(results, arm, 1)
        shape = _shape_row(results, arm)
        if shape is None:
            continue
        trips = one["callback_p50_ms"] / latency if one else float("nan")
        calls = ", ".join(f"{name} {count:.2f}" for name, count in sorted(shape["calls"].items()))
        lines.append(
            f"| {arm} | {trips:.1f} | {shape['clever_calls_per_login']:.2f} | "
            f"{shape['new_connections_per_login']:.2f} | {calls} |"
        )

    lines += [
        "",
        "## Size",
        "",
        "Bytes of one session in Redis (`MEMORY USAGE`; the stored value's length in brackets), and the "
        "resident memory of each server process at the end of the run.",
        "",
        "| server | " + " | ".join(results["sizes"][OURS]) + " | RSS MB |",
        "|---|" + "---:|" * (len(results["sizes"][OURS]) + 1),
    ]
    for arm, roles in results["sizes"].items():
        cells = " | ".join(f"{_f(v['memory_usage'])} ({_f(v['strlen'])})" for v in roles.values())
        lines.append(f"| {arm} | {cells} | {results['rss_mb'][arm]:.0f} |")
    others = ", ".join(
        f"{name} {mb:.0f} MB" for name, mb in results["rss_mb"].items() if name not in results["sizes"]
    )
    lines += ["", f"Other processes: {others}.", ""]
    lines += roster_section(results.get("roster") or {})
    return "\n".join(lines)


def roster_section(tables: dict[str, str]) -> list[str]:
    """The roster arms' and the bell's tables (bench.suite's roster phase), under one heading."""
    if not tables:
        return []
    lines = [
        "## Roster store and morning bell, at Clever's limit",
        "",
        "Each arm on a stack of its own (redis-server, the sandbox at 1200 calls a minute per "
        "token and the backend as `clever-login serve`, each its own process, unpinned); see "
        "bench/roster.py and bench/bell.py. The machine is shared: read the ratios.",
        "",
    ]
    for text in tables.values():
        lines += ["#" + line if line.startswith("## ") else line for line in text.splitlines()]
        lines.append("")
    return lines


def summary(results: Results) -> str:
    """One row per server: the numbers the README shows (the targets table comes first)."""
    val = validation_summary(results)
    concurrencies = sorted({r["users"] for r in results["logins"]})
    exact = results["round_trips"]["valid"]["redis_per_request"]
    head = (
        "| server | validation req/s (÷ Starlette hello) | Redis commands / validation | "
        + " | ".join(f"logins/s at {users}" for users in concurrencies)
        + " | login p50 at 1 user | Clever calls / login | new connections / login "
        + "| teacher session B | RSS MB |"
    )
    lines = [head, "|---|" + "---:|" * (len(concurrencies) + 7)]
    for arm in (OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS):
        process = OURS if arm == OURS_NO_ID_TOKEN else arm
        verify = val.get(arm) if arm != OURS_NO_ID_TOKEN else None
        verify_cell = f"{_f(verify['rps'])} ({verify['vs_hello']:.2f})" if verify else "–"
        redis_cell = "–"
        if verify:
            redis_cell = f"{exact:.2f}" if arm == OURS else f"{verify['redis']:.2f}"
        cells = [verify_cell, redis_cell]
        for users in concurrencies:
            row = login_row(results, arm, users)
            cells.append(_f(row["logins_per_s"], 1) if row else "–")
        one = login_row(results, arm, 1)
        cells.append(f"{_f(one['p50_ms'], 1)} ms" if one else "–")
        shape = _shape_row(results, arm)
        cells.append(f"{shape['clever_calls_per_login']:.2f}" if shape else "–")
        cells.append(f"{shape['new_connections_per_login']:.2f}" if shape else "–")
        sized = results["sizes"].get(process)
        cells.append(_f(sized[TEACHER]["memory_usage"]) if sized else "–")
        cells.append(f"{results['rss_mb'][process]:.0f}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    for arm in (ASGI_HELLO, STARLETTE_HELLO):
        if arm in val:
            empty = " |" * (len(concurrencies) + 6)
            lines.append(f"| {arm} | {_f(val[arm]['rps'])} ({val[arm]['vs_hello']:.2f}) |{empty}")
    return "\n".join(lines)


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def update_readme(results: Results, readme: Path) -> None:
    """Put the targets and the summary of `results` between the README's bench markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return
    kind = "quick run" if results["quick"] else "full run"
    rows = [
        f"| {name} | {measured} | {'yes' if ok else '**no**'} |" for name, measured, ok in targets(results)
    ]
    body = "\n".join(
        [
            README_START,
            f"_{results['when']}, {kind}; every table in "
            "[bench/results/latest.md](bench/results/latest.md)._",
            "",
            "| target | measured | met |",
            "|---|---|---|",
            *rows,
            "",
            summary(results),
            "",
            "![benchmark chart](bench/results/latest.png)",
            README_END,
        ]
    )
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    readme.write_text(before + body + after)


def chart(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        OURS: "#1f77b4",
        OURS_NO_ID_TOKEN: "#6baed6",
        AUTHLIB: "#ff7f0e",
        EXPRESS: "#2ca02c",
        ASGI_HELLO: "#999999",
        STARLETTE_HELLO: "#bbbbbb",
    }
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    val = validation_summary(results)
    ax = axes[0][0]
    names = list(val)
    ax.bar(names, [val[n]["rps"] for n in names], color=[colours[n] for n in names])
    ax.set_title("/auth/verify, closed loop, 64 connections (req/s)")
    ax.tick_params(axis="x", labelrotation=20)
    for arm_axes, key, title in (
        (axes[0][1], "logins_per_s", "logins/s by concurrent users"),
        (axes[1][0], "p50_ms", "login p50 (ms) by concurrent users"),
    ):
        for arm in (OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS):
            rows = sorted((r for r in results["logins"] if r["arm"] == arm), key=lambda r: r["users"])
            arm_axes.plot(
                [r["users"] for r in rows], [r[key] for r in rows], marker="o", label=arm, color=colours[arm]
            )
        arm_axes.set_xscale("log", base=2)
        users = sorted({r["users"] for r in results["logins"]})
        arm_axes.set_xticks(users, [str(n) for n in users])
        arm_axes.set_title(title)
        arm_axes.legend()
    axes[1][0].set_yscale("log")
    ax = axes[1][1]
    roles = list(results["sizes"][OURS])
    width = 0.25
    for index, arm in enumerate(results["sizes"]):
        xs = [i + index * width for i in range(len(roles))]
        ax.bar(
            xs,
            [results["sizes"][arm][r]["memory_usage"] for r in roles],
            width,
            label=arm,
            color=colours[arm],
        )
    ax.set_xticks([i + width for i in range(len(roles))], [r.split(" (")[0] for r in roles])
    ax.set_title("bytes per session in Redis (MEMORY USAGE)")
    ax.legend()
    fig.suptitle(f"clever-login benchmark, {results['when']} ({'quick' if results['quick'] else 'full'} run)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> int:
    out = Path(__file__).parent / "results"
    results = json.loads((out / "latest.json").read_text())
    (out / "latest.md").write_text(markdown(results))
    chart(results, out / "latest.png")
    update_readme(results, README)
    return 0


if __name__ == "__main__":
    sys.exit(main())

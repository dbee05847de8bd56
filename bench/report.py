#!/usr/bin/env python3
"""bench/report.py DIR -- turn a benchmark run into results.md, results.csv,
table.md and ratios.svg.

Reads, all written by bench/run.sh into DIR:
  raw.csv        line,side,rep,value  (one row per measurement)
  lines.tsv      id, title, kind, bound operator, bound
  meta.txt       key<TAB>value (machine, versions, choices, timings)
  rowcounts.csv  what,rows

Kinds of line:
  latency    value = pgbench tps with 1 client; shown as ms per query
             (1000 / median tps); ratio = extension ms / baseline ms
  tps        value = pgbench tps; ratio = extension tps / baseline tps
  seconds    value = seconds of one call; ratio = extension / baseline
  memory_mb  value = peak backend memory growth in MB; judged on the
             largest extension value against the bound (no ratio)
"""
import csv
import html
import statistics
import sys
from pathlib import Path


def load(d):
    meta = {}
    for line in (d / "meta.txt").read_text().splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            meta[k] = v
    lines = []
    for row in (d / "lines.tsv").read_text().splitlines():
        if row.strip():
            lid, title, kind, op, bound = row.split("\t")
            lines.append(dict(id=lid, title=title, kind=kind, op=op, bound=float(bound)))
    raw = {}
    paired = {}
    with open(d / "raw.csv") as f:
        for r in csv.DictReader(f):
            if r["value"] == "":
                continue
            raw.setdefault((r["line"], r["side"]), []).append(float(r["value"]))
            paired.setdefault(r["line"], {}).setdefault(r["rep"], {})[r["side"]] = float(r["value"])
    raw["_paired"] = paired
    counts = []
    if (d / "rowcounts.csv").exists():
        with open(d / "rowcounts.csv") as f:
            counts = [(r["what"], r["rows"]) for r in csv.DictReader(f)]
    return meta, lines, raw, counts


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "latency":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    if kind == "tps":
        return f"{v:.0f}"
    if kind == "seconds":
        return f"{v:.2f}"
    if kind == "memory_mb":
        return f"{v:.1f}"
    return str(v)


UNITS = {"latency": "ms/query", "tps": "tx/s", "seconds": "s", "memory_mb": "MB"}


def compute(lines, raw):
    results = []
    for ln in lines:
        e = raw.get((ln["id"], "extension"), [])
        b = raw.get((ln["id"], "baseline"), [])
        kind = ln["kind"]
        res = dict(ln, n=min(len(e), len(b)), unit=UNITS[kind])
        if not e or not b:
            res.update(ext=None, base=None, ratio=None, passed=None, shown=None)
            results.append(res)
            continue
        # each repetition ran both sides back to back: the ratio is the
        # median of the per-repetition ratios, which a slow drift in the
        # machine's load affects less than a ratio of two medians would
        pairs = [p for p in raw["_paired"].get(ln["id"], {}).values()
                 if "extension" in p and "baseline" in p and p["extension"] > 0 and p["baseline"] > 0]
        if kind == "latency":
            ext, base = 1000 / statistics.median(e), 1000 / statistics.median(b)
            ratio = statistics.median(p["baseline"] / p["extension"] for p in pairs)
        elif kind == "memory_mb":
            ext, base = max(e), max(b)
            ratio = None
        else:
            ext, base = statistics.median(e), statistics.median(b)
            ratio = statistics.median(p["extension"] / p["baseline"] for p in pairs)
        res["ratio_of_medians"] = None if ratio is None else ext / base
        judged = ext if kind == "memory_mb" else ratio
        passed = judged <= ln["bound"] if ln["op"] == "<=" else judged >= ln["bound"]
        # spread: how far the individual repetitions of each side lie apart
        spread = {}
        for side, vals in (("ext", e), ("base", b)):
            if len(vals) > 1 and statistics.median(vals) > 0:
                spread[side] = (max(vals) - min(vals)) / statistics.median(vals) * 100
        res.update(ext=ext, base=base, ratio=ratio, passed=passed, judged=judged, spread=spread)
        results.append(res)
    return results


def bound_text(r):
    op = "≤" if r["op"] == "<=" else "≥"
    return f"{op} {r['bound']:g} MB" if r["kind"] == "memory_mb" else f"{op} {r['bound']:g}×"


def table(results):
    out = ["| what | extension | baseline | unit | ratio | bound | result |",
           "|---|---:|---:|---|---:|---|---|"]
    for r in results:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        verdict = "—" if r["passed"] is None else ("**pass**" if r["passed"] else "**FAIL**")
        out.append(f"| {r['title']} | {fmt(r['ext'], r['kind'])} | {fmt(r['base'], r['kind'])} "
                   f"| {r['unit']} | {ratio} | {bound_text(r)} | {verdict} |")
    return "\n".join(out) + "\n"


def svg(results, path):
    rows = [r for r in results if r["passed"] is not None]
    # memory is drawn as a fraction of its bound, so it shares the axis
    def value(r):
        return r["ext"] / r["bound"] if r["kind"] == "memory_mb" else r["ratio"]

    def bound(r):
        return 1.0 if r["kind"] == "memory_mb" else r["bound"]

    # the axis stops at 3: a bar beyond it is cut, and says so
    xmax = min(3.0, max([2.0] + [value(r) * 1.1 for r in rows] + [bound(r) * 1.1 for r in rows]))
    label_w, bar_w, row_h, top = 560, 520, 34, 58
    width, height = label_w + bar_w + 230, top + row_h * len(rows) + 60

    def x(v):
        return label_w + bar_w * v / xmax

    e = []
    e.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="DejaVu Sans, Arial, sans-serif" font-size="13">')
    e.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    e.append(f'<text x="12" y="24" font-size="16" font-weight="bold">reseller_onboarding: '
             f'extension vs hand-written baseline (SPEC §9)</text>')
    e.append(f'<text x="12" y="44" fill="#555">bar = ratio (median of the per-repetition '
             f'ratios); black tick = bound; green = within bound, red = outside; '
             f'dashed = parity (1.0)</text>')
    # grid
    step = 0.25
    v = 0.0
    while v <= xmax + 1e-9:
        e.append(f'<line x1="{x(v):.1f}" y1="{top - 6}" x2="{x(v):.1f}" '
                 f'y2="{top + row_h * len(rows)}" stroke="#e5e5e5"/>')
        e.append(f'<text x="{x(v):.1f}" y="{top + row_h * len(rows) + 18}" '
                 f'text-anchor="middle" fill="#555">{v:g}</text>')
        v += step
    e.append(f'<line x1="{x(1):.1f}" y1="{top - 6}" x2="{x(1):.1f}" '
             f'y2="{top + row_h * len(rows)}" stroke="#888" stroke-dasharray="4,3"/>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        val, bnd = value(r), bound(r)
        color = "#3a9d4a" if r["passed"] else "#d23c3c"
        label = r["title"]
        if len(label) > 80:
            label = label[:78] + "…"
        e.append(f'<text x="{label_w - 10}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">'
                 f'{html.escape(label)}</text>')
        shown = min(val, xmax)
        e.append(f'<rect x="{label_w}" y="{y + 7}" width="{max(x(shown) - label_w, 1):.1f}" '
                 f'height="{row_h - 14}" fill="{color}" opacity="0.85"/>')
        if val > xmax:
            # a white zigzag across the end of the bar: cut, not to scale
            xe = x(xmax)
            e.append(f'<polyline points="{xe - 14:.1f},{y + 5} {xe - 8:.1f},{y + row_h / 2:.1f} '
                     f'{xe - 14:.1f},{y + row_h - 5}" fill="none" stroke="white" stroke-width="3"/>')
        e.append(f'<line x1="{x(bnd):.1f}" y1="{y + 2}" x2="{x(bnd):.1f}" y2="{y + row_h - 2}" '
                 f'stroke="black" stroke-width="3"/>')
        if r["kind"] == "memory_mb":
            txt = f'{r["ext"]:.0f} MB / {r["bound"]:g} MB'
        else:
            txt = f'{val:.2f}× ({bound_text(r)})'
        if val > xmax:
            txt += " (bar cut)"
        e.append(f'<text x="{max(x(shown), x(bnd)) + 8:.1f}" y="{y + row_h / 2 + 4:.1f}" '
                 f'fill="#222">{html.escape(txt)}</text>')
    e.append(f'<text x="{label_w + bar_w / 2}" y="{height - 14}" text-anchor="middle" '
             f'fill="#555">ratio extension / baseline (time ratios: lower is better; '
             f'throughput ratios: higher is better)</text>')
    e.append("</svg>")
    path.write_text("\n".join(e) + "\n")


def main():
    d = Path(sys.argv[1])
    meta, lines, raw, counts = load(d)
    results = compute(lines, raw)

    tbl = table(results)
    (d / "table.md").write_text(tbl)

    with open(d / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "what", "extension", "baseline", "unit", "ratio", "bound_op", "bound",
                    "pass", "reps", "ext_spread_pct", "base_spread_pct", "ratio_of_medians"])
        for r in results:
            w.writerow([r["id"], r["title"],
                        "" if r["ext"] is None else round(r["ext"], 4),
                        "" if r["base"] is None else round(r["base"], 4),
                        r["unit"], "" if r["ratio"] is None else round(r["ratio"], 4),
                        r["op"], r["bound"], "" if r["passed"] is None else r["passed"], r["n"],
                        round(r.get("spread", {}).get("ext", 0), 1),
                        round(r.get("spread", {}).get("base", 0), 1),
                        "" if r.get("ratio_of_medians") is None else round(r["ratio_of_medians"], 4)])

    svg(results, d / "ratios.svg")

    m = meta.get
    md = []
    md.append("# reseller_onboarding benchmark results\n")
    md.append(f"Run {m('date', '?')} by `bash bench/run.sh --scale {m('scale')} --reps {m('reps')}` "
              f"(pgbench {m('seconds')} s per query run, 1 client, simple protocol; "
              f"{m('tp_seconds')} s per throughput run, 2 clients, prepared protocol). "
              f"Extension and baseline run back to back in every repetition (alternating which goes "
              f"first); the extension and baseline columns are medians, the ratio is the median of "
              f"the per-repetition ratios (`results.csv` also has the ratio of the medians). "
              f"Method: `bench/README.md`.\n")
    md.append(tbl)
    failed = [r for r in results if r["passed"] is False]
    md.append(f"\n{sum(1 for r in results if r['passed'])} of "
              f"{sum(1 for r in results if r['passed'] is not None)} lines within their bound"
              + (f"; outside: {', '.join(r['title'] for r in failed)}." if failed else ".") + "\n")
    md.append("![ratios](ratios.svg)\n")
    md.append("## Spread of the repetitions\n")
    md.append("(max − min) / median of the individual repetitions, per side; a large spread "
              "means a noisy machine, not a slow extension.\n")
    md.append("| what | extension | baseline |\n|---|---:|---:|")
    for r in results:
        s = r.get("spread", {})
        if s:
            md.append(f"| {r['title']} | {s.get('ext', 0):.0f} % | {s.get('base', 0):.0f} % |")
    md.append("")
    md.append("## Plans\n")
    md.append("EXPLAIN (ANALYZE, BUFFERS) of every query is in `explain/` "
              "(`<line>.extension.txt`, `<line>.baseline.txt`); the nested statements of "
              "`assign_sims`, `create_customer` and `set_customer_status` (auto_explain) too.\n")
    md.append("| line | plans |\n|---|---|")
    for r in results:
        p = m("plan_" + r["id"])
        if p:
            md.append(f"| {r['title']} | {p} |")
    md.append("")
    md.append("## Machine and software\n")
    md.append("| | |\n|---|---|")
    for k, label in (("cpu", "CPU"), ("nproc", "cores (nproc)"), ("ram", "RAM"),
                     ("pg_version", "PostgreSQL"), ("settings", "settings"),
                     ("git_commit", "extension commit"), ("git_dirty", "uncommitted changes"),
                     ("so_sha256", "library sha256 (first 16)"),
                     ("loadavg_start", "load average at start"),
                     ("loadavg_end", "load average at end")):
        if m(k):
            md.append(f"| {label} | {m(k)} |")
    md.append("")
    md.append("## Data set\n")
    md.append(f"Scale {m('scale')} (1 = SPEC §9). Generated through the extension's functions "
              f"in {m('gen_seconds', '?')} s, then VACUUM ANALYZE in {m('vacuum_seconds', '?')} s; "
              f"whole run {m('total_seconds', '?')} s.\n")
    md.append("| what | rows |\n|---|---:|")
    for what, n in counts:
        md.append(f"| {what} | {n} |")
    md.append("")
    md.append("Actors and objects measured:\n")
    for k, label in (("typ_customer_id", "typical customer (median SIM count among ACTIVE customers)"),
                     ("typ_sims", "… its SIMs"),
                     ("big_customer_id", "big customer (the largest of the last RESELLER account)"), ("big_sims", "… its SIMs"),
                     ("acct_account_id", "largest regular account (ACCOUNT user, create/status lines)"),
                     ("acct_sims", "… its SIMs"),
                     ("bulk_account_id", "BULK account"), ("bulk_sims", "… its SIMs (all unassigned)"),
                     ("toggle_n", "customers toggled by set_customer_status")):
        if m("ctx_" + k):
            md.append(f"- {label}: {m('ctx_' + k)}")
    md.append("")
    (d / "results.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()

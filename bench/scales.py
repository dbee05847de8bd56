#!/usr/bin/env python3
"""bench/scales.py -- SPEC §14: the benchmark's lines at several scales side
by side, and what the data set takes on disk, from result directories that
bench/run.sh wrote.

    python3 bench/scales.py DIR [DIR ...] > bench/results/scales.md

Each DIR holds results.csv, meta.txt and rowcounts.csv (sizes.csv when the
run was new enough).  Columns: the extension's absolute figure per scale
(the baseline's in parentheses) and the ratio; then the sizes, and a
straight-line estimate for 100,000,000 SIMs from the two largest scales.
"""
import csv
import os
import sys


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def read_rows(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return list(csv.DictReader(f))


def num(x):
    v = float(x)
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main(dirs):
    runs = []
    for d in dirs:
        meta = read_meta(d)
        res = {r["id"]: r for r in read_rows(d, "results.csv")}
        counts = {r["what"]: r["rows"] for r in read_rows(d, "rowcounts.csv")}
        sizes = read_rows(d, "sizes.csv")
        runs.append((d, meta, res, counts, sizes))
    runs.sort(key=lambda r: int(r[1].get("ctx_total_sims", "0")))

    print("# The benchmark at several scales (SPEC §14)\n")
    print("| run | scale | SIMs | database | commit | date | command |")
    print("|---|---:|---:|---:|---|---|---|")
    for d, meta, res, counts, sizes in runs:
        print(f"| `{d}` | {meta.get('scale', '?')} | {int(meta.get('ctx_total_sims', 0)):,} | "
              f"{int(counts.get('database size (MB)', 0)):,} MB | {meta.get('git_commit', '?')} | "
              f"{meta.get('date', '?')} | reps {meta.get('reps', '?')}, {meta.get('seconds', '?')} s per query run |")
    print()
    ids = []
    for _, _, res, _, _ in runs:
        for i in res:
            if i not in ids:
                ids.append(i)
    head = " | ".join(f"{int(m.get('ctx_total_sims', 0)) / 1e6:g}M SIMs" for _, m, _, _, _ in runs)
    print(f"| line | unit | {head} | ratios |")
    print("|---|---|" + "---:|" * len(runs) + "---|")
    for i in ids:
        what = unit = None
        cells, ratios = [], []
        for _, _, res, _, _ in runs:
            r = res.get(i)
            if r is None:
                cells.append("—")
                ratios.append("—")
                continue
            what, unit = r["what"], r["unit"]
            cells.append(f"{num(r['extension'])} ({num(r['baseline'])})")
            ratios.append(r["ratio"] if r["ratio"] in ("", "—") else f"{float(r['ratio']):.2f}")
        print(f"| {what} | {unit} | " + " | ".join(cells) + " | " + " / ".join(ratios) + " |")
    print("\nEach cell: the extension's median (the hand-written baseline's in parentheses); "
          "ratios in the order of the columns.\n")

    sized = [r for r in runs if r[4]]
    if not sized:
        return
    print("## Disk\n")
    rels = []
    for _, _, _, _, sizes in sized:
        for s in sizes:
            if s["relation"] not in rels:
                rels.append(s["relation"])
    print("| relation | kind | " + " | ".join(f"{int(m.get('ctx_total_sims', 0)) / 1e6:g}M SIMs" for _, m, _, _, _ in sized)
          + " | 100M SIMs (estimate) |")
    print("|---|---|" + "---:|" * (len(sized) + 1))
    total = [0.0] * len(sized)
    est_total = 0.0
    for rel in rels:
        mbs, kind = [], ""
        for k, (_, _, _, _, sizes) in enumerate(sized):
            s = next((x for x in sizes if x["relation"] == rel), None)
            if s:
                kind = s["kind"] + (f" of {s['of_table']}" if s["of_table"] else "")
                mbs.append(float(s["mb"]))
                total[k] += float(s["mb"])
            else:
                mbs.append(None)
        est = ""
        if len(sized) >= 2 and mbs[-1] is not None and mbs[-2] is not None:
            n1 = int(sized[-2][1]["ctx_total_sims"])
            n2 = int(sized[-1][1]["ctx_total_sims"])
            slope = (mbs[-1] - mbs[-2]) / (n2 - n1)
            e = mbs[-1] + slope * (100e6 - n2)
            est_total += e
            est = f"{e:,.0f} MB"
        print(f"| {rel} | {kind} | " + " | ".join("—" if m is None else f"{m:,.0f} MB" for m in mbs) + f" | {est} |")
    print("| **all of these** | | " + " | ".join(f"{t:,.0f} MB" for t in total)
          + (f" | {est_total:,.0f} MB |" if est_total else " | |"))
    print("\nThe estimate draws a straight line through the two largest runs, relation by relation "
          "(the SIMs, and the histories written while the data set was generated, grow with the SIM count).")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

#!/usr/bin/env python3
"""bench/assign_probe.py -- one timed bulk SIM assignment, with the backend's
memory sampled from outside.

    python3 bench/assign_probe.py --side extension|baseline --role ROLE \
        --customer C --actor U --g-lo G --count N [--mode array|range]
        [--explain FILE] [--db bench]

--mode array (the default) times assign_sims of the N ICCIDs as an array;
--mode range times assign_sim_range over the same SIMs given as their first
and last ICCID, against the hand-written UPDATE ... WHERE iccid BETWEEN.

Runs one psql session (PGHOST/PGPORT from the environment) holding one DO
block that:
  1. reports its backend pid (a NOTICE), resolves the actor (extension side),
  2. builds the N ICCIDs (bench.iccid over the BULK account's SIM numbers)
     into a text[] variable -- not timed,
  3. sleeps briefly and reports BEFORE, so the sampler reads the resting
     memory with the array already built,
  4. times, with clock_timestamp(), either
       extension: n := cmp.assign_sims(customer_id => C, iccids => a), then
                  SET CONSTRAINTS ALL IMMEDIATE (the commit-time work of
                  its change-feed event, timed with the call)
       baseline:  WITH moved AS (UPDATE cmp.sim_card ... WHERE iccid = ANY (a)
                  RETURNING ...) INSERT INTO cmp.sim_assignment_history_data ...
  5. reports AFTER with the row count and seconds.

Memory: a thread reads /proc/<backend pid>/status every 2 ms.  The peak
growth is max(RssAnon) while the call runs minus RssAnon at BEFORE.  RssAnon
is the backend's private anonymous memory (palloc'd memory lives there); VmRSS
and VmHWM would also count the shared buffers the UPDATE touches, which are
not backend memory, so they are reported but not judged.

With --explain FILE the same block runs with auto_explain (ANALYZE, BUFFERS,
nested statements) as a superuser with SET cmp.actor (the functions see the
same actor as the role would) and the plans go to FILE; that run is not
timed for the results.

Prints one JSON object on stdout.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time


def read_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"):
                    out[key] = int(rest.split()[0])  # kB
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    def __init__(self, pid, interval=0.002):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples = []  # (time, status dict)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            s = read_status(self.pid)
            if not s:
                break
            self.samples.append((time.monotonic(), s))
            time.sleep(self.interval)


def block(args):
    g_hi = args.g_lo + args.count - 1
    prologue = ""
    if args.side == "extension":
        prologue = "PERFORM cmp.actor_id();  -- the session's actor, resolved once"
    if args.mode == "array":
        build = f"a := ARRAY(SELECT bench.iccid(g) FROM generate_series({args.g_lo}, {g_hi}) AS g);"
        where = "s.iccid = ANY (a)"
    else:
        build = f"f := bench.iccid({args.g_lo}); l := bench.iccid({g_hi});"
        where = (f"s.account_id = (SELECT account_id FROM cmp.customer WHERE customer_id = {args.customer})\n"
                 "       AND s.iccid BETWEEN f AND l AND s.customer_id IS NULL")
    if args.side == "extension":
        # the call's event is numbered and moved into cmp.event at commit;
        # SET CONSTRAINTS ... IMMEDIATE does that work now, inside the timing
        if args.mode == "array":
            call = f"n := cmp.assign_sims(customer_id => {args.customer}, iccids => a);"
        else:
            call = (f"n := cmp.assign_sim_range(customer_id => {args.customer}, "
                    "first_iccid => f, last_iccid => l);")
        call += "\n  SET CONSTRAINTS ALL IMMEDIATE;"
    else:
        call = (
            "WITH moved AS (\n"
            f"    UPDATE cmp.sim_card s SET customer_id = {args.customer}, assigned_at = now()\n"
            f"     WHERE {where}\n"
            "    RETURNING s.iccid, s.account_id)\n"
            "  INSERT INTO cmp.sim_assignment_history_data\n"
            "         (iccid, account_id, from_customer_id, to_customer_id, changed_by)\n"
            f"  SELECT m.iccid, m.account_id, NULL, {args.customer}, {args.actor} FROM moved m;\n"
            "  GET DIAGNOSTICS n = ROW_COUNT;")
    return f"""DO $bench$
DECLARE
  a text[];
  f text;
  l text;
  n bigint;
  t0 timestamptz;
BEGIN
  RAISE NOTICE 'PID %', pg_backend_pid();
  {prologue}
  {build}
  PERFORM pg_sleep(0.2);
  RAISE NOTICE 'BEFORE';
  PERFORM pg_sleep(0.3);
  t0 := clock_timestamp();
  {call}
  RAISE NOTICE 'AFTER % %', n, extract(epoch FROM clock_timestamp() - t0);
  PERFORM pg_sleep(0.1);
END
$bench$;"""


def shorten_literals(text):
    # a plan of a million-ICCID call holds the whole array literal; keep its start
    def cut(m):
        s = m.group(0)
        return s[:120] + f"...<{s.count(',') + 1} elements>}}'" if len(s) > 200 else s
    return re.sub(r"'\{[^']*\}'", cut, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=("extension", "baseline"), required=True)
    ap.add_argument("--role", required=True)
    ap.add_argument("--customer", type=int, required=True)
    ap.add_argument("--actor", type=int, required=True)
    ap.add_argument("--g-lo", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--db", default="bench")
    ap.add_argument("--mode", choices=("array", "range"), default="array")
    ap.add_argument("--explain")
    args = ap.parse_args()

    sql = block(args)
    role = args.role
    pre = []
    if args.explain:
        role = "postgres"
        pre = ["LOAD 'auto_explain'",
               "SET auto_explain.log_min_duration = 10",  # ms: leaves out the per-row foreign key checks
               "SET auto_explain.log_analyze = on",
               "SET auto_explain.log_buffers = on",
               "SET auto_explain.log_nested_statements = on",
               "SET auto_explain.log_level = notice",
               "SET client_min_messages = notice"]
        if args.side == "extension":
            pre.append(f"SET cmp.actor = '{args.actor}'")
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", role, "-d", args.db]
    for p in pre:
        cmd += ["-c", p]
    cmd += ["-c", sql]

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = None
    t_before = t_after = None
    moved = secs = None
    captured = []
    for line in proc.stderr:
        captured.append(line)
        m = re.search(r"NOTICE:  PID (\d+)", line)
        if m and sampler is None:
            sampler = Sampler(int(m.group(1)))
            sampler.start()
        elif "NOTICE:  BEFORE" in line:
            t_before = time.monotonic()
        else:
            m = re.search(r"NOTICE:  AFTER (\d+) ([0-9.]+)", line)
            if m:
                t_after = time.monotonic()
                moved, secs = int(m.group(1)), float(m.group(2))
    proc.wait()
    if sampler:
        sampler.stop.set()
        sampler.join()
    if proc.returncode != 0 or moved is None:
        sys.stderr.write("".join(captured))
        sys.stderr.write(proc.stdout.read())
        sys.exit(f"assign_probe: the {args.side} run failed")

    if args.explain:
        with open(args.explain, "w") as f:
            f.write(f"-- {args.side}: bulk assignment of {args.count} ICCIDs to customer "
                    f"{args.customer}\n-- auto_explain (ANALYZE, BUFFERS, nested statements); "
                    f"long array literals shortened\n\n")
            f.write(shorten_literals("".join(l for l in captured
                                             if not re.search(r"NOTICE:  (PID|BEFORE|AFTER)", l))))

    samples = sampler.samples if sampler else []
    rest = [s for t, s in samples if t_before <= t <= t_before + 0.25 and "RssAnon" in s]
    during = [s for t, s in samples if t_before <= t <= t_after and "RssAnon" in s]
    result = {"side": args.side, "moved": moved, "seconds": secs,
              "samples": len(during)}
    if rest and during:
        base = rest[-1]
        result.update({
            "rss_anon_before_kb": base["RssAnon"],
            "rss_anon_peak_kb": max(s["RssAnon"] for s in during),
            "anon_growth_mb": round((max(s["RssAnon"] for s in during) - base["RssAnon"]) / 1024, 1),
            "vmrss_before_kb": base["VmRSS"],
            "vmhwm_after_kb": max(s["VmHWM"] for s in during),
            "hwm_growth_mb": round((max(s["VmHWM"] for s in during) - base["VmRSS"]) / 1024, 1),
            "shmem_growth_mb": round((max(s["RssShmem"] for s in during) - base["RssShmem"]) / 1024, 1),
        })
    print(json.dumps(result))


if __name__ == "__main__":
    main()

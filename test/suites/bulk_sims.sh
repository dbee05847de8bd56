#!/usr/bin/env bash
# test/suites/bulk_sims.sh -- SPEC §8 and §13 (Bulk requests) under
# concurrency: 8 clients for RO_BULK_SECONDS (default 15) call
# assign_free_sims, assign_sim_range and unassign_sims at once, as ACCOUNT
# users of one account, on its customers; afterwards the history, audit and
# events are checked against what each call returned.
#
#   1. A database of our own; through the functions, as the system actor:
#      a RESELLER account with 8 ACCOUNT users (one per client), 6 ACTIVE
#      customers and a DRAFT one, and 1,900 free SIMs: prefix 8949, n =
#      1..1500 without the multiples of 15, and prefix 8933, n = 1..500.
#      The multiples of 15 of the 8949 series belong to a second account, so
#      they lie inside the ranges the clients ask for and must never move.
#      A login role that may only call cmp.set_actor; every client is it.
#   2. One node process (node-postgres from examples/node), 8 clients, each
#      looping over transactions of one call: BEGIN; set_actor; the call
#      (and the transaction's id); sometimes a short pg_sleep, so that the
#      call still holds its SIMs while others run; COMMIT, or one in ten
#      ROLLBACK.  The calls, on a random customer:
#        45 %  assign_free_sims, count 1..50, a third of them with a prefix
#              (8933, 8949 or 8949000000000001)
#        30 %  assign_sim_range over 1..40 consecutive SIMs of the 8949
#              series (overlapping between clients), half with reassign
#        25 %  unassign_sims of 30..90 random assigned SIMs, so that the
#              pool does not run dry
#      Each call is recorded with its arguments, its result or SQLSTATE,
#      its transaction id, how the transaction ended, and when it began and
#      ended on one logical clock of the process (no wall clock).
#   3. As superuser, from the tables (a history, audit or event row's xmin
#      is the transaction of the call that wrote it):
#      - no 40P01; no SQLSTATE but 55000, and 55000 only where SPEC §13
#        gives it (assign_free_sims short of free SIMs, assign_sim_range
#        without reassign over SIMs of another customer);
#      - every assign_free_sims returned exactly count distinct ICCIDs of the
#        account, in ascending order, with the prefix; every ICCID it
#        returned has exactly one history row of that call, from no customer
#        to the call's customer, and the call wrote no other: a SIM is never
#        handed to two calls unless it was released in between;
#      - every assign_sim_range wrote as many history rows as it returned,
#        all inside its range (same number of digits), to its customer,
#        from no customer unless reassign; unassign_sims likewise, to none;
#      - no history row of a call that failed or rolled back; the moves in
#        the history add up to the counts the calls returned;
#      - every SIM's history is a chain (each move starts where the last one
#        ended) that ends at its current customer; the second account's
#        SIMs never moved;
#      - one audit row and one event per committed call that moved SIMs,
#        naming exactly the SIMs it moved; none for a call that moved none;
#      - enough happened: successful calls in the hundreds
#        (RO_BULK_MIN_CALLS, default 300), some of each kind, and
#        assign_free_sims calls that overlapped in time.
#
# Bounded: about RO_BULK_SECONDS + 10 s.  RO_BULK_SEED repeats the choices
# (not the interleaving); RO_KEEP=1 keeps the database, the role and the
# work directory.  Run by tools/test.sh; prints `ok - ...` / `not ok - ...`
# and ends with `N passed, M failed`.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"

seconds=${RO_BULK_SECONDS:-15}
min_calls=${RO_BULK_MIN_CALLS:-300}
seed=${RO_BULK_SEED:-$(($$ % 100000 + 1))}
db=ro_bulk_$$
role=ro_bulk_app_$$
started=$(date +%s)

scratch_workdir ro_bulk
require_example_modules

# ---------------------------------------------------------------------------
# 1. Database, fixture, application role
# ---------------------------------------------------------------------------

scratch_db_and_role

if ! psql -X -q -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" -v cfg="$work/config.json" \
	-v role="$role" -d "$db" >"$work/fixture.out" 2>&1 <<'SQL'; then
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
CREATE FUNCTION pg_temp.iccidp(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8933' || lpad(n::text, 14, '0'))$$;

SELECT cmp.create_account(account_number => 'BULK', name => 'Bulk Reseller', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_account(account_number => 'BULK-OTHER', name => 'Bulk Neighbour') AS other \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 1500) g WHERE g % 15 <> 0)) AS ignored \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => array(SELECT pg_temp.iccidp(g) FROM generate_series(1, 500) g)) AS ignored \gset
SELECT cmp.provision_sims(account_id => :other,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(15, 1500, 15) g)) AS ignored \gset

CREATE TEMP TABLE u AS
SELECT g AS client, cmp.create_user(login => 'bulk.u' || g, email => 'u' || g || '@bulk.example',
	context_level => 'ACCOUNT', account_id => :acct) AS user_id
  FROM generate_series(0, 7) g;
CREATE TEMP TABLE c AS
SELECT g AS i, cmp.create_customer(account_id => :acct, name => 'Bulk C' || g, status => 'ACTIVE',
	admin_login => 'bulk.c' || g, admin_email => 'c' || g || '@bulk.example') AS customer_id
  FROM generate_series(1, 6) g;
INSERT INTO c SELECT 7, cmp.create_customer(account_id => :acct, name => 'Bulk Draft');

GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
ALTER ROLE :"role" IN DATABASE :"DBNAME" SET statement_timeout = '20s';

\pset format unaligned
\pset tuples_only on
\o :cfg
SELECT json_build_object(
	'account', :acct, 'other', :other,
	'users', (SELECT json_agg(user_id ORDER BY client) FROM u),
	'customers', (SELECT json_agg(customer_id ORDER BY i) FROM c),
	'series', (SELECT json_agg(pg_temp.iccid(g) ORDER BY g) FROM generate_series(1, 1500) g),
	'prefixes', json_build_array('8933', '8949', '8949000000000001'));
\o
SQL
	not_ok "fixture loaded through the extension's functions" "$(tail -n 20 "$work/fixture.out")"
	finish
fi
read -r acct other < <(node -e 'const c = require(process.argv[1]); console.log(c.account, c.other)' "$work/config.json")
check_eq "fixture: 7 customers, 1,900 free SIMs of the account (93 with prefix 8949000000000001), 100 of its neighbour" \
	"7 1900 93 100 0" \
	"$(q "SELECT (SELECT count(*) FROM cmp.customer WHERE account_id = $acct),
	             (SELECT count(*) FROM cmp.sim_card WHERE account_id = $acct AND customer_id IS NULL),
	             (SELECT count(*) FROM cmp.sim_card WHERE account_id = $acct AND iccid LIKE '8949000000000001%'),
	             (SELECT count(*) FROM cmp.sim_card WHERE account_id = $other AND customer_id IS NULL),
	             (SELECT count(*) FROM cmp.sim_assignment_history_data)" || cat "$work/err")"

# ---------------------------------------------------------------------------
# 2. The clients
# ---------------------------------------------------------------------------

cat >"$work/bulk.js" <<'JS'
'use strict';
// The clients of test/suites/bulk_sims.sh (see there).  Input: BK_CONFIG
// (the fixture), BK_SECONDS, BK_SEED, BK_OUT (a directory); PGHOST, PGPORT,
// PGDATABASE, PGUSER (the application role).  Output: BK_OUT/calls.tsv, one
// line per call; counts on stdout; unexpected errors on stderr.
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const cfg = JSON.parse(fs.readFileSync(process.env.BK_CONFIG, 'utf8'));
const seconds = Number(process.env.BK_SECONDS || 15);
const seed = Number(process.env.BK_SEED || 1);
const out = process.env.BK_OUT;

let tick = 0; // the logical clock: node runs one callback at a time
const now = () => ++tick;

function prng(s) { // mulberry32
	let a = s >>> 0;
	return () => {
		a = (a + 0x6D2B79F5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const calls = [];
const N = (v) => (v === null || v === undefined ? '\\N' : String(v));

async function client(k, deadline) {
	const rnd = prng(seed * 100 + k);
	const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
	const pick = (a) => a[Math.floor(rnd() * a.length)];
	const db = new Client();
	await db.connect();
	let seq = 0;
	while (Date.now() < deadline) {
		seq += 1;
		const c = { client: k, seq, op: null, customer: pick(cfg.customers), count: null, prefix: null,
			lo: null, hi: null, reassign: null, xid: null, outcome: null, sqlstate: null, result: null,
			iccids: null, t0: now(), t1: null };
		let sql;
		let args;
		const r = rnd();
		if (r < 0.45) {
			c.op = 'free';
			c.count = int(1, 50);
			c.prefix = rnd() < 1 / 3 ? pick(cfg.prefixes) : null;
			sql = 'SELECT cmp.assign_free_sims(customer_id => $1, count => $2, iccid_prefix => $3) AS r';
			args = [c.customer, c.count, c.prefix];
		} else if (r < 0.75) {
			c.op = 'range';
			// never a range of the neighbour's SIMs only (that would be P0002):
			// it starts on a SIM of the account (n = lo + 1 not a multiple of 15)
			let lo = int(0, cfg.series.length - 40);
			if ((lo + 1) % 15 === 0) lo += 1;
			c.lo = cfg.series[lo];
			c.hi = cfg.series[lo + int(0, 39)];
			c.reassign = rnd() < 0.5;
			sql = 'SELECT cmp.assign_sim_range(customer_id => $1, first_iccid => $2, last_iccid => $3, reassign => $4) AS r';
			args = [c.customer, c.lo, c.hi, c.reassign];
		} else {
			c.op = 'unassign';
			c.customer = null;
			c.count = int(30, 90);
			sql = `SELECT cmp.unassign_sims(iccids => ARRAY(SELECT s.iccid FROM cmp.sim_card s
			         WHERE s.customer_id IS NOT NULL ORDER BY random() LIMIT $1)) AS r`;
			args = [c.count];
		}
		await db.query('BEGIN');
		c.xid = (await db.query('SELECT pg_current_xact_id()::text AS x, cmp.set_actor($1)', [cfg.users[k]])).rows[0].x;
		let res = null;
		try {
			res = (await db.query(sql, args)).rows[0].r;
		} catch (e) {
			c.sqlstate = e.code || 'none';
			c.message = e.message;
		}
		if (c.sqlstate) {
			await db.query('ROLLBACK');
			c.outcome = 'error';
		} else {
			if (c.op === 'free') {
				c.iccids = res;
				c.result = res.length;
			} else {
				c.result = Number(res);
			}
			if (rnd() < 0.3) await db.query('SELECT pg_sleep($1)', [int(2, 20) / 1000]);
			if (rnd() < 0.1) {
				await db.query('ROLLBACK');
				c.outcome = 'rollback';
			} else {
				try {
					await db.query('COMMIT');
					c.outcome = 'commit';
				} catch (e) {
					c.sqlstate = e.code || 'none';
					c.message = `at COMMIT: ${e.message}`;
					c.outcome = 'error';
				}
			}
		}
		c.t1 = now();
		calls.push(c);
	}
	await db.end();
}

async function main() {
	const deadline = Date.now() + seconds * 1000;
	await Promise.all(cfg.users.map((u, k) => client(k, deadline)));
	const lines = calls.map((c) => [c.client, c.seq, c.op, N(c.customer), N(c.count), N(c.prefix), N(c.lo), N(c.hi),
		N(c.reassign), c.xid, c.outcome, N(c.sqlstate), N(c.result),
		c.iccids === null ? '\\N' : `{${c.iccids.join(',')}}`, c.t0, c.t1].join('\t'));
	fs.writeFileSync(path.join(out, 'calls.tsv'), lines.join('\n') + '\n');
	const unexpected = calls.filter((c) => c.sqlstate && c.sqlstate !== '55000');
	for (const c of unexpected.slice(0, 10)) console.error(`${c.op} ${c.sqlstate}: ${c.message}`);
	const by = (op, outcome) => calls.filter((c) => c.op === op && c.outcome === outcome).length;
	for (const op of ['free', 'range', 'unassign']) {
		console.log(`# ${op}: ${by(op, 'commit')} committed, ${by(op, 'rollback')} rolled back, ${by(op, 'error')} refused`);
	}
}

main().then(() => process.exit(0), (e) => {
	console.error(e);
	process.exit(1);
});
JS

echo "# 8 clients for $seconds s, seed $seed (RO_BULK_SEED)"
NODE_PATH=$modules PGDATABASE=$db PGUSER=$role BK_CONFIG=$work/config.json BK_SECONDS=$seconds \
	BK_SEED=$seed BK_OUT=$work timeout $((seconds + 60)) node "$work/bulk.js" >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
wait "$node_pid"
node_rc=$?
cat "$work/node.out"
if ((node_rc == 0)) && [[ -f $work/calls.tsv ]]; then
	ok "the clients ran for $seconds s"
else
	not_ok "the clients ran to the end (exit status $node_rc$( ((node_rc == 124)) && echo ', timed out'))" \
		"$(tail -n 10 "$work/node.err")"
	finish
fi

# ---------------------------------------------------------------------------
# 3. Checks, as superuser
# ---------------------------------------------------------------------------

if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/load.out" 2>&1 <<SQL; then
CREATE SCHEMA chk;
CREATE TABLE chk.call (client int, seq int, op text, customer_id bigint, count int, prefix text,
	lo text, hi text, reassign boolean, xid bigint, outcome text, sqlstate text, result bigint,
	iccids text[], t0 bigint, t1 bigint);
\\copy chk.call FROM '$work/calls.tsv'
ALTER TABLE chk.call ADD COLUMN x bigint;
UPDATE chk.call SET x = xid % 4294967296;
-- the history, audit and events as their owner sees them, with the
-- transaction that wrote each row
CREATE TABLE chk.h AS
SELECT h.*, h.xmin::text::bigint AS x FROM cmp.sim_assignment_history_data h;
CREATE TABLE chk.a AS
SELECT a.event_id, a.operation, a.customer_id, a.new_value, a.xmin::text::bigint AS x
  FROM cmp.audit_log a WHERE a.operation IN ('assign_free_sims', 'assign_sim_range', 'unassign_sims');
CREATE TABLE chk.e AS
SELECT e.event_id, e.event_type, e.customer_id, e.payload, e.xmin::text::bigint AS x
  FROM cmp.event e WHERE e.event_type IN ('sims.assigned', 'sims.unassigned');
CREATE INDEX ON chk.h (x);
CREATE INDEX ON chk.h (iccid, history_id);
CREATE INDEX ON chk.call (x);
ANALYZE chk.call, chk.h, chk.a, chk.e;
SQL
	not_ok "the calls and the history loaded for checking" "$(tail -n 10 "$work/load.out")"
	finish
fi

# show QUERY -- the offending rows of a check, at most 5, for its detail lines
show() {
	psql -X -q -At -F ' | ' -d "$db" -c "$1 LIMIT 5" 2>&1
}

read -r n_calls n_ok n_free n_range n_unassign n_short n_other < <(q "
SELECT count(*), count(*) FILTER (WHERE outcome = 'commit'),
       count(*) FILTER (WHERE outcome = 'commit' AND op = 'free'),
       count(*) FILTER (WHERE outcome = 'commit' AND op = 'range'),
       count(*) FILTER (WHERE outcome = 'commit' AND op = 'unassign'),
       count(*) FILTER (WHERE sqlstate = '55000' AND op = 'free'),
       count(*) FILTER (WHERE sqlstate = '55000' AND op = 'range')
  FROM chk.call")
read -r n_moves n_free_sims < <(q "
SELECT (SELECT count(*) FROM chk.h),
       (SELECT coalesce(sum(result), 0) FROM chk.call WHERE op = 'free' AND outcome = 'commit')")
echo "# $n_calls calls, $n_ok committed ($n_free assign_free_sims, $n_range assign_sim_range, $n_unassign unassign_sims);"
echo "# refused with 55000: $n_short assign_free_sims short of free SIMs, $n_other ranges over another customer's SIMs;"
echo "# $n_moves SIM moves in the history, $n_free_sims SIMs handed out by assign_free_sims"

check_eq "no call deadlocked (40P01)" 0 \
	"$(q "SELECT count(*) FROM chk.call WHERE sqlstate = '40P01'")"
check_eq "every refusal is 55000" "" \
	"$(q "SELECT string_agg(DISTINCT sqlstate, ' ') FROM chk.call WHERE sqlstate IS DISTINCT FROM '55000' AND sqlstate IS NOT NULL")" \
	"$(head -n 5 "$work/node.err")"
check_eq "55000 only from assign_free_sims (short of free SIMs) and from assign_sim_range without reassign" 0 \
	"$(q "SELECT count(*) FROM chk.call WHERE sqlstate = '55000'
	        AND NOT (op = 'free' OR (op = 'range' AND NOT reassign))")" \
	"$(show "SELECT client, seq, op, reassign FROM chk.call WHERE sqlstate = '55000'
	          AND NOT (op = 'free' OR (op = 'range' AND NOT reassign))")"

bad_shape="
SELECT c.client, c.seq, c.count, c.prefix, c.iccids FROM chk.call c
 WHERE c.op = 'free' AND c.outcome IN ('commit', 'rollback')
   AND (cardinality(c.iccids) IS DISTINCT FROM c.count
        OR c.iccids IS DISTINCT FROM ARRAY(SELECT DISTINCT i FROM unnest(c.iccids) AS i ORDER BY i)
        OR EXISTS (SELECT FROM unnest(c.iccids) AS i
                    WHERE (c.prefix IS NOT NULL AND left(i, length(c.prefix)) <> c.prefix)
                       OR NOT EXISTS (SELECT FROM cmp.sim_card s WHERE s.iccid = i AND s.account_id = $acct)))"
check_eq "every assign_free_sims returned count distinct ICCIDs of the account, ascending, with its prefix" 0 \
	"$(q "SELECT count(*) FROM ($bad_shape) AS b")" "$(show "$bad_shape")"

bad_free="
SELECT c.client, c.seq, c.xid, i.iccid, i.rows FROM chk.call c,
       LATERAL (SELECT u.iccid,
                       (SELECT count(*) FROM chk.h h
                         WHERE h.x = c.x AND h.iccid = u.iccid
                           AND h.from_customer_id IS NULL AND h.to_customer_id = c.customer_id) AS rows
                  FROM unnest(c.iccids) AS u(iccid)) AS i
 WHERE c.op = 'free' AND c.outcome = 'commit' AND i.rows <> 1"
check_eq "every ICCID a committed assign_free_sims returned was free just before: one history row of that call from no customer to its customer" 0 \
	"$(q "SELECT count(*) FROM ($bad_free) AS b")" "$(show "$bad_free")"
bad_free_extra="
SELECT c.client, c.seq, c.result, (SELECT count(*) FROM chk.h h WHERE h.x = c.x) AS rows
  FROM chk.call c WHERE c.op = 'free' AND c.outcome = 'commit'
   AND (SELECT count(*) FROM chk.h h WHERE h.x = c.x) <> c.result"
check_eq "a committed assign_free_sims wrote no history row beyond the SIMs it returned" 0 \
	"$(q "SELECT count(*) FROM ($bad_free_extra) AS b")" "$(show "$bad_free_extra")"

bad_range="
SELECT c.client, c.seq, c.lo, c.hi, c.reassign, c.result, h.iccid, h.from_customer_id, h.to_customer_id
  FROM chk.call c JOIN chk.h h ON h.x = c.x
 WHERE c.op = 'range' AND c.outcome = 'commit'
   AND (h.to_customer_id IS DISTINCT FROM c.customer_id
        OR h.iccid < c.lo OR h.iccid > c.hi OR length(h.iccid) <> length(c.lo)
        OR (NOT c.reassign AND h.from_customer_id IS NOT NULL))"
bad_range_count="
SELECT c.client, c.seq, c.result, (SELECT count(*) FROM chk.h h WHERE h.x = c.x) AS rows
  FROM chk.call c WHERE c.op = 'range' AND c.outcome = 'commit'
   AND (SELECT count(*) FROM chk.h h WHERE h.x = c.x) <> c.result"
check_eq "every committed assign_sim_range wrote one history row per SIM it counted, inside its range, to its customer, from no customer unless reassign" \
	"0 0" "$(q "SELECT (SELECT count(*) FROM ($bad_range) AS b), (SELECT count(*) FROM ($bad_range_count) AS b)")" \
	"$(show "$bad_range")" "$(show "$bad_range_count")"
check_eq "some committed ranges took SIMs from another customer (reassign)" t \
	"$(q "SELECT count(*) > 0 FROM chk.call c JOIN chk.h h ON h.x = c.x
	       WHERE c.op = 'range' AND c.outcome = 'commit' AND h.from_customer_id IS NOT NULL")"

bad_unassign="
SELECT c.client, c.seq, c.result, count(h.history_id) AS rows, count(h.to_customer_id) AS to_someone
  FROM chk.call c LEFT JOIN chk.h h ON h.x = c.x
 WHERE c.op = 'unassign' AND c.outcome = 'commit'
 GROUP BY c.client, c.seq, c.result
HAVING count(h.history_id) <> c.result OR count(h.to_customer_id) > 0"
check_eq "every committed unassign_sims wrote one history row per SIM it counted, to no customer" 0 \
	"$(q "SELECT count(*) FROM ($bad_unassign) AS b")" "$(show "$bad_unassign")"

check_eq "no history row is of a call that failed or rolled back, or of no call" 0 \
	"$(q "SELECT count(*) FROM chk.h h
	       WHERE NOT EXISTS (SELECT FROM chk.call c WHERE c.x = h.x AND c.outcome = 'commit')")"
check_eq "the moves in the history add up to the counts the committed calls returned" \
	"$(q "SELECT coalesce(sum(result), 0) FROM chk.call WHERE outcome = 'commit'")" "$n_moves"

bad_chain="
SELECT iccid, history_id, from_customer_id, prev_to FROM (
	SELECT h.iccid, h.history_id, h.from_customer_id,
	       lag(h.to_customer_id) OVER (PARTITION BY h.iccid ORDER BY h.history_id) AS prev_to
	  FROM chk.h h) AS w
 WHERE from_customer_id IS DISTINCT FROM prev_to"
bad_end="
SELECT s.iccid, s.customer_id, l.to_customer_id FROM cmp.sim_card s
  LEFT JOIN LATERAL (SELECT h.to_customer_id FROM chk.h h WHERE h.iccid = s.iccid
                      ORDER BY h.history_id DESC LIMIT 1) AS l ON true
 WHERE s.customer_id IS DISTINCT FROM l.to_customer_id"
check_eq "every SIM's history is a chain from no customer that ends at its current customer" "0 0" \
	"$(q "SELECT (SELECT count(*) FROM ($bad_chain) AS b), (SELECT count(*) FROM ($bad_end) AS b)")" \
	"$(show "$bad_chain")" "$(show "$bad_end")"
check_eq "the neighbour account's SIMs, inside the ranges, never moved" "100 0" \
	"$(q "SELECT (SELECT count(*) FROM cmp.sim_card WHERE account_id = $other AND customer_id IS NULL),
	             (SELECT count(*) FROM chk.h WHERE account_id <> $acct)")"

# audit and events: per committed call that moved SIMs exactly one of each,
# naming the SIMs it moved; none for the others
bad_audit="
SELECT c.client, c.seq, c.op, c.result, a.n AS audits, e.n AS events, e.same AS same_sims
  FROM chk.call c,
       LATERAL (SELECT count(*) AS n FROM chk.a a
                 WHERE a.x = c.x AND a.operation = CASE c.op WHEN 'free' THEN 'assign_free_sims'
                                                             WHEN 'range' THEN 'assign_sim_range'
                                                             ELSE 'unassign_sims' END
                   -- an unassignment names the customer its SIMs left, if one
                   AND (c.op = 'unassign' OR a.customer_id IS NOT DISTINCT FROM c.customer_id)) AS a,
       LATERAL (SELECT count(*) AS n,
                       bool_and(e.payload -> 'iccids' = (SELECT to_jsonb(array_agg(h.iccid ORDER BY h.iccid))
                                                           FROM chk.h h WHERE h.x = c.x)) AS same
                  FROM chk.e e
                 WHERE e.x = c.x AND e.event_type = CASE c.op WHEN 'unassign' THEN 'sims.unassigned'
                                                              ELSE 'sims.assigned' END) AS e
 WHERE c.outcome = 'commit'
   AND (a.n <> (c.result > 0)::int OR e.n <> (c.result > 0)::int OR NOT coalesce(e.same, true))"
check_eq "one audit row and one event per committed call that moved SIMs, naming exactly them; none for a call that moved none" 0 \
	"$(q "SELECT count(*) FROM ($bad_audit) AS b")" "$(show "$bad_audit")"
check_eq "no audit row or event of a call that failed or rolled back" "0 0" \
	"$(q "SELECT (SELECT count(*) FROM chk.a a WHERE NOT EXISTS (SELECT FROM chk.call c WHERE c.x = a.x AND c.outcome = 'commit')),
	             (SELECT count(*) FROM chk.e e WHERE NOT EXISTS (SELECT FROM chk.call c WHERE c.x = e.x AND c.outcome = 'commit'))")"

if ((n_ok >= min_calls && n_free >= 20 && n_range >= 20 && n_unassign >= 20)); then
	ok "successful calls in the hundreds: $n_ok committed (at least $min_calls, and 20 of each kind)"
else
	not_ok "successful calls in the hundreds: $n_ok committed (at least $min_calls, and 20 of each kind)" \
		"assign_free_sims $n_free, assign_sim_range $n_range, unassign_sims $n_unassign"
fi
n_overlap=$(q "SELECT count(*) FROM chk.call a JOIN chk.call b
                ON a.op = 'free' AND b.op = 'free' AND a.outcome = 'commit' AND b.outcome = 'commit'
               AND (a.client, a.seq) < (b.client, b.seq) AND a.t0 < b.t1 AND b.t0 < a.t1")
echo "# $n_overlap pairs of committed assign_free_sims calls overlapped in time"
check_eq "committed assign_free_sims calls overlapped in time" t "$( ((n_overlap > 0)) && echo t || echo f)"

finish

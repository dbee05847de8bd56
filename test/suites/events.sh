#!/usr/bin/env bash
# test/suites/events.sh -- SPEC §11 (Change feed) under concurrency: 8
# writers and 3 consumers for RO_EVENTS_SECONDS (default 15); every consumer
# receives every event its owner may see exactly once, in commit order, and
# nothing of a transaction that rolled back.
#
#   1. A database of our own; through the functions, as the system actor:
#      two RESELLER accounts, a CSP user, an ACCOUNT user of account 1 who
#      only reads, per writer an ACCOUNT admin (writers 0-3 in account 1,
#      4-7 in account 2) with 3 ACTIVE customers (each with its admin user),
#      60 SIMs, 10 on each customer.  Three consumers, all named "feed":
#      the CSP user's (sees everything), the account reader's (account 1),
#      and that of the admin user of writer 0's first customer C (sees C).
#      A login role that may only call cmp.set_actor; every client is it.
#   2. One node process (node-postgres from examples/node): the writers, on
#      their own customers and SIMs so that no call is refused, loop over
#      transactions of one or two changing calls (set_customer_status
#      ACTIVE <-> SUSPENDED, assign_sims, unassign_sims, assign_sims with
#      reassign between their customers, create_customer, update_customer,
#      delete_customer of their DRAFT customers); one in ten rolls back, and
#      then also writes a marker (a description or a name 'ROLLBACK-w-n')
#      that no event may carry; one in four sleeps (pg_sleep 0.01-0.05 s)
#      after writing and before COMMIT, so that transactions commit in
#      another order than they wrote.  Each records its transaction id and,
#      on one logical clock of the process (no wall clock), when it began,
#      when it had written everything, when it sent COMMIT and when COMMIT
#      returned.  The consumers loop: BEGIN; set_actor; read_events(feed,
#      50..200); ack_events(the last id); COMMIT (one read in ten is rolled
#      back instead: those events must come again), waiting on LISTEN
#      cmp_events when there is nothing to read; once the writers have
#      stopped they drain the feed.
#   3. As superuser, from the tables (cmp.event bypassing RLS; its xmin is
#      the transaction that committed the event):
#      - per consumer: no id twice; ids strictly increasing in the order
#        received; exactly the ids of cmp.event its owner may see (CSP: all,
#        ACCOUNT: account_id = account 1, CUSTOMER: customer_id = C), which
#        is also what RLS shows that owner; no marker; every ack_events
#        returned the size of its batch; acked_event_id the last id received;
#      - the writers: no error; each committed transaction wrote exactly the
#        events of its calls, with consecutive ids; a rolled-back one none;
#        no row of cmp.event, cmp.audit_log or cmp.customer has a marker;
#        every event after the fixture is of a writer's transaction;
#      - commit order: a transaction whose COMMIT returned before another
#        sent its COMMIT has only smaller ids (the same writer's earlier
#        transactions among them), and some transactions were overtaken
#        (another began after they had written and committed before them),
#        so the order was really put to the test.
#
# Bounded: about RO_EVENTS_SECONDS + 10 s.  RO_EVENTS_MIN (default 500): the
# fewest events the writers must have committed.  RO_EVENTS_SEED repeats the
# choices (not the interleaving); RO_KEEP=1 keeps the database, the role and
# the work directory.  Run by tools/test.sh; prints `ok - ...` /
# `not ok - ...` and ends with `N passed, M failed`.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"

seconds=${RO_EVENTS_SECONDS:-15}
min_events=${RO_EVENTS_MIN:-500}
seed=${RO_EVENTS_SEED:-$(($$ % 100000 + 1))}
db=ro_events_$$
role=ro_events_app_$$
started=$(date +%s)

scratch_workdir ro_events
require_example_modules

# ---------------------------------------------------------------------------
# 1. Database, fixture, consumers, application role
# ---------------------------------------------------------------------------

scratch_db_and_role

# SIMs: pg_temp.iccid(n), n = 60 w + 1 .. 60 w + 60 for writer w; customer
# i of writer w holds 60 w + 10 i + 1 .. + 10, the other 30 are free.
if ! psql -X -q -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" -v cfg="$work/config.json" \
	-v role="$role" -d "$db" >"$work/fixture.out" 2>&1 <<'SQL'; then
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;

SELECT cmp.create_account(account_number => 'EV-1', name => 'Events Reseller One', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS a1 \gset
SELECT cmp.create_account(account_number => 'EV-2', name => 'Events Reseller Two', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 15) AS a2 \gset
SELECT cmp.create_user(login => 'ev.csp', email => 'csp@events.example', context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'ev.a1.reader', email => 'reader@a1.events.example', context_level => 'ACCOUNT',
	account_id => :a1) AS reader \gset
SELECT cmp.provision_sims(account_id => :a1,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 240) g)) AS ignored \gset
SELECT cmp.provision_sims(account_id => :a2,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(241, 480) g)) AS ignored \gset

CREATE TEMP TABLE w (w int PRIMARY KEY, account_id bigint, user_id bigint);
INSERT INTO w SELECT g, CASE WHEN g < 4 THEN :a1 ELSE :a2 END FROM generate_series(0, 7) g;
UPDATE w SET user_id = cmp.create_user(login => 'ev.w' || w, email => 'w' || w || '@events.example',
	context_level => 'ACCOUNT', account_id => account_id, is_admin => true);
CREATE TEMP TABLE c (w int, i int, customer_id bigint);
INSERT INTO c SELECT w.w, i, cmp.create_customer(account_id => w.account_id, name => 'W' || w.w || ' C' || i,
	status => 'ACTIVE', admin_login => 'ev.w' || w.w || '.c' || i,
	admin_email => 'c' || i || '@w' || w.w || '.events.example')
  FROM w, generate_series(0, 2) i ORDER BY w.w, i;
SELECT sum(cmp.assign_sims(customer_id => c.customer_id,
	iccids => array(SELECT pg_temp.iccid(c.w * 60 + c.i * 10 + g) FROM generate_series(1, 10) g))) AS ignored
  FROM c \gset

-- C, its admin user (a CUSTOMER user assigned to C only), the consumers
SELECT customer_id AS cust FROM c WHERE w = 0 AND i = 0 \gset
SELECT user_id AS cu FROM cmp.app_user_data WHERE login = 'ev.w0.c0' \gset
BEGIN;
SELECT cmp.set_actor(:csp);
SELECT cmp.create_event_consumer('feed');
COMMIT;
BEGIN;
SELECT cmp.set_actor(:reader);
SELECT cmp.create_event_consumer('feed');
COMMIT;
BEGIN;
SELECT cmp.set_actor(:cu);
SELECT cmp.create_event_consumer('feed');
COMMIT;

GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
ALTER ROLE :"role" IN DATABASE :"DBNAME" SET statement_timeout = '20s';

\pset format unaligned
\pset tuples_only on
\o :cfg
SELECT json_build_object(
	'a1', :a1, 'a2', :a2, 'customer', :cust, 'fixture_max', (SELECT coalesce(max(event_id), 0) FROM cmp.event),
	'consumers', json_build_array(
		json_build_object('key', 'csp', 'user', :csp),
		json_build_object('key', 'account', 'user', :reader),
		json_build_object('key', 'customer', 'user', :cu)),
	'writers', (SELECT json_agg(json_build_object('w', w.w, 'user', w.user_id, 'account', w.account_id,
		'customers', (SELECT json_agg(json_build_object('id', c.customer_id, 'status', 'ACTIVE',
			'sims', (SELECT json_agg(s.iccid ORDER BY s.iccid) FROM cmp.sim_card s WHERE s.customer_id = c.customer_id)
			) ORDER BY c.i) FROM c WHERE c.w = w.w),
		'free', (SELECT json_agg(pg_temp.iccid(g) ORDER BY g) FROM generate_series(w.w * 60 + 31, w.w * 60 + 60) g)
		) ORDER BY w.w) FROM w));
\o
SQL
	not_ok "fixture loaded through the extension's functions" "$(tail -n 20 "$work/fixture.out")"
	finish
fi
read -r a1 cust fixture_max csp reader cu < <(node -e 'const c = require(process.argv[1]);
	console.log(c.a1, c.customer, c.fixture_max, ...c.consumers.map((x) => x.user))' "$work/config.json")
check_eq "fixture: 2 accounts, 24 ACTIVE customers, 480 SIMs (240 on customers), 3 consumers" \
	"2 24 480 240 3" \
	"$(q "SELECT (SELECT count(*) FROM cmp.account) || ' ' ||
	             (SELECT count(*) FROM cmp.customer WHERE status = 'ACTIVE') || ' ' ||
	             (SELECT count(*) FROM cmp.sim_card) || ' ' || (SELECT count(customer_id) FROM cmp.sim_card) || ' ' ||
	             (SELECT count(*) FROM cmp.event_consumer)" || cat "$work/err")"

# ---------------------------------------------------------------------------
# 2. Writers and consumers
# ---------------------------------------------------------------------------

cat >"$work/events.js" <<'JS'
'use strict';
// The writers and consumers of test/suites/events.sh (see there).  Input:
// EV_CONFIG (the fixture), EV_SECONDS, EV_SEED, EV_OUT (a directory);
// PGHOST, PGPORT, PGDATABASE, PGUSER (the application role).  Output, in
// EV_OUT: txn.tsv (writer, seq, xid, outcome, events expected, begun,
// wrote, before_commit, after_commit: ticks of one logical clock),
// got.tsv (consumer, n, event_id, has a marker), ack.tsv (consumer, batch,
// read, acknowledged, committed), errors.txt; counts on stdout.
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const cfg = JSON.parse(fs.readFileSync(process.env.EV_CONFIG, 'utf8'));
const seconds = Number(process.env.EV_SECONDS || 15);
const seed = Number(process.env.EV_SEED || 1);
const out = process.env.EV_OUT;

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

const txns = [];
const got = [];
const acks = [];
const errors = [];
let writersDone = false;

async function connect() {
	const client = new Client();
	await client.connect();
	return client;
}

async function one(client, sql, args) {
	const r = await client.query(sql, args);
	return r.rows[0];
}

// One changing call on the writer's state s (a copy, kept only on commit);
// returns the number of events it writes.
async function change(client, s, rnd, tag) {
	const pick = (a) => a[Math.floor(rnd() * a.length)];
	const take = (a, n) => a.splice(0, Math.min(n, a.length));
	const active = s.customers.filter((c) => c.status === 'ACTIVE');
	const holding = s.customers.filter((c) => c.sims.length > 0);
	const r = rnd();
	if (r < 0.2) {
		const c = pick(s.customers);
		const to = c.status === 'ACTIVE' ? 'SUSPENDED' : 'ACTIVE';
		const prev = (await one(client, 'SELECT cmp.set_customer_status(customer_id => $1, status => $2, reason => $3) AS p',
			[c.id, to, tag])).p;
		if (prev !== c.status) throw new Error(`set_customer_status(${c.id}): previous ${prev}, expected ${c.status}`);
		c.status = to;
		return 1;
	}
	if (r < 0.4 && s.free.length > 0 && active.length > 0) {
		const c = pick(active);
		const sims = take(s.free, 1 + Math.floor(rnd() * 5));
		const n = Number((await one(client, 'SELECT cmp.assign_sims(customer_id => $1, iccids => $2) AS n', [c.id, sims])).n);
		if (n !== sims.length) throw new Error(`assign_sims(${c.id}): ${n} moved, expected ${sims.length}`);
		c.sims.push(...sims);
		return 1;
	}
	if (r < 0.55 && holding.length > 0) {
		const c = pick(holding);
		const sims = take(c.sims, 1 + Math.floor(rnd() * 5));
		const n = Number((await one(client, 'SELECT cmp.unassign_sims(iccids => $1) AS n', [sims])).n);
		if (n !== sims.length) throw new Error(`unassign_sims: ${n} moved, expected ${sims.length}`);
		s.free.push(...sims);
		return 1;
	}
	if (r < 0.65 && holding.length > 0 && active.length > 0) {
		const from = pick(holding);
		const to = pick(active);
		if (from !== to) {
			const sims = take(from.sims, 1 + Math.floor(rnd() * 3));
			const n = Number((await one(client,
				'SELECT cmp.assign_sims(customer_id => $1, iccids => $2, reassign => true) AS n', [to.id, sims])).n);
			if (n !== sims.length) throw new Error(`assign_sims(${to.id}, reassign): ${n} moved, expected ${sims.length}`);
			to.sims.push(...sims);
			return 1;
		}
	}
	if (r < 0.75 && s.drafts.length < 6) {
		s.made += 1;
		const id = (await one(client, 'SELECT cmp.create_customer(account_id => $1, name => $2) AS id',
			[s.account, `W${s.w} D${s.made}`])).id;
		s.drafts.push(id);
		return 1;
	}
	if (r < 0.82 && s.drafts.length > 0) {
		const id = s.drafts.splice(Math.floor(rnd() * s.drafts.length), 1)[0];
		await one(client, 'SELECT cmp.delete_customer(customer_id => $1) AS v', [id]);
		return 1;
	}
	const id = s.drafts.length > 0 && rnd() < 0.3 ? pick(s.drafts) : pick(s.customers).id;
	await one(client, 'SELECT cmp.update_customer(customer_id => $1, changes => $2::jsonb) AS v',
		[id, JSON.stringify({ description: tag })]);
	return 1;
}

async function writer(wcfg, deadline) {
	const client = await connect();
	const rnd = prng(seed * 101 + wcfg.w);
	let state = {
		w: wcfg.w, account: wcfg.account, made: 0, drafts: [], free: wcfg.free.slice(),
		customers: wcfg.customers.map((c) => ({ id: c.id, status: c.status, sims: c.sims.slice() })),
	};
	let seq = 0;
	while (Date.now() < deadline) {
		seq += 1;
		const next = structuredClone(state);
		const rollback = rnd() < 0.1;
		const calls = rnd() < 0.3 ? 2 : 1;
		const sleep = rnd() < 0.25 ? (1 + Math.floor(rnd() * 5)) / 100 : 0;
		const t = { writer: wcfg.w, seq, xid: '', outcome: '', expected: 0, begun: 0, wrote: 0, before: 0, after: 0 };
		try {
			await client.query('BEGIN');
			t.begun = now();
			await client.query('SELECT cmp.set_actor($1)', [wcfg.user]);
			for (let k = 0; k < calls; k++) t.expected += await change(client, next, rnd, `w${wcfg.w} t${seq}.${k}`);
			if (rollback) {
				// the marker: a change no event may ever carry
				const marker = `ROLLBACK-${wcfg.w}-${seq}`;
				if (rnd() < 0.5) {
					await one(client, 'SELECT cmp.update_customer(customer_id => $1, changes => $2::jsonb) AS v',
						[next.customers[0].id, JSON.stringify({ description: marker })]);
				} else {
					await one(client, 'SELECT cmp.create_customer(account_id => $1, name => $2) AS id', [next.account, marker]);
				}
				t.expected += 1;
			}
			t.xid = (await one(client, 'SELECT txid_current()::text AS x')).x;
			t.wrote = now();
			if (sleep) await client.query('SELECT pg_sleep($1)', [sleep]);
			t.before = now();
			await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
			t.after = now();
			t.outcome = rollback ? 'rollback' : 'commit';
			if (!rollback) state = next;
		} catch (e) {
			errors.push(`writer ${wcfg.w} transaction ${seq}: ${e.code || ''} ${e.message}`);
			t.outcome = 'error';
			try { await client.query('ROLLBACK'); } catch (e2) { /* the connection is gone */ }
		}
		txns.push(t);
		if (errors.length > 20) break;
	}
	await client.end();
}

async function consumer(ccfg, rnd) {
	const client = await connect();
	let wake = null;
	ccfg.notified = 0;
	client.on('notification', () => {
		ccfg.notified += 1;
		if (wake) wake();
	});
	await client.query('LISTEN cmp_events');
	let n = 0;
	let batch = 0;
	ccfg.redelivered = 0;
	const drainBy = () => Date.now() + 30000;
	let limit = Infinity;
	for (;;) {
		const done = writersDone; // read before this read: a drained feed then stays drained
		if (done && limit === Infinity) limit = drainBy();
		if (Date.now() > limit) {
			errors.push(`consumer ${ccfg.key}: still reading 30 s after the writers stopped`);
			break;
		}
		const max = 50 + Math.floor(rnd() * 151);
		batch += 1;
		let rows;
		try {
			await client.query('BEGIN');
			await client.query('SELECT cmp.set_actor($1)', [ccfg.user]);
			rows = (await client.query(
				"SELECT event_id::text AS id, payload::text LIKE '%ROLLBACK-%' AS marked FROM cmp.read_events('feed', $1)",
				[max])).rows;
			if (rows.length === 0) {
				await client.query('COMMIT');
				if (done) break;
				await new Promise((resolve) => {
					const timer = setTimeout(resolve, 100);
					wake = () => { clearTimeout(timer); resolve(); };
				});
				wake = null;
				continue;
			}
			if (rnd() < 0.1) { // read, not acknowledged: must come again
				await client.query('ROLLBACK');
				acks.push([ccfg.key, batch, rows.length, 0, 'rollback']);
				ccfg.redelivered += rows.length;
				continue;
			}
			const acked = (await one(client, 'SELECT cmp.ack_events($1, $2) AS n', ['feed', rows[rows.length - 1].id])).n;
			await client.query('COMMIT');
			acks.push([ccfg.key, batch, rows.length, acked, 'commit']);
			for (const row of rows) got.push([ccfg.key, ++n, row.id, row.marked ? 't' : 'f']);
		} catch (e) {
			errors.push(`consumer ${ccfg.key} batch ${batch}: ${e.code || ''} ${e.message}`);
			try { await client.query('ROLLBACK'); } catch (e2) { /* the connection is gone */ }
			if (errors.length > 20) break;
		}
	}
	ccfg.received = n;
	ccfg.batches = batch;
	await client.end();
}

async function main() {
	const deadline = Date.now() + seconds * 1000;
	const consumers = cfg.consumers.map((c, i) => consumer(c, prng(seed * 103 + i)));
	await Promise.all(cfg.writers.map((w) => writer(w, deadline)));
	writersDone = true;
	await Promise.all(consumers);

	const tsv = (rows) => rows.map((r) => r.join('\t') + '\n').join('');
	fs.writeFileSync(path.join(out, 'txn.tsv'), tsv(txns.map((t) =>
		[t.writer, t.seq, t.xid || '\\N', t.outcome, t.expected, t.begun || '\\N', t.wrote || '\\N',
			t.before || '\\N', t.after || '\\N'])));
	fs.writeFileSync(path.join(out, 'got.tsv'), tsv(got));
	fs.writeFileSync(path.join(out, 'ack.tsv'), tsv(acks));
	fs.writeFileSync(path.join(out, 'errors.txt'), errors.map((e) => e + '\n').join(''));
	const count = (o) => txns.filter((t) => t.outcome === o).length;
	console.log(`# writers: ${txns.length} transactions: ${count('commit')} committed, ${count('rollback')} rolled back,`
		+ ` ${count('error')} failed; ${txns.filter((t) => t.expected > 1).length} with two or more events,`
		+ ` events of committed transactions ${txns.filter((t) => t.outcome === 'commit').reduce((a, t) => a + t.expected, 0)}`);
	for (const c of cfg.consumers) {
		console.log(`# consumer ${c.key}: ${c.received} events received in ${c.batches} reads,`
			+ ` ${c.redelivered} read in rolled-back reads, ${c.notified} notifications`);
	}
}

main().then(() => process.exit(0), (e) => {
	console.error(e);
	process.exit(1);
});
JS

echo "# 8 writers, 3 consumers for $seconds s, seed $seed (RO_EVENTS_SEED)"
NODE_PATH=$modules PGDATABASE=$db PGUSER=$role EV_CONFIG=$work/config.json EV_SECONDS=$seconds \
	EV_SEED=$seed EV_OUT=$work timeout $((seconds + 60)) node "$work/events.js" >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
wait "$node_pid"
node_rc=$?
cat "$work/node.out"
if ((node_rc == 0)) && [[ -f $work/txn.tsv ]]; then
	ok "the writers and consumers ran for $seconds s and drained the feed"
else
	not_ok "the writers and consumers ran to the end (exit status $node_rc$( ((node_rc == 124)) && echo ', timed out'))" \
		"$(tail -n 10 "$work/node.err")"
	finish
fi
n_errors=$(grep -c . "$work/errors.txt")
check_eq "no call, read or acknowledgement failed" 0 "$n_errors" "$(head -n 5 "$work/errors.txt")"

# ---------------------------------------------------------------------------
# 3. Checks, as superuser
# ---------------------------------------------------------------------------

if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/load.out" 2>&1 <<SQL; then
CREATE SCHEMA chk;
CREATE TABLE chk.txn (writer int, seq int, xid bigint, outcome text, expected int,
	begun bigint, wrote bigint, before_commit bigint, after_commit bigint);
CREATE TABLE chk.got (consumer text, n int, event_id bigint, marked boolean);
CREATE TABLE chk.ack (consumer text, batch int, read int, acked bigint, outcome text);
\\copy chk.txn FROM '$work/txn.tsv'
\\copy chk.got FROM '$work/got.tsv'
\\copy chk.ack FROM '$work/ack.tsv'
-- cmp.event as its owner sees it (no RLS for a superuser); xmin: the
-- transaction that moved the event in at its commit
CREATE TABLE chk.ev AS SELECT event_id, account_id, customer_id, payload, xmin::text::bigint AS x FROM cmp.event;
CREATE TABLE chk.te AS
SELECT t.*, count(e.event_id) AS n, min(e.event_id) AS lo, max(e.event_id) AS hi
  FROM chk.txn t LEFT JOIN chk.ev e ON e.x = t.xid % 4294967296
 GROUP BY t.writer, t.seq, t.xid, t.outcome, t.expected, t.begun, t.wrote, t.before_commit, t.after_commit;
-- per consumer: what its owner may see, by SPEC §5 written out
CREATE TABLE chk.expected AS
SELECT 'csp' AS consumer, event_id FROM chk.ev
UNION ALL SELECT 'account', event_id FROM chk.ev WHERE account_id = $a1
UNION ALL SELECT 'customer', event_id FROM chk.ev WHERE customer_id = $cust;
ANALYZE chk.txn, chk.got, chk.ack, chk.ev, chk.te, chk.expected;
SQL
	not_ok "the clients' records loaded as superuser" "$(tail -n 10 "$work/load.out")"
	finish
fi

read -r n_txn n_commit n_rollback n_events n_writer_events <<<"$(q "SELECT count(*), count(*) FILTER (WHERE outcome = 'commit'),
	count(*) FILTER (WHERE outcome = 'rollback'), (SELECT count(*) FROM chk.ev),
	(SELECT count(*) FROM chk.ev WHERE event_id > $fixture_max) FROM chk.txn" || echo x)"
echo "# $n_txn writer transactions ($n_commit committed, $n_rollback rolled back); $n_events events in cmp.event ($n_writer_events by the writers, $fixture_max by the fixture)"
if [[ $n_writer_events =~ ^[0-9]+$ ]] && ((n_writer_events >= min_events)); then
	ok "the writers committed $n_writer_events events (at least $min_events, RO_EVENTS_MIN)"
else
	not_ok "the writers committed at least $min_events events (RO_EVENTS_MIN)" "got: $n_writer_events" "$(cat "$work/err")"
fi

for c in csp account customer; do
	read -r received expected <<<"$(q "SELECT (SELECT count(*) FROM chk.got WHERE consumer = '$c'),
		(SELECT count(*) FROM chk.expected WHERE consumer = '$c')" || echo x x)"
	echo "# consumer $c: received $received events, its owner may see $expected"
	check_no_rows "consumer $c: no event received twice" \
		"SELECT event_id || ' received ' || count(*) || ' times' FROM chk.got WHERE consumer = '$c'
		  GROUP BY event_id HAVING count(*) > 1 ORDER BY event_id"
	check_no_rows "consumer $c: ids strictly increasing in the order received ($received events)" \
		"SELECT 'event ' || event_id || ' (#' || n || ') after ' || prev
		   FROM (SELECT n, event_id, lag(event_id) OVER (ORDER BY n) AS prev FROM chk.got WHERE consumer = '$c') g
		  WHERE event_id <= prev ORDER BY n"
	check_no_rows "consumer $c: received exactly the $expected events its owner may see" \
		"SELECT coalesce('missing ' || x.event_id, 'not visible ' || g.event_id)
		   FROM (SELECT event_id FROM chk.expected WHERE consumer = '$c') x
		   FULL JOIN (SELECT DISTINCT event_id FROM chk.got WHERE consumer = '$c') g USING (event_id)
		  WHERE x.event_id IS NULL OR g.event_id IS NULL ORDER BY coalesce(x.event_id, g.event_id)"
	check_no_rows "consumer $c: no event of a rolled-back transaction (no marker)" \
		"SELECT 'event ' || event_id FROM chk.got WHERE consumer = '$c' AND marked"
	check_no_rows "consumer $c: each ack_events returned the size of its batch" \
		"SELECT 'batch ' || batch || ': read ' || read || ', acknowledged ' || acked
		   FROM chk.ack WHERE consumer = '$c' AND outcome = 'commit' AND acked <> read"
done

# Each consumer's position, and the rule written out above against RLS for
# the same owners (as the application role).
check_no_rows "each consumer's acked_event_id is the last id it received" \
	"SELECT o.consumer || ': acked ' || c.acked_event_id || ', last received ' || coalesce(g.last, 0)
	   FROM (VALUES ('csp', $csp), ('account', $reader), ('customer', $cu)) o(consumer, user_id)
	   LEFT JOIN cmp.event_consumer c ON c.owner_user_id = o.user_id AND c.name = 'feed'
	   LEFT JOIN (SELECT consumer, max(event_id) AS last FROM chk.got GROUP BY consumer) g USING (consumer)
	  WHERE c.acked_event_id IS DISTINCT FROM coalesce(g.last, 0)"
rls_out=$(psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -d "$db" 2>"$work/err" <<SQL
SET ROLE $role;
BEGIN;
SELECT cmp.set_actor($csp) \\gset
SELECT 'csp', count(*), coalesce(sum(event_id), 0) FROM cmp.event;
COMMIT;
BEGIN;
SELECT cmp.set_actor($reader) \\gset
SELECT 'account', count(*), coalesce(sum(event_id), 0) FROM cmp.event;
COMMIT;
BEGIN;
SELECT cmp.set_actor($cu) \\gset
SELECT 'customer', count(*), coalesce(sum(event_id), 0) FROM cmp.event;
COMMIT;
SQL
)
rule_out=$(q "SELECT consumer, count(*), sum(event_id) FROM chk.expected GROUP BY consumer
	ORDER BY array_position(ARRAY['csp', 'account', 'customer'], consumer)")
check_eq "RLS of cmp.event: each owner sees the events (count, sum of ids) the rule says" \
	"$(tr '\n' ';' <<<"$rule_out")" "$(tr '\n' ';' <<<"$rls_out")" "$(cat "$work/err")"

# The writers' transactions against cmp.event.
check_no_rows "each committed writer transaction has exactly the events of its calls, with consecutive ids" \
	"SELECT 'writer ' || writer || ' #' || seq || ' (xid ' || xid || '): ' || n || ' events, expected ' || expected || ', ids ' || coalesce(lo || '..' || hi, 'none')
	   FROM chk.te WHERE outcome = 'commit' AND (n <> expected OR hi - lo + 1 <> n) ORDER BY writer, seq"
check_no_rows "no rolled-back transaction has an event ($n_rollback rolled back)" \
	"SELECT 'writer ' || writer || ' #' || seq || ': ' || n || ' events' FROM chk.te WHERE outcome <> 'commit' AND n > 0"
check_no_rows "no marker of a rolled-back transaction in cmp.event, cmp.audit_log or cmp.customer" \
	"SELECT 'event ' || event_id FROM chk.ev WHERE payload::text LIKE '%ROLLBACK-%'
	 UNION ALL SELECT 'audit ' || event_id FROM cmp.audit_log WHERE coalesce(new_value::text, '') LIKE '%ROLLBACK-%'
	 UNION ALL SELECT 'customer ' || customer_id FROM cmp.customer WHERE name LIKE 'ROLLBACK-%' OR description LIKE 'ROLLBACK-%'"
check_no_rows "every event after the fixture is of a committed writer transaction" \
	"SELECT 'event ' || e.event_id || ' of xid ' || e.x FROM chk.ev e
	  WHERE e.event_id > $fixture_max
	    AND NOT EXISTS (SELECT 1 FROM chk.txn t WHERE t.outcome = 'commit' AND t.xid % 4294967296 = e.x)
	  ORDER BY e.event_id"
check_no_rows "per writer, each committed transaction's events have larger ids than its earlier transactions'" \
	"SELECT 'writer ' || writer || ' #' || seq || ': ids from ' || lo || ', #' || prev_seq || ' up to ' || prev_hi
	   FROM (SELECT writer, seq, lo, lag(hi) OVER w AS prev_hi, lag(seq) OVER w AS prev_seq
	           FROM chk.te WHERE outcome = 'commit' AND n > 0 WINDOW w AS (PARTITION BY writer ORDER BY seq)) x
	  WHERE lo <= prev_hi"

# Commit order across writers, on the clients' logical clock: for each
# transaction Y, of the transactions whose COMMIT had returned before Y sent
# its COMMIT, the largest id (running maximum by after_commit) is below Y's
# smallest; Y is overtaken when one of those began after Y had written.
if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/order.out" 2>&1 <<'SQL'; then
CREATE TABLE chk.run AS
SELECT after_commit, max(hi) OVER w AS hi_so_far, max(begun) OVER w AS begun_so_far
  FROM chk.te WHERE outcome = 'commit' AND n > 0 WINDOW w AS (ORDER BY after_commit);
CREATE INDEX ON chk.run (after_commit);
CREATE TABLE chk.ord AS
SELECT y.writer, y.seq, y.lo, y.wrote, p.hi_so_far, p.begun_so_far
  FROM chk.te y
  LEFT JOIN LATERAL (SELECT hi_so_far, begun_so_far FROM chk.run r WHERE r.after_commit < y.before_commit
                      ORDER BY r.after_commit DESC LIMIT 1) p ON true
 WHERE y.outcome = 'commit' AND y.n > 0;
SQL
	not_ok "commit order computed" "$(tail -n 5 "$work/order.out")"
else
	overtaken=$(q "SELECT count(*) FROM chk.ord WHERE begun_so_far > wrote")
	echo "# $overtaken committed transactions were overtaken: another began after they had written and committed before them"
	check_no_rows "commit order across writers: a transaction committed before another began to commit has only smaller ids" \
		"SELECT 'writer ' || writer || ' #' || seq || ': ids from ' || lo || ', but ' || hi_so_far || ' committed before it sent COMMIT'
		   FROM chk.ord WHERE lo <= hi_so_far ORDER BY lo"
	if [[ $overtaken =~ ^[0-9]+$ ]] && ((overtaken > 0)); then
		ok "some transactions were overtaken by ones that began later ($overtaken), so commit order differed from write order"
	else
		not_ok "some transactions were overtaken by ones that began later" "got: $overtaken" "$(cat "$work/err")"
	fi
fi

finish

#!/usr/bin/env bash
# test/suites/crash.sh -- SPEC §10 (Crashes): the server killed during a bulk
# call or a stream of creates loses no acknowledged change and leaves no
# partial one; every invariant of SPEC §2-§3 holds after recovery.
#
# It starts its own throwaway cluster (tools/cluster.sh), since it kills
# backends and shuts the server down hard.  That cluster runs with
# fsync=off, which is fine here: a backend killed with SIGKILL and an
# immediate shutdown both leave the operating system running, so what
# PostgreSQL wrote to its files (acknowledged commits flush their WAL with
# write(2)) is in the page cache; what was only in shared memory (dirty
# buffers, WAL buffers of uncommitted work) is lost and rebuilt by redo,
# which is what is tested.  A CHECKPOINT before each crash keeps redo short.
#
# The fixture is loaded through the functions: the system actor creates two
# accounts (a RESELLER one, which the crashes use, and a STANDARD one), their
# ACCOUNT admins and RO_CRASH_SIMS (default 200,000) SIMs; the admins create
# ACTIVE customers (the STANDARD account's one with SIMs and a status
# history).  Then three crashes, each of a client (psql reading a script
# generated from crash.plan) running a planned sequence of calls, one
# transaction per call (BEGIN; cmp.set_actor(admin); the call; RO_CRASH_PAUSE
# seconds of other work, default 0.002; COMMIT), that prints
# `ack STREAM STEP` once its COMMIT came back:
#
#   A  assign_sims of all RO_CRASH_SIMS SIMs to one customer, in one call;
#      the backend is killed (kill -9) once sim_card has grown by half of its
#      size with the call's uncommitted row versions.
#   B  create_customer (with its admin user) one after the other; the
#      backend serving the stream is killed (kill -9) once RO_CRASH_B_AT
#      (default 400) of them are there.
#   C  create_customer, assign_sims of RO_CRASH_BATCH (default 10) SIMs,
#      moves of a batch from the previous customer (reassign => true),
#      suspensions, reactivations and terminations releasing the SIMs; the
#      server is stopped with `pg_ctl stop -m immediate` once RO_CRASH_C_AT
#      (default 200) customers of the stream are there, and started again.
#
# After each recovery (the server log must show it):
#   - the stream: its calls that committed are the acknowledged ones and at
#     most the one in flight (one audit row per committed call, matching the
#     plan call for call); the stream's customers, their admin users, their
#     statuses and status histories, the SIM owners and the SIM history since
#     the stream began are exactly what replaying those calls gives: every
#     acknowledged change is there, the one in flight wholly or not at all,
#     nothing of a later one;
#   - the invariants of SPEC §2-§3 over the whole database: SIMs only on
#     customers of their own account and none on a TERMINATED one; each SIM's
#     assignment history a chain ending at its current customer; each
#     customer's status history a chain of allowed transitions ending at its
#     status; customer numbers unique per account and within the account's
#     counter; an admin user for every ACTIVE or SUSPENDED customer; every
#     CUSTOMER user assigned to a customer of its account; audit rows and
#     history rows in step (one create_customer row per customer, one status
#     history row per create_customer or set_customer_status row, one SIM
#     history row per SIM counted by assign_sims, the SIMs counted by
#     provision_sims);
#   - the extension still works: a new customer gets the next number.
#
# Bounded: about a minute and a half on 2 busy cores with the defaults (the
# fixture's 200,000 ICCIDs and provisioning take a third of it); every wait
# gives up after RO_CRASH_WAIT seconds.  RO_KEEP=1 keeps the work directory
# (scripts, client output).  Prints the counts and ends with
# `N passed, M failed`.
set -uo pipefail
export LC_ALL=C

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
nsims=${RO_CRASH_SIMS:-200000}
b_steps=${RO_CRASH_B_STEPS:-5000}
b_at=${RO_CRASH_B_AT:-400}
c_iterations=${RO_CRASH_C_ITERATIONS:-1500}
c_at=${RO_CRASH_C_AT:-200}
batch=${RO_CRASH_BATCH:-10}
pause=${RO_CRASH_PAUSE:-0.002}  # seconds between a call and its COMMIT
a_grow=${RO_CRASH_A_GROWTH:-50} # percent of sim_card's size written before the kill
wait_max=${RO_CRASH_WAIT:-120}  # seconds any single wait may take
((c_iterations * batch > nsims)) && c_iterations=$((nsims / batch))

export RO_PORT=${RO_CRASH_PORT:-55481}
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

passed=0 failed=0
check() {
	if [[ $1 == 0 ]]; then echo "ok - $2"; passed=$((passed + 1)); else echo "not ok - $2"; failed=$((failed + 1)); fi
}
finish() { echo "$passed passed, $failed failed"; exit 0; }

t_all=$SECONDS
work=$(mktemp -d)
chmod 755 "$work"
stream_pid=
cleanup() {
	[[ -n $stream_pid ]] && kill "$stream_pid" 2>/dev/null
	[[ -n ${started:-} ]] && cluster_stop >/dev/null 2>&1
	[[ -n ${RO_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

if ! cluster_start -c session_preload_libraries=reseller_onboarding >"$work/cluster.log" 2>&1; then
	sed 's/^/#   /' "$work/cluster.log"
	echo "0 passed, 1 failed"
	exit 1
fi
started=1
pglog=$RO_CLUSTER_DIR/postgres.log
data=$RO_CLUSTER_DIR/data
createdb crash || { echo "0 passed, 1 failed"; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -d crash "$@"; }
val() { psql -X -q -At -v ON_ERROR_STOP=1 -d crash -c "$1" 2>/dev/null; }

# ---- the fixture, through the functions ------------------------------------
t0=$SECONDS
q -v luhn="$repo/test/fixtures/luhn.sql" -v nsims="$nsims" -v b_steps="$b_steps" \
	-v c_iterations="$c_iterations" -v batch="$batch" >"$work/fixture.log" 2>&1 <<'SQL'
CREATE EXTENSION reseller_onboarding;
CREATE SCHEMA crash;
\i :luhn
-- ICCIDs 1 .. nsims for the reseller, 100 more for the other account
CREATE TABLE crash.iccid (n int PRIMARY KEY, iccid text NOT NULL UNIQUE);
INSERT INTO crash.iccid
SELECT g, pg_temp.luhn('8949' || lpad(g::text, 14, '0')) FROM generate_series(1, :nsims + 100) g;

SELECT cmp.create_account(account_number => 'CRASH-R', name => 'Crash Reseller', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 5) AS acct \gset
SELECT cmp.create_account(account_number => 'CRASH-S', name => 'Crash Standard') AS other \gset
SELECT cmp.create_user(login => 'crash_admin', email => 'admin@crash.example', context_level => 'ACCOUNT',
	account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.create_user(login => 'crash_other_admin', email => 'other@crash.example', context_level => 'ACCOUNT',
	account_id => :other, is_admin => true) AS other_admin \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => (SELECT array_agg(iccid ORDER BY n) FROM crash.iccid WHERE n <= :nsims));
SELECT cmp.provision_sims(account_id => :other,
	iccids => (SELECT array_agg(iccid ORDER BY n) FROM crash.iccid WHERE n > :nsims));

BEGIN;
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'Fixture One', status => 'ACTIVE',
	admin_login => 'crash_fx_one', admin_email => 'one@fixture.example') AS fixture_one \gset
SELECT cmp.create_customer(account_id => :acct, name => 'Fixture Two', status => 'ACTIVE', billable => true,
	external_customer_number => 'FX-2', country => 'DE', city => 'Berlin', street => 'Weg 2', zip_code => '10115',
	admin_login => 'crash_fx_two', admin_email => 'two@fixture.example');
COMMIT;
BEGIN;
SELECT cmp.set_actor(:other_admin);
SELECT cmp.create_customer(account_id => :other, name => 'Other One', status => 'ACTIVE',
	admin_login => 'crash_ot_one', admin_email => 'one@other.example') AS other_one \gset
SELECT cmp.assign_sims(:other_one, (SELECT array_agg(iccid ORDER BY n) FROM crash.iccid WHERE n > :nsims + 80));
SELECT cmp.set_customer_status(:other_one, 'SUSPENDED', reason => 'fixture');
SELECT cmp.set_customer_status(:other_one, 'ACTIVE', reason => 'fixture');
COMMIT;

-- The plan of every stream: one call per step, one transaction per call.
--   kind create: cust (its name), cust_status, billable, ext; admin user login
--   kind assign: SIMs n = lo .. hi to cust, reassign
--   kind status: cust to status (release: release_sims => true)
CREATE TABLE crash.plan (
	stream text, step int, kind text NOT NULL, cust text NOT NULL,
	cust_status text, billable boolean, ext text, login text,
	lo int, hi int, reassign boolean, status text, release boolean,
	PRIMARY KEY (stream, step));
-- A: every SIM of the reseller to Fixture One in one call
INSERT INTO crash.plan (stream, step, kind, cust, lo, hi, reassign)
VALUES ('A', 1, 'assign', 'Fixture One', 1, :nsims, false);
-- B: customers with their admin users; every 4th DRAFT, every 3rd billable,
-- every 2nd with an external number
INSERT INTO crash.plan (stream, step, kind, cust, cust_status, billable, ext, login)
SELECT 'B', i, 'create', 'B-' || i, CASE WHEN i % 4 = 0 THEN 'DRAFT' ELSE 'ACTIVE' END,
       i % 3 = 0, CASE WHEN i % 2 = 0 THEN 'EXT-B-' || i END, 'crash_b_' || i
  FROM generate_series(1, :b_steps) i;
-- C: per i, a customer, its batch of SIMs, the previous customer's batch
-- (every 4th), a suspension (every 3rd), a reactivation (every 6th), a
-- termination releasing its SIMs (every 10th)
INSERT INTO crash.plan (stream, step, kind, cust, cust_status, billable, ext, login, lo, hi, reassign, status, release)
SELECT 'C', row_number() OVER (ORDER BY i, sub), kind, 'C-' || i, cust_status, false, NULL, login, lo, hi, reassign, status, release
  FROM generate_series(1, :c_iterations) i,
       LATERAL (VALUES
		(1, 'create', 'ACTIVE', 'crash_c_' || i, NULL::int, NULL::int, NULL::boolean, NULL, NULL::boolean),
		(2, 'assign', NULL, NULL, (i - 1) * :batch + 1, i * :batch, false, NULL, NULL),
		(3, CASE WHEN i % 4 = 0 THEN 'assign' END, NULL, NULL, (i - 2) * :batch + 1, (i - 1) * :batch, true, NULL, NULL),
		(4, CASE WHEN i % 3 = 0 THEN 'status' END, NULL, NULL, NULL, NULL, NULL, 'SUSPENDED', false),
		(5, CASE WHEN i % 6 = 0 THEN 'status' END, NULL, NULL, NULL, NULL, NULL, 'ACTIVE', false),
		(6, CASE WHEN i % 10 = 0 THEN 'status' END, NULL, NULL, NULL, NULL, NULL, 'TERMINATED', true))
		AS v(sub, kind, cust_status, login, lo, hi, reassign, status, release)
 WHERE kind IS NOT NULL;

-- the psql text of a step; :acct, :admin and :cid_<customer> are psql
-- variables of the stream's session (\gset by its create step)
CREATE FUNCTION crash.cid(cust text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT ':cid_' || regexp_replace(lower(cust), '[^a-z0-9]', '_', 'g')$$;
CREATE FUNCTION crash.script(p crash.plan) RETURNS text LANGUAGE sql STABLE AS $$
SELECT E'BEGIN;\nSELECT cmp.set_actor(:admin);\n'
	|| CASE p.kind
	   WHEN 'create' THEN format(
		'SELECT cmp.create_customer(account_id => :acct, name => %L, status => %L, billable => %L, '
		'external_customer_number => %L, country => ''DE'', city => ''Hamburg'', street => %L, zip_code => ''20095'', '
		'admin_login => %L, admin_email => %L) AS %s \gset',
		p.cust, p.cust_status, p.billable, p.ext, 'Kai ' || p.step, p.login, p.login || '@crash.example',
		substr(crash.cid(p.cust), 2))
	   WHEN 'assign' THEN format(
		'SELECT cmp.assign_sims(%s, (SELECT array_agg(iccid ORDER BY n) FROM crash.iccid WHERE n BETWEEN %s AND %s), reassign => %L);',
		crash.cid(p.cust), p.lo, p.hi, p.reassign)
	   ELSE format('SELECT cmp.set_customer_status(%s, %L, reason => ''crash stream'', release_sims => %L);',
		crash.cid(p.cust), p.status, p.release)
	   END
	-- other work of the application before it commits (RO_CRASH_PAUSE)
	|| E'\nSELECT pg_sleep(:pause);'
	|| format(E'\nCOMMIT;\n\\echo ack %s %s', p.stream, p.step)
$$;

-- where each stream began, what its SIMs were on then, what the client saw
CREATE TABLE crash.mark (stream text PRIMARY KEY, event_id bigint, sim_history_id bigint, status_history_id bigint);
CREATE TABLE crash.owner_before (stream text, n int, iccid text, customer_id bigint, PRIMARY KEY (stream, n));
CREATE TABLE crash.acked (stream text, step int, PRIMARY KEY (stream, step));
CREATE FUNCTION crash.begin_stream(s text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO crash.mark
	SELECT s, (SELECT coalesce(max(event_id), 0) FROM cmp.audit_log),
	       (SELECT coalesce(max(history_id), 0) FROM cmp.sim_assignment_history_data),
	       (SELECT coalesce(max(history_id), 0) FROM cmp.customer_status_history);
	INSERT INTO crash.owner_before
	SELECT s, i.n, i.iccid, sc.customer_id
	  FROM (SELECT DISTINCT g FROM crash.plan p, generate_series(p.lo, p.hi) g
	         WHERE p.stream = s AND p.kind = 'assign') r
	  JOIN crash.iccid i ON i.n = r.g JOIN cmp.sim_card sc ON sc.iccid = i.iccid;
$$;

-- The stream after the crash: which calls committed, and whether the data
-- is exactly what replaying them gives.  Rows (ok, what); ok NULL: a remark.
CREATE FUNCTION crash.verify(s text, OUT ok boolean, OUT what text) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	v_mark crash.mark;
	v_call crash.plan;
	v_acked int;       -- the last call the client saw acknowledged
	v_nacked int;      -- how many it saw
	v_committed int;   -- calls that committed: audit rows since the mark
	v_steps int;
	v_cid bigint;
	v_admin bigint;
	v_bad bigint;
	v_n bigint;
BEGIN
	SELECT * INTO v_mark FROM crash.mark WHERE stream = s;
	SELECT coalesce(max(step), 0), count(*) INTO v_acked, v_nacked FROM crash.acked WHERE stream = s;
	SELECT count(*) INTO v_steps FROM crash.plan WHERE stream = s;
	SELECT user_id INTO v_admin FROM cmp.app_user_data WHERE login = 'crash_admin';
	-- every call of the plan writes exactly one audit row
	SELECT count(*) INTO v_committed FROM cmp.audit_log WHERE event_id > v_mark.event_id;

	ok := v_nacked = v_acked AND v_acked < v_steps;
	what := format('the client had %s of the %s calls acknowledged, in order, when the crash cut it off', v_acked, v_steps);
	RETURN NEXT;
	ok := v_committed IN (v_acked, v_acked + 1);
	what := format('%s calls committed (audit rows since the stream began): the %s acknowledged%s', v_committed, v_acked,
	               CASE WHEN v_committed > v_acked THEN ' and the one in flight' ELSE ', not the one in flight' END);
	RETURN NEXT;
	v_committed := least(v_committed, v_steps);
	IF v_acked < v_steps THEN
		SELECT * INTO v_call FROM crash.plan WHERE stream = s AND step = v_acked + 1;
		ok := NULL;
		what := format('in flight at the crash: call %s (%s %s%s): %s', v_call.step, v_call.kind, v_call.cust,
		               CASE v_call.kind WHEN 'assign' THEN format(', %s SIMs', v_call.hi - v_call.lo + 1)
		                                WHEN 'status' THEN ' to ' || v_call.status ELSE '' END,
		               CASE WHEN v_committed > v_acked THEN 'committed though unacknowledged, wholly there'
		                    ELSE 'not committed, wholly absent' END);
		RETURN NEXT;
	END IF;

	-- the audit rows, call for call
	SELECT count(*) INTO v_bad
	  FROM (SELECT row_number() OVER (ORDER BY event_id)::int AS j, l.*
	          FROM cmp.audit_log l WHERE event_id > v_mark.event_id) l
	  FULL JOIN (SELECT * FROM crash.plan WHERE stream = s AND step <= v_committed) p ON p.step = l.j
	  LEFT JOIN cmp.customer c ON c.name = p.cust
	 WHERE p.step IS NULL OR l.j IS NULL OR c.customer_id IS NULL
	    OR l.operation <> CASE p.kind WHEN 'create' THEN 'create_customer' WHEN 'assign' THEN 'assign_sims'
	                                  ELSE 'set_customer_status' END
	    OR l.customer_id IS DISTINCT FROM c.customer_id OR l.actor_user_id IS DISTINCT FROM v_admin
	    OR (p.kind = 'assign' AND l.new_value->>'assigned' IS DISTINCT FROM (p.hi - p.lo + 1)::text)
	    OR (p.kind = 'status' AND l.new_value->>'status' IS DISTINCT FROM p.status);
	ok := v_bad = 0;
	what := format('one audit row per committed call, each the plan''s call, in order (%s differ)', v_bad);
	RETURN NEXT;

	-- replay the committed calls
	DROP TABLE IF EXISTS pg_temp.exp_cust, pg_temp.exp_owner, pg_temp.exp_move;
	CREATE TEMP TABLE exp_cust (name text PRIMARY KEY, status text, hist text[], login text, billable boolean, ext text);
	CREATE TEMP TABLE exp_owner (n int PRIMARY KEY, iccid text, owner bigint);
	CREATE TEMP TABLE exp_move (iccid text, from_c bigint, to_c bigint);
	INSERT INTO exp_owner SELECT o.n, o.iccid, o.customer_id FROM crash.owner_before o WHERE o.stream = s;
	FOR v_call IN SELECT * FROM crash.plan WHERE stream = s AND step <= v_committed ORDER BY step LOOP
		SELECT customer_id INTO v_cid FROM cmp.customer WHERE name = v_call.cust;
		IF v_call.kind = 'create' THEN
			INSERT INTO exp_cust VALUES (v_call.cust, v_call.cust_status, ARRAY[v_call.cust_status],
			                             v_call.login, v_call.billable, v_call.ext);
		ELSIF v_call.kind = 'assign' THEN
			INSERT INTO exp_move SELECT o.iccid, o.owner, v_cid FROM exp_owner o
			 WHERE o.n BETWEEN v_call.lo AND v_call.hi AND o.owner IS DISTINCT FROM v_cid;
			UPDATE exp_owner o SET owner = v_cid WHERE o.n BETWEEN v_call.lo AND v_call.hi;
		ELSE
			UPDATE exp_cust e SET status = v_call.status, hist = e.hist || v_call.status WHERE e.name = v_call.cust;
			IF v_call.release THEN
				INSERT INTO exp_move SELECT o.iccid, v_cid, NULL FROM exp_owner o WHERE o.owner = v_cid;
				UPDATE exp_owner o SET owner = NULL WHERE o.owner = v_cid;
			END IF;
		END IF;
	END LOOP;

	SELECT count(*) INTO v_bad
	  FROM (SELECT * FROM cmp.customer WHERE name LIKE s || '-%') c
	  FULL JOIN exp_cust e ON e.name = c.name
	 WHERE e.name IS NULL OR c.customer_id IS NULL
	    OR c.account_id <> (SELECT a.account_id FROM cmp.account a WHERE a.account_number = 'CRASH-R')
	    OR c.billable <> e.billable OR c.external_customer_number IS DISTINCT FROM e.ext;
	ok := v_bad = 0;
	what := format('the stream''s customers are exactly the %s its committed calls created (%s differ)',
	               (SELECT count(*) FROM exp_cust), v_bad);
	RETURN NEXT;

	SELECT count(*) INTO v_bad
	  FROM exp_cust e
	  LEFT JOIN cmp.customer c ON c.name = e.name
	  LEFT JOIN cmp.app_user_data u ON u.login = e.login
	 WHERE c.customer_id IS NULL OR u.user_id IS NULL OR c.admin_user_id IS DISTINCT FROM u.user_id
	    OR u.context_level <> 'CUSTOMER' OR NOT u.is_admin OR u.account_id <> c.account_id
	    OR (SELECT array_agg(uc.customer_id) FROM cmp.user_customer uc WHERE uc.user_id = u.user_id)
	       IS DISTINCT FROM ARRAY[c.customer_id];
	SELECT v_bad + count(*) INTO v_bad FROM cmp.app_user_data u
	 WHERE u.login LIKE 'crash\_' || lower(s) || '\_%' AND u.login NOT IN (SELECT e.login FROM exp_cust e);
	ok := v_bad = 0;
	what := format('each has its admin user (CUSTOMER, admin, assigned to it alone); no user of the stream without its customer (%s differ)', v_bad);
	RETURN NEXT;

	SELECT count(*) INTO v_bad
	  FROM exp_cust e
	  LEFT JOIN cmp.customer c ON c.name = e.name
	 WHERE c.status IS DISTINCT FROM e.status
	    OR (SELECT array_agg(h.to_status ORDER BY h.history_id) FROM cmp.customer_status_history h
	         WHERE h.customer_id = c.customer_id) IS DISTINCT FROM e.hist;
	SELECT count(*) INTO v_n FROM cmp.customer_status_history WHERE history_id > v_mark.status_history_id;
	ok := v_bad = 0 AND v_n = (SELECT coalesce(sum(cardinality(e.hist)), 0) FROM exp_cust e);
	what := format('their statuses and status histories are the replay of the committed calls (%s differ; %s history rows since the stream began)', v_bad, v_n);
	RETURN NEXT;

	SELECT count(*), count(*) FILTER (WHERE sc.customer_id IS DISTINCT FROM o.owner) INTO v_n, v_bad
	  FROM exp_owner o LEFT JOIN cmp.sim_card sc ON sc.iccid = o.iccid;
	ok := v_bad = 0;
	what := format('the owners of the stream''s %s SIMs are the replay of the committed calls (%s differ)', v_n, v_bad);
	RETURN NEXT;

	SELECT count(*) INTO v_n FROM exp_move;
	SELECT count(*) INTO v_bad FROM (
		(SELECT h.iccid, h.from_customer_id, h.to_customer_id FROM cmp.sim_assignment_history_data h
		  WHERE h.history_id > v_mark.sim_history_id
		 EXCEPT ALL SELECT x.iccid, x.from_c, x.to_c FROM exp_move x)
		UNION ALL
		(SELECT x.iccid, x.from_c, x.to_c FROM exp_move x
		 EXCEPT ALL SELECT h.iccid, h.from_customer_id, h.to_customer_id FROM cmp.sim_assignment_history_data h
		  WHERE h.history_id > v_mark.sim_history_id)) d;
	ok := v_bad = 0;
	what := format('the SIM history since the stream began is the %s moves of the committed calls (%s differ)', v_n, v_bad);
	RETURN NEXT;
END $$;
\echo fixture :acct :admin :fixture_one
SQL
rc=$?
check "$rc" "fixture: 2 accounts, their admins, $((nsims + 100)) SIMs and 3 customers through the functions ($((SECONDS - t0)) s)"
((rc == 0)) || { sed 's/^/#   /' "$work/fixture.log" | tail -20; finish; }
read -r _ acct admin fixture_one < <(grep '^fixture ' "$work/fixture.log")

# ---- the SPEC §2-§3 invariants, over the whole database ---------------------
invariants() { # invariants LABEL
	local label=$1 what bad rc
	psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -d crash >"$work/inv.$label" 2>&1 <<'SQL'
WITH last_move AS (
	SELECT DISTINCT ON (iccid) iccid, to_customer_id
	  FROM cmp.sim_assignment_history_data ORDER BY iccid, history_id DESC
), moves AS (
	SELECT h.*, lag(to_customer_id) OVER w AS prev
	  FROM cmp.sim_assignment_history_data h WINDOW w AS (PARTITION BY iccid ORDER BY history_id)
), changes AS (
	SELECT h.*, lag(to_status) OVER w AS prev, row_number() OVER w AS rn
	  FROM cmp.customer_status_history h WINDOW w AS (PARTITION BY customer_id ORDER BY history_id)
), audit AS (
	SELECT operation, customer_id, account_id, resource_id, new_value FROM cmp.audit_log
)
SELECT 'every SIM''s customer is a customer of the SIM''s account, and not a TERMINATED one',
       count(*) FROM cmp.sim_card s LEFT JOIN cmp.customer c ON c.customer_id = s.customer_id
 WHERE s.customer_id IS NOT NULL AND (c.customer_id IS NULL OR c.account_id <> s.account_id OR c.status = 'TERMINATED')
UNION ALL
SELECT 'every SIM''s last assignment history row (by history_id) names its current customer; no history, no customer',
       count(*) FROM cmp.sim_card s LEFT JOIN last_move l ON l.iccid = s.iccid
 WHERE l.to_customer_id IS DISTINCT FROM s.customer_id
UNION ALL
SELECT 'each SIM''s assignment history is a chain: the first move from the account, each from where the previous one ended, of the SIM''s account',
       count(*) FROM moves h LEFT JOIN cmp.sim_card s ON s.iccid = h.iccid
 WHERE s.iccid IS NULL OR s.account_id <> h.account_id OR h.from_customer_id IS DISTINCT FROM h.prev
UNION ALL
SELECT 'each customer''s status history is a chain of allowed transitions: from NULL to DRAFT or ACTIVE first, each from the previous to',
       count(*) FROM changes h LEFT JOIN cmp.customer c ON c.customer_id = h.customer_id
 WHERE c.customer_id IS NULL OR c.account_id <> h.account_id OR h.from_status IS DISTINCT FROM h.prev
    OR (h.rn = 1 AND h.to_status NOT IN ('DRAFT', 'ACTIVE'))
    OR (h.rn > 1 AND NOT EXISTS (SELECT 1 FROM cmp.customer_status_transition t
                                  WHERE t.from_status = h.from_status AND t.to_status = h.to_status))
UNION ALL
SELECT 'each customer''s last status history row gives its status',
       count(*) FROM cmp.customer c
  LEFT JOIN LATERAL (SELECT to_status FROM cmp.customer_status_history h
                      WHERE h.customer_id = c.customer_id ORDER BY history_id DESC LIMIT 1) l ON true
 WHERE l.to_status IS DISTINCT FROM c.status
UNION ALL
SELECT 'customer numbers are unique per account, from 1 to at most the account''s last_customer_number',
       (SELECT count(*) FROM (SELECT 1 FROM cmp.customer GROUP BY account_id, customer_number HAVING count(*) > 1) d)
       + (SELECT count(*) FROM cmp.customer c JOIN cmp.account a ON a.account_id = c.account_id
           WHERE c.customer_number < 1 OR c.customer_number > a.last_customer_number)
UNION ALL
SELECT 'every ACTIVE or SUSPENDED customer has an admin user: an admin CUSTOMER user of its account assigned to it',
       count(*) FROM cmp.customer c LEFT JOIN cmp.app_user_data u ON u.user_id = c.admin_user_id
 WHERE c.status IN ('ACTIVE', 'SUSPENDED')
   AND (u.user_id IS NULL OR NOT u.is_admin OR u.context_level <> 'CUSTOMER' OR u.account_id <> c.account_id
        OR NOT EXISTS (SELECT 1 FROM cmp.user_customer uc WHERE uc.user_id = u.user_id AND uc.customer_id = c.customer_id))
UNION ALL
SELECT 'every CUSTOMER user is assigned to a customer, only to customers of its own account',
       count(*) FROM cmp.app_user_data u
 WHERE u.context_level = 'CUSTOMER'
   AND (NOT EXISTS (SELECT 1 FROM cmp.user_customer uc WHERE uc.user_id = u.user_id)
        OR EXISTS (SELECT 1 FROM cmp.user_customer uc JOIN cmp.customer c ON c.customer_id = uc.customer_id
                    WHERE uc.user_id = u.user_id AND c.account_id IS DISTINCT FROM u.account_id))
UNION ALL
SELECT 'one create_customer audit row per customer, none without its customer',
       count(*) FROM cmp.customer c
  FULL JOIN (SELECT resource_id, count(*) AS n FROM audit WHERE operation = 'create_customer' GROUP BY 1) l
    ON l.resource_id = c.customer_id::text
 WHERE c.customer_id IS NULL OR l.n IS DISTINCT FROM 1
UNION ALL
SELECT 'one status history row per create_customer or set_customer_status audit row, customer by customer',
       count(*) FROM (SELECT customer_id, count(*) AS n FROM cmp.customer_status_history GROUP BY 1) h
  FULL JOIN (SELECT customer_id, count(*) AS n FROM audit
              WHERE operation IN ('create_customer', 'set_customer_status') GROUP BY 1) l
    ON l.customer_id = h.customer_id
 WHERE h.n IS DISTINCT FROM l.n
UNION ALL
SELECT 'one SIM history row to a customer per SIM its assign_sims audit rows count, customer by customer',
       count(*) FROM (SELECT to_customer_id AS customer_id, count(*) AS n FROM cmp.sim_assignment_history_data
                       WHERE to_customer_id IS NOT NULL GROUP BY 1) h
  FULL JOIN (SELECT customer_id, sum((new_value->>'assigned')::bigint) AS n FROM audit
              WHERE operation = 'assign_sims' GROUP BY 1) l
    ON l.customer_id = h.customer_id
 WHERE h.n IS DISTINCT FROM l.n
UNION ALL
SELECT 'the SIMs of each account are the ones its provision_sims audit rows count',
       count(*) FROM (SELECT account_id, count(*) AS n FROM cmp.sim_card GROUP BY 1) s
  FULL JOIN (SELECT account_id, sum((new_value->>'count')::bigint) AS n FROM audit
              WHERE operation = 'provision_sims' GROUP BY 1) l
    ON l.account_id = s.account_id
 WHERE s.n IS DISTINCT FROM l.n;
SQL
	rc=$?
	if [[ $rc != 0 ]] || ! grep -q '|' "$work/inv.$label"; then
		check 1 "$label: the invariant queries run"
		sed 's/^/#   /' "$work/inv.$label" | head -10
		return
	fi
	while IFS='|' read -r what bad; do
		if [[ $bad == 0 ]]; then check 0 "$label: $what"; else check 1 "$label: $what ($bad bad)"; fi
	done <"$work/inv.$label"
}

# the SQL script of a stream, and the client running it in the background
stream_start() { # stream_start S
	local s=$1
	q -c "SELECT crash.begin_stream('$s')" >/dev/null || return 1
	psql -X -q -At -d crash -c "SELECT crash.script(p) FROM crash.plan p WHERE stream = '$s' ORDER BY step" \
		>"$work/stream.$s.sql" || return 1
	PGAPPNAME=crash_stream_$s psql -X -q -At -v ON_ERROR_STOP=1 -v acct="$acct" -v admin="$admin" -v pause="$pause" \
		-v cid_fixture_one="$fixture_one" -d crash -f "$work/stream.$s.sql" \
		>"$work/stream.$s.out" 2>"$work/stream.$s.err" &
	stream_pid=$!
}

# the pid of the backend serving the stream, once it is running a call
stream_backend() { # stream_backend S CALL_PATTERN
	local pid i
	for ((i = 0; i < wait_max * 20; i++)); do
		pid=$(val "SELECT pid FROM pg_stat_activity WHERE application_name = 'crash_stream_$1'
		            AND state = 'active' AND query LIKE '%$2%'")
		[[ -n $pid ]] && { echo "$pid"; return 0; }
		kill -0 "$stream_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# after the crash: the client's end, the server back, the log, the stream
recovered() { # recovered S LABEL LOG_LINE_BEFORE PATTERN...
	local s=$1 label=$2 from=$3 i rc ok=0
	shift 3
	for ((i = 0; i < wait_max * 10; i++)); do
		kill -0 "$stream_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$stream_pid" 2>/dev/null # still running: not cut off, which the checks below report
	wait "$stream_pid"
	rc=$?
	stream_pid=
	# what the client saw: the connection lost, and no other error
	local lost=1 other
	local -a gone=(-e 'server closed the connection unexpectedly' -e 'connection to server was lost'
		-e 'terminating connection' -e 'could not send data to server' -e 'no connection to the server')
	grep -q "${gone[@]}" "$work/stream.$s.err" && lost=0
	other=$(grep -v "${gone[@]}" -e 'This probably means' -e 'before or while processing' -e '^[[:space:]]*$' \
		"$work/stream.$s.err")
	check "$([[ $rc != 0 && $lost == 0 && -z $other ]] && echo 0 || echo 1)" \
		"$label: the client lost its connection (psql exit $rc), with no other error"
	[[ -n $other ]] && printf '%s\n' "$other" | head -5 | sed 's/^/#   client: /'
	# the postmaster logs "ready to accept connections" once recovery is done
	for ((i = 0; i < wait_max * 10; i++)); do
		if tail -n +"$((from + 1))" "$pglog" | grep -q 'database system is ready to accept connections' &&
			"$RO_PG_BINDIR/pg_isready" -q && val 'SELECT 1' >/dev/null; then
			ok=1
			break
		fi
		sleep 0.1
	done
	check "$((ok ? 0 : 1))" "$label: the server is back, accepting connections ($((SECONDS - t_crash)) s after the crash)"
	((ok)) || { tail -n 20 "$pglog" | sed 's/^/#   log: /'; finish; }
	local p missing='' shown=''
	for p in "$@" 'database system was not properly shut down; automatic recovery in progress' 'redo done at'; do
		shown+="${shown:+, }\"$p\""
		tail -n +"$((from + 1))" "$pglog" | grep -q -e "$p" || missing+=" [$p]"
	done
	tail -n +"$((from + 1))" "$pglog" | grep -q -e PANIC -e 'was terminated by signal [^9]' && missing+=" [no PANIC, no other signal]"
	check "$([[ -z $missing ]] && echo 0 || echo 1)" "$label: the server log shows the crash and the recovery: $shown${missing:+; missing:$missing}"
	tail -n +"$((from + 1))" "$pglog" | grep -e 'redo done' -e 'terminated by signal' | sed -E 's/^[^]]*\] /#   log: /; s/ system usage.*//'

	grep '^ack ' "$work/stream.$s.out" | awk -v OFS='\t' '{print $2, $3}' >"$work/acked.$s"
	q -c "\\copy crash.acked FROM '$work/acked.$s'" >/dev/null 2>&1 || check 1 "$label: the acknowledged calls load"
	psql -X -q -At -F '|' -d crash -c "SELECT CASE WHEN ok THEN 0 WHEN NOT ok THEN 1 ELSE 2 END, what FROM crash.verify('$s')" \
		>"$work/verify.$s" 2>&1
	grep -q '|' "$work/verify.$s" || { check 1 "$label: the stream check runs"; sed 's/^/#   /' "$work/verify.$s" | head; }
	local state what
	while IFS='|' read -r state what; do
		if [[ $state == 2 ]]; then echo "# $label: $what"; else check "$state" "$label: $what"; fi
	done < <(grep '|' "$work/verify.$s")
	invariants "$label"

	# the extension works on: the next customer number, no collision
	local before after
	before=$(val "SELECT last_customer_number FROM cmp.account WHERE account_id = $acct")
	after=$(psql -X -q -At -v ON_ERROR_STOP=1 -d crash 2>&1 <<SQL
BEGIN;
SELECT cmp.set_actor($admin) \\gset
SELECT cmp.create_customer(account_id => $acct, name => 'After $s', status => 'ACTIVE',
	admin_login => 'crash_after_$s', admin_email => 'after_$s@crash.example') AS new_id \\gset
COMMIT;
SELECT customer_number FROM cmp.customer WHERE customer_id = :new_id;
SQL
	)
	check "$([[ -n $before && $after == "$((before + 1))" ]] && echo 0 || echo 1)" \
		"$label: the extension works on: a new customer gets number $((before + 1)) (got ${after//$'\n'/ })"
}

logpos() { wc -l <"$pglog"; }

# ---- crash A: kill -9 in the middle of assign_sims of every SIM -------------
q -c CHECKPOINT
heap0=$(val "SELECT pg_relation_size('cmp.sim_card')")
hist0=$(val "SELECT pg_relation_size('cmp.sim_assignment_history_data')")
from=$(logpos)
stream_start A || { check 1 "crash A: the stream starts"; finish; }
ta=$SECONDS
pid=$(stream_backend A assign_sims)
if [[ -z $pid ]]; then
	check 1 "crash A: the assign_sims call started"
	sed 's/^/#   /' "$work/stream.A.err"
	finish
fi
# once the call has written half of sim_card's size in new row versions
target=$((heap0 + heap0 * a_grow / 100))
for ((i = 0; i < wait_max * 20; i++)); do
	heap=$(val "SELECT pg_relation_size('cmp.sim_card')")
	[[ -n $heap ]] && ((heap >= target)) && break
	kill -0 "$stream_pid" 2>/dev/null || break
	sleep 0.05
done
hist=$(val "SELECT pg_relation_size('cmp.sim_assignment_history_data')")
still=$(val "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active' AND query LIKE '%assign_sims%'")
kill -9 "$pid"
t_crash=$SECONDS
echo "# crash A: assign_sims of $nsims SIMs, backend $pid killed $((SECONDS - ta)) s into the call, after sim_card grew by $(((heap - heap0) / 1024)) kB and the SIM history by $(((hist - hist0) / 1024)) kB"
check "$([[ $still == 1 ]] && ((heap >= target)) && echo 0 || echo 1)" \
	"crash A: the backend was killed in the middle of the call (still running it, ${a_grow}% of sim_card's size written)"
recovered A "crash A" "$from" 'was terminated by signal 9' 'terminating any other active server processes' \
	'all server processes terminated; reinitializing'
on_fixture=$(val "SELECT count(*) FROM cmp.sim_card WHERE customer_id = $fixture_one")
check "$([[ $on_fixture == 0 ]] && echo 0 || echo 1)" "crash A: no SIM of the killed call is on the customer ($on_fixture)"

# ---- crash B: kill -9 in a stream of create_customer ------------------------
q -c CHECKPOINT
from=$(logpos)
stream_start B || { check 1 "crash B: the stream starts"; finish; }
tb=$SECONDS
pid=$(stream_backend B '')
for ((i = 0; i < wait_max * 20; i++)); do
	n=$(val "SELECT count(*) FROM cmp.customer WHERE name LIKE 'B-%'")
	[[ -n $n ]] && ((n >= b_at)) && break
	kill -0 "$stream_pid" 2>/dev/null || break
	sleep 0.05
done
[[ -n $pid ]] && kill -9 "$pid"
t_crash=$SECONDS
echo "# crash B: backend ${pid:-?} killed $((SECONDS - tb)) s into the stream, with $n customers of the stream visible"
recovered B "crash B" "$from" 'was terminated by signal 9' 'all server processes terminated; reinitializing'
echo "# crash B: $(wc -l <"$work/acked.B") creates acknowledged"

# ---- crash C: immediate shutdown in a stream of creates, moves, statuses ----
q -c CHECKPOINT
from=$(logpos)
stream_start C || { check 1 "crash C: the stream starts"; finish; }
tc=$SECONDS
stream_backend C '' >/dev/null
for ((i = 0; i < wait_max * 20; i++)); do
	n=$(val "SELECT count(*) FROM cmp.customer WHERE name LIKE 'C-%'")
	[[ -n $n ]] && ((n >= c_at)) && break
	kill -0 "$stream_pid" 2>/dev/null || break
	sleep 0.05
done
t_crash=$SECONDS
as_pg "$RO_PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 60 stop >"$work/stop.log" 2>&1
check "$?" "crash C: pg_ctl stop -m immediate $((SECONDS - tc)) s into the stream, with $n customers of the stream visible"
# restart, not start: after a stop, pg_ctl restart starts the server with
# the options of its last start (data/postmaster.opts), as cluster_start set them
as_pg "$RO_PG_BINDIR/pg_ctl" -D "$data" -l "$pglog" -w -t "$wait_max" restart >"$work/restart.log" 2>&1
check "$?" "crash C: the server starts again (pg_ctl restart)"
recovered C "crash C" "$from" 'received immediate shutdown request'
echo "# crash C: $(wc -l <"$work/acked.C") calls acknowledged: $(val "SELECT string_agg(n || ' ' || kind, ', ' ORDER BY kind) FROM (SELECT p.kind, count(*) AS n FROM crash.acked a JOIN crash.plan p USING (stream, step) WHERE stream = 'C' GROUP BY 1) x")"

echo "# totals: $(val "SELECT format('%s SIMs, %s on customers; %s customers; %s users; %s status history rows; %s SIM history rows; %s audit rows',
	(SELECT count(*) FROM cmp.sim_card), (SELECT count(customer_id) FROM cmp.sim_card), (SELECT count(*) FROM cmp.customer),
	(SELECT count(*) FROM cmp.app_user_data), (SELECT count(*) FROM cmp.customer_status_history),
	(SELECT count(*) FROM cmp.sim_assignment_history_data), (SELECT count(*) FROM cmp.audit_log))"); $((SECONDS - t_all)) s in all"
finish

#!/usr/bin/env bash
# test/suites/retry.sh -- SPEC §13 (idempotent creation), the case request
# ids exist for: an application calls create_customer(..., request_id => R)
# through pgbouncer in transaction mode, the server commits, and the
# connection is cut before the reply reaches the application.  It cannot
# know whether the customer exists, so it calls again with the same R on a
# new connection: it must get the same customer id, and nothing may exist
# twice (customer, audit row, event, request row, customer number).
#
#   1. A database of our own: a RESELLER account and its ACCOUNT admin, made
#      through the functions; a login role retry_app_<pid> that may call
#      cmp.set_actor; pgbouncer (pool_mode = transaction) on a unix socket;
#      `npm ci` of examples/node for node-postgres (locked versions).
#   2. The client (node-postgres, a script written by this suite) talks to
#      pgbouncer through a small proxy of its own.  Once its connection is
#      up, the proxy holds back everything the server sends, so the client
#      sends `BEGIN; SELECT cmp.set_actor(u); SELECT cmp.create_customer(...,
#      request_id => R); COMMIT;` as one simple query and hears nothing.  A
#      superuser connection waits until the request's row is committed and
#      the proxy holds the whole reply (COMMIT's CommandComplete and
#      ReadyForQuery), then the proxy cuts the client's connection.  Every
#      other time the server connection pgbouncer used is terminated too
#      (pg_terminate_backend).  A new client retries through pgbouncer.
#      Five times, each with its own request id.
#   3. The first attempt cut before its commit: the superuser locks the
#      account row (FOR UPDATE), the attempt waits on it (its request row
#      written but not committed), and is killed: client cut and backend
#      terminated.  Nothing may be left behind, and the retry creates the
#      customer, once.
#   4. The retry arrives while the cut first attempt still runs: the first
#      attempt waits on the account lock, its client is cut (its backend goes
#      on), the retry is seen blocked by the first attempt's backend (on its
#      request row), then the lock is released: the retry returns the id the
#      first attempt committed.
#   5. The account's customer numbers are 1..7 without a gap.
#
# Run by tools/test.sh (as root, PGHOST = the cluster's unix socket dir);
# prints `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
# Bounded: the client runs under `timeout`, every wait inside it has a
# deadline.  Cleans up: pgbouncer stopped, database and role dropped.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"
# shellcheck source=test/suites/lib/pgbouncer.sh
source "$repo/test/suites/lib/pgbouncer.sh"

db=ro_retry_$$
role=retry_app_$$
client_timeout=${RO_RETRY_TIMEOUT:-120} # seconds for the whole client run

require_node_npm
pgbouncer_require
scratch_workdir ro_retry

# ---- 1. database, pgbouncer, node-postgres -----------------------------------

scratch_db_and_role
psql -X -q -At -v ON_ERROR_STOP=1 -v role="$role" -d "$db" >"$work/setup.log" 2>&1 <<'SQL' || fail "fixture" "$work/setup.log"
SELECT cmp.create_account(account_number => 'RETRY-1', name => 'Retry Reseller', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_user(login => 'retry_admin', email => 'admin@retry.example', context_level => 'ACCOUNT',
	account_id => :acct, is_admin => true) AS actor \gset
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
\echo :acct :actor
SQL
read -r acct actor < <(tail -n1 "$work/setup.log")
[[ $acct =~ ^[0-9]+$ && $actor =~ ^[0-9]+$ ]] || fail "fixture ids" "$work/setup.log"

pgbouncer_start retry 3 "max_client_conn = 50"

scratch_npm_ci "$repo/examples/node" "$work/app"
mkdir "$work/proxy"

# ---- 2-5. the client -----------------------------------------------------------

# Output: `check<TAB>name<TAB>expected<TAB>got` lines, turned into ok/not ok
# here; `note<TAB>text` lines are kept for the report of a failure.
cat >"$work/app/retry.js" <<'JS'
'use strict';
const net = require('net');
const crypto = require('crypto');
const { Client } = require('pg');

const E = process.env;
const ACCOUNT = E.RETRY_ACCOUNT;
const ACTOR = E.RETRY_ACTOR;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clean = (s) => String(s).replace(/[\t\n]/g, ' ');
const check = (name, want, got) => console.log(['check', name, clean(want), clean(got)].join('\t'));
const note = (s) => console.log('note\t' + clean(s));

// ---- the proxy: forwards, or holds back what the server sends -------------
let current = null; // the proxy's latest client connection
const proxyServer = net.createServer((client) => {
  const up = net.connect(`${E.BOUNCER_DIR}/.s.PGSQL.6432`);
  const link = { client, up, hold: false, held: [] };
  current = link;
  client.on('data', (d) => up.write(d));
  up.on('data', (d) => { if (link.hold) link.held.push(d); else client.write(d); });
  client.on('error', () => {});
  up.on('error', () => {});
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
});

// The backend messages in a byte stream: [{type, body}]
function messages(buf) {
  const out = [];
  let i = 0;
  while (i + 5 <= buf.length) {
    const len = buf.readInt32BE(i + 1);
    if (i + 1 + len > buf.length) break;
    out.push({ type: String.fromCharCode(buf[i]), body: buf.subarray(i + 5, i + 1 + len) });
    i += 1 + len;
  }
  return out;
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const su = new Client({ host: E.PGHOST, port: E.PGPORT, user: 'postgres', database: E.RETRY_DB });
const su2 = new Client({ host: E.PGHOST, port: E.PGPORT, user: 'postgres', database: E.RETRY_DB });

function txn(i, rid) {
  return `BEGIN; SELECT cmp.set_actor(${ACTOR}); ` +
    `SELECT cmp.create_customer(account_id => ${ACCOUNT}, name => 'Retry Customer ${i}', ` +
    `external_customer_number => 'RT-${i}', request_id => '${rid}') AS customer_id; COMMIT;`;
}
const idOf = (results) => {
  const r = [].concat(results).find((x) => x.fields && x.fields.some((f) => f.name === 'customer_id'));
  return r ? String(r.rows[0].customer_id) : 'no customer_id in the reply';
};

// The first attempt: through the proxy, whose replies are held back from the
// moment the connection is up.  Returns the link and the query's outcome.
async function firstAttempt(i, rid) {
  const c = new Client({ host: E.PROXY_DIR, port: 6433, user: E.RETRY_ROLE, database: 'retry' });
  c.on('error', () => {});
  await c.connect();
  const link = current;
  link.hold = true;
  const outcome = c.query(txn(i, rid)).then(
    (rs) => `got the reply: customer ${idOf(rs)}`,
    (e) => `no reply (${e.message})`);
  return { link, outcome };
}

// The retry, as an application makes it: a new connection through
// pgbouncer; a connection failure (a server connection that was just
// terminated) is retried, an SQL error is not.
async function retry(i, rid) {
  let last;
  for (let n = 0; n < 5; n++) {
    const c = new Client({ host: E.BOUNCER_DIR, port: 6432, user: E.RETRY_ROLE, database: 'retry' });
    c.on('error', () => {});
    try {
      await c.connect();
      const rs = await c.query(txn(i, rid));
      await c.end();
      return idOf(rs);
    } catch (e) {
      last = e;
      c.end().catch(() => {});
      if (e.code && !/^(08|57P)/.test(e.code)) return `error ${e.code}: ${e.message}`;
      note(`retry ${i}: connection failed (${e.message}), again`);
      await sleep(100);
    }
  }
  return `error: ${last && last.message}`;
}

// What exists for the customer, as the superuser sees it.
async function traces(i, rid) {
  const r = await su.query(
    `SELECT (SELECT count(*) FROM cmp.customer WHERE account_id = $1
               AND (name = $2 OR external_customer_number = $3)) AS customers,
            (SELECT string_agg(customer_id::text, ',') FROM cmp.customer WHERE account_id = $1 AND name = $2) AS id,
            (SELECT count(*) FROM cmp.audit_log a JOIN cmp.customer c ON a.resource_id = c.customer_id::text
              WHERE a.operation = 'create_customer' AND c.name = $2) AS audit,
            (SELECT count(*) FROM cmp.event e JOIN cmp.customer c ON e.resource_id = c.customer_id::text
              WHERE e.event_type = 'customer.created' AND c.name = $2) AS events,
            (SELECT count(*) FROM cmp.request WHERE request_id = $4) AS requests,
            (SELECT string_agg(result::text, ',') FROM cmp.request WHERE request_id = $4) AS result`,
    [ACCOUNT, `Retry Customer ${i}`, `RT-${i}`, rid]);
  return r.rows[0];
}
const summary = (t) => `${t.customers} customer, ${t.audit} audit row, ${t.events} event, ${t.requests} request row`;
const ONCE = '1 customer, 1 audit row, 1 event, 1 request row';

async function backendOf(rid, waiting) {
  const r = await su.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND query LIKE '%' || $1 || '%' AND ($2 = false OR wait_event_type = 'Lock')`, [rid, waiting]);
  return r.rows.map((x) => x.pid);
}
async function terminate(pid) {
  await su.query('SELECT pg_terminate_backend($1)', [pid]);
  await until(`backend ${pid} to exit`, async () =>
    (await su.query('SELECT count(*) = 0 AS gone FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].gone);
}

async function afterCommit(i) {
  const rid = crypto.randomUUID();
  const killServer = i % 2 === 0;
  const name = `cut after commit #${i}${killServer ? ' (server connection terminated too)' : ''}`;
  const { link, outcome } = await firstAttempt(i, rid);
  // the server has committed: the request row is visible to another session
  await until('the request to be committed', async () =>
    (await su.query('SELECT result FROM cmp.request WHERE request_id = $1 AND result IS NOT NULL', [rid])).rowCount === 1);
  // and has sent the whole reply, which the proxy holds
  const held = await until('the reply to reach the proxy', () => {
    const m = messages(Buffer.concat(link.held));
    return m.some((x) => x.type === 'Z') ? m : null;
  });
  const pids = killServer ? await backendOf(rid, false) : [];
  link.client.destroy();
  for (const pid of pids) await terminate(pid);
  const tags = held.filter((x) => x.type === 'C').map((x) => x.body.toString('utf8').replace(/\0$/, ''));
  check(`${name}: the server committed and sent its reply, which never reached the client`,
    'COMMIT sent, no error sent; client: no reply',
    `${tags.includes('COMMIT') ? 'COMMIT sent' : 'no COMMIT in ' + tags.join('|')}, ` +
    `${held.some((x) => x.type === 'E') ? 'an error sent' : 'no error sent'}; client: ${(await outcome).replace(/ \(.*\)$/, '')}`);
  if (killServer) check(`${name}: the server connection that ran it was found and terminated`, 1, pids.length);
  const before = await traces(i, rid);
  const got = await retry(i, rid);
  check(`${name}: the retry with the same request id returns the committed customer id`, before.id, got);
  const again = await retry(i, rid);
  check(`${name}: a second retry returns it too`, before.id, again);
  const after = await traces(i, rid);
  check(`${name}: nothing exists twice`, `${ONCE}, result ${before.id}`, `${summary(after)}, result ${after.result}`);
}

async function beforeCommit(i) {
  const rid = crypto.randomUUID();
  const name = 'killed before commit';
  await su2.query('BEGIN');
  await su2.query('SELECT 1 FROM cmp.account WHERE account_id = $1 FOR UPDATE', [ACCOUNT]);
  const { link, outcome } = await firstAttempt(i, rid);
  const [pid] = await until('the first attempt to wait on the account lock', async () => {
    const p = await backendOf(rid, true);
    return p.length ? p : null;
  });
  link.client.destroy();
  await terminate(pid);
  await su2.query('ROLLBACK');
  check(`${name}: the first attempt got no reply`, 'no reply', (await outcome).replace(/ \(.*\)$/, ''));
  const left = await traces(i, rid);
  check(`${name}: the killed attempt left nothing (no customer, no request row)`, '0 customer, 0 audit row, 0 event, 0 request row', summary(left));
  const got = await retry(i, rid);
  const after = await traces(i, rid);
  check(`${name}: the retry creates the customer and returns its id`, after.id, got);
  check(`${name}: once`, `${ONCE}, result ${after.id}`, `${summary(after)}, result ${after.result}`);
}

async function concurrentRetry(i) {
  const rid = crypto.randomUUID();
  const name = 'retry while the cut first attempt still runs';
  await su2.query('BEGIN');
  await su2.query('SELECT 1 FROM cmp.account WHERE account_id = $1 FOR UPDATE', [ACCOUNT]);
  const { link, outcome } = await firstAttempt(i, rid);
  const [first] = await until('the first attempt to wait on the account lock', async () => {
    const p = await backendOf(rid, true);
    return p.length ? p : null;
  });
  link.client.destroy();
  const pending = retry(i, rid);
  const blocked = await until('the retry to wait for the first attempt', async () => {
    const r = await su.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $2
          AND query LIKE '%' || $1 || '%' AND $2 = ANY (pg_blocking_pids(pid))`, [rid, first]);
    return r.rowCount ? r.rows : null;
  });
  check(`${name}: the retry waits for the first attempt (blocked by its backend, on its request row)`, 1, blocked.length);
  await su2.query('ROLLBACK');
  const got = await pending;
  await until('the first attempt to end', async () =>
    (await su.query('SELECT count(*) = 0 AS gone FROM pg_stat_activity WHERE pid = $1', [first])).rows[0].gone);
  check(`${name}: the first attempt got no reply`, 'no reply', (await outcome).replace(/ \(.*\)$/, ''));
  const after = await traces(i, rid);
  check(`${name}: the retry waited for it and returns the customer id`, after.id, got);
  check(`${name}: once`, `${ONCE}, result ${after.id}`, `${summary(after)}, result ${after.result}`);
}

async function main() {
  await new Promise((r) => proxyServer.listen(`${E.PROXY_DIR}/.s.PGSQL.6433`, r));
  await su.connect();
  await su2.connect();
  for (let i = 1; i <= 5; i++) await afterCommit(i);
  await beforeCommit(6);
  await concurrentRetry(7);
  const r = await su.query(
    `SELECT string_agg(customer_number::text, ',' ORDER BY customer_number) AS numbers,
            (SELECT last_customer_number FROM cmp.account WHERE account_id = $1) AS last,
            (SELECT count(*) FROM cmp.request WHERE result IS NULL) AS unfinished
       FROM cmp.customer WHERE account_id = $1`, [ACCOUNT]);
  check('customer numbers: 1..7 without a gap, and no request row without its result',
    'numbers 1,2,3,4,5,6,7, last 7, 0 unfinished',
    `numbers ${r.rows[0].numbers}, last ${r.rows[0].last}, ${r.rows[0].unfinished} unfinished`);
  await su.end();
  await su2.end();
  proxyServer.close();
  console.log('done');
}

main().then(() => process.exit(0), (e) => { note(`client failed: ${e.stack || e}`); process.exit(1); });
JS

cd "$work/app" || fail "cd"
PGHOST=$PGHOST PGPORT=$PGPORT RETRY_DB=$db RETRY_ROLE=$role RETRY_ACCOUNT=$acct RETRY_ACTOR=$actor \
	BOUNCER_DIR=$work PROXY_DIR=$work/proxy \
	timeout "$client_timeout" node retry.js >"$work/client.log" 2>&1
rc=$?
notes=()
while IFS=$'\t' read -r kind name want got; do
	case $kind in
	check) check_eq "$name" "$want" "$got" ;;
	note) notes+=("$name") ;;
	esac
done <"$work/client.log"
if [[ $rc -eq 0 ]] && grep -qx 'done' "$work/client.log"; then
	ok "the retry client ran to its end (rc 0, within ${client_timeout}s)"
else
	not_ok "the retry client ran to its end (rc $rc)" "${notes[@]}" "$(grep -v -e '^check' -e '^note' -e '^done' "$work/client.log" | tail -20)"
fi
((failed > 0)) && [[ ${#notes[@]} -gt 0 ]] && printf '#   note: %s\n' "${notes[@]}"

finish

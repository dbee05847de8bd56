// test/suites/soak/soak.js -- the clients of test/suites/soak.sh.
//
// SOAK_CLIENTS connections (node-postgres, one pg.Client each): the first
// half through pgbouncer in transaction mode, the other half directly to the
// server, all as the same login role, which may call cmp.set_actor and
// nothing else.  For SOAK_SECONDS each loops over requests of the form
//
//   BEGIN; SELECT cmp.set_actor($1); <one call or read, with parameters>; COMMIT
//
// (unnamed statements), as a CSP user, an ACCOUNT admin, an ACCOUNT user
// without admin rights, a customer admin or a customer user, mostly the
// actor the operation is meant for and sometimes another one.  The
// operations are every changing function of cmp and three reads, aimed at
// the same customers, the same customer users and random subsets of the
// same windows of SIMs as the other clients, so that they collide.
//
// Counted: every outcome per operation and SQLSTATE (err.code), and per
// operation and actor the calls that committed and changed something, which
// are the calls that write one cmp.audit_log row (a call that moves no SIM,
// assigns nobody new or sets the status a user or customer already has
// writes none).  The reads check that no row is outside what the actor may
// see (its account, or its customers).
//
// Input: SOAK_CONFIG (the fixture, JSON, written by soak.sh), SOAK_OUT (a
// directory for effective.tsv), SOAK_CLIENTS, SOAK_SECONDS, SOAK_SEED;
// PGHOST/PGPORT/PGDATABASE (direct) and SOAK_BOUNCER_HOST/_PORT/_DB, PGUSER.
// Output: the table of outcomes as `# ` lines, `ok - ...` / `not ok - ...`
// lines for what the clients alone can tell; soak.sh checks the rest.

'use strict';

const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const cfg = JSON.parse(fs.readFileSync(process.env.SOAK_CONFIG, 'utf8'));
const nClients = Number(process.env.SOAK_CLIENTS || 16);
const seconds = Number(process.env.SOAK_SECONDS || 30);
const seed = Number(process.env.SOAK_SEED || 1);
const outDir = process.env.SOAK_OUT;

// SPEC §8 and the README's table of errors: the only SQLSTATEs a call may
// end with.  Anything else (an internal error, a deadlock, a lost
// connection, a constraint of the tables reached through a function, a
// statement timeout) is a finding.
const DOCUMENTED = new Set(['42501', 'P0002', '22004', '22023', '23505', '55000']);

// ---------------------------------------------------------------------------
// counting
// ---------------------------------------------------------------------------

const outcomes = new Map(); // op -> Map(outcome -> {n, first message})
const effective = new Map(); // `${auditOp}\t${actor}` -> {calls, moved}
const byMode = { pgbouncer: { ok: 0, tx: 0, pids: new Set() }, direct: { ok: 0, tx: 0, pids: new Set() } };
const leaks = [];
let reads = 0;

function outcome(op, key, message) {
  if (!outcomes.has(op)) outcomes.set(op, new Map());
  const m = outcomes.get(op);
  if (!m.has(key)) m.set(key, { n: 0, message });
  m.get(key).n++;
}

function countEffective(auditOp, actor, moved) {
  const k = `${auditOp}\t${actor}`;
  if (!effective.has(k)) effective.set(k, { calls: 0, moved: 0 });
  const e = effective.get(k);
  e.calls++;
  e.moved += moved;
}

// ---------------------------------------------------------------------------
// random choices, one stream per client (SOAK_SEED makes a run's choices
// repeatable; the interleaving is not)
// ---------------------------------------------------------------------------

function rng(s) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    f: next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (xs) => (xs.length ? xs[Math.floor(next() * xs.length)] : undefined),
    subset: (xs, k) => {
      const c = xs.slice();
      for (let i = c.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [c[i], c[j]] = [c[j], c[i]];
      }
      return c.slice(0, Math.max(0, Math.min(k, c.length)));
    },
    weighted: (pairs) => {
      let total = 0;
      for (const [, w] of pairs) total += w;
      let x = next() * total;
      for (const [v, w] of pairs) {
        x -= w;
        if (x < 0) return v;
      }
      return pairs[pairs.length - 1][0];
    },
  };
  return r;
}

// ---------------------------------------------------------------------------
// the world as a client knows it: the fixture, plus customers and customer
// users as last read (every REFRESH requests), plus what it created itself
// ---------------------------------------------------------------------------

const REFRESH = 40;
const accounts = cfg.accounts; // [{key, id, admins, users, lockable, sims, provision}]
const accountIds = accounts.map((a) => a.id);

const WORLD_SQL = `
SELECT json_build_object(
  'customers', (SELECT coalesce(json_agg(json_build_object(
                   'id', c.customer_id, 'account', c.account_id, 'status', c.status) ORDER BY c.customer_id), '[]')
                  FROM cmp.customer c WHERE c.account_id = ANY ($1::bigint[])),
  'users', (SELECT coalesce(json_agg(json_build_object(
               'id', u.user_id, 'account', u.account_id, 'admin', u.is_admin, 'status', u.status,
               'customers', (SELECT coalesce(json_agg(uc.customer_id ORDER BY uc.customer_id), '[]')
                               FROM cmp.user_customer uc WHERE uc.user_id = u.user_id)) ORDER BY u.user_id), '[]')
              FROM cmp.app_user u
             WHERE u.context_level = 'CUSTOMER' AND u.account_id = ANY ($1::bigint[]))) AS w`;

function emptyWorld() {
  const w = {};
  for (const a of accounts) w[a.id] = { customers: [], users: [] };
  return w;
}

function loadWorld(json) {
  const w = emptyWorld();
  for (const c of json.customers) w[c.account].customers.push(c);
  for (const u of json.users) w[u.account].users.push(u);
  return w;
}

// ---------------------------------------------------------------------------
// one request
// ---------------------------------------------------------------------------

// run: BEGIN; set_actor; the statement; COMMIT.  Returns the result or the
// error; counts the outcome under op (or set_actor when the actor itself
// is refused, e.g. LOCKED or deleted meanwhile).
async function request(ctx, op, actor, sql, params) {
  const { client, mode } = ctx;
  byMode[mode].tx++;
  let stage = 'BEGIN';
  try {
    await client.query('BEGIN');
    stage = 'set_actor';
    await client.query('SELECT cmp.set_actor($1)', [actor]);
    stage = op;
    const res = await client.query(sql, params);
    stage = 'COMMIT';
    await client.query('COMMIT');
    outcome(op, 'ok');
    byMode[mode].ok++;
    return { res };
  } catch (err) {
    const code = err.code || `no SQLSTATE (${err.message})`;
    outcome(stage === 'set_actor' ? 'set_actor' : op, code,
      `at ${stage}: ${err.message}${err.detail ? ` -- ${err.detail}` : ''}`);
    try {
      await client.query('ROLLBACK');
    } catch (e) {
      ctx.broken = true;
    }
    if (!err.code) ctx.broken = true;
    return { err };
  }
}

// ---------------------------------------------------------------------------
// the operations
// ---------------------------------------------------------------------------

// Actors.  core: the CSP user and the ACCOUNT users that are never locked;
// lockable users and customer users come and go (set_actor refuses them
// while LOCKED, and P0002 once deleted with their last customer).
function actorOf(r, ctx, kind, acct) {
  const w = ctx.world[acct.id];
  switch (kind) {
    case 'CSP':
      return r.chance(0.9) ? cfg.csp : cfg.csp_lockable;
    case 'ACCOUNT admin':
      return r.pick(acct.admins);
    case 'ACCOUNT user':
      return r.chance(0.8) ? r.pick(acct.users) : r.pick(acct.lockable);
    case 'customer admin': {
      const u = r.pick(w.users.filter((x) => x.admin && x.status === 'ACTIVE'));
      return u ? u.id : r.pick(w.users.map((x) => x.id)) || acct.admins[0];
    }
    default: {
      const u = r.pick(w.users.filter((x) => !x.admin && x.status === 'ACTIVE'));
      return u ? u.id : r.pick(w.users.map((x) => x.id)) || acct.users[0];
    }
  }
}
const KINDS = ['CSP', 'ACCOUNT admin', 'ACCOUNT user', 'customer admin', 'customer user'];

// mostly one of the actors the operation is for, sometimes anyone
function chooseActor(r, ctx, meantFor, acct) {
  const kind = r.chance(0.85) ? r.pick(meantFor) : r.pick(KINDS);
  return { kind, id: actorOf(r, ctx, kind, acct) };
}

function otherAccount(acct) {
  return accounts.find((a) => a.id !== acct.id);
}

// a customer of the account, biased to the given statuses; sometimes one of
// the other account (P0002 for anyone but the system actor)
function customerOf(r, ctx, acct, prefer) {
  if (r.chance(0.04)) {
    const o = ctx.world[otherAccount(acct).id].customers;
    if (o.length) return r.pick(o).id;
  }
  const cs = ctx.world[acct.id].customers;
  const good = prefer ? cs.filter((c) => prefer.includes(c.status)) : cs;
  const c = r.pick(good.length && r.chance(0.85) ? good : cs);
  return c ? c.id : 0;
}

function customersOf(r, ctx, acct, k, prefer) {
  const ids = new Set();
  for (let i = 0; i < k; i++) ids.add(customerOf(r, ctx, acct, prefer));
  return [...ids];
}

// A window of 60 consecutive SIMs of the account, shared by every client,
// and a random subset of it in random order; sometimes a provisioning
// ICCID of the account (there once provisioned, P0002 before) or a SIM of
// the other account (P0002).
function simsOf(r, acct) {
  const start = r.int(Math.max(1, acct.sims.length - 60));
  const win = acct.sims.slice(start, start + 60);
  const out = r.subset(win, 1 + r.int(r.chance(0.2) ? 60 : 25));
  if (r.chance(0.08)) out.push(r.pick(r.pick(acct.provision)));
  if (r.chance(0.03)) out.push(r.pick(otherAccount(acct).sims));
  return out;
}

const NAMES = 60; // customer names per account: create and rename collide (23505)
const customerName = (r, acct) => `Soak ${acct.key} Customer ${r.int(NAMES)}`;
const customerLogin = (r) => `sk.cu.${r.int(6000)}`;

const OPS = [
  // [name, weight, meant for, build(r, ctx, acct) -> {sql, params, effect(res) -> [auditOp, moved] | null}]
  ['create_account', 1, ['CSP'], (r) => {
    const n = r.int(400);
    return r.chance(0.5)
      ? { sql: `SELECT cmp.create_account(account_number => $1, name => $2) AS id`,
          params: [`SK-N-${n}`, `Soak new account ${n}`] }
      : { sql: `SELECT cmp.create_account(account_number => $1, name => $2, account_type => 'RESELLER',
                  customer_invoice_creation => true, customer_invoice_type => $3,
                  customer_billing_cycle_day => $4) AS id`,
          params: [`SK-N-${n}`, `Soak new reseller ${n}`, r.pick(['RAW', 'PDF', 'BOTH']), 1 + r.int(r.chance(0.05) ? 40 : 28)] };
  }],
  ['create_user', 2, ['CSP', 'ACCOUNT admin'], (r, ctx, acct) => {
    const n = r.int(1500);
    const level = r.chance(0.2) ? 'CSP' : 'ACCOUNT';
    const account = level === 'CSP' ? null : (r.chance(0.9) ? acct.id : otherAccount(acct).id);
    return { sql: `SELECT cmp.create_user(login => $1, email => $2, context_level => $3, account_id => $4,
                     is_admin => $5) AS id`,
             params: [`sk.u.${n}`, `u${n}@soak.example`, level, account, r.chance(0.3)] };
  }],
  ['provision_sims', 2, ['CSP'], (r, ctx, acct) => {
    const block = r.pick(acct.provision);
    const iccids = r.chance(0.7) ? block : r.subset(block, 1 + r.int(block.length));
    return { sql: 'SELECT cmp.provision_sims(account_id => $1, iccids => $2::text[]) AS n',
             params: [acct.id, iccids] };
  }],
  ['create_customer', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) => {
    const active = r.chance(0.4);
    const billable = acct.reseller ? r.chance(0.3) : r.chance(0.03);
    const address = billable || r.chance(0.3);
    const login = active || r.chance(0.3) ? customerLogin(r) : null;
    return {
      sql: `SELECT cmp.create_customer(account_id => $1, name => $2, billable => $3, status => $4,
              external_customer_number => $5, country => $6, city => $7, street => $8, zip_code => $9,
              admin_login => $10, admin_email => $11) AS id`,
      params: [r.chance(0.95) ? acct.id : otherAccount(acct).id, customerName(r, acct), billable,
        active ? 'ACTIVE' : 'DRAFT', r.chance(0.3) ? `EXT-${r.int(150)}` : null,
        address ? 'AT' : null, address ? 'Vienna' : null, address ? 'Ring 1' : null,
        address && r.chance(0.95) ? '1010' : null, login, login ? `${login}@soak.example` : null],
      created: (res) => ctx.world[acct.id].customers.push({ id: Number(res.rows[0].id), account: acct.id, status: active ? 'ACTIVE' : 'DRAFT' }),
    };
  }],
  ['update_customer', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) => {
    const changes = r.weighted([
      [{ description: `soak ${r.int(1e6)}` }, 3],
      [{ country: 'AT', city: 'Graz', street: 'Hauptplatz 1', zip_code: '8010' }, 2],
      [{ name: customerName(r, acct) }, 2],
      [{ billable: r.chance(0.5) }, 2],
      [{ phone: r.chance(0.8) ? '+43123456789' : 'not a phone' }, 1],
      [{ external_customer_number: r.chance(0.8) ? `EXT-${r.int(150)}` : null }, 1],
      [{ estimated_annual_revenue: r.int(1e6), revenue_currency: 'EUR' }, 1],
      [{ zip_code: null }, 1],
      [{ no_such_field: 1 }, 0.2],
    ]);
    return { sql: 'SELECT cmp.update_customer(customer_id => $1, changes => $2::jsonb)',
             params: [customerOf(r, ctx, acct, ['DRAFT', 'ACTIVE', 'SUSPENDED']), JSON.stringify(changes)] };
  }],
  ['delete_customer', 2, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) =>
    ({ sql: 'SELECT cmp.delete_customer(customer_id => $1)', params: [customerOf(r, ctx, acct, ['DRAFT'])] })],
  ['set_customer_status', 7, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) => {
    const id = customerOf(r, ctx, acct, ['DRAFT', 'ACTIVE', 'SUSPENDED']);
    const c = ctx.world[acct.id].customers.find((x) => x.id === id);
    const natural = { DRAFT: 'ACTIVE', ACTIVE: 'SUSPENDED', SUSPENDED: 'ACTIVE' }[c && c.status];
    const status = r.chance(0.02) ? 'TERMINATED'
      : r.chance(0.8) && natural ? natural : r.pick(['DRAFT', 'ACTIVE', 'SUSPENDED', 'ACTIVE']);
    return { sql: `SELECT cmp.set_customer_status(customer_id => $1, status => $2, reason => 'soak',
                     release_sims => $3) AS previous`,
             params: [id, status, r.chance(0.5)],
             effect: (res) => (res.rows[0].previous !== status ? ['set_customer_status', 0] : null) };
  }],
  ['create_customer_user', 4, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, ctx, acct, actor) => {
    let ids = customersOf(r, ctx, acct, 1 + r.int(3), ['ACTIVE', 'DRAFT']);
    const me = ctx.world[acct.id].users.find((u) => u.id === actor.id);
    if (me && r.chance(0.9)) ids = r.subset(me.customers, 1 + r.int(2));
    if (!ids.length) ids = [customerOf(r, ctx, acct)];
    const login = customerLogin(r);
    return { sql: `SELECT cmp.create_customer_user(customer_ids => $1::bigint[], login => $2, email => $3,
                     is_admin => $4) AS id`,
             params: [ids, login, `${login}@soak.example`, r.chance(0.3)] };
  }],
  ['assign_user_to_customers', 5, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, ctx, acct, actor) => {
    const w = ctx.world[acct.id];
    let ids = customersOf(r, ctx, acct, 1 + r.int(3), ['ACTIVE', 'DRAFT']);
    const me = w.users.find((u) => u.id === actor.id);
    if (me && r.chance(0.8)) ids = r.subset(me.customers, 1 + r.int(2));
    if (!ids.length) ids = [customerOf(r, ctx, acct)];
    const u = r.pick(w.users);
    return { sql: 'SELECT cmp.assign_user_to_customers(user_id => $1, customer_ids => $2::bigint[]) AS n',
             params: [u ? u.id : acct.users[0], ids],
             effect: (res) => (Number(res.rows[0].n) > 0 ? ['assign_user_to_customers', 0] : null) };
  }],
  ['unassign_user_from_customers', 5, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, ctx, acct) => {
    const u = r.pick(ctx.world[acct.id].users);
    let ids = u && u.customers.length && r.chance(0.85) ? r.subset(u.customers, 1 + r.int(2))
      : customersOf(r, ctx, acct, 1 + r.int(2));
    if (!ids.length) ids = [customerOf(r, ctx, acct)];
    return { sql: 'SELECT cmp.unassign_user_from_customers(user_id => $1, customer_ids => $2::bigint[]) AS n',
             params: [u ? u.id : acct.users[0], ids],
             effect: (res) => (Number(res.rows[0].n) > 0 ? ['unassign_user_from_customers', 0] : null) };
  }],
  ['set_user_status', 4, ['CSP', 'ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, ctx, acct, actor) => {
    // targets: customer users, the account's lockable ACCOUNT user, the
    // lockable CSP user, or the actor itself (55000 for locking oneself)
    const pool = ctx.world[acct.id].users.map((u) => u.id).concat(acct.lockable, [cfg.csp_lockable]);
    const target = r.chance(0.03) ? actor.id : r.pick(pool);
    const status = r.chance(0.55) ? 'ACTIVE' : 'LOCKED';
    return { sql: 'SELECT cmp.set_user_status(user_id => $1, status => $2) AS previous',
             params: [target, status],
             effect: (res) => (res.rows[0].previous !== status ? ['set_user_status', 0] : null) };
  }],
  ['assign_sims', 8, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) =>
    ({ sql: 'SELECT cmp.assign_sims(customer_id => $1, iccids => $2::text[]) AS n',
       params: [customerOf(r, ctx, acct, ['ACTIVE', 'DRAFT']), simsOf(r, acct)],
       effect: (res) => (Number(res.rows[0].n) > 0 ? ['assign_sims', Number(res.rows[0].n)] : null) })],
  ['assign_sims reassign', 6, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) =>
    ({ sql: 'SELECT cmp.assign_sims(customer_id => $1, iccids => $2::text[], reassign => true) AS n',
       params: [customerOf(r, ctx, acct, ['ACTIVE', 'DRAFT']), simsOf(r, acct)],
       effect: (res) => (Number(res.rows[0].n) > 0 ? ['assign_sims', Number(res.rows[0].n)] : null) })],
  ['unassign_sims', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, ctx, acct) =>
    ({ sql: 'SELECT cmp.unassign_sims(iccids => $1::text[]) AS n',
       params: [simsOf(r, acct)],
       effect: (res) => (Number(res.rows[0].n) > 0 ? ['unassign_sims', Number(res.rows[0].n)] : null) })],
  // reads: each row checked against what the actor may see, in the same
  // statement as cmp.whoami(), so both use one resolution of the actor
  ['read sim_grid page', 8, KINDS, (r, ctx, acct) =>
    ({ sql: `SELECT w.context_level AS level, w.account_id AS my_account, w.customer_ids AS my_customers,
                    g.iccid, g.account_id, g.account_number, g.customer_id
               FROM cmp.whoami() w
               LEFT JOIN LATERAL (SELECT * FROM cmp.sim_grid WHERE iccid > $1 ORDER BY iccid LIMIT 50) g ON true`,
       params: [r.chance(0.2) ? '' : r.pick(acct.sims)], read: 'grid' })],
  ['read customer_overview', 4, KINDS, () =>
    ({ sql: `SELECT w.context_level AS level, w.account_id AS my_account, w.customer_ids AS my_customers,
                    o.customer_id, o.account_id, o.status, o.sim_count, o.user_count
               FROM cmp.whoami() w
               LEFT JOIN LATERAL (SELECT * FROM cmp.customer_overview ORDER BY customer_id) o ON true`,
       params: [], read: 'overview' })],
  ['read counts', 3, KINDS, () =>
    ({ sql: `SELECT pg_backend_pid() AS pid,
                    (SELECT count(*) FROM cmp.sim_grid) AS sims,
                    (SELECT count(*) FROM cmp.customer) AS customers,
                    (SELECT count(*) FROM cmp.app_user) AS users,
                    (SELECT count(*) FROM cmp.sim_assignment_history) AS moves,
                    (SELECT count(*) FROM cmp.audit_log) AS audit`,
       params: [], read: 'counts' })],
];

// a read's rows against the actor's scope (SPEC §5)
function checkRead(op, actor, rows, key) {
  reads++;
  for (const row of rows) {
    if (row[key] === null) continue; // the actor saw nothing: whoami() left-joined to no row
    const mine = (row.my_customers || []).map(Number);
    let bad = null;
    if (row.level === 'ACCOUNT' && String(row.account_id) !== String(row.my_account)) bad = 'another account';
    if (row.level === 'CUSTOMER') {
      if (!mine.includes(Number(row.customer_id))) bad = 'a customer not its own';
      if (row.account_number !== undefined && row.account_number !== null) bad = 'the account number';
      if (row.status !== undefined && !['ACTIVE', 'SUSPENDED'].includes(row.status)) bad = `a ${row.status} customer`;
    }
    if (row.level === null || row.level === undefined) bad = 'rows with no actor';
    if (bad && leaks.length < 1000) leaks.push(`${op} as user ${actor}: ${bad}: ${JSON.stringify(row)}`);
  }
}

// ---------------------------------------------------------------------------
// the clients
// ---------------------------------------------------------------------------

function connectionFor(mode) {
  return mode === 'pgbouncer'
    ? { host: process.env.SOAK_BOUNCER_HOST, port: Number(process.env.SOAK_BOUNCER_PORT),
        database: process.env.SOAK_BOUNCER_DB, user: process.env.PGUSER }
    : { host: process.env.PGHOST, port: Number(process.env.PGPORT),
        database: process.env.PGDATABASE, user: process.env.PGUSER };
}

async function connect(ctx) {
  ctx.client = new Client(connectionFor(ctx.mode));
  ctx.client.on('error', (err) => { ctx.broken = true; outcome('connection', err.code || `no SQLSTATE (${err.message})`, err.message); });
  await ctx.client.connect();
  ctx.broken = false;
}

async function refresh(ctx) {
  const { res } = await request(ctx, 'read world (CSP)', cfg.csp, WORLD_SQL, [accountIds]);
  if (res) ctx.world = loadWorld(res.rows[0].w);
}

async function worker(i, deadline) {
  const r = rng(seed * 1000 + i);
  const ctx = { mode: i < Math.ceil(nClients / 2) ? 'pgbouncer' : 'direct', world: emptyWorld() };
  try {
    await connect(ctx);
  } catch (err) {
    outcome('connection', err.code || `no SQLSTATE (${err.message})`, err.message);
    return;
  }
  const ops = OPS.map((o) => [o, o[1]]);
  let n = 0;
  while (Date.now() < deadline) {
    if (ctx.broken) {
      try { await ctx.client.end(); } catch (e) { /* gone */ }
      try { await connect(ctx); } catch (err) {
        outcome('connection', err.code || `no SQLSTATE (${err.message})`, err.message);
        return;
      }
    }
    if (n++ % REFRESH === 0) {
      await refresh(ctx);
      continue;
    }
    const acct = r.chance(0.65) ? accounts[0] : accounts[1];
    const [name, , meantFor, build] = r.weighted(ops);
    const actor = chooseActor(r, ctx, meantFor, acct);
    const step = build(r, ctx, acct, actor);
    const { res } = await request(ctx, name, actor.id, step.sql, step.params);
    if (!res) continue;
    if (step.read) {
      if (step.read === 'counts') byMode[ctx.mode].pids.add(res.rows[0].pid);
      else checkRead(name, actor.id, res.rows, step.read === 'grid' ? 'iccid' : 'customer_id');
      continue;
    }
    // creations always write their row; the others only when they changed something
    const eff = step.effect ? step.effect(res) : [name, 0];
    if (eff) countEffective(eff[0], actor.id, eff[1]);
    if (step.created) step.created(res);
  }
  try { await ctx.client.end(); } catch (e) { /* gone */ }
}

// ---------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
function check(ok, what, info = []) {
  if (ok) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}`);
    for (const line of info) console.log(`#   ${line}`);
  }
}

async function main() {
  const t0 = Date.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: nClients }, (_, i) => worker(i, deadline)));
  const elapsed = (Date.now() - t0) / 1000;

  // the table: per operation, successes, effective calls and errors by SQLSTATE
  const effByOp = new Map();
  for (const [k, e] of effective) {
    const op = k.split('\t')[0];
    effByOp.set(op, (effByOp.get(op) || 0) + e.calls);
  }
  const order = ['set_actor', 'read world (CSP)', ...OPS.map((o) => o[0]), 'connection'];
  let total = 0;
  let totalOk = 0;
  const undocumented = [];
  console.log(`# ${nClients} clients (${Math.ceil(nClients / 2)} through pgbouncer, ${Math.floor(nClients / 2)} direct), ${elapsed.toFixed(1)} s, seed ${seed}`);
  console.log(`# ${'operation'.padEnd(30)} ${'calls'.padStart(6)} ${'ok'.padStart(6)}  errors by SQLSTATE`);
  for (const op of order) {
    const m = outcomes.get(op);
    if (!m) continue;
    let calls = 0;
    const errs = [];
    for (const [key, v] of [...m.entries()].sort()) {
      calls += v.n;
      if (key !== 'ok') {
        errs.push(`${key}:${v.n}`);
        if (!DOCUMENTED.has(key)) undocumented.push(`${op}: ${key} x${v.n}: ${v.message}`);
      }
    }
    const ok = m.has('ok') ? m.get('ok').n : 0;
    total += calls;
    totalOk += ok;
    console.log(`# ${op.padEnd(30)} ${String(calls).padStart(6)} ${String(ok).padStart(6)}  ${errs.join(' ') || '-'}`);
  }
  console.log('# effective calls (one audit row each) per audit operation:');
  for (const [op, n] of [...effByOp.entries()].sort()) console.log(`#   ${op.padEnd(30)} ${n}`);
  for (const mode of ['pgbouncer', 'direct']) {
    console.log(`# ${mode}: ${byMode[mode].tx} transactions, ${byMode[mode].ok} committed, server backends seen by the count reads: ${byMode[mode].pids.size}`);
  }

  // what the clients alone can tell
  check(undocumented.length === 0,
    `every error is a documented refusal (${[...DOCUMENTED].join(', ')}): ${total - totalOk} errors in ${total} requests`,
    undocumented.slice(0, 20));
  check(leaks.length === 0, `no read showed a row the actor may not see (${reads} reads)`, leaks.slice(0, 10));
  const changing = [...new Set(OPS.filter((o) => !o[0].startsWith('read')).map((o) => o[0]))];
  const never = changing.filter((op) => {
    const m = outcomes.get(op);
    return !(m && m.has('ok'));
  });
  check(never.length === 0, `every changing function succeeded at least once (${changing.length} kinds of call)`,
    [`never succeeded: ${never.join(', ')}`]);
  const minOk = Math.max(100, Math.round(1000 * seconds / 30));
  check(totalOk >= minOk, `${totalOk} successful requests in ${elapsed.toFixed(0)} s (at least ${minOk})`);
  const pb = byMode.pgbouncer.ok;
  const di = byMode.direct.ok;
  check(pb >= totalOk / 10 && di >= totalOk / 10,
    `both kinds of client did work: ${pb} successful through pgbouncer, ${di} direct`);
  const poolSize = Number(process.env.SOAK_POOL_SIZE || 4);
  check(byMode.pgbouncer.pids.size >= 1 && byMode.pgbouncer.pids.size <= poolSize
        && byMode.direct.pids.size === Math.floor(nClients / 2),
  `the pgbouncer clients shared ${byMode.pgbouncer.pids.size} server connections (pool_size ${poolSize}), the direct ones had ${byMode.direct.pids.size} of their own`);

  const lines = [];
  for (const [k, e] of effective) lines.push(`${k}\t${e.calls}\t${e.moved}\n`);
  fs.writeFileSync(path.join(outDir, 'effective.tsv'), lines.join(''));
  console.log(`# client checks: ${passed} passed, ${failed} failed`);
}

main().then(() => { process.exitCode = 0; }, (err) => {
  console.log(`not ok - the clients ran to the end\n#   ${err.code || ''} ${err.stack}`);
  process.exitCode = 1;
});

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
// without admin rights, a customer admin or a customer user: mostly an
// actor the operation is meant for, sometimes any other.  The operations
// are every changing function of cmp and three reads, aimed at what the
// clients share: one picture of the customers and customer users (read
// again every REFRESH_MS, updated by every call that succeeds), random
// subsets of the same windows of SIMs, the same customer names and logins,
// and the newest DRAFT customers, which some delete while others give
// their users other customers or take those away.
//
// Counted: every outcome per operation and SQLSTATE (err.code), and per
// operation and actor the calls that committed and changed something, which
// are the calls that write one cmp.audit_log row (a call that moves no SIM,
// assigns or unassigns nobody, or sets the status a user or customer
// already has writes none).  The reads check that no row is outside what
// the actor may see (its account, or its customers).  A monitor checks the
// cheap invariants as superuser once a second.
//
// Input: SOAK_CONFIG (the fixture, JSON, written by soak.sh), SOAK_OUT (a
// directory for effective.tsv: audit operation, actor, calls, SIMs moved),
// SOAK_CLIENTS, SOAK_SECONDS, SOAK_SEED, SOAK_POOL_SIZE; PGHOST, PGPORT,
// PGDATABASE (direct), SOAK_BOUNCER_HOST/_PORT/_DB (pgbouncer), PGUSER (the
// application role), SOAK_MONITOR_USER (a superuser).
// Output: the table of outcomes as `# ` lines and `ok - ...` / `not ok - ...`
// lines for what the clients can tell; soak.sh checks the rest.

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
let t0 = 0;

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
// the world as the clients know it, shared by all of them: customers and
// customer users as last read (at most REFRESH_MS old), with what the
// clients' own calls did since.  A guess, not the truth: other calls may
// have changed it meanwhile, which is what makes the calls collide.
// ---------------------------------------------------------------------------

const REFRESH_MS = 300;
const accounts = cfg.accounts; // [{key, id, reseller, admins, users, lockable, sims, provision}]
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

let world = emptyWorld();
let worldAt = 0;

function loadWorld(json) {
  const w = emptyWorld();
  for (const c of json.customers) w[c.account].customers.push(c);
  for (const u of json.users) w[u.account].users.push(u);
  world = w;
  worldAt = Date.now();
}

const customersIn = (acct) => world[acct.id].customers;
const usersIn = (acct) => world[acct.id].users;
const findCustomer = (id) => {
  for (const a of accounts) {
    const c = world[a.id].customers.find((x) => x.id === Number(id));
    if (c) return c;
  }
  return undefined;
};
const findUser = (id) => {
  for (const a of accounts) {
    const u = world[a.id].users.find((x) => x.id === Number(id));
    if (u) return u;
  }
  return undefined;
};
// the newest DRAFT customers of the account: deletes, customer users and
// their assignments meet there
const hot = (acct) => customersIn(acct).filter((c) => c.status === 'DRAFT').slice(-4);

// ---------------------------------------------------------------------------
// one request
// ---------------------------------------------------------------------------

// BEGIN; set_actor; the statement; COMMIT.  Returns the result or the
// error; counts the outcome under op (under set_actor when the actor itself
// is refused, LOCKED or deleted meanwhile).
async function request(ctx, op, actor, sql, params) {
  const { client, mode } = ctx;
  byMode[mode].tx++;
  let stage = 'BEGIN';
  try {
    await client.query('BEGIN');
    stage = 'set_actor';
    await client.query('SELECT cmp.set_actor($1)', [actor]);
    outcome('set_actor', 'ok');
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

// Actors.  The CSP user, the ACCOUNT admins and one ACCOUNT user per
// account are never locked (nothing targets them); the lockable CSP and
// ACCOUNT users and the customer users come and go (set_actor refuses them
// while LOCKED, and with P0002 once deleted with their last customer).
function actorOf(r, kind, acct) {
  const us = usersIn(acct);
  switch (kind) {
    case 'CSP':
      return r.chance(0.9) ? cfg.csp : cfg.csp_lockable;
    case 'ACCOUNT admin':
      return r.pick(acct.admins);
    case 'ACCOUNT user':
      return r.chance(0.8) ? r.pick(acct.users) : r.pick(acct.lockable);
    case 'customer admin': {
      const u = r.pick(us.filter((x) => x.admin && x.status === 'ACTIVE'));
      return u ? u.id : r.pick(us.map((x) => x.id)) || acct.admins[0];
    }
    default: {
      const u = r.pick(us.filter((x) => !x.admin && x.status === 'ACTIVE'));
      return u ? u.id : r.pick(us.map((x) => x.id)) || acct.users[0];
    }
  }
}
const KINDS = ['CSP', 'ACCOUNT admin', 'ACCOUNT user', 'customer admin', 'customer user'];

// mostly one of the actors the operation is for, sometimes anyone
function chooseActor(r, meantFor, acct) {
  const kind = r.chance(0.85) ? r.pick(meantFor) : r.pick(KINDS);
  return { kind, id: actorOf(r, kind, acct) };
}

const otherAccount = (acct) => accounts.find((a) => a.id !== acct.id);

// a customer of the account, mostly of the preferred statuses; sometimes
// one of the other account (P0002 for anyone but the system actor)
function customerOf(r, acct, prefer) {
  if (r.chance(0.04)) {
    const o = customersIn(otherAccount(acct));
    if (o.length) return r.pick(o).id;
  }
  const cs = customersIn(acct);
  const good = prefer ? cs.filter((c) => prefer.includes(c.status)) : cs;
  const c = r.pick(good.length && r.chance(0.9) ? good : cs);
  return c ? c.id : 0;
}

function customersOf(r, acct, k, prefer) {
  const ids = new Set();
  for (let i = 0; i < k; i++) ids.add(customerOf(r, acct, prefer));
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

const NAMES = 250; // customer names per account: create and rename collide (23505)
const customerName = (r, acct) => `Soak ${acct.key} Customer ${r.int(NAMES)}`;
const customerLogin = (r) => `sk.cu.${r.int(8000)}`;
const moved = (res) => Number(res.rows[0].n);

// name, weight, the actors it is meant for, and build(r, acct, actor) ->
// { sql, params, effect(res) -> [audit operation, SIMs moved] or null when
// the call changed nothing (default: [name, 0]), after(res): what the
// clients learn from it, read: the kind of read }
const OPS = [
  ['create_account', 1, ['CSP'], (r) => {
    const n = r.int(400);
    return r.chance(0.5)
      ? { sql: 'SELECT cmp.create_account(account_number => $1, name => $2) AS id',
          params: [`SK-N-${n}`, `Soak new account ${n}`] }
      : { sql: `SELECT cmp.create_account(account_number => $1, name => $2, account_type => 'RESELLER',
                  customer_invoice_creation => true, customer_invoice_type => $3,
                  customer_billing_cycle_day => $4) AS id`,
          params: [`SK-N-${n}`, `Soak new reseller ${n}`, r.pick(['RAW', 'PDF', 'BOTH']),
            1 + r.int(r.chance(0.05) ? 40 : 28)] };
  }],
  ['create_user', 2, ['CSP', 'ACCOUNT admin'], (r, acct) => {
    const n = r.int(1500);
    const level = r.chance(0.2) ? 'CSP' : 'ACCOUNT';
    const account = level === 'CSP' ? null : (r.chance(0.9) ? acct.id : otherAccount(acct).id);
    return { sql: `SELECT cmp.create_user(login => $1, email => $2, context_level => $3, account_id => $4,
                     is_admin => $5) AS id`,
             params: [`sk.u.${n}`, `u${n}@soak.example`, level, account, r.chance(0.3)] };
  }],
  ['provision_sims', 2, ['CSP'], (r, acct) => {
    const block = r.pick(acct.provision);
    const iccids = r.chance(0.7) ? block : r.subset(block, 1 + r.int(block.length));
    return { sql: 'SELECT cmp.provision_sims(account_id => $1, iccids => $2::text[]) AS n',
             params: [acct.id, iccids] };
  }],
  ['create_customer', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) => {
    const active = r.chance(0.3);
    const billable = acct.reseller ? r.chance(0.3) : r.chance(0.03);
    const address = billable || r.chance(0.3);
    const login = active || r.chance(0.3) ? customerLogin(r) : null;
    return {
      sql: `SELECT cmp.create_customer(account_id => $1, name => $2, billable => $3, status => $4,
              external_customer_number => $5, country => $6, city => $7, street => $8, zip_code => $9,
              admin_login => $10, admin_email => $11) AS id`,
      params: [r.chance(0.95) ? acct.id : otherAccount(acct).id, customerName(r, acct), billable,
        active ? 'ACTIVE' : 'DRAFT', r.chance(0.3) ? `EXT-${r.int(300)}` : null,
        address ? 'AT' : null, address ? 'Vienna' : null, address ? 'Ring 1' : null,
        address && r.chance(0.95) ? '1010' : null, login, login ? `${login}@soak.example` : null],
      after: (res) => customersIn(acct).push({ id: Number(res.rows[0].id), account: acct.id, status: active ? 'ACTIVE' : 'DRAFT' }),
    };
  }],
  ['update_customer', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) => {
    const changes = r.weighted([
      [{ description: `soak ${r.int(1e6)}` }, 3],
      [{ country: 'AT', city: 'Graz', street: 'Hauptplatz 1', zip_code: '8010' }, 2],
      [{ name: customerName(r, acct) }, 2],
      [{ billable: r.chance(0.5) }, 2],
      [{ phone: r.chance(0.8) ? '+43123456789' : 'not a phone' }, 1],
      [{ external_customer_number: r.chance(0.8) ? `EXT-${r.int(300)}` : null }, 1],
      [{ estimated_annual_revenue: r.int(1e6), revenue_currency: 'EUR' }, 1],
      [{ zip_code: null }, 1],
      [{ no_such_field: 1 }, 0.2],
    ]);
    return { sql: 'SELECT cmp.update_customer(customer_id => $1, changes => $2::jsonb)',
             params: [customerOf(r, acct, ['DRAFT', 'ACTIVE', 'SUSPENDED']), JSON.stringify(changes)] };
  }],
  ['delete_customer', 3, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) => {
    const h = hot(acct);
    const id = h.length && r.chance(0.7) ? r.pick(h).id : customerOf(r, acct, ['DRAFT']);
    return { sql: 'SELECT cmp.delete_customer(customer_id => $1)', params: [id],
             after: () => {
               const w = world[acct.id];
               w.customers = w.customers.filter((c) => c.id !== id);
               for (const u of w.users) u.customers = u.customers.filter((c) => c !== id);
               w.users = w.users.filter((u) => u.customers.length);
             } };
  }],
  ['set_customer_status', 7, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) => {
    const id = customerOf(r, acct, ['DRAFT', 'ACTIVE', 'SUSPENDED']);
    const c = findCustomer(id);
    // mostly a transition that exists (DRAFT customers stay DRAFT for a
    // while, to be deleted); sometimes one that does not (55000) or the
    // current status again (a no-op); rarely TERMINATED
    const natural = { DRAFT: r.chance(0.3) ? 'ACTIVE' : 'DRAFT', ACTIVE: 'SUSPENDED', SUSPENDED: 'ACTIVE' }[c && c.status];
    const status = r.chance(0.02) ? 'TERMINATED'
      : r.chance(0.8) && natural ? natural : r.pick(['DRAFT', 'ACTIVE', 'SUSPENDED', 'ACTIVE']);
    return { sql: `SELECT cmp.set_customer_status(customer_id => $1, status => $2, reason => 'soak',
                     release_sims => $3) AS previous`,
             params: [id, status, r.chance(0.5)],
             effect: (res) => (res.rows[0].previous !== status ? ['set_customer_status', 0] : null),
             after: () => { if (c) c.status = status; } };
  }],
  ['create_customer_user', 4, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, acct, actor) => {
    let ids = customersOf(r, acct, 1 + r.int(3), ['ACTIVE', 'DRAFT']);
    const me = findUser(actor.id);
    const h = hot(acct);
    if (me && r.chance(0.9)) ids = r.subset(me.customers, 1 + r.int(2));
    else if (h.length && r.chance(0.3)) ids = [r.pick(h).id];
    if (!ids.length) ids = [customerOf(r, acct)];
    const login = customerLogin(r);
    const admin = r.chance(0.3);
    return { sql: `SELECT cmp.create_customer_user(customer_ids => $1::bigint[], login => $2, email => $3,
                     is_admin => $4) AS id`,
             params: [ids, login, `${login}@soak.example`, admin],
             after: (res) => usersIn(acct).push({ id: Number(res.rows[0].id), account: acct.id, admin,
               status: 'ACTIVE', customers: ids.slice() }) };
  }],
  ['assign_user_to_customers', 5, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, acct, actor) => {
    let ids = customersOf(r, acct, 1 + r.int(3), ['ACTIVE', 'DRAFT']);
    const me = findUser(actor.id);
    if (me && r.chance(0.8)) ids = r.subset(me.customers, 1 + r.int(2));
    if (!ids.length) ids = [customerOf(r, acct)];
    // often a user of one of the newest DRAFT customers, which may be
    // deleted at the same time
    const hotIds = hot(acct).map((c) => c.id);
    const onHot = usersIn(acct).filter((u) => u.customers.some((c) => hotIds.includes(c)));
    const u = onHot.length && r.chance(0.4) ? r.pick(onHot) : r.pick(usersIn(acct));
    return { sql: 'SELECT cmp.assign_user_to_customers(user_id => $1, customer_ids => $2::bigint[]) AS n',
             params: [u ? u.id : acct.users[0], ids],
             effect: (res) => (moved(res) > 0 ? ['assign_user_to_customers', 0] : null),
             after: () => { if (u) u.customers = [...new Set(u.customers.concat(ids))]; } };
  }],
  ['unassign_user_from_customers', 5, ['ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, acct) => {
    // often a user of one of the newest DRAFT customers, from its others
    const hotIds = hot(acct).map((c) => c.id);
    const onHot = usersIn(acct).filter((u) => u.customers.length > 1 && u.customers.some((c) => hotIds.includes(c)));
    let u;
    let ids;
    if (onHot.length && r.chance(0.4)) {
      u = r.pick(onHot);
      ids = u.customers.filter((c) => !hotIds.includes(c));
    } else {
      u = r.pick(usersIn(acct));
      ids = u && u.customers.length && r.chance(0.85) ? r.subset(u.customers, 1 + r.int(2))
        : customersOf(r, acct, 1 + r.int(2));
    }
    if (!ids.length) ids = [customerOf(r, acct)];
    return { sql: 'SELECT cmp.unassign_user_from_customers(user_id => $1, customer_ids => $2::bigint[]) AS n',
             params: [u ? u.id : acct.users[0], ids],
             effect: (res) => (moved(res) > 0 ? ['unassign_user_from_customers', 0] : null),
             after: () => { if (u) u.customers = u.customers.filter((c) => !ids.includes(c)); } };
  }],
  ['set_user_status', 4, ['CSP', 'ACCOUNT admin', 'ACCOUNT user', 'customer admin'], (r, acct, actor) => {
    // targets: customer users, the account's lockable ACCOUNT user, the
    // lockable CSP user, or the actor itself (55000 for locking oneself)
    const pool = usersIn(acct).map((u) => u.id).concat(acct.lockable, [cfg.csp_lockable]);
    const target = r.chance(0.03) ? actor.id : r.pick(pool);
    const status = r.chance(0.6) ? 'ACTIVE' : 'LOCKED';
    return { sql: 'SELECT cmp.set_user_status(user_id => $1, status => $2) AS previous',
             params: [target, status],
             effect: (res) => (res.rows[0].previous !== status ? ['set_user_status', 0] : null),
             after: () => { const u = findUser(target); if (u) u.status = status; } };
  }],
  // SIMs go to ACTIVE customers mostly, so that DRAFT ones stay deletable
  ['assign_sims', 8, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) =>
    ({ sql: 'SELECT cmp.assign_sims(customer_id => $1, iccids => $2::text[]) AS n',
       params: [customerOf(r, acct, r.chance(0.9) ? ['ACTIVE'] : ['DRAFT']), simsOf(r, acct)],
       effect: (res) => (moved(res) > 0 ? ['assign_sims', moved(res)] : null) })],
  ['assign_sims reassign', 6, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) =>
    ({ sql: 'SELECT cmp.assign_sims(customer_id => $1, iccids => $2::text[], reassign => true) AS n',
       params: [customerOf(r, acct, r.chance(0.9) ? ['ACTIVE'] : ['DRAFT']), simsOf(r, acct)],
       effect: (res) => (moved(res) > 0 ? ['assign_sims', moved(res)] : null) })],
  ['unassign_sims', 5, ['ACCOUNT admin', 'ACCOUNT user'], (r, acct) =>
    ({ sql: 'SELECT cmp.unassign_sims(iccids => $1::text[]) AS n',
       params: [simsOf(r, acct)],
       effect: (res) => (moved(res) > 0 ? ['unassign_sims', moved(res)] : null) })],
  // reads: each row checked against what the actor may see, in the same
  // statement as cmp.whoami(), so that both use one resolution of the actor
  ['read sim_grid page', 8, KINDS, (r, acct) =>
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
  worldAt = Date.now(); // one client at a time refreshes
  const { res } = await request(ctx, 'read world (CSP)', cfg.csp, WORLD_SQL, [accountIds]);
  if (res) loadWorld(res.rows[0].w);
}

async function worker(i, deadline) {
  const r = rng(seed * 1000 + i);
  const ctx = { mode: i < Math.ceil(nClients / 2) ? 'pgbouncer' : 'direct' };
  try {
    await connect(ctx);
  } catch (err) {
    outcome('connection', err.code || `no SQLSTATE (${err.message})`, err.message);
    return;
  }
  const ops = OPS.map((o) => [o, o[1]]);
  while (Date.now() < deadline) {
    if (ctx.broken) {
      try { await ctx.client.end(); } catch (e) { /* gone */ }
      try { await connect(ctx); } catch (err) {
        outcome('connection', err.code || `no SQLSTATE (${err.message})`, err.message);
        return;
      }
    }
    if (Date.now() - worldAt > REFRESH_MS) {
      await refresh(ctx);
      continue;
    }
    const acct = r.chance(0.65) ? accounts[0] : accounts[1];
    const [name, , meantFor, build] = r.weighted(ops);
    const actor = chooseActor(r, meantFor, acct);
    const step = build(r, acct, actor);
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
    if (step.after) step.after(res);
  }
  try { await ctx.client.end(); } catch (e) { /* gone */ }
}

// ---------------------------------------------------------------------------
// the monitor: as superuser, directly, once a second, the cheap invariants
// (soak.sh checks all of them at the end).  Every statement reads a
// committed state, and every committed state must keep the rules, so a
// violation seen here counts even when later calls happen to repair it.
// ---------------------------------------------------------------------------

const MONITOR_SQL = `
SELECT (SELECT json_agg(u.user_id) FROM cmp.app_user_data u
         WHERE u.context_level = 'CUSTOMER'
           AND NOT EXISTS (SELECT 1 FROM cmp.user_customer uc WHERE uc.user_id = u.user_id)) AS "CUSTOMER users on no customer",
       (SELECT json_agg(c.customer_id) FROM cmp.customer c
         WHERE c.status IN ('ACTIVE', 'SUSPENDED') AND c.admin_user_id IS NULL) AS "ACTIVE/SUSPENDED customers without an admin",
       (SELECT json_agg(s.iccid) FROM cmp.sim_card s JOIN cmp.customer c USING (customer_id)
         WHERE c.status = 'TERMINATED' OR c.account_id <> s.account_id) AS "SIMs on a TERMINATED customer or one of another account"`;

const violations = new Map(); // what -> {checks, first}
let monitorChecks = 0;

async function monitor(deadline) {
  const client = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT),
    database: process.env.PGDATABASE, user: process.env.SOAK_MONITOR_USER || 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    while (Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 1000));
      const row = (await client.query(MONITOR_SQL)).rows[0];
      monitorChecks++;
      for (const [what, ids] of Object.entries(row)) {
        if (!ids) continue;
        if (!violations.has(what)) violations.set(what, { checks: 0, first: `${(Date.now() - t0) / 1000} s: ${JSON.stringify(ids).slice(0, 200)}` });
        violations.get(what).checks++;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
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
  t0 = Date.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all([monitor(deadline),
    ...Array.from({ length: nClients }, (_, i) => worker(i, deadline))]);
  const elapsed = (Date.now() - t0) / 1000;

  // the table: per operation, successes, effective calls and errors by SQLSTATE
  const effByOp = new Map();
  for (const [k, e] of effective) {
    const op = k.split('\t')[0];
    effByOp.set(op, (effByOp.get(op) || 0) + e.calls);
  }
  const order = ['set_actor', 'read world (CSP)', ...OPS.map((o) => o[0]), 'connection'];
  const undocumented = [];
  console.log(`# ${nClients} clients (${Math.ceil(nClients / 2)} through pgbouncer, ${Math.floor(nClients / 2)} direct), ${elapsed.toFixed(1)} s, seed ${seed}`);
  console.log(`# ${'operation'.padEnd(30)} ${'calls'.padStart(6)} ${'ok'.padStart(6)}  errors by SQLSTATE (set_actor: every request's first call)`);
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
    console.log(`# ${op.padEnd(30)} ${String(calls).padStart(6)} ${String(ok).padStart(6)}  ${errs.join(' ') || '-'}`);
  }
  console.log('# effective calls (one audit row each) per audit operation:');
  for (const [op, n] of [...effByOp.entries()].sort()) console.log(`#   ${op.padEnd(30)} ${n}`);
  for (const mode of ['pgbouncer', 'direct']) {
    console.log(`# ${mode}: ${byMode[mode].tx} transactions, ${byMode[mode].ok} committed, server backends seen by the count reads: ${byMode[mode].pids.size}`);
  }

  // what the clients alone can tell
  const total = byMode.pgbouncer.tx + byMode.direct.tx;
  const totalOk = byMode.pgbouncer.ok + byMode.direct.ok;
  check(undocumented.length === 0,
    `every error is a documented refusal (${[...DOCUMENTED].join(', ')}): ${total - totalOk} refused of ${total} requests`,
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
  check(totalOk >= minOk, `${totalOk} successful requests (committed) in ${elapsed.toFixed(0)} s (at least ${minOk})`);
  const pb = byMode.pgbouncer.ok;
  const di = byMode.direct.ok;
  check(pb >= totalOk / 10 && di >= totalOk / 10,
    `both kinds of client did work: ${pb} successful through pgbouncer, ${di} direct`);
  const poolSize = Number(process.env.SOAK_POOL_SIZE || 4);
  check(byMode.pgbouncer.pids.size >= 1 && byMode.pgbouncer.pids.size <= poolSize
        && byMode.direct.pids.size === Math.floor(nClients / 2),
  `the pgbouncer clients shared ${byMode.pgbouncer.pids.size} server connections (pool_size ${poolSize}), the direct ones had ${byMode.direct.pids.size} of their own`);

  check(violations.size === 0 && monitorChecks > 0,
    `the rules held at every check of the monitor during the soak (${monitorChecks} checks, as superuser)`,
    [...violations.entries()].map(([what, v]) => `${what}: in ${v.checks} checks, first at ${v.first}`));

  const lines = [];
  for (const [k, e] of effective) lines.push(`${k}\t${e.calls}\t${e.moved}\n`);
  fs.writeFileSync(path.join(outDir, 'effective.tsv'), lines.join(''));
  console.log(`# client checks: ${passed} passed, ${failed} failed`);
}

main().then(() => { process.exitCode = 0; }, (err) => {
  console.log(`not ok - the clients ran to the end\n#   ${err.code || ''} ${err.stack}`);
  process.exitCode = 1;
});

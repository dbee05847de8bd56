// A portal's per-request flow against reseller_onboarding, as a Node.js
// application would write it with node-postgres through pgbouncer in
// transaction mode: every request is one transaction on a pooled
// connection, and sets its actor first with cmp.set_actor(user_id), which
// ends with the transaction.
//
// Three actors work at once: the ACCOUNT admins of two resellers onboard a
// customer each (create it with its admin user, activate it, assign SIMs),
// the customer admins page their SIM grid by keyset, and a CSP user reads
// the overview.  Every result is checked, and so is how refusals arrive:
// err.code (the SQLSTATE), err.detail, err.hint.
//
// Connection: the usual PG* variables (PGHOST, PGPORT, PGDATABASE, PGUSER).
// Input: RESELLER_1, RESELLER_2 (account ids), ADMIN_1, ADMIN_2 (their
// ACCOUNT admin users), CSP (a CSP user), SIMS_PER_CUSTOMER.
// Output: `ok - ...` / `not ok - ...` lines and `N passed, M failed`.

'use strict';

const { Pool } = require('pg');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const pool = new Pool({ max: 6 });
let passed = 0;
let failed = 0;

function check(ok, what, info) {
  if (ok) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}${info ? `\n#   ${info}` : ''}`);
  }
}

// One request: a transaction on a pooled connection, acting as userId.
async function asUser(userId, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT cmp.set_actor($1)', [userId]);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// The error a request ends with (or null when it succeeds).
async function refusal(userId, work) {
  try {
    await asUser(userId, work);
    return null;
  } catch (err) {
    return err;
  }
}

async function onboard(tag, accountId, adminId, otherAccountCustomer, nSims) {
  const name = `Portal ${tag} GmbH`;
  const customerId = await asUser(adminId, async (c) => {
    const r = await c.query(
      `SELECT cmp.create_customer(account_id => $1, name => $2,
              admin_login => $3, admin_email => $4, admin_full_name => $5) AS id`,
      [accountId, name, `portal.${tag}.admin`, `admin@${tag}.portal.example`, `${tag} Admin`]);
    return r.rows[0].id;
  });
  check(Number(customerId) > 0, `${tag}: create_customer returned customer ${customerId}`);

  const previous = await asUser(adminId, async (c) =>
    (await c.query(`SELECT cmp.set_customer_status(customer_id => $1, status => 'ACTIVE') AS was`,
      [customerId])).rows[0].was);
  check(previous === 'DRAFT', `${tag}: activated the customer (it was ${previous})`);

  const customerAdmin = await asUser(adminId, async (c) =>
    (await c.query('SELECT admin_user_id FROM cmp.customer WHERE customer_id = $1', [customerId]))
      .rows[0].admin_user_id);
  check(customerAdmin !== null, `${tag}: the customer's admin user is ${customerAdmin}`);

  const moved = await asUser(adminId, async (c) => {
    const free = await c.query(
      'SELECT iccid FROM cmp.sim_card WHERE customer_id IS NULL ORDER BY iccid LIMIT $1', [nSims]);
    const r = await c.query('SELECT cmp.assign_sims(customer_id => $1, iccids => $2) AS n',
      [customerId, free.rows.map((row) => row.iccid)]);
    return Number(r.rows[0].n);
  });
  check(moved === nSims, `${tag}: assign_sims moved ${moved} of ${nSims} SIMs`);

  // the customer admin pages its grid by keyset, 50 at a time
  let after = '';
  let seen = 0;
  let foreign = 0;
  let pages = 0;
  for (;;) {
    const rows = await asUser(customerAdmin, async (c) => (await c.query(
      `SELECT iccid, customer_id, customer_name, account_number
         FROM cmp.sim_grid WHERE iccid > $1 ORDER BY iccid LIMIT 50`, [after])).rows);
    if (rows.length === 0) break;
    pages++;
    seen += rows.length;
    foreign += rows.filter((r) => String(r.customer_id) !== String(customerId)
      || r.customer_name !== name || r.account_number !== null).length;
    after = rows[rows.length - 1].iccid;
  }
  check(seen === nSims && foreign === 0,
    `${tag}: the customer admin pages its ${seen} SIMs in ${pages} pages, none of anyone else`,
    `seen ${seen}, foreign ${foreign}`);

  const overview = await asUser(adminId, async (c) => (await c.query(
    'SELECT sim_count, user_count FROM cmp.customer_overview WHERE customer_id = $1',
    [customerId])).rows[0]);
  check(overview && Number(overview.sim_count) === nSims && Number(overview.user_count) === 1,
    `${tag}: customer_overview shows ${overview && overview.sim_count} SIMs and ${overview && overview.user_count} user`);

  // refusals, as the application receives them
  let err = await refusal(customerAdmin, (c) =>
    c.query('SELECT cmp.assign_sims(customer_id => $1, iccids => ARRAY[]::text[])', [customerId]));
  check(err && err.code === '42501' && /CUSTOMER user/.test(err.detail || ''),
    `${tag}: a customer user may not assign SIMs: ${err && err.code}, detail "${err && err.detail}"`);

  if (otherAccountCustomer !== null) {
    err = await refusal(adminId, (c) =>
      c.query(`SELECT cmp.set_customer_status(customer_id => $1, status => 'SUSPENDED')`,
        [otherAccountCustomer]));
    check(err && err.code === 'P0002',
      `${tag}: another reseller's customer is reported as missing: ${err && err.code}`);
  }

  err = await refusal(adminId, async (c) => {
    const some = await c.query(
      'SELECT array_agg(iccid) AS a FROM (SELECT iccid FROM cmp.sim_card WHERE customer_id = $1 LIMIT 3) s',
      [customerId]);
    const other = await c.query(
      `SELECT cmp.create_customer(account_id => $1, name => $2, status => 'DRAFT') AS id`,
      [accountId, `${name} Second`]);
    return c.query('SELECT cmp.assign_sims(customer_id => $1, iccids => $2)',
      [other.rows[0].id, some.rows[0].a]);
  });
  check(err && err.code === '55000' && /reassign => true/.test(err.hint || '') && err.detail,
    `${tag}: SIMs on another customer are refused with 55000 and the hint "${err && err.hint}"`);

  const leftover = await asUser(adminId, async (c) => (await c.query(
    'SELECT count(*) AS n FROM cmp.customer WHERE name = $1', [`${name} Second`])).rows[0].n);
  check(Number(leftover) === 0, `${tag}: the refused request left nothing behind`);

  return { customerId, customerAdmin };
}

async function main() {
  const nSims = Number(process.env.SIMS_PER_CUSTOMER || 120);
  const r1 = env('RESELLER_1');
  const r2 = env('RESELLER_2');
  const a1 = env('ADMIN_1');
  const a2 = env('ADMIN_2');
  const csp = env('CSP');

  // a customer of reseller 2 made up front, to aim at from reseller 1
  const target = await asUser(a2, async (c) => (await c.query(
    `SELECT cmp.create_customer(account_id => $1, name => 'Portal Target AG') AS id`, [r2])).rows[0].id);

  // a request without an actor sees nothing, even right after another's
  const client = await pool.connect();
  const anon = await client.query('SELECT count(*) AS n FROM cmp.sim_card');
  client.release();
  check(Number(anon.rows[0].n) === 0, `a request with no actor sees ${anon.rows[0].n} SIMs`);

  // a local actor outside a transaction: a warning, no effect
  const warned = await new Promise((resolve, reject) => {
    pool.connect().then((c) => {
      let notice = null;
      c.on('notice', (msg) => { notice = msg; });
      c.query('SELECT cmp.set_actor($1)', [csp])
        .then(() => c.query('SELECT cmp.actor_id() AS id'))
        .then((r) => { c.release(); resolve({ notice, id: r.rows[0].id }); })
        .catch((e) => { c.release(); reject(e); });
    }, reject);
  });
  check(warned.notice && warned.notice.code === '25P01' && warned.id === null,
    `set_actor outside a transaction: warning ${warned.notice && warned.notice.code}, actor ${warned.id}`);

  const [one, two, cspView] = await Promise.all([
    onboard('one', r1, a1, target, nSims),
    onboard('two', r2, a2, null, nSims),
    (async () => {
      const counts = [];
      for (let i = 0; i < 20; i++) {
        counts.push(await asUser(csp, async (c) =>
          Number((await c.query('SELECT count(*) AS n FROM cmp.customer_overview')).rows[0].n)));
      }
      return counts;
    })(),
  ]);
  check(cspView.every((n, i) => i === 0 || n >= cspView[i - 1]),
    `the CSP user read the overview 20 times while the others worked (${cspView[0]} .. ${cspView[cspView.length - 1]} customers)`);

  const cross = await asUser(one.customerAdmin, async (c) => (await c.query(
    'SELECT count(*) AS n FROM cmp.sim_grid WHERE customer_id = $1', [two.customerId])).rows[0].n);
  check(Number(cross) === 0, `customer admin one sees ${cross} SIMs of customer two`);

  const accountsSeen = await asUser(a1, async (c) => (await c.query(
    'SELECT count(*) AS n FROM cmp.customer WHERE account_id = $1', [r2])).rows[0].n);
  check(Number(accountsSeen) === 0, `reseller one's admin sees ${accountsSeen} customers of reseller two`);
}

main()
  .catch((err) => {
    failed++;
    console.log(`not ok - the example ran to the end\n#   ${err.code || ''} ${err.message}`);
  })
  .finally(async () => {
    await pool.end().catch(() => {});
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });

// A consumer of the change feed (cmp.event), as a downstream service would
// write it with node-postgres: it reads the events its CMP user may see, in
// commit order, and acknowledges them; it learns of new ones from
// `NOTIFY cmp_events` instead of polling.
//
// The connection goes straight to PostgreSQL, not through pgbouncer:
// LISTEN registers the *server* session for notifications, and pgbouncer in
// transaction mode hands that server session to other clients between
// transactions and may deliver notifications to no one (or to the wrong
// client).  A consumer is one long-lived session anyway, so it needs no
// pool.  For the same reason the actor is set once for the session
// (cmp.set_actor(user_id, false)), not per transaction as in portal.js.
//
// The loop:
//   LISTEN cmp_events, then drain once (so that nothing committed before
//   the LISTEN is missed), then wait for a notification -- or for
//   SAFETY_TIMEOUT_MS, in case one was lost (a reconnect, a bug) -- and
//   drain again.  A drain repeats, until read_events returns nothing:
//     BEGIN; SELECT * FROM cmp.read_events($1, BATCH); process them;
//     SELECT cmp.ack_events($1, last_event_id); COMMIT;
//   Processing and acknowledging happen in one transaction, so an error
//   rolls back the acknowledgement and the events come again; the position
//   is kept in the database, so a restarted consumer goes on where it left
//   off.  read_events locks the consumer's row, so two copies of one
//   consumer take turns instead of receiving the same events.
//
// Connection: the usual PG* variables (PGHOST, PGPORT, PGDATABASE, PGUSER);
// the role needs EXECUTE on cmp.set_actor only.
// Input: CONSUMER_USER (the CMP user id it acts as), CONSUMER_NAME (default
// "example"), BATCH (default 500), SAFETY_TIMEOUT_MS (default 30000).
// Output, one line each:
//   ready <acked_event_id>                 after LISTEN and the first drain
//   drain <start|notify|timeout> <n> <acked_event_id>   for every drain
//   event <event_id> <event_type> <account_id> <customer_id> <ms since epoch>
//   stopped <events received>              on SIGTERM or SIGINT
// Processing here is only collecting the events and printing them.

'use strict';

const { Client } = require('pg');

const env = (name, fallback) => {
  const v = process.env[name];
  if (v) return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`${name} is not set`);
};

const userId = env('CONSUMER_USER');
const consumer = env('CONSUMER_NAME', 'example');
const batch = Number(env('BATCH', '500'));
const safetyTimeout = Number(env('SAFETY_TIMEOUT_MS', '30000'));

const client = new Client({ application_name: `cmp_consumer_${consumer}` });
const received = []; // what "processing" collects: [event_id, event_type]

// Waking up: a notification (or a stop) that arrives while a drain runs is
// remembered, so the next wait returns at once and drains again.
let pending = false;
let stopping = false;
let wake = null;

function signal(why) {
  if (why === 'notify') pending = true;
  if (wake) wake(why);
}

function waitForWake(ms) {
  if (stopping) return Promise.resolve('stop');
  if (pending) return Promise.resolve('notify');
  return new Promise((resolve) => {
    const timer = setTimeout(() => { wake = null; resolve('timeout'); }, ms);
    wake = (why) => { clearTimeout(timer); wake = null; resolve(why); };
  });
}

// Stand-in for real work (calling billing, provisioning, ...).  If it
// throws, the transaction rolls back and the batch is delivered again.
function handle(events) {
  const now = Date.now();
  for (const e of events) {
    received.push([e.event_id, e.event_type]);
    console.log(`event ${e.event_id} ${e.event_type} ${e.account_id ?? '-'} ${e.customer_id ?? '-'} ${now}`);
  }
}

// Read and acknowledge until nothing is left; returns how many were read.
async function drain(reason) {
  pending = false;
  let total = 0;
  let acked = null;
  for (;;) {
    let rows;
    await client.query('BEGIN');
    try {
      rows = (await client.query('SELECT * FROM cmp.read_events($1, $2)', [consumer, batch])).rows;
      if (rows.length > 0) {
        handle(rows);
        acked = rows[rows.length - 1].event_id; // bigint: a string, passed back as is
        await client.query('SELECT cmp.ack_events($1, $2)', [consumer, acked]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    if (rows.length === 0) break;
    total += rows.length;
  }
  if (acked === null) acked = await position();
  console.log(`drain ${reason} ${total} ${acked}`);
  return total;
}

async function position() {
  const r = await client.query('SELECT acked_event_id FROM cmp.event_consumer WHERE name = $1', [consumer]);
  return r.rows.length ? r.rows[0].acked_event_id : null;
}

async function main() {
  // A lost connection ends the consumer (see the end of the file).
  let lost = null;
  client.on('error', (err) => {
    lost = err;
    stopping = true;
    signal('stop');
  });
  await client.connect();
  client.on('notification', (msg) => {
    // msg.payload is the account id of the change; an ACCOUNT user's
    // consumer could skip other accounts, but a drain that finds nothing is
    // cheap, and a CSP user's consumer wants them all.
    if (msg.channel === 'cmp_events') signal('notify');
  });
  process.on('SIGTERM', () => { stopping = true; signal('stop'); });
  process.on('SIGINT', () => { stopping = true; signal('stop'); });

  await client.query('SELECT cmp.set_actor($1, false)', [userId]); // for the whole session

  // Create the consumer the first time; afterwards it is there, with its
  // position.  23505: another copy created it at the same moment.
  if ((await position()) === null) {
    try {
      await client.query('SELECT cmp.create_event_consumer($1)', [consumer]);
    } catch (err) {
      if (err.code !== '23505') throw err;
    }
  }

  await client.query('LISTEN cmp_events');
  await drain('start');
  console.log(`ready ${await position()}`);

  while (!stopping) {
    const why = await waitForWake(safetyTimeout);
    if (why === 'stop') break;
    await drain(why);
  }
  if (lost) throw lost;
}

main()
  .then(() => {
    console.log(`stopped ${received.length}`);
  })
  .catch((err) => {
    // A real service would log this and be restarted by its supervisor;
    // with the position in the database, nothing is lost or repeated.
    console.error(`consumer failed: ${err.code || ''} ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => client.end().catch(() => {}));

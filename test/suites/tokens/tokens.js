// SPEC §12 (verified identities) with real tokens: jose signs compact JWS
// tokens (HS256, RS256, ES256) and cmp.set_actor_token must accept exactly
// the valid ones.  Run by test/suites/tokens.sh, which makes the database,
// the fixture and the application role; this program registers the keys
// itself, as the system actor, through cmp.add_identity_key.
//
// Two connections:
//   admin -- PGUSER (a superuser, no actor: the system actor) registers,
//            revokes and expires keys and locks users between the checks;
//   app   -- APP_ROLE, a login role granted EXECUTE on cmp.set_actor_token
//            only (not cmp.set_actor, not cmp.set_actor_by_login).
// Input: FIXTURE, JSON {"csp"|"account"|"cadmin"|"lockme": {"id", "login",
// "customers"}, "locked": {"id", "login"}} -- "customers" is how many rows
// of cmp.customer that user sees.
//
// Every refusal must be SQLSTATE 42501 with the message 'identity token
// refused' and a DETAIL, must not contain the token (nor any of its three
// parts) in its message, DETAIL or HINT, and must leave no actor behind.
// Output: `ok - ...` / `not ok - ...` lines and `N passed, M failed`.

'use strict';

const crypto = require('crypto');
const { Client } = require('pg');
const jose = require('jose');

const fixture = JSON.parse(process.env.FIXTURE || '{}');
const appRole = process.env.APP_ROLE;
if (!appRole || !fixture.csp) {
  console.error('APP_ROLE and FIXTURE must be set (test/suites/tokens.sh sets them)');
  process.exit(2);
}

const ISS = 'https://idp.tokens.test/';
const OTHER_ISS = 'https://other-idp.tokens.test/';

let passed = 0;
let failed = 0;

function check(ok, what, info) {
  if (ok) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    const lines = (Array.isArray(info) ? info : [info]).filter(Boolean);
    console.log(`not ok - ${what}${lines.map((l) => `\n#   ${l}`).join('')}`);
  }
}

function describe(err) {
  if (!err) return 'no error';
  const d = [`${err.code || '?'}: ${shorten(err.message)}`];
  if (err.detail) d.push(`DETAIL: ${shorten(err.detail)}`);
  if (err.hint) d.push(`HINT: ${shorten(err.hint)}`);
  return d.join(' | ');
}

function shorten(s) {
  s = String(s);
  return s.length > 300 ? `${s.slice(0, 300)}... (${s.length} chars)` : s;
}

const now = () => Math.floor(Date.now() / 1000);
const seg = (obj) => Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)).toString('base64url');
const hmac = (secret, input) => crypto.createHmac('sha256', secret).update(input).digest();

// A token made by hand, HS256-signed over exactly the text given.
function hsRaw(headerSeg, payloadSeg, secret) {
  return `${headerSeg}.${payloadSeg}.${hmac(secret, `${headerSeg}.${payloadSeg}`).toString('base64url')}`;
}

const admin = new Client({ application_name: 'tokens-admin' });
const app = new Client({ user: appRole, application_name: 'tokens-app' });
const notices = [];
app.on('notice', (n) => notices.push(n));

// ---------------------------------------------------------------------------
// keys

const keys = {};

async function addKey(kid, algorithm, keyText, opts = {}) {
  await admin.query(
    `SELECT cmp.add_identity_key(key_id => $1, issuer => $2, algorithm => $3, key => $4,
            audience => coalesce($5, 'cmp'), valid_until => $6)`,
    [kid, opts.issuer || ISS, algorithm, keyText, opts.audience || null, opts.validUntil || null]);
}

async function makeKeys() {
  const hsSecret = crypto.randomBytes(32);
  keys.hs = { kid: 'tok-hs', alg: 'HS256', signKey: new Uint8Array(hsSecret), secret: hsSecret };
  keys.hs.text = jose.base64url.encode(hsSecret);

  const rs = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  keys.rs = { kid: 'tok-rs', alg: 'RS256', signKey: rs.privateKey, text: await jose.exportSPKI(rs.publicKey) };

  const es = await jose.generateKeyPair('ES256', { extractable: true });
  keys.es = { kid: 'tok-es', alg: 'ES256', signKey: es.privateKey, text: await jose.exportSPKI(es.publicKey) };

  // keys used by one check each
  const mk = (kid) => {
    const s = crypto.randomBytes(32);
    return { kid, alg: 'HS256', signKey: new Uint8Array(s), secret: s, text: jose.base64url.encode(s) };
  };
  keys.other = mk('tok-hs-other-issuer');
  keys.portal = mk('tok-hs-portal');
  keys.revoke = mk('tok-hs-revoke');
  keys.expiring = mk('tok-hs-expiring');
  keys.rr = mk('tok-hs-rr');

  for (const k of [keys.hs, keys.rs, keys.es, keys.revoke, keys.rr]) await addKey(k.kid, k.alg, k.text);
  await addKey(keys.other.kid, 'HS256', keys.other.text, { issuer: OTHER_ISS });
  await addKey(keys.portal.kid, 'HS256', keys.portal.text, { audience: 'portal' });
  const until = (await admin.query("SELECT now() + interval '1 hour' AS t")).rows[0].t;
  await addKey(keys.expiring.kid, 'HS256', keys.expiring.text, { validUntil: until });
}

function claims(login, extra = {}) {
  const t = now();
  const c = { iss: ISS, aud: 'cmp', sub: login, iat: t, exp: t + 300, ...extra };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

// A token signed by jose: header {alg, kid} (opts.header adds or replaces).
async function sign(key, payload, opts = {}) {
  const header = { alg: key.alg, kid: key.kid, ...(opts.header || {}) };
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  return new jose.SignJWT(payload).setProtectedHeader(header).sign(opts.signKey || key.signKey);
}

// ---------------------------------------------------------------------------
// calling the database as the application

// BEGIN; set_actor_token; who am I and what do I see; ROLLBACK.
async function tryToken(token, isLocal = true) {
  const out = { err: null, uid: null, actor: null, customers: null };
  await app.query('BEGIN');
  try {
    await app.query('SAVEPOINT t');
    try {
      const r = await app.query('SELECT cmp.set_actor_token($1, $2) AS uid', [token, isLocal]);
      out.uid = r.rows[0].uid;
    } catch (err) {
      out.err = err;
      await app.query('ROLLBACK TO SAVEPOINT t');
    }
    const r = await app.query('SELECT cmp.actor_id() AS a, (SELECT count(*) FROM cmp.customer) AS n');
    out.actor = r.rows[0].a;
    out.customers = Number(r.rows[0].n);
  } finally {
    await app.query('ROLLBACK');
  }
  if (!isLocal) await app.query('SELECT cmp.clear_actor()').catch(() => {});
  return out;
}

async function accepted(what, token, user) {
  let r;
  try {
    r = await tryToken(token);
  } catch (err) {
    check(false, what, `the test's own statements failed: ${describe(err)}`);
    return;
  }
  const problems = [];
  if (r.err) problems.push(`refused: ${describe(r.err)}`);
  else {
    if (String(r.uid) !== String(user.id)) problems.push(`returned user ${r.uid}, expected ${user.id}`);
    if (String(r.actor) !== String(user.id)) problems.push(`cmp.actor_id() is ${r.actor}, expected ${user.id}`);
    if (r.customers !== user.customers) problems.push(`sees ${r.customers} customers, expected ${user.customers}`);
  }
  check(problems.length === 0, what, problems);
}

// What is wrong with a refusal (an empty list when it is right).
function refusalProblems(err, token, reason) {
  const p = [];
  if (!err) return ['accepted'];
  if (err.code !== '42501') p.push(`SQLSTATE ${err.code}, expected 42501 (${describe(err)})`);
  if (err.message !== 'identity token refused') p.push(`message "${shorten(err.message)}"`);
  if (!err.detail) p.push('no DETAIL naming the reason');
  else if (reason && !reason.test(err.detail)) p.push(`DETAIL "${shorten(err.detail)}" does not match ${reason}`);
  // the token, or any of its parts long enough to mean something, leaks nowhere
  const pieces = [token, ...String(token).split('.')].filter((s) => s && s.length >= 12);
  for (const [field, text] of [['message', err.message], ['DETAIL', err.detail], ['HINT', err.hint]]) {
    if (text && pieces.some((s) => text.includes(s))) p.push(`the token appears in the ${field}`);
  }
  return p;
}

async function refused(what, token, reason) {
  let r;
  try {
    r = await tryToken(token);
  } catch (err) {
    check(false, what, `the test's own statements failed: ${describe(err)}`);
    return;
  }
  const p = refusalProblems(r.err, token, reason);
  if (r.actor !== null) p.push(`an actor (${r.actor}) is set afterwards`);
  if (r.customers !== 0) p.push(`${r.customers} customers visible afterwards`);
  check(p.length === 0, what, p);
}

// Many tokens that must all be refused: one line for the lot.
async function allRefused(what, tokens) {
  const bad = [];
  for (const [label, token] of tokens) {
    let r;
    try {
      r = await tryToken(token);
    } catch (err) {
      bad.push(`${label}: the test's own statements failed: ${describe(err)}`);
      continue;
    }
    const p = refusalProblems(r.err, token, null);
    if (r.actor !== null) p.push(`actor ${r.actor} set afterwards`);
    if (p.length) bad.push(`${label}: ${p.join('; ')}`);
  }
  check(bad.length === 0, `${what} (${tokens.length} tokens)`,
    bad.length ? [`${bad.length} not refused properly, e.g.:`, ...bad.slice(0, 8)] : null);
}

// one error of a statement the application runs, or null
async function appError(sql, params = []) {
  await app.query('BEGIN');
  try {
    await app.query(sql, params);
    return null;
  } catch (err) {
    return err;
  } finally {
    await app.query('ROLLBACK');
  }
}

// ---------------------------------------------------------------------------
// single-character changes: position i of part p gets another base64url
// character whose 6-bit value differs in its highest bit, so the decoded bytes
// change too (a change of only the unused low bits of a part's last
// character would decode to the same bytes).

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function flipAt(token, part, i) {
  const parts = token.split('.');
  const s = parts[part];
  const v = B64URL.indexOf(s[i]);
  parts[part] = s.slice(0, i) + B64URL[(v < 0 ? 0 : v) ^ 0x20] + s.slice(i + 1);
  return parts.join('.');
}

function samplePositions(len, n) {
  if (len <= n) return [...Array(len).keys()];
  const out = new Set();
  for (let k = 0; k < n; k++) out.add(Math.round((k * (len - 1)) / (n - 1)));
  return [...out];
}

async function flips(key, user) {
  // short claims, so that every position of header and payload is tried
  const token = await sign(key, { iss: ISS, aud: 'cmp', sub: user.login, exp: now() + 600 });
  await accepted(`${key.alg}: the unchanged token used for the changes is accepted`, token, user);
  const [h, p, s] = token.split('.');
  const mk = (part, positions) => positions.map((i) => [`${['header', 'payload', 'signature'][part]}[${i}]`, flipAt(token, part, i)]);
  await allRefused(`${key.alg}: every single changed character of the header is refused`, mk(0, [...Array(h.length).keys()]));
  await allRefused(`${key.alg}: every single changed character of the payload is refused`, mk(1, [...Array(p.length).keys()]));
  await allRefused(`${key.alg}: 20 single changed characters of the signature are refused`, mk(2, samplePositions(s.length, 20)));
}

// ---------------------------------------------------------------------------

async function main() {
  await admin.connect();
  await app.connect();
  await makeKeys();
  const { csp, account, cadmin, locked, lockme } = fixture;
  const t = now();

  // --- valid tokens ---------------------------------------------------------
  await accepted('HS256: a valid token of the CSP user is accepted (user id, actor_id, what it sees)',
    await sign(keys.hs, claims(csp.login)), csp);
  await accepted('RS256: a valid token of the ACCOUNT user is accepted (user id, actor_id, what it sees)',
    await sign(keys.rs, claims(account.login)), account);
  await accepted('ES256: a valid token of the customer admin is accepted (user id, actor_id, what it sees)',
    await sign(keys.es, claims(cadmin.login)), cadmin);
  await accepted('a header with typ JWT is accepted',
    await sign(keys.hs, claims(account.login), { header: { typ: 'JWT' } }), account);
  await accepted('sub in another case than the login is accepted (logins are case-insensitive)',
    await sign(keys.hs, claims(csp.login.toUpperCase())), csp);
  await accepted('aud as an array containing the key\'s audience is accepted',
    await sign(keys.rs, claims(account.login, { aud: ['billing', 'cmp'] })), account);
  await accepted('a key\'s own audience (not the default) is the one required: accepted with it',
    await sign(keys.portal, claims(account.login, { aud: 'portal' })), account);
  await accepted('nbf 30 s in the future (within the 60 s leeway) is accepted',
    await sign(keys.hs, claims(account.login, { nbf: t + 30 })), account);
  await accepted('iat 30 s in the future (within the 60 s leeway) is accepted',
    await sign(keys.es, claims(account.login, { iat: t + 30 })), account);
  await accepted('nbf and iat in the past are accepted',
    await sign(keys.rs, claims(cadmin.login, { nbf: t - 3600, iat: t - 3600 })), cadmin);
  await accepted('a token without iat and nbf is accepted (only exp is required)',
    await sign(keys.hs, { iss: ISS, aud: 'cmp', sub: csp.login, exp: t + 300 }), csp);

  // --- single changed characters ---------------------------------------------
  await flips(keys.hs, csp);
  await flips(keys.rs, account);
  await flips(keys.es, cadmin);

  // --- algorithms ----------------------------------------------------------------
  const good = await sign(keys.hs, claims(csp.login));
  const [gh, gp] = good.split('.');
  await refused('alg none with an empty signature is refused',
    `${seg({ alg: 'none', kid: keys.hs.kid })}.${gp}.`, /alg|algorithm|none/i);
  await allRefused('alg none in other spellings, with or without a signature, is refused', [
    ['None', `${seg({ alg: 'None', kid: keys.hs.kid })}.${gp}.`],
    ['NONE', `${seg({ alg: 'NONE', kid: keys.hs.kid })}.${gp}.`],
    ['none + signature', `${seg({ alg: 'none', kid: keys.hs.kid })}.${gp}.${good.split('.')[2]}`],
    ['no alg', hsRaw(seg({ kid: keys.hs.kid }), gp, keys.hs.secret)],
    ['alg null', hsRaw(seg({ alg: null, kid: keys.hs.kid }), gp, keys.hs.secret)],
    ['alg hs256 (lower case)', hsRaw(seg({ alg: 'hs256', kid: keys.hs.kid }), gp, keys.hs.secret)],
    ['alg ["HS256"]', hsRaw(seg({ alg: ['HS256'], kid: keys.hs.kid }), gp, keys.hs.secret)],
  ]);
  const pem = keys.rs.text;
  await refused('algorithm confusion: HS256 signed with the RS256 key\'s PEM text as secret is refused',
    await sign(keys.rs, claims(csp.login), { header: { alg: 'HS256' }, signKey: new TextEncoder().encode(pem) }),
    /alg|algorithm/i);
  await allRefused('algorithm confusion: other encodings of the public keys as HS256 secrets are refused', [
    ['RS PEM without final newline', await sign(keys.rs, claims(csp.login),
      { header: { alg: 'HS256' }, signKey: new TextEncoder().encode(pem.trimEnd()) })],
    ['RS DER', await sign(keys.rs, claims(csp.login),
      { header: { alg: 'HS256' }, signKey: new Uint8Array(crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' })) })],
    ['ES PEM', await sign(keys.es, claims(csp.login),
      { header: { alg: 'HS256' }, signKey: new TextEncoder().encode(keys.es.text) })],
  ]);
  await allRefused('a header alg other than the key\'s is refused', [
    ['RS256 token naming the HS256 key', await sign(keys.hs, claims(csp.login),
      { header: { alg: 'RS256' }, signKey: keys.rs.signKey })],
    ['ES256 token naming the RS256 key', await sign(keys.rs, claims(csp.login),
      { header: { alg: 'ES256' }, signKey: keys.es.signKey })],
    ['RS256 token naming the ES256 key', await sign(keys.es, claims(csp.login),
      { header: { alg: 'RS256' }, signKey: keys.rs.signKey })],
    ['PS256 token naming the RS256 key', await sign(keys.rs, claims(csp.login),
      { header: { alg: 'PS256' } })],
    ['HS384 token naming the HS256 key', await sign(keys.hs, claims(csp.login), { header: { alg: 'HS384' } })],
    ['HS512 token naming the HS256 key', await sign(keys.hs, claims(csp.login), { header: { alg: 'HS512' } })],
  ]);
  await refused('a token signed by another registered key than its kid names is refused',
    await sign(keys.hs, claims(csp.login), { signKey: keys.revoke.signKey }), /signature/i);

  // --- time -------------------------------------------------------------------------
  await refused('an expired token (exp 2 minutes ago) is refused',
    await sign(keys.hs, claims(csp.login, { iat: t - 600, exp: t - 120 })), /exp/i);
  await refused('a token whose exp passed 5 s ago is refused (exp must be > now, no leeway for exp)',
    await sign(keys.hs, claims(csp.login, { iat: t - 600, exp: t - 5 })), /exp/i);
  await refused('a token without exp is refused',
    await sign(keys.hs, claims(csp.login, { exp: undefined })), /exp/i);
  await allRefused('a token whose exp is not a number is refused', [
    ['exp string', await sign(keys.hs, claims(csp.login, { exp: String(t + 300) }))],
    ['exp null', await sign(keys.hs, claims(csp.login, { exp: null }))],
    ['exp true', await sign(keys.hs, claims(csp.login, { exp: true }))],
  ]);
  await refused('nbf 2 minutes in the future is refused',
    await sign(keys.hs, claims(csp.login, { nbf: t + 120 })), /nbf|not before|not yet/i);
  await refused('iat 2 minutes in the future is refused',
    await sign(keys.rs, claims(csp.login, { iat: t + 120 })), /iat|issued/i);
  {
    // absurd numbers: whatever the answer, it is an answer (no crash, no internal error)
    const bad = [];
    for (const exp of [1e300, -1e300, 9007199254740993, 1.5e9]) {
      const tok = await sign(keys.hs, claims(csp.login, { exp }));
      try {
        const r = await tryToken(tok);
        if (r.err && r.err.code !== '42501') bad.push(`exp ${exp}: ${describe(r.err)}`);
        if (exp <= t && !r.err) bad.push(`exp ${exp} (in the past) accepted`);
      } catch (err) {
        bad.push(`exp ${exp}: ${describe(err)}`);
      }
    }
    check(bad.length === 0, 'absurd exp values (1e300, -1e300, 2^53+1, past) are answered with 42501 or accepted only when in the future', bad);
  }

  // --- issuer, audience, subject ------------------------------------------------------
  await refused('a wrong issuer is refused', await sign(keys.hs, claims(csp.login, { iss: 'https://evil.test/' })), /iss/i);
  await refused('the issuer of another registered key is refused',
    await sign(keys.hs, claims(csp.login, { iss: OTHER_ISS })), /iss/i);
  await refused('a token without iss is refused', await sign(keys.hs, claims(csp.login, { iss: undefined })), /iss/i);
  await refused('a wrong audience is refused', await sign(keys.hs, claims(csp.login, { aud: 'billing' })), /aud/i);
  await refused('an audience array without the key\'s audience is refused',
    await sign(keys.es, claims(csp.login, { aud: ['billing', 'portal'] })), /aud/i);
  await refused('a token without aud is refused', await sign(keys.hs, claims(csp.login, { aud: undefined })), /aud/i);
  await refused('the default audience cmp for a key whose audience is portal is refused',
    await sign(keys.portal, claims(csp.login, { aud: 'cmp' })), /aud/i);
  await refused('sub of an unknown login is refused',
    await sign(keys.hs, claims('tok.nobody')), /sub|login|user/i);
  await refused('sub of a LOCKED user is refused', await sign(keys.rs, claims(locked.login)), /lock|user|sub/i);
  await refused('a token without sub is refused', await sign(keys.hs, claims(csp.login, { sub: undefined })), /sub/i);
  await refused('sub that is a user id, not a login, is refused', await sign(keys.hs, claims(String(csp.id))));

  // --- keys ---------------------------------------------------------------------------
  await refused('an unknown kid is refused', await sign(keys.hs, claims(csp.login), { header: { kid: 'tok-nope' } }), /key|kid/i);
  await refused('a token without kid is refused', await sign(keys.hs, claims(csp.login), { header: { kid: undefined } }), /kid|key/i);
  await refused('a kid that is not a string is refused', await sign(keys.hs, claims(csp.login), { header: { kid: 42 } }));
  {
    const tok = await sign(keys.revoke, claims(csp.login));
    await accepted('revocation: a token of the key to be revoked is accepted before', tok, csp);
    await admin.query('SELECT cmp.revoke_identity_key($1)', [keys.revoke.kid]);
    await refused('revocation: the same token is refused once its key is revoked', tok, /revok|key/i);
    await refused('revocation: a new token of the revoked key is refused',
      await sign(keys.revoke, claims(account.login)), /revok|key/i);
  }
  {
    const tok = await sign(keys.expiring, claims(csp.login));
    await accepted('valid_until: a token of a key valid for one more hour is accepted', tok, csp);
    // The key's end is moved into the past by hand, as the owner (superuser):
    // add_identity_key need not accept a valid_until in the past.
    await admin.query("UPDATE cmp.identity_key SET valid_until = now() - interval '1 minute' WHERE key_id = $1",
      [keys.expiring.kid]);
    await refused('valid_until: the same token is refused once its key is past valid_until', tok, /key|valid|expir/i);
  }

  // --- form ---------------------------------------------------------------------------
  const [, , gs] = good.split('.');
  await accepted('control: the well-formed token used below is accepted', good, csp);
  await allRefused('tokens that are not three base64url parts are refused', [
    ['2 parts', `${gh}.${gp}`],
    ['4 parts', `${good}.${gs}`],
    ['5 parts (JWE shape)', `${gh}.${gp}.${gs}.${gs}.${gs}`],
    ['empty signature', `${gh}.${gp}.`],
    ['empty payload', `${gh}..${gs}`],
    ['empty header', `.${gp}.${gs}`],
    ['only dots', '..'],
    ['empty string', ''],
    ['one part', 'abc'],
  ]);
  {
    // padding and foreign characters in parts that are otherwise validly
    // signed over exactly this text: only a strict base64url decoder refuses
    const padded = (s) => s + '='.repeat((4 - (s.length % 4)) % 4);
    const claimsFor = (n) => seg(claims(csp.login, { jti: `pad-${n}` }));
    let pp = claimsFor(0);
    for (let n = 1; pp.length % 4 === 0; n++) pp = claimsFor(n);
    // (JSON may hold blanks: they make the header's length need padding)
    let hh = seg({ alg: 'HS256', kid: keys.hs.kid });
    for (let n = 1; hh.length % 4 === 0; n++) hh = seg(`{"alg":${' '.repeat(n)}"HS256","kid":"${keys.hs.kid}"}`);
    const cases = [
      ['padded header', hsRaw(padded(hh), pp, keys.hs.secret)],
      ['padded payload', hsRaw(hh, padded(pp), keys.hs.secret)],
    ];
    // a signature written in the standard alphabet (+ /) instead of - _
    for (let n = 0; n < 200; n++) {
      const p2 = seg(claims(csp.login, { jti: `std-${n}` }));
      const sig = hmac(keys.hs.secret, `${hh}.${p2}`);
      const std = sig.toString('base64').replace(/=+$/, '');
      if (/[+/]/.test(std)) {
        cases.push(['signature in the standard base64 alphabet', `${hh}.${p2}.${std}`]);
        break;
      }
    }
    const sigPadded = hmac(keys.hs.secret, `${hh}.${pp}`).toString('base64url');
    cases.push(['padded signature', `${hh}.${pp}.${padded(sigPadded)}`]);
    cases.push(['a space inside the signature', `${hh}.${pp}.${sigPadded.slice(0, 10)} ${sigPadded.slice(10)}`]);
    cases.push(['a newline after the signature', `${hh}.${pp}.${sigPadded}\n`]);
    cases.push(['a * in the payload', `${hh}.*${pp.slice(1)}.${sigPadded}`]);
    cases.push(['a control character before the header', `\x01${hh}.${pp}.${sigPadded}`]);
    // control: the same unpadded token is accepted, so the refusals above are about the form
    await accepted('control: the unpadded twin of the padded tokens is accepted', `${hh}.${pp}.${sigPadded}`, csp);
    await allRefused('base64 with padding, the standard alphabet or foreign characters is refused', cases);
  }
  await allRefused('parts that are base64url but not JSON objects are refused', [
    ['header not JSON', hsRaw(seg('not json'), gp, keys.hs.secret)],
    ['header a JSON array', hsRaw(seg(['HS256', keys.hs.kid]), gp, keys.hs.secret)],
    ['header a JSON string', hsRaw(seg('"HS256"'), gp, keys.hs.secret)],
    ['payload not JSON', hsRaw(gh, seg('not json'), keys.hs.secret)],
    ['payload a JSON array', hsRaw(gh, seg([csp.login]), keys.hs.secret)],
    ['payload truncated JSON', hsRaw(gh, seg(JSON.stringify(claims(csp.login)).slice(0, -1)), keys.hs.secret)],
  ]);
  {
    // validly signed, so that only the decoding of the parts can refuse them
    const raw = (obj) => Buffer.from(obj).toString('base64url');
    const body = `"iss":"${ISS}","aud":"cmp","exp":${t + 300}`;
    await allRefused('decoded parts that are not clean UTF-8 JSON text are refused with 42501', [
      ['\\u0000 in sub', hsRaw(gh, raw(`{${body},"sub":"${csp.login}\\u0000"}`), keys.hs.secret)],
      ['a NUL byte in the claims', hsRaw(gh, raw(`{${body},"sub":"${csp.login}\u0000"}`), keys.hs.secret)],
      ['invalid UTF-8 in the claims', hsRaw(gh, Buffer.concat([Buffer.from(`{${body},"sub":"`),
        Buffer.from([0xc3, 0x28]), Buffer.from('"}')]).toString('base64url'), keys.hs.secret)],
      ['a byte-order mark before the header', hsRaw(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(JSON.stringify({ alg: 'HS256', kid: keys.hs.kid }))]).toString('base64url'), gp, keys.hs.secret)],
      // a forged one (garbage signature): the parser's depth is the attacker's to choose
      ['a header nested 5500 levels deep', `${raw(`{"alg":"HS256","kid":"${keys.hs.kid}","x":${'['.repeat(5500)}${']'.repeat(5500)}}`)}.${gp}.${gs}`],
      ['a header with crit', hsRaw(seg({ alg: 'HS256', kid: keys.hs.kid, crit: ['exp'] }), gp, keys.hs.secret)],
    ]);
    // a part's last character whose unused low bits are not zero decodes to
    // the same bytes; strict base64url refuses it, so no token has a twin
    const A = B64URL;
    const last = gs[gs.length - 1];
    const twin = `${gh}.${gp}.${gs.slice(0, -1)}${A[A.indexOf(last) ^ 1]}`;
    await refused('a signature whose last character has non-zero unused bits (same bytes) is refused', twin);
  }
  {
    // ES256 signatures are r || s (64 bytes), not DER
    const h = seg({ alg: 'ES256', kid: keys.es.kid });
    const p = seg(claims(cadmin.login));
    const der = crypto.sign('sha256', Buffer.from(`${h}.${p}`), keys.es.signKey);
    const rawSig = crypto.sign('sha256', Buffer.from(`${h}.${p}`), { key: keys.es.signKey, dsaEncoding: 'ieee-p1363' });
    await accepted('ES256: a token signed by node crypto (r || s) is accepted', `${h}.${p}.${rawSig.toString('base64url')}`, cadmin);
    await refused('ES256: the same signature in DER form is refused', `${h}.${p}.${der.toString('base64url')}`);
    await refused('ES256: r = s = 0 is refused', `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`);
  }
  {
    const big = await sign(keys.hs, claims(csp.login, { pad: 'x'.repeat(1024 * 1024) }));
    const started = Date.now();
    await refused(`a validly signed 1 MB token (${big.length} characters) is refused`, big);
    await refused('1 MB of garbage is refused', 'A'.repeat(1024 * 1024));
    const ms = Date.now() - started;
    check(ms < 10000, `the two 1 MB tokens are answered promptly (${ms} ms)`);
  }

  // --- a user locked while acting ---------------------------------------------------
  {
    const tok = await sign(keys.rs, claims(lockme.login));
    await app.query('BEGIN');
    let before;
    let after;
    let err = null;
    try {
      const r = await app.query('SELECT cmp.set_actor_token($1) AS uid', [tok]);
      before = (await app.query('SELECT cmp.actor_id() AS a, (SELECT count(*) FROM cmp.customer) AS n')).rows[0];
      before.uid = r.rows[0].uid;
      await admin.query("SELECT cmp.set_user_status(user_id => $1, status => 'LOCKED')", [lockme.id]);
      after = (await app.query('SELECT cmp.actor_id() AS a, (SELECT count(*) FROM cmp.customer) AS n')).rows[0];
    } catch (e) {
      err = e;
    } finally {
      await app.query('ROLLBACK').catch(() => {});
    }
    check(!err && String(before.uid) === String(lockme.id) && Number(before.n) === lockme.customers,
      'lock while acting: the token is accepted and its user sees its customers',
      err ? describe(err) : `uid ${before.uid}, sees ${before.n}`);
    check(!err && after && (after.a === null || Number(after.n) === 0),
      'lock while acting: the next statement of the same transaction sees nothing (SPEC §4 revocation)',
      err ? describe(err) : `actor_id ${after && after.a}, sees ${after && after.n} customers`);
    await refused('lock while acting: the same token is refused in the next transaction', tok, /lock|user|sub/i);
    await admin.query("SELECT cmp.set_user_status(user_id => $1, status => 'ACTIVE')", [lockme.id]);
    await accepted('lock while acting: once unlocked, the same token is accepted again', tok, lockme);
  }

  // --- is_local -------------------------------------------------------------------------
  {
    const tok = await sign(keys.es, claims(account.login));
    let problems = [];
    try {
      await app.query('BEGIN');
      const r = await app.query('SELECT cmp.set_actor_token($1, false) AS uid', [tok]);
      await app.query('COMMIT');
      const a = (await app.query('SELECT cmp.actor_id() AS a')).rows[0].a;
      if (String(r.rows[0].uid) !== String(account.id)) problems.push(`returned ${r.rows[0].uid}`);
      if (String(a) !== String(account.id)) problems.push(`after COMMIT actor_id is ${a}`);
    } catch (err) {
      problems.push(describe(err));
      await app.query('ROLLBACK').catch(() => {});
    }
    await app.query('SELECT cmp.clear_actor()').catch(() => {});
    check(problems.length === 0, 'is_local => false: the actor outlives the transaction', problems);

    problems = [];
    try {
      await app.query('BEGIN');
      await app.query('SELECT cmp.set_actor_token($1) AS uid', [tok]);
      await app.query('COMMIT');
      const a = (await app.query('SELECT cmp.actor_id() AS a')).rows[0].a;
      if (a !== null) problems.push(`after COMMIT actor_id is ${a}`);
    } catch (err) {
      problems.push(describe(err));
      await app.query('ROLLBACK').catch(() => {});
    }
    check(problems.length === 0, 'is_local => true (default): the actor ends with the transaction', problems);

    problems = [];
    notices.length = 0;
    try {
      await app.query('SELECT cmp.set_actor_token($1) AS uid', [tok]);
      const a = (await app.query('SELECT cmp.actor_id() AS a')).rows[0].a;
      if (a !== null) problems.push(`afterwards actor_id is ${a}`);
      if (!notices.some((n) => n.code === '25P01' && n.severity === 'WARNING')) {
        problems.push(`no WARNING 25P01 (notices: ${notices.map((n) => `${n.severity} ${n.code} ${n.message}`).join('; ') || 'none'})`);
      }
    } catch (err) {
      problems.push(describe(err));
    }
    check(problems.length === 0,
      'is_local => true outside a transaction block: no effect, WARNING 25P01 (as set_actor)', problems);

    // a refused session token leaves nothing for the next statement either
    const bad = await sign(keys.es, claims(account.login, { aud: 'billing' }));
    problems = [];
    try {
      let err = null;
      try {
        await app.query('SELECT cmp.set_actor_token($1, false)', [bad]);
      } catch (e) {
        err = e;
      }
      problems.push(...refusalProblems(err, bad, /aud/i));
      const a = (await app.query('SELECT cmp.actor_id() AS a')).rows[0].a;
      if (a !== null) problems.push(`afterwards actor_id is ${a}`);
    } catch (err) {
      problems.push(describe(err));
    }
    await app.query('SELECT cmp.clear_actor()').catch(() => {});
    check(problems.length === 0, 'is_local => false with a refused token: no actor in the next statement', problems);
  }

  // --- revocations under REPEATABLE READ (SPEC §4: honoured by every statement
  // that starts after they commit, whatever the transaction's snapshot) -------
  {
    const rrCheck = async (what, tok, revoke, undo) => {
      let res = null;
      let err = null;
      await app.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      try {
        await app.query('SELECT count(*) FROM cmp.customer'); // the snapshot is taken
        await revoke();
        try {
          await app.query('SAVEPOINT t');
          await app.query('SELECT cmp.set_actor_token($1)', [tok]);
        } catch (e) {
          err = e;
          await app.query('ROLLBACK TO SAVEPOINT t');
        }
        res = (await app.query('SELECT cmp.actor_id() AS a, (SELECT count(*) FROM cmp.customer) AS n')).rows[0];
      } catch (e) {
        err = err || e;
        res = null;
      } finally {
        await app.query('ROLLBACK').catch(() => {});
        if (undo) await undo();
      }
      const p = [];
      if (!res) p.push(describe(err));
      else if (err && err.code !== '42501') p.push(`refused with ${describe(err)}`);
      else if (!err && res.a !== null && Number(res.n) !== 0) {
        p.push(`accepted: actor_id ${res.a}, sees ${res.n} customers`);
      }
      check(p.length === 0, what, p);
    };
    const tok = await sign(keys.rr, claims(account.login));
    await accepted('REPEATABLE READ: control, the token of the key to be revoked is accepted', tok, account);
    await rrCheck('REPEATABLE READ: a key revoked after the snapshot was taken admits nobody (refused, or no rows)', tok,
      () => admin.query('SELECT cmp.revoke_identity_key($1)', [keys.rr.kid]));
    const ltok = await sign(keys.hs, claims(lockme.login));
    await rrCheck('REPEATABLE READ: a user locked after the snapshot was taken acts as nobody (refused, or no rows)', ltok,
      () => admin.query("SELECT cmp.set_user_status(user_id => $1, status => 'LOCKED')", [lockme.id]),
      () => admin.query("SELECT cmp.set_user_status(user_id => $1, status => 'ACTIVE')", [lockme.id]));
  }

  // --- cmp.allow_session_actor = off applies to tokens too -----------------------
  {
    await admin.query(`ALTER ROLE "${appRole}" SET cmp.allow_session_actor = off`);
    const app2 = new Client({ user: appRole, application_name: 'tokens-app-nosession' });
    const p = [];
    try {
      await app2.connect();
      const tok = await sign(keys.hs, claims(account.login));
      const e = await app2.query('SELECT cmp.set_actor_token($1, false)', [tok]).then(() => null, (x) => x);
      if (!e || e.code !== '42501') p.push(`is_local => false: ${describe(e)}`);
      const a = (await app2.query('SELECT cmp.actor_id() AS a')).rows[0].a;
      if (a !== null) p.push(`actor ${a} set afterwards`);
      await app2.query('BEGIN');
      const r = await app2.query('SELECT cmp.set_actor_token($1) AS uid', [tok]);
      await app2.query('ROLLBACK');
      if (String(r.rows[0].uid) !== String(account.id)) p.push(`is_local => true returned ${r.rows[0].uid}`);
    } catch (err) {
      p.push(describe(err));
    } finally {
      await app2.end().catch(() => {});
      await admin.query(`ALTER ROLE "${appRole}" RESET cmp.allow_session_actor`);
    }
    check(p.length === 0,
      'cmp.allow_session_actor = off: set_actor_token(is_local => false) is refused (42501), a local one works', p);
  }

  // --- the role granted set_actor_token only ------------------------------------
  {
    const expect42501 = async (what, sql, params) => {
      const err = await appError(sql, params);
      check(err && err.code === '42501', what, describe(err));
    };
    await expect42501('token-only role: cmp.set_actor is refused (42501)', 'SELECT cmp.set_actor($1)', [csp.id]);
    await expect42501('token-only role: cmp.set_actor(is_local => false) is refused (42501)',
      'SELECT cmp.set_actor($1, false)', [csp.id]);
    await expect42501('token-only role: cmp.set_actor_by_login is refused (42501)',
      'SELECT cmp.set_actor_by_login($1)', [csp.login]);
    await expect42501('token-only role: SET cmp.actor is refused (42501)', `SET cmp.actor = '${Number(csp.id)}'`);
    await expect42501('token-only role: SET LOCAL cmp.actor is refused (42501)', `SET LOCAL cmp.actor = '${Number(csp.id)}'`);
    await expect42501('token-only role: set_config(cmp.actor) is refused (42501)',
      "SELECT set_config('cmp.actor', $1, false)", [String(csp.id)]);
    await expect42501('token-only role: set_config(cmp.actor, is_local) is refused (42501)',
      "SELECT set_config('cmp.actor', $1, true)", [String(csp.id)]);
    await expect42501('token-only role: ALTER ROLE itself SET cmp.actor is refused (42501)',
      `ALTER ROLE "${appRole}" SET cmp.actor = '${Number(csp.id)}'`);
    await expect42501('token-only role: cmp.add_identity_key without a CSP actor is refused (42501)',
      "SELECT cmp.add_identity_key('tok-forged', $1, 'HS256', $2)", [ISS, jose.base64url.encode(crypto.randomBytes(32))]);
    const r = (await app.query('SELECT cmp.actor_id() AS a, (SELECT count(*) FROM cmp.customer) AS n')).rows[0];
    check(r.a === null && Number(r.n) === 0, 'token-only role: after the refused attempts it acts as nobody and sees nothing',
      `actor_id ${r.a}, sees ${r.n} customers`);
    await accepted('token-only role: with a valid token it acts as the token\'s user',
      await sign(keys.hs, claims(account.login)), account);
    // acting as a CSP user through a token lets it manage keys like that user
    const csptok = await sign(keys.hs, claims(csp.login));
    await app.query('BEGIN');
    let err = null;
    try {
      await app.query('SELECT cmp.set_actor_token($1)', [csptok]);
      const n = (await app.query('SELECT count(*) AS n FROM cmp.identity_key')).rows[0].n;
      if (Number(n) < 3) err = new Error(`a CSP actor sees ${n} keys`);
      const e = await app.query('SELECT key_material FROM cmp.identity_key').then(() => null, (x) => x);
      if (!e || e.code !== '42501') err = new Error(`key_material as a CSP actor: ${describe(e)}`);
    } catch (e) {
      err = e;
    } finally {
      await app.query('ROLLBACK').catch(() => {});
    }
    check(!err, 'token-only role as a CSP user: sees the keys, but not key_material (42501)', err && (err.code ? describe(err) : err.message));
  }
}

const timer = setTimeout(() => {
  console.log('not ok - the checks finished within 100 s');
  failed++;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, 100000);

main()
  .catch((err) => {
    check(false, 'the checks ran to the end', `${describe(err)}\n${err.stack || ''}`);
  })
  .finally(async () => {
    clearTimeout(timer);
    await app.end().catch(() => {});
    await admin.end().catch(() => {});
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 ? 0 : 1;
  });

/*
 * token.c
 *		Verified identities (SPEC §12): cmp.add_identity_key,
 *		cmp.revoke_identity_key, cmp.set_actor_token, cmp.set_actor_by_login.
 *
 * A token is a compact JWS (RFC 7515) carrying JWT claims (RFC 7519):
 * base64url(header) "." base64url(claims) "." base64url(signature).  The
 * header's kid names a key of cmp.identity_key; its alg must be that key's
 * algorithm, so a token can never choose how it is checked (no "none", no
 * RS256 key's PEM taken as an HS256 secret).  Signatures are checked with
 * OpenSSL, HMACs compared in constant time; JSON is parsed by PostgreSQL's
 * own parser, strictly: an object, valid UTF-8, no repeated member.
 *
 * Every refusal is 42501 "identity token refused" with a DETAIL naming the
 * reason, and sets no actor.  The token itself is never put in a message;
 * its kid, iss and sub may be.
 */
#include "reseller_onboarding.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(add_identity_key);
PG_FUNCTION_INFO_V1(revoke_identity_key);
PG_FUNCTION_INFO_V1(set_actor_token);
PG_FUNCTION_INFO_V1(set_actor_by_login);

#define TOKEN_MAX_BYTES 16384
#define CLOCK_LEEWAY_SECONDS 60
#define HS256_MIN_SECRET 32
#define RSA_MIN_BITS 2048

static const char *const refused = "identity token refused";

static KeptPlan key_of = {
	"SELECT k.algorithm, k.issuer, k.audience, k.key_material,"
	"       CASE WHEN k.revoked_at IS NULL THEN 0 ELSE 1 END::pg_catalog.int8,"
	"       CASE WHEN k.valid_from OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
	"             AND (k.valid_until IS NULL"
	"                  OR k.valid_until OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp())"
	"            THEN 1 ELSE 0 END::pg_catalog.int8"
	"  FROM cmp.identity_key k WHERE k.key_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};
static KeptPlan insert_key = {
	"INSERT INTO cmp.identity_key (key_id, issuer, algorithm, key_material, audience,"
	"   valid_until, created_by)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1",
	7, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID}
};
static KeptPlan revoke_key = {
	"WITH k AS (SELECT key_id, revoked_at FROM cmp.identity_key"
	"            WHERE key_id OPERATOR(pg_catalog.=) $1 FOR UPDATE),"
	" r AS (UPDATE cmp.identity_key i SET revoked_at = pg_catalog.now() FROM k"
	"        WHERE i.key_id OPERATOR(pg_catalog.=) k.key_id AND k.revoked_at IS NULL"
	"       RETURNING 1)"
	" SELECT (SELECT pg_catalog.count(*) FROM r) FROM k",
	1, {TEXTOID}
};
static KeptPlan user_by_login = {
	"SELECT u.user_id FROM cmp.app_user_data u"
	" WHERE pg_catalog.lower(u.login) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
	1, {TEXTOID}
};

static void
Refuse(const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s", refused),
			 errdetail_internal(fmt, arg)));
}

/*
 * A key id as a message may show it before the token is verified: as given
 * if it has only the characters key ids are made of, else a placeholder, so
 * that nobody writes arbitrary text into the server log.
 */
static char *
Printable(const char *kid)
{
	size_t		n = strlen(kid);

	if (n > 0 && strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						"0123456789-_.~+/=:@") == n)
		return (char *) kid;
	return "(a key id with other characters)";
}

/* ---- base64url (RFC 4648 §5, no padding, canonical) ---- */

/*
 * Decode len characters of base64url into a palloc'd buffer; false if they
 * are not canonical unpadded base64url (so that no two texts decode to the
 * same bytes: a changed character always changes what is checked).
 */
static bool
Base64UrlDecode(const char *src, int len, char **out, int *outlen)
{
	char	   *std = palloc(len + 4);
	char	   *again;
	int			i,
				n,
				dlen;

	if (len % 4 == 1)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == '-')
			std[i] = '+';
		else if (c == '_')
			std[i] = '/';
		else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			std[i] = c;
		else
			return false;
	}
	n = len;
	while (n % 4 != 0)
		std[n++] = '=';
	dlen = pg_b64_dec_len(n);
	*out = palloc(dlen + 1);
	*outlen = pg_b64_decode(std, n, *out, dlen);
	if (*outlen < 0)
		return false;
	(*out)[*outlen] = '\0';
	/* canonical: encoding the bytes again gives the same characters */
	again = palloc(pg_b64_enc_len(*outlen) + 1);
	if (pg_b64_encode(*out, *outlen, again, pg_b64_enc_len(*outlen)) != n ||
		memcmp(again, std, n) != 0)
		return false;
	return true;
}

/* ---- strict JSON objects ---- */

typedef struct MemberCheck
{
	int			depth;
	int			nnames;
	char	   *names[64];
	bool		repeated;
	bool		too_many;
	bool		not_object;
} MemberCheck;

static void
MemberObjectStart(void *state)
{
	((MemberCheck *) state)->depth++;
}

static void
MemberObjectEnd(void *state)
{
	((MemberCheck *) state)->depth--;
}

static void
MemberArrayStart(void *state)
{
	MemberCheck *m = state;

	if (m->depth == 0)
		m->not_object = true;
	m->depth++;
}

static void
MemberArrayEnd(void *state)
{
	((MemberCheck *) state)->depth--;
}

static void
MemberField(void *state, char *fname, bool isnull)
{
	MemberCheck *m = state;
	int			i;

	if (m->depth != 1)
		return;
	for (i = 0; i < m->nnames; i++)
		if (strcmp(m->names[i], fname) == 0)
			m->repeated = true;
	if (m->nnames < lengthof(m->names))
		m->names[m->nnames++] = fname;
	else
		m->too_many = true;
}

static void
MemberScalar(void *state, char *token, JsonTokenType tokentype)
{
	MemberCheck *m = state;

	if (m->depth == 0)
		m->not_object = true;
}

/* The decoded part as jsonb, or a refusal naming the part. */
static Jsonb *
StrictObject(const char *bytes, int len, const char *part)
{
	MemberCheck m = {0};
	JsonSemAction sem = {0};
	JsonLexContext *lex;

	if ((int) strlen(bytes) != len || !pg_verifymbstr(bytes, len, true))
		Refuse("The token's %s is not valid UTF-8 text.", part);
	sem.semstate = &m;
	sem.object_start = MemberObjectStart;
	sem.object_end = MemberObjectEnd;
	sem.array_start = MemberArrayStart;
	sem.array_end = MemberArrayEnd;
	sem.object_field_start = MemberField;
	sem.scalar = MemberScalar;
	lex = makeJsonLexContextCstringLen(pstrdup(bytes), len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || m.not_object)
		Refuse("The token's %s is not a JSON object.", part);
	if (m.repeated)
		Refuse("The token's %s names a member twice.", part);
	if (m.too_many)
		Refuse("The token's %s has more than 64 members.", part);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(bytes)));
}

static JsonbValue *
Member(Jsonb *obj, const char *key)
{
	return getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
}

/* A string member as C text (NULL if absent); refuses another type. */
static char *
StringMember(Jsonb *obj, const char *key)
{
	JsonbValue *v = Member(obj, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		Refuse("The token's \"%s\" is not a string.", key);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A NumericDate member (seconds since 1970); false if absent. */
static bool
TimeMember(Jsonb *obj, const char *key, double *seconds)
{
	JsonbValue *v = Member(obj, key);

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		Refuse("The token's \"%s\" claim is not a number.", key);
	/* through text: a number beyond float8's range is infinite, not an error */
	*seconds = strtod(DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->val.numeric))),
					  NULL);
	return true;
}

/* Does aud (a string, or an array of strings) contain audience? */
static bool
AudienceHas(Jsonb *claims, const char *audience)
{
	JsonbValue *v = Member(claims, "aud");
	size_t		alen = strlen(audience);

	if (v == NULL)
		return false;
	if (v->type == jbvString)
		return v->val.string.len == alen && memcmp(v->val.string.val, audience, alen) == 0;
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		uint32		i,
					n = JsonContainerSize(v->val.binary.data);

		bool		found = false;

		/* every element is looked at, so the answer never depends on order */
		for (i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

			if (e->type != jbvString)
				Refuse("The token's \"aud\" claim holds something that is not a string.%s", "");
			if (e->val.string.len == alen && memcmp(e->val.string.val, audience, alen) == 0)
				found = true;
		}
		return found;
	}
	Refuse("The token's \"aud\" claim is neither a string nor an array of strings.%s", "");
	return false;
}

/* ---- keys and signatures (OpenSSL) ---- */

static EVP_PKEY *
PublicKey(const char *pem)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY   *pkey;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return pkey;
}

/* Why a key does not fit its algorithm, or NULL. */
static const char *
KeyProblem(const char *algorithm, const char *material)
{
	if (strcmp(algorithm, "HS256") == 0)
	{
		char	   *secret;
		int			len;

		if (!Base64UrlDecode(material, strlen(material), &secret, &len))
			return "an HS256 key is a base64url secret (RFC 4648 §5, no padding)";
		if (len < HS256_MIN_SECRET)
			return "an HS256 secret has at least 32 bytes";
		return NULL;
	}
	else
	{
		EVP_PKEY   *pkey = PublicKey(material);
		const char *problem = NULL;

		if (pkey == NULL)
			return "an RS256 or ES256 key is a PEM public key (BEGIN PUBLIC KEY)";
		if (strcmp(algorithm, "RS256") == 0)
		{
			if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
				problem = "an RS256 key is an RSA key";
			else if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)
				problem = "an RS256 key has at least 2048 bits";
		}
		else
		{
			char		group[64];
			size_t		glen = 0;

			if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
				!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
												group, sizeof(group), &glen) ||
				strcmp(group, "prime256v1") != 0)
				problem = "an ES256 key is an EC key on the curve P-256";
		}
		EVP_PKEY_free(pkey);
		return problem;
	}
}

/* An ES256 signature (r || s, 32 bytes each) in the DER form OpenSSL checks. */
static unsigned char *
EcdsaDer(const unsigned char *sig, int *derlen)
{
	ECDSA_SIG  *es = ECDSA_SIG_new();
	BIGNUM	   *r = BN_bin2bn(sig, 32, NULL);
	BIGNUM	   *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	*derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);			/* frees r and s */
	return *derlen > 0 ? der : NULL;
}

static bool
SignatureVerifies(const char *algorithm, const char *material,
				  const char *input, int inputlen, const char *sig, int siglen)
{
	if (strcmp(algorithm, "HS256") == 0)
	{
		char	   *secret;
		int			secretlen;
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;

		if (!Base64UrlDecode(material, strlen(material), &secret, &secretlen))
			return false;
		if (HMAC(EVP_sha256(), secret, secretlen, (const unsigned char *) input, inputlen,
				 mac, &maclen) == NULL)
			return false;
		return siglen == (int) maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
	}
	else
	{
		EVP_PKEY   *pkey = PublicKey(material);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned char *der = NULL;
		const unsigned char *checked = (const unsigned char *) sig;
		int			checkedlen = siglen;
		bool		ok = false;

		if (pkey != NULL && ctx != NULL)
		{
			if (strcmp(algorithm, "ES256") == 0)
			{
				if (siglen == 64)
					der = EcdsaDer((const unsigned char *) sig, &checkedlen);
				checked = der;
			}
			if (checked != NULL &&
				EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
				EVP_DigestVerify(ctx, checked, checkedlen,
								 (const unsigned char *) input, inputlen) == 1)
				ok = true;
		}
		OPENSSL_free(der);
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pkey);
		ERR_clear_error();		/* a failed check leaves OpenSSL's queue clean */
		return ok;
	}
}

/* ---- SQL-callable ---- */

static void
RequireKeyManager(const char *operation)
{
	const Actor mine = ActorGet();

	RuleRequire(&mine, operation);
}

Datum
add_identity_key(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	char	   *key_id;
	char	   *issuer;
	char	   *algorithm;
	char	   *material;
	char	   *audience;
	const char *problem;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	AuditEvent	ev = {0};

	RequireKeyManager("add_identity_key");
	key_id = ArgText(fcinfo, 0, "key_id", true, 200);
	issuer = ArgText(fcinfo, 1, "issuer", true, 500);
	algorithm = ArgText(fcinfo, 2, "algorithm", true, 16);
	RequireNotNull(fcinfo, 3, "key");
	material = TextDatumGetCString(PG_GETARG_DATUM(3));
	audience = ArgText(fcinfo, 4, "audience", true, 500);

	if (strcmp(algorithm, "HS256") != 0 && strcmp(algorithm, "RS256") != 0 &&
		strcmp(algorithm, "ES256") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("algorithm"),
				 errmsg("invalid algorithm \"%s\"", algorithm),
				 errhint("Use HS256, RS256 or ES256.")));
	if (strlen(material) > TOKEN_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("key"),
				 errmsg("key is longer than %d bytes", TOKEN_MAX_BYTES)));
	problem = KeyProblem(algorithm, material);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("key"),
				 errmsg("invalid %s key", algorithm),
				 errdetail("The key does not fit: %s.", problem)));
	if (!PG_ARGISNULL(5) &&
		PG_GETARG_TIMESTAMPTZ(5) <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("valid_until"),
				 errmsg("valid_until must be in the future")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = CStringGetTextDatum(key_id);
	args[1] = CStringGetTextDatum(issuer);
	args[2] = CStringGetTextDatum(algorithm);
	args[3] = CStringGetTextDatum(material);
	args[4] = CStringGetTextDatum(audience);
	args[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	args[6] = Int64GetDatum(mine.user_id);
	nulls[6] = mine.user_id ? ' ' : 'n';
	KeptPlanExec(&insert_key, args, nulls, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errrule("identity_key_unique"),
				 errmsg("identity key \"%s\" already exists", key_id),
				 errhint("Give every key its own key_id; revoke the old one when rotating.")));

	ev.operation = "add_identity_key";
	ev.resource_type = "identity_key";
	ev.resource_id = key_id;
	{
		StringInfoData j;

		initStringInfo(&j);
		appendStringInfoString(&j, "{\"issuer\": ");
		escape_json(&j, issuer);
		appendStringInfo(&j, ", \"algorithm\": \"%s\", \"audience\": ", algorithm);
		escape_json(&j, audience);
		appendStringInfoChar(&j, '}');
		ev.new_value = AuditJson(j.data);
	}
	AuditWrite(&ev);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
revoke_identity_key(PG_FUNCTION_ARGS)
{
	char	   *key_id;
	Datum		arg;
	AuditEvent	ev = {0};

	RequireKeyManager("revoke_identity_key");
	key_id = ArgText(fcinfo, 0, "key_id", true, 200);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	arg = CStringGetTextDatum(key_id);
	KeptPlanExec(&revoke_key, &arg, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("identity key \"%s\" does not exist", key_id)));
	if (SpiGetInt64(0, 1, NULL) == 0)
	{
		SPI_finish();			/* revoked before: not again, not audited again */
		PG_RETURN_VOID();
	}
	ev.operation = "revoke_identity_key";
	ev.resource_type = "identity_key";
	ev.resource_id = key_id;
	ev.new_value = AuditJson("{\"revoked\": true}");
	AuditWrite(&ev);
	SPI_finish();
	PG_RETURN_VOID();
}

/* The user with this login (case-insensitive), or 0. */
static int64
UserByLogin(const char *login)
{
	Datum		arg = CStringGetTextDatum(login);
	int64		user_id = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&user_by_login, &arg, NULL, true, 0);
	if (SPI_processed > 0)
		user_id = SpiGetInt64(0, 1, NULL);
	SPI_finish();
	return user_id;
}

/* Verify a token; returns its subject's login. */
static char *
VerifyToken(const char *token)
{
	size_t		len = strlen(token);
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	char	   *bytes;
	int			nbytes;
	Jsonb	   *header;
	Jsonb	   *claims;
	char	   *alg;
	char	   *kid;
	char	   *sig;
	int			siglen;
	char	   *key_alg;
	char	   *key_issuer;
	char	   *key_audience;
	char	   *key_material;
	char	   *iss;
	char	   *sub;
	double		exp,
				t;
	double		now;
	Datum		arg;

	if (len > TOKEN_MAX_BYTES)
		Refuse("The token is longer than %s bytes.", CppAsString2(TOKEN_MAX_BYTES));
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		Refuse("The token is not a compact JWS (three base64url parts separated by dots).%s", "");

	if (!Base64UrlDecode(token, dot1 - token, &bytes, &nbytes))
		Refuse("The token's %s is not base64url.", "header");
	header = StrictObject(bytes, nbytes, "header");
	if (!Base64UrlDecode(dot1 + 1, dot2 - dot1 - 1, &bytes, &nbytes))
		Refuse("The token's %s is not base64url.", "claim set");
	claims = StrictObject(bytes, nbytes, "claim set");
	if (!Base64UrlDecode(dot2 + 1, token + len - dot2 - 1, &sig, &siglen))
		Refuse("The token's %s is not base64url.", "signature");

	alg = StringMember(header, "alg");
	kid = StringMember(header, "kid");
	if (alg == NULL)
		Refuse("The token header has no \"alg\".%s", "");
	if (kid == NULL)
		Refuse("The token header has no \"kid\" naming its key.%s", "");
	if (strlen(kid) > 200)
		Refuse("The token's key id is longer than 200 characters.%s", "");
	if (Member(header, "crit") != NULL)
		Refuse("The token header has \"crit\" extensions, which are not understood.%s", "");

	/* the key, read as the owner */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * The newest committed state of the key, whatever the isolation level: a
	 * revocation committed a moment ago counts (SPEC §4), and so does the
	 * clock for valid_until.
	 */
	arg = CStringGetTextDatum(kid);
	if (SPI_execute_snapshot(KeptPlanGet(&key_of), &arg, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "identity key look-up failed");
	kid = Printable(kid);
	if (SPI_processed == 0)
		Refuse("Key \"%s\" is unknown.", kid);
	key_alg = SpiGetText(0, 1);
	key_issuer = SpiGetText(0, 2);
	key_audience = SpiGetText(0, 3);
	key_material = SpiGetText(0, 4);
	if (SpiGetInt64(0, 5, NULL))	/* revoked */
		Refuse("Key \"%s\" is revoked.", kid);
	if (!SpiGetInt64(0, 6, NULL))	/* outside valid_from .. valid_until */
		Refuse("Key \"%s\" is not valid now.", kid);
	key_alg = pstrdup(key_alg);
	key_issuer = pstrdup(key_issuer);
	key_audience = pstrdup(key_audience);
	key_material = pstrdup(key_material);
	SPI_finish();

	if (strcmp(alg, key_alg) != 0)
		Refuse(psprintf("The token's algorithm is not %s, the algorithm of key \"%%s\".", key_alg), kid);
	if (!SignatureVerifies(key_alg, key_material, token, dot2 - token, sig, siglen))
		Refuse("The token's signature does not verify with key \"%s\".", kid);

	/* claims; NumericDate is seconds since 1970-01-01 UTC */
	now = (double) (GetCurrentTimestamp() / USECS_PER_SEC) +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (!TimeMember(claims, "exp", &exp))
		Refuse("The token has no \"exp\" claim.%s", "");
	if (exp <= now)
		Refuse("The token has expired.%s", "");
	if (TimeMember(claims, "nbf", &t) && t > now + CLOCK_LEEWAY_SECONDS)
		Refuse("The token is not valid yet (\"nbf\").%s", "");
	if (TimeMember(claims, "iat", &t) && t > now + CLOCK_LEEWAY_SECONDS)
		Refuse("The token was issued in the future (\"iat\").%s", "");
	iss = StringMember(claims, "iss");
	if (iss == NULL || strcmp(iss, key_issuer) != 0)
		Refuse("The token's issuer is not the issuer of key \"%s\".", kid);
	if (!AudienceHas(claims, key_audience))
		Refuse("The token's audience does not include \"%s\".", key_audience);
	sub = StringMember(claims, "sub");
	if (sub == NULL || sub[0] == '\0')
		Refuse("The token has no \"sub\" claim.%s", "");
	return sub;
}

Datum
set_actor_token(PG_FUNCTION_ARGS)
{
	bool		is_local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	char	   *login;
	int64		user_id;

	FieldsOperation("set_actor");

	RequireNotNull(fcinfo, 0, "token");
	login = VerifyToken(TextDatumGetCString(PG_GETARG_DATUM(0)));
	user_id = UserByLogin(login);
	if (user_id == 0)
		Refuse("No CMP user has the login \"%s\" the token names.", login);
	ActorSetUser(user_id, is_local, refused);
	PG_RETURN_INT64(user_id);
}

Datum
set_actor_by_login(PG_FUNCTION_ARGS)
{
	bool		is_local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	char	   *login;
	int64		user_id;

	FieldsOperation("set_actor");

	login = ArgText(fcinfo, 0, "login", true, 128);
	user_id = UserByLogin(login);
	if (user_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user with login \"%s\" does not exist", login)));
	ActorSetUser(user_id, is_local, NULL);
	PG_RETURN_INT64(user_id);
}

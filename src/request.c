/*
 * request.c
 *		Idempotent creation (SPEC §13): a creating call given a request_id
 *		takes effect once per acting user; a repeat returns the first
 *		call's result and changes nothing.
 *
 * cmp.request holds, per acting user and request id, the operation, a
 * SHA-256 fingerprint of its arguments and, once the call has done its
 * work, its result.  The row is inserted before the work, so a concurrent
 * repeat waits on the row's unique key until the first call's transaction
 * ends: then it finds the committed result, or, if that transaction rolled
 * back, does the work itself.
 */
#include "reseller_onboarding.h"

#include <openssl/evp.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

static KeptPlan claim = {
	"INSERT INTO cmp.request (actor_user_id, request_id, operation, fingerprint)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
	4, {INT8OID, UUIDOID, TEXTOID, BYTEAOID}
};
static KeptPlan earlier = {
	"SELECT r.operation, r.fingerprint OPERATOR(pg_catalog.=) $3, r.result"
	"  FROM cmp.request r"
	" WHERE r.actor_user_id OPERATOR(pg_catalog.=) $1 AND r.request_id OPERATOR(pg_catalog.=) $2",
	3, {INT8OID, UUIDOID, BYTEAOID}
};
static KeptPlan record = {
	"UPDATE cmp.request SET result = $3"
	" WHERE actor_user_id OPERATOR(pg_catalog.=) $1 AND request_id OPERATOR(pg_catalog.=) $2",
	3, {INT8OID, UUIDOID, JSONBOID}
};

/* SHA-256 of the operation and every argument but the request id, as text. */
static bytea *
Fingerprint(FunctionCallInfo fcinfo, int request_argno, const char *operation)
{
	StringInfoData buf;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	bytea	   *out;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, operation);
	for (i = 0; i < PG_NARGS(); i++)
	{
		Oid			type;
		Oid			outfn;
		bool		varlena;
		char	   *text;

		if (i == request_argno)
			continue;
		if (PG_ARGISNULL(i))
		{
			/* a NULL differs from every text: the length field says so */
			appendStringInfo(&buf, "|%d:-1", i);
			continue;
		}
		type = get_fn_expr_argtype(fcinfo->flinfo, i);
		if (!OidIsValid(type))
			elog(ERROR, "could not determine the type of argument %d", i);
		getTypeOutputInfo(type, &outfn, &varlena);
		text = OidOutputFunctionCall(outfn, PG_GETARG_DATUM(i));
		appendStringInfo(&buf, "|%d:%zu:", i, strlen(text));
		appendStringInfoString(&buf, text);
	}
	if (EVP_Digest(buf.data, buf.len, digest, &dlen, EVP_sha256(), NULL) != 1)
		elog(ERROR, "could not compute a request fingerprint");
	out = palloc(VARHDRSZ + dlen);
	SET_VARSIZE(out, VARHDRSZ + dlen);
	memcpy(VARDATA(out), digest, dlen);
	return out;
}

/*
 * Start an idempotent call.  Without a request id, or for a new one, returns
 * NULL and the caller does its work, then calls RequestDone.  For a repeat
 * of a call that took effect, returns its result; a request id used before
 * for another call or other arguments is 22023.  Not connected to SPI.
 */
Jsonb *
RequestBegin(FunctionCallInfo fcinfo, int request_argno, const char *operation,
			 Request *req)
{
	const Actor mine = ActorGet();
	Datum		args[4];
	Jsonb	   *result = NULL;
	bool		isnull;

	req->active = false;
	if (request_argno >= PG_NARGS() || PG_ARGISNULL(request_argno))
		return NULL;

	req->actor = mine.user_id;
	req->request_id = PG_GETARG_DATUM(request_argno);
	args[0] = Int64GetDatum(req->actor);
	args[1] = req->request_id;
	args[2] = CStringGetTextDatum(operation);
	args[3] = PointerGetDatum(Fingerprint(fcinfo, request_argno, operation));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&claim, args, NULL, false, 0);
	if (SPI_processed == 1)
	{
		req->active = true;
		SPI_finish();
		return NULL;
	}

	/* a repeat: the first call has committed (we waited for it) */
	args[2] = args[3];
	KeptPlanExec(&earlier, args, NULL, false, 0);
	if (SPI_processed == 0)
		elog(ERROR, "request %s vanished", DatumGetCString(DirectFunctionCall1(uuid_out, req->request_id)));
	if (strcmp(SpiGetText(0, 1), operation) != 0 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("request_id_same_call"),
				 errmsg("request_id %s was used for another call",
						DatumGetCString(DirectFunctionCall1(uuid_out, req->request_id))),
				 errdetail("A repeated request has the same function and arguments as the first."),
				 errhint("Give every distinct request its own request_id.")));
	result = SpiGetJsonb(0, 3);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request_id %s is being used by this same transaction",
						DatumGetCString(DirectFunctionCall1(uuid_out, req->request_id)))));
	SPI_finish();
	return result;
}

/* Record the result of a call RequestBegin let through.  Not connected to SPI. */
void
RequestDone(Request *req, Jsonb *result)
{
	Datum		args[3];

	if (!req->active)
		return;
	args[0] = Int64GetDatum(req->actor);
	args[1] = req->request_id;
	args[2] = JsonbPGetDatum(result);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&record, args, NULL, false, 0);
	SPI_finish();
}

/* The bigint result of a creating call, as kept in cmp.request. */
Jsonb *
RequestId(int64 id)
{
	return AuditJson(psprintf(INT64_FORMAT, id));
}

int64
RequestIdOf(Jsonb *result)
{
	JsonbValue	v;

	if (!JsonbExtractScalar(&result->root, &v) || v.type != jbvNumeric)
		elog(ERROR, "a kept request result is not a number");
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric)));
}

PG_FUNCTION_INFO_V1(purge_requests);

static KeptPlan forget = {
	"DELETE FROM cmp.request"
	" WHERE created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) '24 hours'::pg_catalog.interval)",
	0, {InvalidOid}
};

Datum
purge_requests(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	int64		purged;

	RuleRequire(&mine, "purge_requests");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&forget, NULL, NULL, false, 0);
	purged = (int64) SPI_processed;
	SPI_finish();
	PG_RETURN_INT64(purged);
}

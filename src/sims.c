/*
 * sims.c
 *		SIM cards: cmp.provision_sims.
 *
 * Bulk calls validate every element in C first, then change the table in
 * one set-based statement, so that a failing call writes nothing and a
 * million ICCIDs cost one statement, not a million.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(provision_sims);

static KeptPlan account_exists = {
	"SELECT 1 FROM cmp.account WHERE account_id OPERATOR(pg_catalog.=) $1 FOR KEY SHARE",
	1, {INT8OID}
};
static KeptPlan duplicate_iccids = {
	"SELECT d.iccid, pg_catalog.count(*) OVER () FROM ("
	"   SELECT i.iccid FROM pg_catalog.unnest($1) AS i(iccid)"
	"    GROUP BY i.iccid HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1"
	"   UNION"
	"   SELECT s.iccid FROM cmp.sim_card s"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) ANY ($1)) AS d"
	" ORDER BY d.iccid LIMIT 10",
	1, {TEXTARRAYOID}
};
static KeptPlan insert_sims = {
	"INSERT INTO cmp.sim_card (iccid, imsi, msisdn, account_id)"
	" SELECT n.iccid, n.imsi, n.msisdn, $4"
	"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
	"        AS n(iccid, imsi, msisdn)",
	4, {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8OID}
};

/*
 * Problems found in a bulk argument: how many, and the first ten with the
 * reason for each, for the DETAIL of the error.
 */
typedef struct BulkProblems
{
	int			count;
	StringInfoData first;
} BulkProblems;

static void
BulkNote(BulkProblems *p, const char *value, const char *why)
{
	if (p->count == 0)
		initStringInfo(&p->first);
	if (p->count < 10)
		appendStringInfo(&p->first, "%s%s (%s)", p->count ? ", " : "", value, why);
	p->count++;
}

/* The elements of a text[] argument; NULL elements are counted as problems. */
static Datum *
ArgTextArray(FunctionCallInfo fcinfo, int argno, const char *name,
			 int *n, bool **elem_nulls)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	Datum	   *elems;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, elem_nulls, n);
	return elems;
}

/* Check one optional per-SIM array (IMSIs, MSISDNs) against its shape. */
static void
CheckSimAttribute(FunctionCallInfo fcinfo, int argno, const char *name,
				  int expected, bool (*valid) (const char *), const char *shape)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	BulkProblems bad = {0};

	if (PG_ARGISNULL(argno))
		return;
	elems = ArgTextArray(fcinfo, argno, name, &n, &nulls);
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, iccids has %d", name, n, expected),
				 errhint("Pass one %s per ICCID, NULL where there is none.", name)));
	for (i = 0; i < n; i++)
	{
		char	   *v;

		if (nulls[i])
			continue;
		v = TextDatumGetCString(elems[i]);
		if (!valid(v))
			BulkNote(&bad, v, shape);
	}
	if (bad.count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d malformed values in %s", bad.count, name),
				 errdetail("The first %d: %s.", Min(bad.count, 10), bad.first.data)));
}

/*
 * Validate an ICCID array: NULL elements are 22004, malformed ones 22023,
 * each with the count and the first ten.  Returns the number of elements.
 */
int
CheckIccids(FunctionCallInfo fcinfo, int argno)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	BulkProblems bad = {0};
	int			nnull = 0;
	StringInfoData nullpos;

	RequireNotNull(fcinfo, argno, "iccids");
	elems = ArgTextArray(fcinfo, argno, "iccids", &n, &nulls);
	initStringInfo(&nullpos);
	for (i = 0; i < n; i++)
	{
		const char *problem;
		char	   *v;

		if (nulls[i])
		{
			if (nnull < 10)
				appendStringInfo(&nullpos, "%s%d", nnull ? ", " : "", i + 1);
			nnull++;
			continue;
		}
		v = TextDatumGetCString(elems[i]);
		problem = IccidProblem(v);
		if (problem)
		{
			if (strlen(v) > 40)
				strcpy(v + 37, "...");
			BulkNote(&bad, v, problem);
		}
	}
	if (nnull > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("iccids must not contain NULL elements"),
				 errdetail("%d elements are NULL; the first at positions %s.", nnull, nullpos.data)));
	if (bad.count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d malformed ICCIDs", bad.count),
				 errdetail("The first %d: %s.", Min(bad.count, 10), bad.first.data),
				 errhint("An ICCID has 19 or 20 digits, starts with 89 and ends with a Luhn check digit.")));
	return n;
}

Datum
provision_sims(PG_FUNCTION_ARGS)
{
	const Actor *actor = ActorCurrent();
	int64		account_id;
	int			n;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	AuditEvent	ev = {0};
	char		json[64];

	ActorRequire(actor, actor->kind == ACTOR_SYSTEM || actor->kind == ACTOR_CSP,
				 "provision_sims");
	RequireNotNull(fcinfo, 0, "account_id");
	account_id = PG_GETARG_INT64(0);
	n = CheckIccids(fcinfo, 1);
	CheckSimAttribute(fcinfo, 2, "imsis", n, ImsiIsValid, "not 15 digits");
	CheckSimAttribute(fcinfo, 3, "msisdns", n, MsisdnIsValid, "not 8 to 15 digits");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(account_id);
	KeptPlanExec(&account_exists, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("account %lld does not exist", (long long) account_id)));

	values[0] = PG_GETARG_DATUM(1);
	KeptPlanExec(&duplicate_iccids, values, NULL, false, 0);
	if (SPI_processed > 0)
	{
		StringInfoData list;
		uint64		i;

		initStringInfo(&list);
		for (i = 0; i < SPI_processed; i++)
			appendStringInfo(&list, "%s%s", i ? ", " : "", SpiGetText(i, 1));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("%lld ICCIDs already exist or are repeated",
						(long long) SpiGetInt64(0, 2, NULL)),
				 errdetail("The first %d: %s.", (int) SPI_processed, list.data)));
	}

	values[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[2] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[3] = Int64GetDatum(account_id);
	KeptPlanExec(&insert_sims, values, nulls, false, 0);

	snprintf(json, sizeof(json), "{\"count\": " UINT64_FORMAT "}", SPI_processed);
	ev.operation = "provision_sims";
	ev.resource_type = "sim";
	ev.account_id = account_id;
	ev.new_value = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	AuditWrite(&ev);

	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

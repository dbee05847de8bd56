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
PG_FUNCTION_INFO_V1(assign_sims);
PG_FUNCTION_INFO_V1(unassign_sims);

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
	"WITH added AS ("
	"   INSERT INTO cmp.sim_card (iccid, imsi, msisdn, account_id)"
	"   SELECT n.iccid, n.imsi, n.msisdn, $4"
	"     FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
	"          AS n(iccid, imsi, msisdn)"
	"   RETURNING iccid)"
	" SELECT pg_catalog.count(*), pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
	"           'iccids', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.<=) 10000 THEN"
	"              (SELECT COALESCE(pg_catalog.jsonb_agg(x.iccid ORDER BY x.iccid COLLATE \"C\"), '[]')"
	"                 FROM (SELECT a2.iccid FROM added a2 ORDER BY a2.iccid COLLATE \"C\" LIMIT 10000) x) END,"
	"           'first_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000"
	"              THEN pg_catalog.min(a.iccid COLLATE \"C\") END,"
	"           'last_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000"
	"              THEN pg_catalog.max(a.iccid COLLATE \"C\") END))"
	"   FROM added a",
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
				 errfield(name),
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
				 errfield(name),
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
				 errfield(name),
				 errmsg("%d malformed values in %s", bad.count, name),
				 errdetail("%d values are malformed; the first %d: %s.", bad.count,
						   Min(bad.count, 10), bad.first.data)));
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
		pfree(v);			/* a million of them add up */
	}
	if (nnull > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errfield("iccids"),
				 errmsg("iccids must not contain NULL elements"),
				 errdetail("%d elements are NULL; the first at positions %s.", nnull, nullpos.data)));
	if (bad.count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("iccids"),
				 errmsg_plural("%d malformed ICCID", "%d malformed ICCIDs", bad.count, bad.count),
				 errdetail("%d ICCIDs are malformed; the first %d: %s.", bad.count,
						   Min(bad.count, 10), bad.first.data),
				 errhint("An ICCID has 19 or 20 digits, starts with 89 and ends with a Luhn check digit.")));
	return n;
}

Datum
provision_sims(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		account_id;
	int			n;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	AuditEvent	ev = {0};
	char		json[64];

	RuleRequire(actor, "provision_sims");
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
				 errrule("iccid_unique"),
				 errmsg("%lld ICCIDs already exist or are repeated",
						(long long) SpiGetInt64(0, 2, NULL)),
				 errdetail("%lld ICCIDs already exist or are repeated; the first %d: %s.",
						   (long long) SpiGetInt64(0, 2, NULL), (int) SPI_processed, list.data)));
	}

	values[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[2] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[3] = Int64GetDatum(account_id);
	KeptPlanExec(&insert_sims, values, nulls, false, 0);
	ev.event_extra = SpiGetJsonb(0, 2);

	snprintf(json, sizeof(json), "{\"count\": " INT64_FORMAT "}", SpiGetInt64(0, 1, NULL));
	ev.operation = "provision_sims";
	ev.resource_type = "sim";
	ev.account_id = account_id;
	ev.new_value = AuditJson(json);
	AuditWrite(&ev);

	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/* ---- assignment to customers ---- */

static KeptPlan share_customer = {
	"SELECT c.account_id, c.status FROM cmp.customer c"
	" WHERE c.customer_id OPERATOR(pg_catalog.=) $1 FOR SHARE",
	1, {INT8OID}
};

/*
 * Without reassign only unassigned SIMs move, so the previous customer of
 * every moved SIM is NULL.  The SIMs of the account the array names are
 * locked first, in ICCID order (as in every bulk statement here), so that
 * two calls over the same SIMs in different orders wait for each other
 * instead of deadlocking; then the UPDATE moves those that are free, so a
 * SIM that a concurrent call assigned meanwhile is not moved.  (With
 * "customer_id IS NULL" in the locking scan, the planner could walk the
 * account's free SIMs in sim_card_free_idx and compare each with every
 * element of the array.)
 */
static KeptPlan assign_free = {
	"WITH free AS ("
	"   SELECT s.iccid FROM cmp.sim_card s"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) ANY ($1)"
	"      AND s.account_id OPERATOR(pg_catalog.=) $3"
	"    ORDER BY s.iccid FOR UPDATE),"
	" moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = $2, assigned_at = pg_catalog.now()"
	"     FROM free f"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) f.iccid AND s.customer_id IS NULL"
	"   RETURNING s.iccid, NULL::bigint AS from_customer_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, $3, NULL, $2, $4 FROM moved m)"
	MOVED_SUMMARY,
	4, {TEXTARRAYOID, INT8OID, INT8OID, INT8OID}, true
};

/*
 * With reassign the previous customer matters: the SIMs are locked first (in
 * the CTE, which waits for and then reads the latest version of each row),
 * so the history records the move that really happened.
 */
static KeptPlan assign_any = {
	"WITH old AS ("
	"   SELECT s.iccid, s.customer_id FROM cmp.sim_card s"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) ANY ($1)"
	"      AND s.account_id OPERATOR(pg_catalog.=) $3 ORDER BY s.iccid FOR UPDATE),"
	" moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = $2, assigned_at = pg_catalog.now()"
	"     FROM old o"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) o.iccid"
	"      AND (o.customer_id IS NULL OR o.customer_id OPERATOR(pg_catalog.<>) $2)"
	"   RETURNING s.iccid, o.customer_id AS from_customer_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, $3, m.from_customer_id, $2, $4 FROM moved m)"
	MOVED_SUMMARY,
	4, {TEXTARRAYOID, INT8OID, INT8OID, INT8OID}
};

static KeptPlan unassign = {
	"WITH old AS ("
	"   SELECT s.iccid, s.account_id, s.customer_id FROM cmp.sim_card s"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) ANY ($1)"
	"      AND ($2 IS NULL OR s.account_id OPERATOR(pg_catalog.=) $2)"
	"      AND s.customer_id IS NOT NULL ORDER BY s.iccid FOR UPDATE),"
	" moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = NULL, assigned_at = NULL"
	"     FROM old o"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) o.iccid"
	"   RETURNING s.iccid, s.account_id, o.customer_id AS from_customer_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, m.account_id, m.from_customer_id, NULL, $3 FROM moved m)"
	MOVED_SUMMARY,
	3, {TEXTARRAYOID, INT8OID, INT8OID}
};

/*
 * Why SIMs could not move: each distinct ICCID that is missing, of another
 * account or, for assignment, on another customer.  Run only when a call did
 * not move every SIM.
 */
static KeptPlan classify = {
	"SELECT k.kind, pg_catalog.count(*),"
	"       pg_catalog.array_to_string((pg_catalog.array_agg(k.iccid ORDER BY k.iccid))[1:10], ', ')"
	"  FROM (SELECT i.iccid,"
	"               CASE WHEN s.iccid IS NULL THEN 'unknown'"
	"                    WHEN $2 IS NOT NULL AND s.account_id OPERATOR(pg_catalog.<>) $2 THEN 'other account'"
	"                    WHEN $3 IS NOT NULL AND s.customer_id OPERATOR(pg_catalog.<>) $3"
	"                         AND NOT $4 THEN 'other customer'"
	"               END AS kind"
	"          FROM (SELECT DISTINCT u.iccid FROM pg_catalog.unnest($1) AS u(iccid)) AS i"
	"          LEFT JOIN cmp.sim_card s ON s.iccid OPERATOR(pg_catalog.=) i.iccid) AS k"
	" WHERE k.kind IS NOT NULL GROUP BY k.kind",
	4, {TEXTARRAYOID, INT8OID, INT8OID, BOOLOID}
};

/* The first ten of a ", "-separated list of ICCIDs, in order. */
static int
CompareStrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *
FirstTen(char *list)
{
	char	   *items[20];
	int			n = 0,
				i;
	char	   *tok;
	StringInfoData out;

	for (tok = strtok(list, ", "); tok && n < 20; tok = strtok(NULL, ", "))
		items[n++] = tok;
	qsort(items, n, sizeof(char *), CompareStrings);
	initStringInfo(&out);
	for (i = 0; i < Min(n, 10); i++)
		appendStringInfo(&out, "%s%s", i ? ", " : "", items[i]);
	return out.data;
}

/*
 * Raise the problem classify found, if any.  SIMs of another account are
 * reported as unknown to an actor who cannot see them, so that nothing
 * leaks; the system actor sees every SIM and is told the real reason.
 */
static void
ReportUnmoved(const Actor *actor, Datum iccids, int64 account_id,
			  int64 customer_id, bool reassign)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64		count[3] = {0, 0, 0};	/* unknown, other account, other customer */
	char	   *first[3] = {NULL, NULL, NULL};
	uint64		i;

	args[0] = iccids;
	args[1] = Int64GetDatum(account_id);
	nulls[1] = account_id ? ' ' : 'n';
	args[2] = Int64GetDatum(customer_id);
	nulls[2] = customer_id ? ' ' : 'n';
	args[3] = BoolGetDatum(reassign);
	KeptPlanExec(&classify, args, nulls, false, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *kind = SpiGetText(i, 1);
		int			k = strcmp(kind, "unknown") == 0 ? 0 :
			strcmp(kind, "other account") == 0 ? 1 : 2;

		count[k] = SpiGetInt64(i, 2, NULL);
		first[k] = SpiGetText(i, 3);
	}
	if (actor->kind != ACTOR_SYSTEM && count[1] > 0)
	{
		/* indistinguishable from missing ones; the list is re-sorted below */
		count[0] += count[1];
		first[0] = first[0] ? psprintf("%s, %s", first[0], first[1]) : first[1];
		count[1] = 0;
	}
	if (count[0] > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg_plural("%lld SIM card does not exist", "%lld SIM cards do not exist",
							   count[0], (long long) count[0]),
				 errdetail("%lld ICCIDs are unknown; the first %lld: %s.", (long long) count[0],
						   (long long) Min(count[0], 10), FirstTen(first[0]))));
	if (count[1] > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("sim_of_own_account"),
				 errmsg_plural("%lld SIM card belongs to another account",
							   "%lld SIM cards belong to another account",
							   count[1], (long long) count[1]),
				 errdetail("SIM cards can only be assigned to customers of their own account; the first %lld: %s.",
						   (long long) Min(count[1], 10), first[1])));
	if (count[2] > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("sim_on_other_customer"),
				 errmsg_plural("%lld SIM card is assigned to another customer",
							   "%lld SIM cards are assigned to another customer",
							   count[2], (long long) count[2]),
				 errdetail("%lld SIM cards are on another customer; the first %lld: %s.",
						   (long long) count[2], (long long) Min(count[2], 10), first[2]),
				 errhint("Pass reassign => true to move them.")));
}

/*
 * The customer SIMs are to be assigned to: visible to the actor, DRAFT or
 * ACTIVE.  Locked FOR SHARE, so that a concurrent status change waits for
 * the assignment, or the assignment for it.  Returns its account.  The
 * caller is connected to SPI.
 */
int64
SimTarget(const Actor *actor, int64 customer_id)
{
	Datum		arg = Int64GetDatum(customer_id);
	char	   *status;

	KeptPlanExec(&share_customer, &arg, NULL, false, 0);
	if (SPI_processed == 0 ||
		!RuleCustomerInReach(actor, SpiGetInt64(0, 1, NULL), customer_id))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("customer %lld does not exist", (long long) customer_id)));
	status = SpiGetText(0, 2);
	if (strcmp(status, "DRAFT") != 0 && strcmp(status, "ACTIVE") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("sims_to_draft_or_active_customer"),
				 errmsg("customer %lld is %s", (long long) customer_id, status),
				 errdetail("SIM cards can be assigned to DRAFT and ACTIVE customers only.")));
	return SpiGetInt64(0, 1, NULL);
}

static Jsonb *
CountJson(const char *key, int64 count)
{
	return AuditJson(psprintf("{\"%s\": %lld}", key, (long long) count));
}

Datum
assign_sims(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		customer_id;
	int64		account_id;
	bool		reassign;
	int			n;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64		moved;
	char		idbuf[32];
	AuditEvent	ev = {0};

	RuleRequire(actor, "assign_sims");
	RequireNotNull(fcinfo, 0, "customer_id");
	customer_id = PG_GETARG_INT64(0);
	RequireNotNull(fcinfo, 2, "reassign");
	reassign = PG_GETARG_BOOL(2);
	n = CheckIccids(fcinfo, 1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	account_id = SimTarget(actor, customer_id);

	args[0] = PG_GETARG_DATUM(1);
	args[1] = Int64GetDatum(customer_id);
	args[2] = Int64GetDatum(account_id);
	args[3] = Int64GetDatum(actor->user_id);
	nulls[3] = actor->user_id ? ' ' : 'n';
	KeptPlanExec(reassign ? &assign_any : &assign_free, args, nulls, false, 0);
	moved = SpiGetInt64(0, 1, NULL);
	ev.event_extra = SpiGetJsonb(0, 2);

	/* fewer moved than given: repeats, SIMs already here, or refusals */
	if (moved < n)
		ReportUnmoved(actor, PG_GETARG_DATUM(1), account_id, customer_id, reassign);

	if (moved > 0)
	{
		snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
		ev.operation = "assign_sims";
		ev.resource_type = "sim";
		ev.resource_id = idbuf;
		ev.account_id = account_id;
		ev.customer_id = customer_id;
		ev.new_value = CountJson("assigned", moved);
		AuditWrite(&ev);
	}
	SPI_finish();
	PG_RETURN_INT64(moved);
}

Datum
unassign_sims(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int			n;
	int64		account_id;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		moved;
	AuditEvent	ev = {0};

	RuleRequire(actor, "unassign_sims");
	n = CheckIccids(fcinfo, 0);
	account_id = actor->kind == ACTOR_ACCOUNT ? actor->account_id : 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = PG_GETARG_DATUM(0);
	args[1] = Int64GetDatum(account_id);
	nulls[1] = account_id ? ' ' : 'n';
	args[2] = Int64GetDatum(actor->user_id);
	nulls[2] = actor->user_id ? ' ' : 'n';
	KeptPlanExec(&unassign, args, nulls, false, 0);
	moved = SpiGetInt64(0, 1, NULL);
	ev.event_extra = SpiGetJsonb(0, 2);
	ev.customer_id = SpiGetInt64(0, 3, NULL);	/* the one they left, if one */
	if (moved < n)
		ReportUnmoved(actor, PG_GETARG_DATUM(0), account_id, 0, false);

	if (moved > 0)
	{
		ev.operation = "unassign_sims";
		ev.resource_type = "sim";
		ev.account_id = account_id;
		ev.new_value = CountJson("unassigned", moved);
		AuditWrite(&ev);
	}
	SPI_finish();
	PG_RETURN_INT64(moved);
}

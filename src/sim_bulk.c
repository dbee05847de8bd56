/*
 * sim_bulk.c
 *		SIM cards as resellers receive and hand them out (SPEC §13):
 *		cmp.assign_sim_range and cmp.assign_free_sims.
 *
 * Each is one set-based statement that locks the SIMs it moves in ICCID
 * order, moves them, writes one history row per SIM and reports what it
 * did; a refusal afterwards rolls the whole statement back, so a call is
 * all or nothing.  A range waits for a concurrent call holding some of its
 * SIMs (in ICCID order, so two calls never deadlock) and then sees where
 * they went; free SIMs are taken with SKIP LOCKED, so concurrent calls for
 * free SIMs of one account never wait for each other nor share a SIM.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(assign_sim_range);
PG_FUNCTION_INFO_V1(assign_free_sims);

#define MAX_FREE_SIMS 1000000

/*
 * $1 account, $2 first ICCID, $3 last ICCID, $4 customer, $5 reassign,
 * $6 actor.  The SIMs of the range are locked first; without reassign only
 * free ones move, and those on another customer are counted (and refused
 * by the caller).
 */
static KeptPlan move_range = {
	"WITH old AS ("
	"   SELECT s.iccid, s.customer_id FROM cmp.sim_card s"
	"    WHERE s.account_id OPERATOR(pg_catalog.=) $1"
	"      AND s.iccid OPERATOR(pg_catalog.>=) $2 AND s.iccid OPERATOR(pg_catalog.<=) $3"
	"      AND pg_catalog.length(s.iccid) OPERATOR(pg_catalog.=) pg_catalog.length($2)"
	"    ORDER BY s.iccid FOR UPDATE),"
	" moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = $4, assigned_at = pg_catalog.now()"
	"     FROM old o"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) o.iccid"
	"      AND (o.customer_id IS NULL"
	"           OR ($5 AND o.customer_id OPERATOR(pg_catalog.<>) $4))"
	"   RETURNING s.iccid, o.customer_id AS from_customer_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, $1, m.from_customer_id, $4, $6 FROM moved m),"
	" summary AS (" MOVED_SUMMARY ")"
	" SELECT (SELECT pg_catalog.count(*) FROM old),"
	"        (SELECT pg_catalog.count(*) FROM old o"
	"          WHERE o.customer_id OPERATOR(pg_catalog.<>) $4),"
	"        (SELECT pg_catalog.string_agg(f.iccid, ', ' ORDER BY f.iccid) FROM ("
	"           SELECT o.iccid FROM old o WHERE o.customer_id OPERATOR(pg_catalog.<>) $4"
	"            ORDER BY o.iccid LIMIT 10) f),"
	"        summary.*"
	"   FROM summary",
	6, {INT8OID, TEXTOID, TEXTOID, INT8OID, BOOLOID, INT8OID}
};

/*
 * $1 account, $2 customer, $3 prefix or NULL, $4 how many, $5 actor.  The
 * lowest free ICCIDs that no concurrent call holds (sim_card_free_idx).
 */
static KeptPlan move_free = {
	"WITH free AS ("
	"   SELECT s.iccid FROM cmp.sim_card s"
	"    WHERE s.account_id OPERATOR(pg_catalog.=) $1 AND s.customer_id IS NULL"
	"      AND ($3 IS NULL OR (s.iccid OPERATOR(pg_catalog.>=) $3"
	"           AND pg_catalog.left(s.iccid, pg_catalog.length($3)) OPERATOR(pg_catalog.=) $3))"
	"    ORDER BY s.iccid LIMIT $4 FOR UPDATE SKIP LOCKED),"
	" moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = $2, assigned_at = pg_catalog.now()"
	"     FROM free f"
	"    WHERE s.iccid OPERATOR(pg_catalog.=) f.iccid"
	"   RETURNING s.iccid, NULL::pg_catalog.int8 AS from_customer_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, $1, NULL, $2, $5 FROM moved m),"
	" summary AS (" MOVED_SUMMARY ")"
	" SELECT summary.*,"
	"        (SELECT COALESCE(pg_catalog.array_agg(m.iccid ORDER BY m.iccid), '{}') FROM moved m)"
	"   FROM summary",
	5, {INT8OID, INT8OID, TEXTOID, INT4OID, INT8OID}
};

/* An ICCID bound of a range: 19 or 20 digits (the check digit is not checked). */
static char *
RangeBound(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *v = ArgText(fcinfo, argno, name, true, 20);
	int			len = strlen(v);
	int			i;

	for (i = 0; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			break;
	if (i < len || len < 19)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(name),
				 errmsg("invalid %s \"%s\"", name, v),
				 errdetail("A bound of an ICCID range has 19 or 20 digits.")));
	return v;
}

static void
MovedAudit(const char *operation, int64 account_id, int64 customer_id, int64 moved,
		   char *json, Jsonb *extra)
{
	AuditEvent	ev = {0};
	char		idbuf[32];

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
	ev.operation = operation;
	ev.resource_type = "sim";
	ev.resource_id = idbuf;
	ev.account_id = account_id;
	ev.customer_id = customer_id;
	ev.new_value = AuditJson(json);
	ev.event_extra = extra;
	AuditWrite(&ev);
}

Datum
assign_sim_range(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	int64		customer_id;
	int64		account_id;
	char	   *first;
	char	   *last;
	bool		reassign;
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int64		in_range;
	int64		elsewhere;
	int64		moved;

	RuleRequire(&mine, "assign_sim_range");
	RequireNotNull(fcinfo, 0, "customer_id");
	customer_id = PG_GETARG_INT64(0);
	first = RangeBound(fcinfo, 1, "first_iccid");
	last = RangeBound(fcinfo, 2, "last_iccid");
	RequireNotNull(fcinfo, 3, "reassign");
	reassign = PG_GETARG_BOOL(3);
	if (strlen(first) != strlen(last) || strcmp(first, last) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ICCID range from %s to %s", first, last),
				 errdetail("The bounds have the same number of digits and first_iccid is not after last_iccid.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	account_id = SimTarget(&mine, customer_id);

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(first);
	args[2] = CStringGetTextDatum(last);
	args[3] = Int64GetDatum(customer_id);
	args[4] = BoolGetDatum(reassign);
	args[5] = Int64GetDatum(mine.user_id);
	nulls[5] = mine.user_id ? ' ' : 'n';
	KeptPlanExec(&move_range, args, nulls, false, 0);
	in_range = SpiGetInt64(0, 1, NULL);
	elsewhere = SpiGetInt64(0, 2, NULL);
	if (in_range == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no SIM card of the customer's account is in the range from %s to %s",
						first, last)));
	if (elsewhere > 0 && !reassign)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("sim_on_other_customer"),
				 errmsg_plural("%lld SIM card of the range is assigned to another customer",
							   "%lld SIM cards of the range are assigned to another customer",
							   elsewhere, (long long) elsewhere),
				 errdetail("%lld SIM cards are on another customer; the first %lld: %s.",
						   (long long) elsewhere, (long long) Min(elsewhere, 10), SpiGetText(0, 3)),
				 errhint("Pass reassign => true to move them.")));
	moved = SpiGetInt64(0, 4, NULL);
	if (moved > 0)
	{
		StringInfoData j;

		initStringInfo(&j);
		appendStringInfo(&j, "{\"assigned\": " INT64_FORMAT ", \"first_iccid\": \"%s\","
						 " \"last_iccid\": \"%s\", \"reassign\": %s}",
						 moved, first, last, reassign ? "true" : "false");
		MovedAudit("assign_sim_range", account_id, customer_id, moved, j.data, SpiGetJsonb(0, 5));
	}
	SPI_finish();
	PG_RETURN_INT64(moved);
}

Datum
assign_free_sims(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	int64		customer_id;
	int64		account_id;
	int32		count;
	char	   *prefix;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int64		moved;
	bool		isnull;
	Datum		iccids;
	Jsonb	   *extra;
	StringInfoData j;

	RuleRequire(&mine, "assign_free_sims");
	RequireNotNull(fcinfo, 0, "customer_id");
	customer_id = PG_GETARG_INT64(0);
	RequireNotNull(fcinfo, 1, "count");
	count = PG_GETARG_INT32(1);
	if (count < 1 || count > MAX_FREE_SIMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("count"),
				 errmsg("count must be between 1 and %d", MAX_FREE_SIMS),
				 errdetail("count is %d.", count)));
	prefix = ArgText(fcinfo, 2, "iccid_prefix", false, 20);
	if (prefix && strspn(prefix, "0123456789") != strlen(prefix))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("iccid_prefix"),
				 errmsg("invalid iccid_prefix \"%s\"", prefix),
				 errdetail("An ICCID prefix has digits only.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	account_id = SimTarget(&mine, customer_id);

	args[0] = Int64GetDatum(account_id);
	args[1] = Int64GetDatum(customer_id);
	args[2] = prefix ? CStringGetTextDatum(prefix) : (Datum) 0;
	nulls[2] = prefix ? ' ' : 'n';
	args[3] = Int32GetDatum(count);
	args[4] = Int64GetDatum(mine.user_id);
	nulls[4] = mine.user_id ? ' ' : 'n';
	KeptPlanExec(&move_free, args, nulls, false, 0);
	moved = SpiGetInt64(0, 1, NULL);
	if (moved < count)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("free_sims_available"),
				 errmsg("not enough free SIM cards for customer %lld", (long long) customer_id),
				 errdetail("%d asked for, %lld free%s%s%s (SIM cards another call is assigning at this moment are not free).",
						   count, (long long) moved, prefix ? " with the prefix \"" : "",
						   prefix ? prefix : "", prefix ? "\"" : ""),
				 errhint("Provision more SIM cards to the account, or ask for fewer.")));

	extra = SpiGetJsonb(0, 2);
	iccids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	iccids = SPI_datumTransfer(iccids, false, -1);

	initStringInfo(&j);
	appendStringInfo(&j, "{\"assigned\": " INT64_FORMAT ", \"iccid_prefix\": ", moved);
	if (prefix)
		appendStringInfo(&j, "\"%s\"}", prefix);
	else
		appendStringInfoString(&j, "null}");
	MovedAudit("assign_free_sims", account_id, customer_id, moved, j.data, extra);
	SPI_finish();
	PG_RETURN_DATUM(iccids);
}

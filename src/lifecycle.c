/*
 * lifecycle.c
 *		The customer lifecycle: cmp.set_customer_status and
 *		cmp.customer_status_graph.
 *
 * Allowed transitions are data (cmp.customer_status_transition), read on
 * every change.  The customer row is locked first, so competing changes are
 * serialised and the history stays a chain.
 */
#include "reseller_onboarding.h"
#include "lookup.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(set_customer_status);
PG_FUNCTION_INFO_V1(customer_status_graph);

static KeptPlan next_statuses = {
	"SELECT pg_catalog.string_agg(t.to_status, ', ' ORDER BY t.to_status)"
	"  FROM cmp.customer_status_transition t WHERE t.from_status OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};
static KeptPlan customer_sims = {
	"SELECT pg_catalog.count(*) FROM cmp.sim_card s WHERE s.customer_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan release_sims = {
	"WITH moved AS ("
	"   UPDATE cmp.sim_card s SET customer_id = NULL, assigned_at = NULL"
	"    WHERE s.customer_id OPERATOR(pg_catalog.=) $1"
	"   RETURNING s.iccid, s.account_id),"
	" history AS ("
	"   INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id, changed_by)"
	"   SELECT m.iccid, m.account_id, $1, NULL, $2 FROM moved m)"
	" SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
	"           'released_iccids', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.<=) 10000 THEN"
	"              (SELECT COALESCE(pg_catalog.jsonb_agg(x.iccid ORDER BY x.iccid COLLATE \"C\"), '[]')"
	"                 FROM (SELECT m2.iccid FROM moved m2 ORDER BY m2.iccid COLLATE \"C\" LIMIT 10000) x) END,"
	"           'released_count', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000"
	"              THEN pg_catalog.count(*) END,"
	"           'first_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000"
	"              THEN pg_catalog.min(m.iccid COLLATE \"C\") END,"
	"           'last_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000"
	"              THEN pg_catalog.max(m.iccid COLLATE \"C\") END))"
	"   FROM moved m",
	2, {INT8OID, INT8OID}
};
/*
 * The admin user an ACTIVE customer will have: its own, if that user is
 * ACTIVE, or else the first active admin customer user assigned to it.
 */
/* The change and its history row, in one statement. */
static KeptPlan update_status = {
	"WITH u AS ("
	"   UPDATE cmp.customer c SET status = $2,"
	"      admin_user_id = COALESCE($4, c.admin_user_id),"
	"      activated_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'ACTIVE' AND c.activated_at IS NULL"
	"                          THEN pg_catalog.now() ELSE c.activated_at END,"
	"      activated_by = CASE WHEN $2 OPERATOR(pg_catalog.=) 'ACTIVE' AND c.activated_at IS NULL"
	"                          THEN $3 ELSE c.activated_by END,"
	"      terminated_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'TERMINATED' THEN pg_catalog.now() END,"
	"      terminated_by = CASE WHEN $2 OPERATOR(pg_catalog.=) 'TERMINATED' THEN $3 END,"
	"      updated_at = pg_catalog.now(), updated_by = $3"
	"    WHERE c.customer_id OPERATOR(pg_catalog.=) $1"
	"   RETURNING c.customer_id, c.account_id)"
	" INSERT INTO cmp.customer_status_history"
	"   (customer_id, account_id, from_status, to_status, changed_by, db_role, reason)"
	" SELECT u.customer_id, u.account_id, $5, $2, $3, $6, $7 FROM u",
	7, {INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, NAMEOID, TEXTOID}
};
static KeptPlan all_transitions = {
	"SELECT t.from_status, t.to_status FROM cmp.customer_status_transition t"
	" ORDER BY pg_catalog.array_position(ARRAY['DRAFT', 'ACTIVE', 'SUSPENDED', 'TERMINATED'], t.from_status),"
	"          pg_catalog.array_position(ARRAY['DRAFT', 'ACTIVE', 'SUSPENDED', 'TERMINATED'], t.to_status)",
	0, {0}
};

static bool
IsCustomerStatus(const char *s)
{
	return strcmp(s, "DRAFT") == 0 || strcmp(s, "ACTIVE") == 0 ||
		strcmp(s, "SUSPENDED") == 0 || strcmp(s, "TERMINATED") == 0;
}

Datum
set_customer_status(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		customer_id;
	char	   *status;
	char	   *reason;
	bool		release;
	int64		new_admin = 0;	/* the admin to set on activation */
	LockedCustomer lc;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	NameData	role;
	char		idbuf[32];
	AuditEvent	ev = {0};
	Snapshot	snap;

	RuleRequire(actor, "set_customer_status");
	RequireNotNull(fcinfo, 0, "customer_id");
	customer_id = PG_GETARG_INT64(0);
	status = ArgText(fcinfo, 1, "status", true, 16);
	reason = ArgText(fcinfo, 2, "reason", false, 1000);
	RequireNotNull(fcinfo, 3, "release_sims");
	release = PG_GETARG_BOOL(3);
	if (!IsCustomerStatus(status))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("status"),
				 errmsg("invalid customer status \"%s\"", status),
				 errhint("Use DRAFT, ACTIVE, SUSPENDED or TERMINATED.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	CustomerLock(actor, customer_id, &lc);

	if (strcmp(lc.status, status) == 0)
	{
		SPI_finish();
		PG_RETURN_TEXT_P(cstring_to_text(status));
	}

	/*
	 * The two checks read their rows by index (lookup.c) with the snapshot a
	 * query here would take: each cost an executor start of its own.
	 */
	snap = RegisterSnapshot(GetTransactionSnapshot());
	if (!LookupTransition(snap, lc.status, status))
	{
		char	   *next;

		args[0] = CStringGetTextDatum(lc.status);
		args[1] = CStringGetTextDatum(status);
		KeptPlanExec(&next_statuses, args, NULL, false, 1);
		next = SpiGetText(0, 1);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("customer_status_transition"),
				 errmsg("customer %lld cannot go from %s to %s", (long long) customer_id,
						lc.status, status),
				 next ? errdetail("From %s a customer can go to: %s.", lc.status, next)
				 : errdetail("%s is final.", lc.status)));
	}

	if (strcmp(status, "ACTIVE") == 0)
	{
		char	   *missing = CustomerMissingAddress(lc.country, lc.city, lc.street, lc.zip_code);

		new_admin = LookupActiveAdmin(snap, customer_id, lc.admin_user_id);
		if (new_admin == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errrule("customer_activation_needs_admin"),
					 errmsg("customer %lld has no active admin user", (long long) customer_id),
					 errdetail("Becoming ACTIVE needs an ACTIVE admin user assigned to the customer."),
					 errhint("Create one with cmp.create_customer_user(is_admin => true).")));
		if (lc.billable && missing)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errrule("billable_customer_needs_address"),
					 errmsg("billable customer %lld has no complete address", (long long) customer_id),
					 errdetail("Becoming ACTIVE needs country, city, street and zip_code for a billable customer; missing: %s.", missing),
					 errhint("Set them with cmp.update_customer().")));
	}
	UnregisterSnapshot(snap);

	if (strcmp(status, "TERMINATED") == 0)
	{
		int64		nsims;

		args[0] = Int64GetDatum(customer_id);
		KeptPlanExec(&customer_sims, args, NULL, false, 0);
		nsims = SpiGetInt64(0, 1, NULL);
		if (nsims > 0 && !release)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errrule("terminated_customer_holds_no_sims"),
					 errmsg("customer %lld holds %lld SIM cards", (long long) customer_id,
							(long long) nsims),
					 errdetail("A TERMINATED customer holds no SIM cards."),
					 errhint("Pass release_sims => true to release them to the account.")));
		if (nsims > 0)
		{
			args[1] = Int64GetDatum(actor->user_id);
			nulls[1] = actor->user_id ? ' ' : 'n';
			KeptPlanExec(&release_sims, args, nulls, false, 0);
			ev.event_extra = SpiGetJsonb(0, 1);
			nulls[1] = ' ';
		}
	}

	namestrcpy(&role, ActorDbRole());
	args[0] = Int64GetDatum(customer_id);
	args[1] = CStringGetTextDatum(status);
	args[2] = Int64GetDatum(actor->user_id);
	nulls[2] = actor->user_id ? ' ' : 'n';
	args[3] = Int64GetDatum(new_admin);
	nulls[3] = new_admin ? ' ' : 'n';
	args[4] = CStringGetTextDatum(lc.status);
	args[5] = NameGetDatum(&role);
	args[6] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[6] = reason ? ' ' : 'n';
	if (KeptPlanExec(&update_status, args, nulls, false, 0) != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "could not change the status of customer %lld", (long long) customer_id);

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
	ev.operation = "set_customer_status";
	ev.resource_type = "customer";
	ev.resource_id = idbuf;
	ev.account_id = lc.account_id;
	ev.customer_id = customer_id;
	ev.previous_value = AuditJson(psprintf("{\"status\": \"%s\"}", lc.status));
	ev.new_value = AuditJson(psprintf("{\"status\": \"%s\", \"release_sims\": %s}",
																			   status, release ? "true" : "false"));
	ev.reason = reason;
	AuditWrite(&ev);

	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(lc.status));
}

/* Graphviz DOT of the transition table. */
Datum
customer_status_graph(PG_FUNCTION_ARGS)
{
	StringInfoData dot;
	uint64		i;
	text	   *result;

	initStringInfo(&dot);
	appendStringInfoString(&dot, "digraph customer_status {\n"
						   "  rankdir=LR;\n"
						   "  node [shape=box, style=rounded];\n"
						   "  TERMINATED [peripheries=2];\n");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&all_transitions, NULL, NULL, true, 0);
	for (i = 0; i < SPI_processed; i++)
		appendStringInfo(&dot, "  %s -> %s;\n", SpiGetText(i, 1), SpiGetText(i, 2));
	appendStringInfoString(&dot, "}\n");
	SPI_finish();
	/* after SPI_finish, which frees what was allocated while connected */
	result = cstring_to_text(dot.data);
	PG_RETURN_TEXT_P(result);
}

/*
 * audit.c
 *		One cmp.audit_log row per changing call (SPEC §7), and its event in
 *		the change feed (SPEC §11).
 *
 * Both are written by the same SPI connection, in the same transaction, as
 * the change they describe, so all commit or none does.  The caller must be
 * connected to SPI.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/builtins.h"

/*
 * The audit row and the event of the same call, in one statement.  The event
 * goes to cmp.event_pending; it gets its id, in commit order, when the
 * transaction commits (the trigger cmp.event_commit).  Its payload names
 * the audit row and carries the previous and new values, the reason and
 * what the caller adds ($12, e.g. the ICCIDs of a bulk call); never a
 * user's db_role, which tenants may not see (SPEC §5).
 */
static KeptPlan insert_audit = {
	"WITH a AS ("
	"   INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type,"
	"      resource_id, account_id, customer_id, previous_value, new_value, reason)"
	"   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	"   RETURNING event_id, occurred_at)"
	" INSERT INTO cmp.event_pending (occurred_at, event_type, account_id, customer_id,"
	"    resource_type, resource_id, actor_user_id, payload)"
	" SELECT a.occurred_at, $11, $6, $7, $4, $5, $1,"
	"        pg_catalog.jsonb_build_object('audit_event_id', a.event_id)"
	"        OPERATOR(pg_catalog.||) CASE WHEN $8 IS NULL THEN '{}'::pg_catalog.jsonb"
	"             ELSE pg_catalog.jsonb_build_object('previous', $8 OPERATOR(pg_catalog.-) 'db_role'"
	"                  OPERATOR(pg_catalog.-) 'db_role_oid') END"
	"        OPERATOR(pg_catalog.||) CASE WHEN $9 IS NULL THEN '{}'::pg_catalog.jsonb"
	"             ELSE pg_catalog.jsonb_build_object('new', $9 OPERATOR(pg_catalog.-) 'db_role'"
	"                  OPERATOR(pg_catalog.-) 'db_role_oid') END"
	"        OPERATOR(pg_catalog.||) CASE WHEN $10 IS NULL THEN '{}'::pg_catalog.jsonb"
	"             ELSE pg_catalog.jsonb_build_object('reason', $10) END"
	"        OPERATOR(pg_catalog.||) COALESCE($12, '{}'::pg_catalog.jsonb)"
	"   FROM a WHERE $11 IS NOT NULL",
	12, {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID, JSONBOID,
	TEXTOID, TEXTOID, JSONBOID}
};

/* The event type of each changing call (SPEC §11); NULL: none. */
static const struct
{
	const char *operation;
	const char *event_type;
}			event_types[] =
{
	{"create_account", "account.created"},
	{"create_user", "user.created"},
	{"create_customer_user", "user.created"},
	{"set_user_status", "user.status_changed"},
	{"create_customer", "customer.created"},
	{"update_customer", "customer.updated"},
	{"delete_customer", "customer.deleted"},
	{"set_customer_status", "customer.status_changed"},
	{"assign_user_to_customers", "customer_user.assigned"},
	{"unassign_user_from_customers", "customer_user.unassigned"},
	{"provision_sims", "sims.provisioned"},
	{"assign_sims", "sims.assigned"},
	{"assign_sim_range", "sims.assigned"},
	{"assign_free_sims", "sims.assigned"},
	{"unassign_sims", "sims.unassigned"},
};

static const char *
EventType(const char *operation)
{
	int			i;

	for (i = 0; i < lengthof(event_types); i++)
		if (strcmp(event_types[i].operation, operation) == 0)
			return event_types[i].event_type;
	return NULL;
}

/*
 * cmp.event_type_is_valid(text): whether the text is one of the event types
 * above, for the CHECK of cmp.event.  A call is far cheaper than a list of
 * constants there, which PostgreSQL reads back from its text form for every
 * statement that inserts events.
 */
PG_FUNCTION_INFO_V1(event_type_is_valid);
Datum
event_type_is_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			i;

	for (i = 0; i < lengthof(event_types); i++)
		if (strlen(event_types[i].event_type) == len &&
			memcmp(event_types[i].event_type, VARDATA_ANY(t), len) == 0)
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

void
AuditWrite(const AuditEvent *ev)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	const char *event_type = EventType(ev->operation);
	Datum		values[12];
	char		nulls[12];
	NameData	role;

	memset(nulls, ' ', sizeof(nulls));
	namestrcpy(&role, ActorDbRole());

	values[0] = Int64GetDatum(actor->user_id);
	nulls[0] = actor->user_id == 0 ? 'n' : ' ';
	values[1] = NameGetDatum(&role);
	values[2] = CStringGetTextDatum(ev->operation);
	values[3] = CStringGetTextDatum(ev->resource_type);
	if (ev->resource_id)
		values[4] = CStringGetTextDatum(ev->resource_id);
	else
		nulls[4] = 'n';
	values[5] = Int64GetDatum(ev->account_id);
	nulls[5] = ev->account_id == 0 ? 'n' : ' ';
	values[6] = Int64GetDatum(ev->customer_id);
	nulls[6] = ev->customer_id == 0 ? 'n' : ' ';
	if (ev->previous_value)
		values[7] = JsonbPGetDatum(ev->previous_value);
	else
		nulls[7] = 'n';
	if (ev->new_value)
		values[8] = JsonbPGetDatum(ev->new_value);
	else
		nulls[8] = 'n';
	if (ev->reason)
		values[9] = CStringGetTextDatum(ev->reason);
	else
		nulls[9] = 'n';
	if (event_type)
		values[10] = CStringGetTextDatum(event_type);
	else
		nulls[10] = 'n';
	if (ev->event_extra)
		values[11] = JsonbPGetDatum(ev->event_extra);
	else
		nulls[11] = 'n';

	if (KeptPlanExec(&insert_audit, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the audit log");

	/* consumers need not poll: told on commit, with the account */
	if (event_type)
		Async_Notify("cmp_events",
					 ev->account_id ? psprintf(INT64_FORMAT, ev->account_id) : "");
}

/* A previous or new value written as JSON text by the caller. */
Jsonb *
AuditJson(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

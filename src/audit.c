/*
 * audit.c
 *		One cmp.audit_log row per changing call (SPEC §7).
 *
 * The row is written by the same SPI connection, in the same transaction, as
 * the change it describes, so both commit or neither does.  The caller must
 * be connected to SPI.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static KeptPlan insert_audit = {
	"INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type,"
	"   resource_id, account_id, customer_id, previous_value, new_value, reason)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	10, {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID, JSONBOID, TEXTOID}
};

void
AuditWrite(const AuditEvent *ev)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Datum		values[10];
	char		nulls[10];
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

	if (KeptPlanExec(&insert_audit, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the audit log");
}

/* A previous or new value written as JSON text by the caller. */
Jsonb *
AuditJson(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

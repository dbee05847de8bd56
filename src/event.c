/*
 * event.c
 *		Consumers of the change feed (SPEC §11): cmp.create_event_consumer,
 *		cmp.drop_event_consumer, cmp.read_events, cmp.ack_events,
 *		cmp.purge_events.
 *
 * Events are written by audit.c and numbered in commit order by its trigger
 * cmp.event_commit, so a consumer's whole position is
 * one number: it has acknowledged every event up to acked_event_id.  Any
 * event it has not acknowledged and its owner may see is read next, and no
 * event below a committed one can commit later, so none is ever skipped.
 *
 * A consumer belongs to the acting user who created it; another actor
 * asking for it is told it does not exist.  Reading locks the consumer's
 * row, so that two readers of one consumer, each reading and acknowledging
 * in one transaction, take turns instead of receiving the same events.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(create_event_consumer);
PG_FUNCTION_INFO_V1(drop_event_consumer);
PG_FUNCTION_INFO_V1(read_events);
PG_FUNCTION_INFO_V1(ack_events);
PG_FUNCTION_INFO_V1(purge_events);

#define MAX_EVENTS_PER_READ 10000

/* $1 the owner (NULL: the system actor), $2 the name */
#define CONSUMER_IS " owner_user_id IS NOT DISTINCT FROM $1 AND name OPERATOR(pg_catalog.=) $2"

static KeptPlan insert_consumer = {
	"INSERT INTO cmp.event_consumer (owner_user_id, name) VALUES ($1, $2)"
	" ON CONFLICT DO NOTHING RETURNING 1",
	2, {INT8OID, TEXTOID}
};
static KeptPlan delete_consumer = {
	"DELETE FROM cmp.event_consumer WHERE" CONSUMER_IS " RETURNING acked_event_id",
	2, {INT8OID, TEXTOID}
};
static KeptPlan lock_consumer = {
	"SELECT acked_event_id FROM cmp.event_consumer WHERE" CONSUMER_IS " FOR UPDATE",
	2, {INT8OID, TEXTOID}
};
static KeptPlan set_acked = {
	"UPDATE cmp.event_consumer SET acked_event_id = $3, acked_at = pg_catalog.now()"
	" WHERE" CONSUMER_IS,
	3, {INT8OID, TEXTOID, INT8OID}
};

/*
 * The visibility condition is written out: these functions run with the
 * owner's rights, which the policy of cmp.event does not bind if the owner
 * is a superuser.  It is folded by kind of actor like the policy.
 */
static KeptPlan next_events = {
	"SELECT e.* FROM cmp.event e"
	" WHERE e.event_id OPERATOR(pg_catalog.>) $1"
	"   AND cmp.actor_sees(e.account_id, e.customer_id)"
	" ORDER BY e.event_id LIMIT $2",
	2, {INT8OID, INT4OID}
};
static KeptPlan count_events = {
	"SELECT pg_catalog.count(*) FROM cmp.event e"
	" WHERE e.event_id OPERATOR(pg_catalog.>) $1 AND e.event_id OPERATOR(pg_catalog.<=) $2"
	"   AND cmp.actor_sees(e.account_id, e.customer_id)",
	2, {INT8OID, INT8OID}
};
static KeptPlan newest_event = {
	"SELECT COALESCE(pg_catalog.max(e.event_id), 0) FROM cmp.event e",
	0, {InvalidOid}
};
static KeptPlan purge = {
	"DELETE FROM cmp.event e"
	" WHERE e.occurred_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)"
	"   AND e.event_id OPERATOR(pg_catalog.<=) COALESCE("
	"       (SELECT pg_catalog.min(c.acked_event_id) FROM cmp.event_consumer c),"
	"       9223372036854775807)",
	1, {INTERVALOID}
};

/* The owner and name of a consumer argument, as the kept plans take them. */
static void
ConsumerKey(const Actor *actor, char *name, Datum *args, char *nulls)
{
	args[0] = Int64GetDatum(actor->user_id);
	nulls[0] = actor->user_id ? ' ' : 'n';
	args[1] = CStringGetTextDatum(name);
	nulls[1] = ' ';
}

static void
ConsumerAudit(const Actor *actor, const char *operation, const char *name,
			  const char *json)
{
	AuditEvent	ev = {0};

	ev.operation = operation;
	ev.resource_type = "event_consumer";
	ev.resource_id = name;
	ev.account_id = actor->account_id;
	ev.new_value = json ? AuditJson(json) : NULL;
	AuditWrite(&ev);
}

static void
ConsumerMissing(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("event consumer \"%s\" does not exist", name),
			 errhint("Create it with cmp.create_event_consumer() while acting as its owner.")));
}

/* Lock the acting user's consumer; returns its acknowledged position. */
static int64
ConsumerLock(const Actor *actor, char *name, Datum *args, char *nulls)
{
	ConsumerKey(actor, name, args, nulls);
	KeptPlanExec(&lock_consumer, args, nulls, false, 0);
	if (SPI_processed == 0)
		ConsumerMissing(name);
	return SpiGetInt64(0, 1, NULL);
}

Datum
create_event_consumer(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	char	   *name;
	Datum		args[2];
	char		nulls[2];

	RuleRequire(&mine, "create_event_consumer");
	name = ArgText(fcinfo, 0, "name", true, 63);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ConsumerKey(&mine, name, args, nulls);
	KeptPlanExec(&insert_consumer, args, nulls, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errrule("event_consumer_name_unique"),
				 errmsg("event consumer \"%s\" already exists", name),
				 errhint("Each consumer of one user needs its own name.")));
	ConsumerAudit(&mine, "create_event_consumer", name, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
drop_event_consumer(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	char	   *name;
	Datum		args[2];
	char		nulls[2];

	RuleRequire(&mine, "drop_event_consumer");
	name = ArgText(fcinfo, 0, "name", true, 63);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ConsumerKey(&mine, name, args, nulls);
	KeptPlanExec(&delete_consumer, args, nulls, false, 0);
	if (SPI_processed == 0)
		ConsumerMissing(name);
	ConsumerAudit(&mine, "drop_event_consumer", name,
				  psprintf("{\"acked_event_id\": " INT64_FORMAT "}", SpiGetInt64(0, 1, NULL)));
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
read_events(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int32		max_events;
	Datum		args[2];
	char		nulls[2];
	int64		acked;
	uint64		i;

	RuleRequire(&mine, "read_events");
	name = ArgText(fcinfo, 0, "consumer", true, 63);
	RequireNotNull(fcinfo, 1, "max_events");
	max_events = PG_GETARG_INT32(1);
	if (max_events < 1 || max_events > MAX_EVENTS_PER_READ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("max_events"),
				 errmsg("max_events must be between 1 and %d", MAX_EVENTS_PER_READ),
				 errdetail("max_events is %d.", max_events)));

	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	acked = ConsumerLock(&mine, name, args, nulls);
	args[0] = Int64GetDatum(acked);
	args[1] = Int32GetDatum(max_events);
	KeptPlanExec(&next_events, args, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	SPI_finish();
	return (Datum) 0;
}

Datum
ack_events(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	char	   *name;
	int64		up_to;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		acked;
	int64		count;

	RuleRequire(&mine, "ack_events");
	name = ArgText(fcinfo, 0, "consumer", true, 63);
	RequireNotNull(fcinfo, 1, "up_to_event_id");
	up_to = PG_GETARG_INT64(1);
	if (up_to < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("up_to_event_id"),
				 errmsg("up_to_event_id must not be negative"),
				 errdetail("up_to_event_id is %lld.", (long long) up_to)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	acked = ConsumerLock(&mine, name, args, nulls);
	if (up_to <= acked)
	{
		SPI_finish();
		PG_RETURN_INT64(0);		/* already acknowledged */
	}

	/*
	 * Beyond the newest committed event, an acknowledgement would take events
	 * that have not committed yet, unread: refused.
	 */
	KeptPlanExec(&newest_event, NULL, NULL, false, 0);
	if (up_to > SpiGetInt64(0, 1, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("up_to_event_id"),
				 errmsg("event %lld has not been committed", (long long) up_to),
				 errdetail("A consumer acknowledges only events it can have read."),
				 errhint("Pass the event_id of the last event cmp.read_events returned.")));

	args[0] = Int64GetDatum(acked);
	args[1] = Int64GetDatum(up_to);
	KeptPlanExec(&count_events, args, NULL, false, 0);
	count = SpiGetInt64(0, 1, NULL);

	ConsumerKey(&mine, name, args, nulls);
	args[2] = Int64GetDatum(up_to);
	KeptPlanExec(&set_acked, args, nulls, false, 0);
	SPI_finish();
	PG_RETURN_INT64(count);
}

Datum
purge_events(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	Interval   *older_than;
	Datum		arg;
	int64		purged;
	AuditEvent	ev = {0};

	RuleRequire(&mine, "purge_events");
	RequireNotNull(fcinfo, 0, "older_than");
	older_than = PG_GETARG_INTERVAL_P(0);
	/* at most 1,000 years back, so that now() - older_than cannot overflow */
	if (older_than->month > 12 * 1000 || older_than->day > 366 * 1000 ||
		older_than->time > (int64) 366 * 1000 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("older_than"),
				 errmsg("older_than is out of range"),
				 errhint("Pass an interval of at most 1000 years.")));
	if (older_than->time < 0 || older_than->day < 0 || older_than->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("older_than"),
				 errmsg("older_than must not be negative"),
				 errhint("Pass an interval such as '90 days'.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	arg = PG_GETARG_DATUM(0);
	KeptPlanExec(&purge, &arg, NULL, false, 0);
	purged = (int64) SPI_processed;
	if (purged > 0)
	{
		ev.operation = "purge_events";
		ev.resource_type = "event";
		ev.new_value = AuditJson(psprintf("{\"purged\": " INT64_FORMAT "}", purged));
		AuditWrite(&ev);
	}
	SPI_finish();
	PG_RETURN_INT64(purged);
}

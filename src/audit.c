/*
 * audit.c
 *		One cmp.audit_log row per changing call (SPEC §7), and its event in
 *		the change feed (SPEC §11).
 *
 * The audit row is written by the caller's SPI connection, in the same
 * transaction as the change it describes; its event is written from it at
 * commit (event_commit), so all commit or none does.  The caller must be
 * connected to SPI.
 */
#include "reseller_onboarding.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/*
 * The audit row of a call.  Its event (SPEC §11) is written from it when the
 * transaction commits, by the trigger cmp.event_commit below, so that event
 * ids are taken in commit order.
 */
static KeptPlan insert_audit = {
	"INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type,"
	"   resource_id, account_id, customer_id, previous_value, new_value, reason, event_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
	11, {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID, JSONBOID,
	TEXTOID, INT8OID}
};

/*
 * The event of an audit row, with the payload its call built (EventPayload).
 */
static KeptPlan insert_event = {
	"INSERT INTO cmp.event (event_id, occurred_at, event_type, account_id, customer_id,"
	"    resource_type, resource_id, actor_user_id, payload)"
	" VALUES (pg_catalog.nextval('cmp.event_id_seq'), $1, $2, $3, $4, $5, $6, $7, $8)",
	8, {TIMESTAMPTZOID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, JSONBOID}
};

/*
 * The audit rows this transaction wrote with an event to come, by audit id,
 * with the event's type and payload.  An audit row
 * that is not here (a restored or hand-written one) makes no event.  The
 * table lives in the transaction's memory; pending_lxid tells whether it is
 * this transaction's.
 */
typedef struct PendingEvent
{
	int64		audit_id;
	const char *event_type;		/* one of event_types[] */
	Jsonb	   *payload;
} PendingEvent;

static HTAB *pending = NULL;
static LocalTransactionId pending_lxid = InvalidLocalTransactionId;

static HTAB *
Pending(bool create)
{
	HASHCTL		ctl;

	if (pending && pending_lxid == MyProc->lxid)
		return pending;
	if (!create)
		return NULL;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(PendingEvent);
	ctl.hcxt = TopTransactionContext;
	pending = hash_create("cmp pending events", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	pending_lxid = MyProc->lxid;
	return pending;
}

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

static void
PushKey(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

/*
 * Push the pairs of a JSON object, but for the keys named by skip; a value
 * that is not an object is pushed whole.
 */
static void
PushPairs(JsonbParseState **state, Jsonb *object, const char *const *skip)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		skipping = false;

	if (!JB_ROOT_IS_OBJECT(object))
		elog(ERROR, "a value of the audit log is not a JSON object");
	it = JsonbIteratorInit(&object->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			i;

			skipping = false;
			for (i = 0; skip && skip[i]; i++)
				if (v.val.string.len == strlen(skip[i]) &&
					memcmp(v.val.string.val, skip[i], v.val.string.len) == 0)
					skipping = true;
			if (!skipping)
				pushJsonbValue(state, WJB_KEY, &v);
		}
		else if (tok == WJB_VALUE && !skipping)
			pushJsonbValue(state, WJB_VALUE, &v);
	}
}

/*
 * An event's payload: the audit row's id, its previous and new values and
 * reason, then what the call adds (e.g. the ICCIDs of a bulk call); never a
 * user's db_role, which tenants may not see (SPEC §5).
 */
static Jsonb *
EventPayload(int64 audit_id, const AuditEvent *ev)
{
	static const char *const hidden[] = {"db_role", "db_role_oid", NULL};
	JsonbParseState *state = NULL;
	JsonbValue	v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	PushKey(&state, "audit_event_id");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(audit_id);
	pushJsonbValue(&state, WJB_VALUE, &v);
	if (ev->previous_value)
	{
		PushKey(&state, "previous");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		PushPairs(&state, ev->previous_value, hidden);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (ev->new_value)
	{
		PushKey(&state, "new");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		PushPairs(&state, ev->new_value, hidden);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (ev->reason)
	{
		PushKey(&state, "reason");
		v.type = jbvString;
		v.val.string.val = (char *) ev->reason;
		v.val.string.len = strlen(ev->reason);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	/* a key the call adds again wins, as with || */
	if (ev->event_extra)
		PushPairs(&state, ev->event_extra, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

void
AuditWrite(const AuditEvent *ev)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	const char *event_type = EventType(ev->operation);
	Datum		values[11];
	char		nulls[11];
	NameData	role;
	int64		audit_id;

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

	/*
	 * The row's id is taken first, so that its event is known to come before
	 * the row is written: under SET CONSTRAINTS cmp.event_commit IMMEDIATE
	 * the trigger runs at the end of the INSERT.
	 */
	audit_id = nextval_internal(get_relname_relid("audit_event_id_seq", get_namespace_oid("cmp", false)),
								false);
	values[10] = Int64GetDatum(audit_id);
	if (event_type)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		Jsonb	   *payload = EventPayload(audit_id, ev);
		PendingEvent *pe;

		MemoryContextSwitchTo(old);
		pe = hash_search(Pending(true), &audit_id, HASH_ENTER, NULL);
		pe->event_type = event_type;
		pe->payload = payload;
	}

	if (KeptPlanExec(&insert_audit, values, nulls, false, 0) != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "could not write the audit log");
	if (!event_type)
		return;

	/* consumers need not poll: told on commit, with the account */
	Async_Notify("cmp_events",
				 ev->account_id ? psprintf(INT64_FORMAT, ev->account_id) : "");
}

/* The value of an audit row's column, by name (partitions may differ in layout). */
static Datum
AuditColumn(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "cmp.audit_log has no column \"%s\"", name);
	return heap_getattr(tuple, attnum, desc, isnull);
}

/*
 * The trigger cmp.event_commit on cmp.audit_log, deferred to the commit of
 * the transaction that wrote the row: under the lock of
 * cmp.event_commit_order, held until the transaction has ended, the row's
 * event gets the next id and goes into cmp.event.  So ids are taken in
 * commit order.
 */
PG_FUNCTION_INFO_V1(event_commit);
Datum
event_commit(PG_FUNCTION_ARGS)
{
	static const char *const columns[] = {
		"occurred_at", "operation", "account_id", "customer_id",
		"resource_type", "resource_id", "actor_user_id"
	};
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HTAB	   *h = Pending(false);
	PendingEvent *pe;
	Datum		values[8];
	char		nulls[8];
	bool		isnull;
	int64		audit_id;
	Oid			order_lock;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cmp.event_commit() must be called as an AFTER INSERT ... FOR EACH ROW trigger")));
	desc = RelationGetDescr(td->tg_relation);
	audit_id = DatumGetInt64(AuditColumn(td->tg_trigtuple, desc, "event_id", &isnull));
	pe = (h && !isnull) ? hash_search(h, &audit_id, HASH_FIND, NULL) : NULL;
	if (pe == NULL)
		return PointerGetDatum(NULL);

	for (i = 0; i < lengthof(columns); i++)
	{
		values[i] = AuditColumn(td->tg_trigtuple, desc, columns[i], &isnull);
		nulls[i] = isnull ? 'n' : ' ';
	}
	/* the operation's event type and the payload, as the call found them */
	values[1] = CStringGetTextDatum(pe->event_type);
	values[7] = JsonbPGetDatum(pe->payload);
	nulls[7] = ' ';

	order_lock = get_relname_relid("event_commit_order", get_namespace_oid("cmp", false));
	if (!OidIsValid(order_lock))
		elog(ERROR, "cmp.event_commit_order is missing");
	LockRelationOid(order_lock, ExclusiveLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&insert_event, values, nulls, false, 0);
	SPI_finish();
	hash_search(h, &audit_id, HASH_REMOVE, NULL);
	return PointerGetDatum(NULL);
}

/* A previous or new value written as JSON text by the caller. */
Jsonb *
AuditJson(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

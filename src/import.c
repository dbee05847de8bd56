/*
 * import.c
 *		Customer import (SPEC §13): cmp.import_customers.
 *
 * Each element of the JSON array is one create_customer call, made through
 * the same C function, so it meets exactly the same rules and gives exactly
 * the same errors.  Each element runs in a subtransaction of its own, so a
 * failing element is reported (SQLSTATE, message, detail) and the next one
 * still runs; with all_or_nothing the whole import runs in one more
 * subtransaction, rolled back at the end if any element failed, so nothing
 * is written but every element is still reported.
 */
#include "reseller_onboarding.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(import_customers);

extern Datum create_customer(PG_FUNCTION_ARGS);

#define MAX_IMPORT 100000
#define CREATE_CUSTOMER_NARGS 20	/* with request_id, always NULL here */

/* create_customer's arguments by name, at their positions */
static const struct
{
	const char *name;
	char		kind;			/* i: bigint, b: boolean, n: numeric, t: text */
}			customer_args[CREATE_CUSTOMER_NARGS - 1] =
{
	{"account_id", 'i'}, {"name", 't'}, {"billable", 'b'}, {"status", 't'},
	{"external_customer_number", 't'}, {"description", 't'}, {"country", 't'},
	{"state", 't'}, {"zip_code", 't'}, {"city", 't'}, {"street", 't'}, {"phone", 't'},
	{"homepage", 't'}, {"linkedin", 't'}, {"estimated_annual_revenue", 'n'},
	{"revenue_currency", 't'}, {"admin_login", 't'}, {"admin_email", 't'},
	{"admin_full_name", 't'},
};

typedef struct Outcome
{
	int64		customer_id;	/* 0: none */
	char	   *sqlstate;
	char	   *message;
	char	   *detail;
} Outcome;

/* A JSON number that is a bigint, without rounding. */
static bool
JsonInteger(JsonbValue *v, int64 *out)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(v->val.numeric)));
	char	   *end;

	errno = 0;
	*out = strtoi64(text, &end, 10);
	return errno == 0 && *end == '\0' && end != text;
}

static void
FieldType(int item, const char *name, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be %s", name, what),
			 errdetail("Element %d of customers.", item)));
}

/* One element: its fields as create_customer's arguments; then the call. */
static int64
ImportOne(int item, JsonbValue *elem)
{
	LOCAL_FCINFO(fc, CREATE_CUSTOMER_NARGS);
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	int			i;

	InitFunctionCallInfoData(*fc, NULL, CREATE_CUSTOMER_NARGS, InvalidOid, NULL, NULL);
	for (i = 0; i < CREATE_CUSTOMER_NARGS; i++)
	{
		fc->args[i].value = (Datum) 0;
		fc->args[i].isnull = true;
	}
	/* the defaults of the SQL signature */
	fc->args[2].value = BoolGetDatum(false);
	fc->args[2].isnull = false;
	fc->args[3].value = CStringGetTextDatum("DRAFT");
	fc->args[3].isnull = false;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("element %d of customers is not a JSON object", item),
				 errhint("Each element holds create_customer's arguments by name.")));

	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		for (i = 0; i < lengthof(customer_args); i++)
			if (strcmp(customer_args[i].name, key) == 0)
				break;
		if (i == lengthof(customer_args))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"%s\"", key),
					 errdetail("Element %d of customers.", item),
					 errhint("The fields are create_customer's argument names.")));
		if (v.type == jbvNull)
		{
			fc->args[i].isnull = true;
			continue;
		}
		switch (customer_args[i].kind)
		{
			case 't':
				if (v.type != jbvString)
					FieldType(item, key, "a JSON string");
				fc->args[i].value = PointerGetDatum(cstring_to_text_with_len(v.val.string.val,
																			 v.val.string.len));
				break;
			case 'b':
				if (v.type != jbvBool)
					FieldType(item, key, "true or false");
				fc->args[i].value = BoolGetDatum(v.val.boolean);
				break;
			case 'n':
				if (v.type != jbvNumeric)
					FieldType(item, key, "a JSON number");
				fc->args[i].value = NumericGetDatum(v.val.numeric);
				break;
			case 'i':
				{
					int64		id = 0;

					if (v.type != jbvNumeric || !JsonInteger(&v, &id))
						FieldType(item, key, "an integer");
					fc->args[i].value = Int64GetDatum(id);
				}
				break;
		}
		fc->args[i].isnull = false;
	}
	return DatumGetInt64(create_customer(fc));
}

/* Run one element in a subtransaction; an error becomes its outcome. */
static void
ImportGuarded(int item, JsonbValue *elem, Outcome *out, MemoryContext keep)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		out->customer_id = ImportOne(item, elem);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(keep);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* a cancel or timeout ends the import, as in PL/pgSQL's WHEN OTHERS */
		if (e->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(e);
		out->customer_id = 0;
		out->sqlstate = MemoryContextStrdup(keep, unpack_sql_state(e->sqlerrcode));
		out->message = e->message;
		out->detail = e->detail;
	}
	PG_END_TRY();
}

static int
CompareIds(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/*
 * Number the customers in batches (customer.c): lock, in id order, every
 * account the elements name that the actor may create customers in.
 */
static void
LockAccounts(const Actor *actor, Jsonb *customers, int n)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	int			nids = 0,
				i;

	CustomerNumbersBegin(CurrentMemoryContext);
	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&customers->root, i);
		JsonbValue *id;
		int64		account_id;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			continue;
		id = getKeyJsonValueFromContainer(elem->val.binary.data, "account_id", 10, NULL);
		if (id == NULL || id->type != jbvNumeric)
			continue;
		if (!JsonInteger(id, &account_id) || !RuleAccountInReach(actor, account_id))
			continue;
		ids[nids++] = account_id;
	}
	qsort(ids, nids, sizeof(int64), CompareIds);
	for (i = 0; i < nids; i++)
		if (i == 0 || ids[i] != ids[i - 1])
			(void) CustomerNumbersLock(ids[i]);
}

/* Every element, numbered in batches; returns how many failed. */
static int
ImportAll(const Actor *actor, Jsonb *customers, int n, Outcome *outcomes,
		  MemoryContext keep, MemoryContext per_item)
{
	volatile int failed = 0;
	int			i;

	PG_TRY();
	{
		LockAccounts(actor, customers, n);
		for (i = 0; i < n; i++)
		{
			JsonbValue *elem = getIthJsonbValueFromContainer(&customers->root, i);

			MemoryContextSwitchTo(per_item);
			ImportGuarded(i + 1, elem, &outcomes[i], keep);
			MemoryContextSwitchTo(keep);
			MemoryContextReset(per_item);
			CustomerNumbersSettle(outcomes[i].sqlstate == NULL);
			if (outcomes[i].sqlstate)
				failed++;
			CHECK_FOR_INTERRUPTS();
		}
		CustomerNumbersWrite();
	}
	PG_CATCH();
	{
		CustomerNumbersEnd();
		PG_RE_THROW();
	}
	PG_END_TRY();
	CustomerNumbersEnd();
	return failed;
}

static Jsonb *
OutcomesJson(Outcome *o, int n)
{
	StringInfoData j;
	int			i;

	initStringInfo(&j);
	appendStringInfoChar(&j, '[');
	for (i = 0; i < n; i++)
	{
		appendStringInfo(&j, "%s{\"customer_id\": ", i ? ", " : "");
		if (o[i].customer_id)
			appendStringInfo(&j, INT64_FORMAT, o[i].customer_id);
		else
			appendStringInfoString(&j, "null");
		appendStringInfoString(&j, ", \"sqlstate\": ");
		if (o[i].sqlstate)
			escape_json(&j, o[i].sqlstate);
		else
			appendStringInfoString(&j, "null");
		appendStringInfoString(&j, ", \"message\": ");
		if (o[i].message)
			escape_json(&j, o[i].message);
		else
			appendStringInfoString(&j, "null");
		appendStringInfoString(&j, ", \"detail\": ");
		if (o[i].detail)
			escape_json(&j, o[i].detail);
		else
			appendStringInfoString(&j, "null");
		appendStringInfoChar(&j, '}');
	}
	appendStringInfoChar(&j, ']');
	return AuditJson(j.data);
}

static char *
OutcomeText(Jsonb *row, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&row->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

Datum
import_customers(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *customers;
	bool		all_or_nothing;
	Request		req;
	Jsonb	   *prior;
	Outcome    *outcomes;
	int			n,
				i,
				failed = 0;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext per_item;
	ResourceOwner owner = CurrentResourceOwner;

	RuleRequire(&mine, "import_customers");
	RequireNotNull(fcinfo, 0, "customers");
	RequireNotNull(fcinfo, 1, "all_or_nothing");
	customers = PG_GETARG_JSONB_P(0);
	all_or_nothing = PG_GETARG_BOOL(1);
	if (!JsonContainerIsArray(&customers->root) || JsonContainerIsScalar(&customers->root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("customers"),
				 errmsg("customers must be a JSON array"),
				 errhint("Pass an array of objects whose keys are create_customer's argument names.")));
	n = JsonContainerSize(&customers->root);
	if (n > MAX_IMPORT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("customers"),
				 errmsg("customers has %d elements, more than %d", n, MAX_IMPORT),
				 errhint("Import in batches.")));

	InitMaterializedSRF(fcinfo, 0);
	prior = RequestBegin(fcinfo, 2, "import_customers", &req);
	outcomes = palloc0(sizeof(Outcome) * Max(n, 1));

	if (prior)
	{
		/* a repeat: the first call's report */
		n = JsonContainerSize(&prior->root);
		for (i = 0; i < n; i++)
		{
			JsonbValue *row = getIthJsonbValueFromContainer(&prior->root, i);
			Jsonb	   *obj = JsonbValueToJsonb(row);
			JsonbValue *id = getKeyJsonValueFromContainer(&obj->root, "customer_id", 11, NULL);

			if (id && id->type == jbvNumeric)
				outcomes[i].customer_id = DatumGetInt64(DirectFunctionCall1(numeric_int8,
																			NumericGetDatum(id->val.numeric)));
			outcomes[i].sqlstate = OutcomeText(obj, "sqlstate");
			outcomes[i].message = OutcomeText(obj, "message");
			outcomes[i].detail = OutcomeText(obj, "detail");
		}
	}
	else
	{
		per_item = AllocSetContextCreate(CurrentMemoryContext, "import element",
										 ALLOCSET_DEFAULT_SIZES);
		if (all_or_nothing)
		{
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(keep);
		}
		failed = ImportAll(&mine, customers, n, outcomes, keep, per_item);
		if (all_or_nothing)
		{
			if (failed > 0)
			{
				RollbackAndReleaseCurrentSubTransaction();
				for (i = 0; i < n; i++)
					if (outcomes[i].sqlstate == NULL)
					{
						outcomes[i].customer_id = 0;
						outcomes[i].message =
							"not created: the import is all or nothing and another element failed";
					}
			}
			else
				ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(keep);
			CurrentResourceOwner = owner;
		}
		/* a repeat gets this report, whether or not the import wrote anything */
		RequestDone(&req, OutcomesJson(outcomes, n));
	}

	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int64GetDatum(outcomes[i].customer_id);
		nulls[1] = outcomes[i].customer_id == 0;
		values[2] = outcomes[i].sqlstate ? CStringGetTextDatum(outcomes[i].sqlstate) : (Datum) 0;
		nulls[2] = outcomes[i].sqlstate == NULL;
		values[3] = outcomes[i].message ? CStringGetTextDatum(outcomes[i].message) : (Datum) 0;
		nulls[3] = outcomes[i].message == NULL;
		values[4] = outcomes[i].detail ? CStringGetTextDatum(outcomes[i].detail) : (Datum) 0;
		nulls[4] = outcomes[i].detail == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

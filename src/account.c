/*
 * account.c
 *		Accounts: cmp.create_account.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(create_account);

static KeptPlan account_number_taken = {
	"SELECT 1 FROM cmp.account WHERE account_number OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};
static KeptPlan insert_account = {
	"INSERT INTO cmp.account AS a (account_number, name, account_type,"
	"   customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day, created_by)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)"
	" RETURNING a.account_id, pg_catalog.to_jsonb(a.*)",
	7, {TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, INT4OID, INT8OID}
};

Datum
create_account(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Request		req;
	Jsonb	   *prior;
	char	   *number;
	char	   *name;
	char	   *type;
	char	   *invoice_type;
	bool		reseller;
	bool		has_profile_arg;
	Datum		values[7];
	char		nulls[7];
	int64		account_id;
	AuditEvent	ev = {0};
	char		idbuf[32];

	RuleRequire(actor, "create_account");
	prior = RequestBegin(fcinfo, 6, "create_account", &req);
	if (prior)
		PG_RETURN_INT64(RequestIdOf(prior));

	number = ArgText(fcinfo, 0, "account_number", true, 64);
	name = ArgText(fcinfo, 1, "name", true, 200);
	type = ArgText(fcinfo, 2, "account_type", true, 16);
	invoice_type = ArgText(fcinfo, 4, "customer_invoice_type", false, 16);

	if (strcmp(type, "STANDARD") != 0 && strcmp(type, "RESELLER") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("account_type"),
				 errmsg("invalid account_type \"%s\"", type),
				 errhint("Use STANDARD or RESELLER.")));
	reseller = strcmp(type, "RESELLER") == 0;
	has_profile_arg = !PG_ARGISNULL(3) || invoice_type != NULL || !PG_ARGISNULL(5);

	if (reseller && (PG_ARGISNULL(3) || invoice_type == NULL || PG_ARGISNULL(5)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("reseller_profile_required"),
				 errmsg("a reseller account needs a reseller profile"),
				 errdetail("customer_invoice_creation, customer_invoice_type and customer_billing_cycle_day are required for a RESELLER account.")));
	if (!reseller && has_profile_arg)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("reseller_profile_required"),
				 errmsg("a standard account has no reseller profile"),
				 errhint("Leave customer_invoice_creation, customer_invoice_type and customer_billing_cycle_day NULL, or create a RESELLER account.")));
	if (invoice_type != NULL && strcmp(invoice_type, "RAW") != 0 &&
		strcmp(invoice_type, "PDF") != 0 && strcmp(invoice_type, "BOTH") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("customer_invoice_type"),
				 errmsg("invalid customer_invoice_type \"%s\"", invoice_type),
				 errhint("Use RAW, PDF or BOTH.")));
	if (!PG_ARGISNULL(5) && (PG_GETARG_INT32(5) < 1 || PG_GETARG_INT32(5) > 28))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("customer_billing_cycle_day"),
				 errmsg("customer_billing_cycle_day %d is out of range", PG_GETARG_INT32(5)),
				 errhint("Use a day from 1 to 28.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = CStringGetTextDatum(number);
	KeptPlanExec(&account_number_taken, values, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errrule("account_number_unique"),
				 errmsg("account number \"%s\" already exists", number)));

	memset(nulls, ' ', sizeof(nulls));
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(type);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = invoice_type ? CStringGetTextDatum(invoice_type) : (Datum) 0;
	nulls[4] = invoice_type ? ' ' : 'n';
	values[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	values[6] = Int64GetDatum(actor->user_id);
	nulls[6] = actor->user_id == 0 ? 'n' : ' ';
	KeptPlanExec(&insert_account, values, nulls, false, 0);

	account_id = SpiGetInt64(0, 1, NULL);
	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, account_id);
	ev.operation = "create_account";
	ev.resource_type = "account";
	ev.resource_id = idbuf;
	ev.account_id = account_id;
	ev.new_value = SpiGetJsonb(0, 2);
	AuditWrite(&ev);

	SPI_finish();
	RequestDone(&req, RequestId(account_id));
	PG_RETURN_INT64(account_id);
}

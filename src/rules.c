/*
 * rules.c
 *		Who may call which changing function on which object (SPEC §5): the
 *		one table of these rules, the checks the functions make with it, and
 *		cmp.actor_can, which answers from the same table (SPEC §12).
 *
 * A rule names the kinds of actor allowed, whether ACCOUNT or CUSTOMER
 * users must be admins, and what the function's object is.  The object
 * checks (RuleAccountInReach, RuleCustomerInReach, RuleUserInReach and the
 * Writable ones) are what the functions apply to the rows they lock, and
 * what actor_can applies to the same rows read without locking.  actor_can answers about
 * permission and reach, not about the arguments or the object's state (a
 * transition that is not allowed, a customer that is SUSPENDED for SIMs):
 * those are the call's own refusals.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(actor_can);

#define KIND(k) (1 << (k))
#define SYSTEM KIND(ACTOR_SYSTEM)
#define CSP KIND(ACTOR_CSP)
#define ACCOUNT KIND(ACTOR_ACCOUNT)
#define CUSTOMER KIND(ACTOR_CUSTOMER)
#define ANYONE (SYSTEM | CSP | ACCOUNT | CUSTOMER)

#define ACCOUNT_ADMIN 0x1		/* ACCOUNT users must be admins */
#define CUSTOMER_ADMIN 0x2		/* CUSTOMER users must be admins */

static const OperationRule rules[] =
{
	{"create_account", RULE_NO_OBJECT, SYSTEM | CSP, 0},
	{"create_user", RULE_ACCOUNT, SYSTEM | CSP | ACCOUNT, ACCOUNT_ADMIN},
	{"provision_sims", RULE_ACCOUNT, SYSTEM | CSP, 0},
	{"create_customer", RULE_ACCOUNT, SYSTEM | ACCOUNT, 0},
	{"import_customers", RULE_ACCOUNT, SYSTEM | ACCOUNT, 0},
	{"update_customer", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"delete_customer", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"set_customer_status", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"assign_sims", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"assign_sim_range", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"assign_free_sims", RULE_CUSTOMER, SYSTEM | ACCOUNT, 0},
	{"unassign_sims", RULE_NO_OBJECT, SYSTEM | ACCOUNT, 0},
	{"create_customer_user", RULE_CUSTOMER, SYSTEM | ACCOUNT | CUSTOMER, CUSTOMER_ADMIN},
	{"assign_user_to_customers", RULE_CUSTOMER_USER, SYSTEM | ACCOUNT | CUSTOMER, CUSTOMER_ADMIN},
	{"unassign_user_from_customers", RULE_CUSTOMER_USER, SYSTEM | ACCOUNT | CUSTOMER, CUSTOMER_ADMIN},
	{"set_user_status", RULE_USER, ANYONE, CUSTOMER_ADMIN},
	{"create_event_consumer", RULE_NO_OBJECT, ANYONE, 0},
	{"drop_event_consumer", RULE_NO_OBJECT, ANYONE, 0},
	{"read_events", RULE_NO_OBJECT, ANYONE, 0},
	{"ack_events", RULE_NO_OBJECT, ANYONE, 0},
	{"purge_events", RULE_NO_OBJECT, SYSTEM | CSP, 0},
	{"purge_requests", RULE_NO_OBJECT, SYSTEM | CSP, 0},
	{"add_identity_key", RULE_NO_OBJECT, SYSTEM | CSP, 0},
	{"revoke_identity_key", RULE_NO_OBJECT, SYSTEM | CSP, 0},
};

const OperationRule *
RuleOf(const char *operation)
{
	int			i;

	for (i = 0; i < lengthof(rules); i++)
		if (strcmp(rules[i].operation, operation) == 0)
			return &rules[i];
	return NULL;
}

static bool
KindAllows(const Actor *a, const OperationRule *r)
{
	if (a->kind == ACTOR_NONE || !a->active || !(r->kinds & KIND(a->kind)))
		return false;
	if (a->kind == ACTOR_ACCOUNT && (r->flags & ACCOUNT_ADMIN) && !a->is_admin)
		return false;
	if (a->kind == ACTOR_CUSTOMER && (r->flags & CUSTOMER_ADMIN) && !a->is_admin)
		return false;
	return true;
}

/* The kind-level check every changing function makes first: 42501 if not. */
void
RuleRequire(const Actor *a, const char *operation)
{
	const OperationRule *r = RuleOf(operation);

	if (r == NULL)
		elog(ERROR, "no rule for %s", operation);
	FieldsOperation(operation);
	ActorRequire(a, KindAllows(a, r), operation);
}

/* ---- the object checks, shared by the functions and actor_can ---- */

bool
RuleAccountInReach(const Actor *a, int64 account_id)
{
	return a->kind != ACTOR_ACCOUNT || a->account_id == account_id;
}

/* A customer of account_id: for an ACCOUNT user, one of its account's; for a
 * customer user, one of its customers. */
bool
RuleCustomerInReach(const Actor *a, int64 account_id, int64 customer_id)
{
	switch (a->kind)
	{
		case ACTOR_SYSTEM:
		case ACTOR_CSP:
			return true;
		case ACTOR_ACCOUNT:
			return a->account_id == account_id;
		case ACTOR_CUSTOMER:
			return ActorSeesCustomer(a, customer_id);
		default:
			return false;
	}
}

/* A SUSPENDED customer is read-only to its own users (55000 when not). */
bool
RuleCustomerWritable(const Actor *a, const char *status)
{
	return a->kind != ACTOR_CUSTOMER || strcmp(status, "ACTIVE") == 0;
}

/*
 * A user of account_id: for an ACCOUNT user, one of its account; for a
 * customer user, a CUSTOMER user assigned to one of its customers.
 */
bool
RuleUserInReach(const Actor *a, int64 account_id, const char *level, bool assigned)
{
	switch (a->kind)
	{
		case ACTOR_SYSTEM:
		case ACTOR_CSP:
			return true;
		case ACTOR_ACCOUNT:
			return a->account_id == account_id;
		case ACTOR_CUSTOMER:
			return strcmp(level, "CUSTOMER") == 0 && assigned;
		default:
			return false;
	}
}

/* A customer admin changes users only through ACTIVE customers (55000). */
bool
RuleUserWritable(const Actor *a, bool assigned_active)
{
	return a->kind != ACTOR_CUSTOMER || assigned_active;
}

/* ---- cmp.actor_can ---- */

static KeptPlan account_row = {
	"SELECT a.account_id FROM cmp.account a WHERE a.account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan customer_row = {
	"SELECT c.account_id, c.status FROM cmp.customer c"
	" WHERE c.customer_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan user_row = {
	"SELECT u.account_id, u.context_level,"
	"       EXISTS (SELECT 1 FROM cmp.user_customer uc"
	"                WHERE uc.user_id OPERATOR(pg_catalog.=) u.user_id"
	"                  AND uc.customer_id OPERATOR(pg_catalog.=) ANY ($2)),"
	"       EXISTS (SELECT 1 FROM cmp.user_customer uc"
	"                 JOIN cmp.customer c ON c.customer_id OPERATOR(pg_catalog.=) uc.customer_id"
	"                WHERE uc.user_id OPERATOR(pg_catalog.=) u.user_id"
	"                  AND uc.customer_id OPERATOR(pg_catalog.=) ANY ($2)"
	"                  AND c.status OPERATOR(pg_catalog.=) 'ACTIVE')"
	"  FROM cmp.app_user_data u WHERE u.user_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8ARRAYOID}
};

static bool
ObjectInReach(const Actor *a, const OperationRule *r, int64 object_id)
{
	Datum		args[2];
	bool		reach = false;

	args[0] = Int64GetDatum(object_id);
	args[1] = PointerGetDatum(Int8Array(a->customer_ids, a->ncustomers));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	switch (r->object)
	{
		case RULE_ACCOUNT:
			KeptPlanExec(&account_row, args, NULL, true, 0);
			reach = SPI_processed > 0 && RuleAccountInReach(a, object_id);
			break;
		case RULE_CUSTOMER:
			KeptPlanExec(&customer_row, args, NULL, true, 0);
			reach = SPI_processed > 0 &&
				RuleCustomerInReach(a, SpiGetInt64(0, 1, NULL), object_id) &&
				RuleCustomerWritable(a, SpiGetText(0, 2));
			break;
		case RULE_USER:
		case RULE_CUSTOMER_USER:
			KeptPlanExec(&user_row, args, NULL, true, 0);
			if (SPI_processed > 0)
			{
				bool		isnull;
				char	   *level = SpiGetText(0, 2);
				bool		assigned = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																  SPI_tuptable->tupdesc, 3, &isnull));
				bool		through_active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																		SPI_tuptable->tupdesc, 4, &isnull));

				reach = RuleUserInReach(a, SpiGetInt64(0, 1, NULL), level, assigned) &&
					RuleUserWritable(a, through_active) &&
					(r->object != RULE_CUSTOMER_USER || strcmp(level, "CUSTOMER") == 0);
			}
			break;
		case RULE_NO_OBJECT:
			reach = true;
			break;
	}
	SPI_finish();
	return reach;
}

Datum
actor_can(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	char	   *operation;
	const OperationRule *r;

	FieldsOperation("set_actor");
	operation = ArgText(fcinfo, 0, "operation", true, 64);
	r = RuleOf(operation);
	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("operation"),
				 errmsg("unknown operation \"%s\"", operation),
				 errhint("Name a changing function of schema cmp, e.g. create_customer.")));
	if (!KindAllows(&mine, r))
		PG_RETURN_BOOL(false);
	if (PG_ARGISNULL(1) || r->object == RULE_NO_OBJECT)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(ObjectInReach(&mine, r, PG_GETARG_INT64(1)));
}

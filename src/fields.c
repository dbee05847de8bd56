/*
 * fields.c
 *		Machine-readable refusals (SPEC §8): which table column an argument
 *		stands for, and the error fields naming it or the rule refused.
 *
 * errfield(argument) and errrule(rule) go into an ereport's list like
 * errcode(): the first sets schema_name, table_name and column_name to the
 * column the argument of the current changing function is stored in (the
 * function is the one whose rules RuleRequire checked last, see rules.c);
 * the second sets constraint_name to a stable rule name from the README's
 * table of rules.
 */
#include "reseller_onboarding.h"

#include "catalog/namespace.h"
#include "utils/lsyscache.h"

/* (function, argument) -> table.column; function NULL: any function */
static const struct
{
	const char *operation;
	const char *argument;
	const char *table;
	const char *column;
}			columns[] =
{
	{"create_customer", "admin_login", "app_user", "login"},
	{"create_customer", "admin_email", "app_user", "email"},
	{"create_customer", "admin_full_name", "app_user", "full_name"},
	{"create_customer", "account_id", "customer", "account_id"},
	{"create_customer", "login", "app_user", "login"},		/* the admin user's */
	{"create_customer", "email", "app_user", "email"},
	{"import_customers", "customers", "customer", NULL},
	{"create_customer_user", "customer_ids", "user_customer", "customer_id"},
	{"assign_user_to_customers", "customer_ids", "user_customer", "customer_id"},
	{"unassign_user_from_customers", "customer_ids", "user_customer", "customer_id"},
	{"set_customer_status", "reason", "customer_status_history", "reason"},
	{"set_customer_status", "release_sims", "sim_card", "customer_id"},
	{"create_user", "account_id", "app_user", "account_id"},
	{"provision_sims", "iccids", "sim_card", "iccid"},
	{"provision_sims", "imsis", "sim_card", "imsi"},
	{"provision_sims", "msisdns", "sim_card", "msisdn"},
	{"provision_sims", "account_id", "sim_card", "account_id"},
	{NULL, "iccids", "sim_card", "iccid"},
	{NULL, "first_iccid", "sim_card", "iccid"},
	{NULL, "last_iccid", "sim_card", "iccid"},
	{NULL, "iccid_prefix", "sim_card", "iccid"},
	{NULL, "count", "sim_card", "customer_id"},
	{NULL, "reassign", "sim_card", "customer_id"},
	{"create_event_consumer", "name", "event_consumer", "name"},
	{"drop_event_consumer", "name", "event_consumer", "name"},
	{NULL, "consumer", "event_consumer", "name"},
	{NULL, "max_events", "event", "event_id"},
	{NULL, "up_to_event_id", "event_consumer", "acked_event_id"},
	{NULL, "older_than", "event", "occurred_at"},
	{NULL, "key", "identity_key", "key_material"},
	{NULL, "key_id", "identity_key", "key_id"},
	{NULL, "issuer", "identity_key", "issuer"},
	{NULL, "algorithm", "identity_key", "algorithm"},
	{NULL, "audience", "identity_key", "audience"},
	{NULL, "valid_until", "identity_key", "valid_until"},
};

/* the table a function's other arguments are columns of */
static const struct
{
	const char *operation;
	const char *table;
}			tables[] =
{
	{"create_account", "account"},
	{"create_user", "app_user"},
	{"create_customer", "customer"},
	{"update_customer", "customer"},
	{"delete_customer", "customer"},
	{"set_customer_status", "customer"},
	{"import_customers", "customer"},
	{"create_customer_user", "app_user"},
	{"assign_user_to_customers", "app_user"},
	{"unassign_user_from_customers", "app_user"},
	{"set_user_status", "app_user"},
	{"provision_sims", "sim_card"},
	{"assign_sims", "sim_card"},
	{"unassign_sims", "sim_card"},
	{"assign_sim_range", "sim_card"},
	{"assign_free_sims", "sim_card"},
	{"add_identity_key", "identity_key"},
	{"revoke_identity_key", "identity_key"},
};

static const char *current_operation = NULL;

void
FieldsOperation(const char *operation)
{
	current_operation = operation;
}

/*
 * Is there such a column?  Asked while an error is being built, so it must
 * not fail: a catalog lookup by name in the syscache does not.
 */
static bool
ColumnExists(const char *table, const char *column)
{
	Oid			nsp = get_namespace_oid("cmp", true);
	Oid			rel;

	if (!OidIsValid(nsp))
		return false;
	rel = get_relname_relid(table, nsp);
	if (!OidIsValid(rel))
		rel = get_relname_relid(psprintf("%s_data", table), nsp);	/* behind a view */
	return OidIsValid(rel) && get_attnum(rel, column) != InvalidAttrNumber;
}

int
errfield(const char *argument)
{
	const char *op = current_operation;
	const char *table = NULL;
	const char *column = argument;
	int			i;

	for (i = 0; i < lengthof(columns); i++)
		if ((columns[i].operation == NULL || (op && strcmp(columns[i].operation, op) == 0)) &&
			strcmp(columns[i].argument, argument) == 0)
		{
			table = columns[i].table;
			column = columns[i].column;
			break;
		}
	if (table == NULL && op)
		for (i = 0; i < lengthof(tables); i++)
			if (strcmp(tables[i].operation, op) == 0)
			{
				table = tables[i].table;
				break;
			}
	if (table == NULL)
		table = "app_user";		/* set_actor and friends: a user */
	err_generic_string(PG_DIAG_SCHEMA_NAME, "cmp");
	err_generic_string(PG_DIAG_TABLE_NAME, table);
	/* an argument that is no column of the table (changes, count) names none */
	if (column && ColumnExists(table, column))
		err_generic_string(PG_DIAG_COLUMN_NAME, column);
	return 0;
}

int
errrule(const char *rule)
{
	err_generic_string(PG_DIAG_SCHEMA_NAME, "cmp");
	return err_generic_string(PG_DIAG_CONSTRAINT_NAME, rule);
}

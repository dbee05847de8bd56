/*
 * users.c
 *		CMP users: cmp.create_user (CSP and ACCOUNT users).
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

PG_FUNCTION_INFO_V1(create_user);

static KeptPlan account_exists = {
	"SELECT 1 FROM cmp.account WHERE account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan login_taken = {
	"SELECT 1 FROM cmp.app_user_data"
	" WHERE pg_catalog.lower(login) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
	1, {TEXTOID}
};
static KeptPlan role_taken = {
	"SELECT user_id FROM cmp.app_user_data WHERE db_role OPERATOR(pg_catalog.=) $1"
	"   AND db_role_oid OPERATOR(pg_catalog.=) $2",
	2, {NAMEOID, OIDOID}
};
/* a mapping left by a dropped role of the same name maps nobody; it goes */
static KeptPlan release_stale_role = {
	"UPDATE cmp.app_user_data SET db_role = NULL, db_role_oid = NULL"
	" WHERE db_role OPERATOR(pg_catalog.=) $1"
	"   AND db_role_oid OPERATOR(pg_catalog.<>) $2",
	2, {NAMEOID, OIDOID}
};
static KeptPlan insert_user = {
	"INSERT INTO cmp.app_user_data AS u (login, email, full_name, is_admin, db_role,"
	"   context_level, domain, account_id, created_by, db_role_oid)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	" RETURNING u.user_id, pg_catalog.to_jsonb(u.*)",
	10, {TEXTOID, TEXTOID, TEXTOID, BOOLOID, NAMEOID, TEXTOID, TEXTOID, INT8OID, INT8OID, OIDOID}
};

/* Checks shared by every way of creating a user; the caller is connected to SPI. */
void
UserCheckNew(const char *login, const char *email, const char *db_role)
{
	Datum		arg;
	Datum		args[2];
	NameData	role;

	if (strpbrk(login, " \t\r\n") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("login"),
				 errmsg("login \"%s\" contains whitespace", login)));
	if (!EmailIsValid(email))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("email"),
				 errmsg("invalid email address \"%s\"", email),
				 errhint("An email address looks like name@example.com.")));
	arg = CStringGetTextDatum(login);
	KeptPlanExec(&login_taken, &arg, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errrule("login_unique"),
				 errmsg("login \"%s\" already exists", login),
				 errdetail("Logins are unique regardless of case.")));
	if (db_role != NULL)
	{
		const Actor mine = ActorGet();
		const Actor *actor = &mine;
		Oid			roleid = get_role_oid(db_role, true);

		/* who logs in as whom is the DBA's decision, not a tenant's */
		if (actor->kind != ACTOR_SYSTEM && actor->kind != ACTOR_CSP)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to map database role \"%s\"", db_role),
					 errdetail("Only CSP users and the system actor map database roles to CMP users.")));
		if (!OidIsValid(roleid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield("db_role"),
					 errmsg("role \"%s\" does not exist", db_role),
					 errhint("Create the database role first, or leave db_role NULL.")));
		if (superuser_arg(roleid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield("db_role"),
					 errmsg("role \"%s\" is a superuser", db_role),
					 errdetail("A superuser with no actor set is the system actor; a mapping would never apply.")));
		namestrcpy(&role, db_role);
		args[0] = NameGetDatum(&role);
		args[1] = ObjectIdGetDatum(roleid);
		KeptPlanExec(&release_stale_role, args, NULL, false, 0);
		KeptPlanExec(&role_taken, args, NULL, false, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errrule("db_role_unique"),
					 errmsg("role \"%s\" is already mapped to user %lld", db_role,
							(long long) SpiGetInt64(0, 1, NULL))));
	}
}

/*
 * Insert a user and, unless operation is NULL, audit it; returns its id.  The caller is connected to
 * SPI and has checked permissions and arguments.
 */
int64
UserInsert(const char *operation, const char *login, const char *email,
		   const char *full_name, bool is_admin, const char *db_role,
		   const char *context_level, int64 account_id, int64 customer_id)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Datum		values[10];
	char		nulls[10];
	NameData	role;
	int64		user_id;
	char		idbuf[32];
	AuditEvent	ev = {0};

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(login);
	values[1] = CStringGetTextDatum(email);
	values[2] = full_name ? CStringGetTextDatum(full_name) : (Datum) 0;
	nulls[2] = full_name ? ' ' : 'n';
	values[3] = BoolGetDatum(is_admin);
	if (db_role)
	{
		namestrcpy(&role, db_role);
		values[4] = NameGetDatum(&role);
		/* the mapping belongs to the role that exists now (SPEC §4) */
		values[9] = ObjectIdGetDatum(get_role_oid(db_role, false));
	}
	else
	{
		nulls[4] = 'n';
		nulls[9] = 'n';
	}
	values[5] = CStringGetTextDatum(context_level);
	values[6] = CStringGetTextDatum(strcmp(context_level, "CSP") == 0 ? "CSP" : "ENTERPRISE");
	values[7] = Int64GetDatum(account_id);
	nulls[7] = account_id == 0 ? 'n' : ' ';
	values[8] = Int64GetDatum(actor->user_id);
	nulls[8] = actor->user_id == 0 ? 'n' : ' ';
	KeptPlanExec(&insert_user, values, nulls, false, 0);

	user_id = SpiGetInt64(0, 1, NULL);
	if (operation == NULL)
		return user_id;			/* the caller audits the whole call */
	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, user_id);
	ev.operation = operation;
	ev.resource_type = "user";
	ev.resource_id = idbuf;
	ev.account_id = account_id;
	ev.customer_id = customer_id;
	ev.new_value = SpiGetJsonb(0, 2);
	AuditWrite(&ev);
	return user_id;
}

Datum
create_user(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Request		req;
	Jsonb	   *prior;
	char	   *login;
	char	   *email;
	char	   *level;
	char	   *full_name;
	char	   *db_role = NULL;
	bool		is_admin;
	int64		account_id = 0;
	int64		user_id;

	/* who may create users at all: CSP users, and account admins */
	RuleRequire(actor, "create_user");
	prior = RequestBegin(fcinfo, 7, "create_user", &req);
	if (prior)
		PG_RETURN_INT64(RequestIdOf(prior));

	login = ArgText(fcinfo, 0, "login", true, 128);
	email = ArgText(fcinfo, 1, "email", true, 254);
	level = ArgText(fcinfo, 2, "context_level", true, 16);
	full_name = ArgText(fcinfo, 4, "full_name", false, 200);
	RequireNotNull(fcinfo, 5, "is_admin");
	is_admin = PG_GETARG_BOOL(5);
	if (!PG_ARGISNULL(6))
		db_role = CheckedText(NameStr(*PG_GETARG_NAME(6)), "db_role", false, NAMEDATALEN - 1);

	if (strcmp(level, "CUSTOMER") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("customer_users_via_create_customer_user"),
				 errmsg("create_user does not create CUSTOMER users"),
				 errhint("Use cmp.create_customer_user() for users of customers.")));
	if (strcmp(level, "CSP") != 0 && strcmp(level, "ACCOUNT") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("context_level"),
				 errmsg("invalid context_level \"%s\"", level),
				 errhint("Use CSP or ACCOUNT.")));

	if (strcmp(level, "CSP") == 0)
	{
		if (!PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errrule("csp_user_has_no_account"),
					 errmsg("a CSP user belongs to no account"),
					 errhint("Leave account_id NULL for CSP users.")));
		ActorRequire(actor, actor->kind != ACTOR_ACCOUNT, "create_user");
	}
	else
	{
		Datum		arg;

		RequireNotNull(fcinfo, 3, "account_id");
		account_id = PG_GETARG_INT64(3);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		arg = Int64GetDatum(account_id);
		KeptPlanExec(&account_exists, &arg, NULL, false, 1);
		if (SPI_processed == 0 || !RuleAccountInReach(actor, account_id))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("account %lld does not exist", (long long) account_id)));
		SPI_finish();
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	UserCheckNew(login, email, db_role);
	user_id = UserInsert("create_user", login, email, full_name, is_admin, db_role,
						 level, account_id, 0);
	SPI_finish();
	RequestDone(&req, RequestId(user_id));
	PG_RETURN_INT64(user_id);
}

/* ---- customer users ---- */

PG_FUNCTION_INFO_V1(create_customer_user);
PG_FUNCTION_INFO_V1(assign_user_to_customers);
PG_FUNCTION_INFO_V1(unassign_user_from_customers);
PG_FUNCTION_INFO_V1(set_user_status);

static KeptPlan lock_customers = {
	"SELECT c.customer_id, c.account_id, c.status FROM cmp.customer c"
	" WHERE c.customer_id OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY c.customer_id FOR SHARE",
	1, {INT8ARRAYOID}
};
static KeptPlan lock_user = {
	"SELECT u.account_id, u.context_level, u.status,"
	"       EXISTS (SELECT 1 FROM cmp.user_customer uc"
	"                WHERE uc.user_id OPERATOR(pg_catalog.=) u.user_id"
	"                  AND uc.customer_id OPERATOR(pg_catalog.=) ANY ($2)),"
	"       EXISTS (SELECT 1 FROM cmp.user_customer uc"
	"                 JOIN cmp.customer c ON c.customer_id OPERATOR(pg_catalog.=) uc.customer_id"
	"                WHERE uc.user_id OPERATOR(pg_catalog.=) u.user_id"
	"                  AND uc.customer_id OPERATOR(pg_catalog.=) ANY ($2)"
	"                  AND c.status OPERATOR(pg_catalog.=) 'ACTIVE')"
	"  FROM cmp.app_user_data u WHERE u.user_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	2, {INT8OID, INT8ARRAYOID}
};
static KeptPlan insert_assignments = {
	"INSERT INTO cmp.user_customer (user_id, customer_id, account_id, assigned_by)"
	" SELECT $1, c, $3, $4 FROM pg_catalog.unnest($2) AS c"
	" ON CONFLICT (user_id, customer_id) DO NOTHING"
	" RETURNING customer_id",
	4, {INT8OID, INT8ARRAYOID, INT8OID, INT8OID}
};
static KeptPlan remaining_after_unassign = {
	"SELECT pg_catalog.count(*) FILTER (WHERE NOT (uc.customer_id OPERATOR(pg_catalog.=) ANY ($2))),"
	"       (SELECT pg_catalog.min(c.customer_id) FROM cmp.customer c"
	"         WHERE c.admin_user_id OPERATOR(pg_catalog.=) $1"
	"           AND c.customer_id OPERATOR(pg_catalog.=) ANY ($2))"
	"  FROM cmp.user_customer uc WHERE uc.user_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8ARRAYOID}
};
static KeptPlan delete_assignments = {
	"DELETE FROM cmp.user_customer uc"
	" WHERE uc.user_id OPERATOR(pg_catalog.=) $1"
	"   AND uc.customer_id OPERATOR(pg_catalog.=) ANY ($2)"
	" RETURNING uc.customer_id",
	2, {INT8OID, INT8ARRAYOID}
};
static KeptPlan update_user_status = {
	"UPDATE cmp.app_user_data SET status = $2, updated_at = pg_catalog.now(), updated_by = $3"
	" WHERE user_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, TEXTOID, INT8OID}
};

static int
CompareIds(const void *a, const void *b)
{
	int64		x = DatumGetInt64(*(const Datum *) a);
	int64		y = DatumGetInt64(*(const Datum *) b);

	return x < y ? -1 : x > y ? 1 : 0;
}

/* A bigint[] argument: not NULL, no NULL elements, at least one; deduplicated and sorted. */
static ArrayType *
ArgIdArray(FunctionCallInfo fcinfo, int argno, const char *name, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			count,
				i,
				j;

	RequireNotNull(fcinfo, argno, name);
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(name),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(name),
				 errmsg("%s must name at least one customer", name)));
	for (i = 0; i < count; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errfield(name),
					 errmsg("%s must not contain NULL elements", name),
					 errdetail("Element %d is NULL.", i + 1)));
	qsort(elems, count, sizeof(Datum), CompareIds);
	for (i = 1, j = 1; i < count; i++)
		if (DatumGetInt64(elems[i]) != DatumGetInt64(elems[j - 1]))
			elems[j++] = elems[i];
	*n = j;
	return construct_array(elems, j, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * Lock the customers a call targets (FOR SHARE, so that no status change
 * runs under us) and check them against the actor: every one visible
 * (P0002), all of one account (22023), none TERMINATED, and, for a customer
 * admin, all ACTIVE because SUSPENDED customers are read-only to their users
 * (55000).  Returns the account.
 */
static int64
TargetCustomers(const Actor *actor, ArrayType *ids, int n)
{
	Datum		arg = PointerGetDatum(ids);
	Datum	   *elems;
	int			i,
				row = 0;
	int64		account_id = 0;
	StringInfoData missing;
	int			nmissing = 0;

	KeptPlanExec(&lock_customers, &arg, NULL, false, 0);
	deconstruct_array(ids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, NULL, &n);
	initStringInfo(&missing);
	for (i = 0; i < n; i++)
	{
		int64		id = DatumGetInt64(elems[i]);
		bool		visible = false;

		/* both lists are sorted by id */
		if (row < SPI_processed && SpiGetInt64(row, 1, NULL) == id)
		{
			int64		acct = SpiGetInt64(row, 2, NULL);
			char	   *status = SpiGetText(row, 3);

			visible = RuleCustomerInReach(actor, acct, id);
			if (visible)
			{
				if (account_id != 0 && acct != account_id)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errrule("customer_user_one_account"),
							 errmsg("the customers belong to different accounts"),
							 errdetail("A customer user is assigned only to customers of one account.")));
				account_id = acct;
				if (strcmp(status, "TERMINATED") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errrule("customer_terminated_read_only"),
							 errmsg("customer %lld is TERMINATED", (long long) id)));
				if (!RuleCustomerWritable(actor, status))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errrule("suspended_customer_read_only"),
							 errmsg("customer %lld is %s", (long long) id, status),
							 errdetail("A SUSPENDED customer is read-only to its own users.")));
			}
			row++;
		}
		if (!visible)
		{
			if (nmissing < 10)
				appendStringInfo(&missing, "%s%lld", nmissing ? ", " : "", (long long) id);
			nmissing++;
		}
	}
	if (nmissing > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg_plural("%d of the customers does not exist",
							   "%d of the customers do not exist", nmissing, nmissing),
				 errdetail("%d customers do not exist; the first %d: %s.", nmissing,
						   Min(nmissing, 10), missing.data)));
	return account_id;
}

/* May this actor manage customer users at all? CSP users may not (SPEC §5). */
static void
RequireCustomerUserManager(const Actor *actor, const char *operation)
{
	RuleRequire(actor, operation);
}

/* The actor's customers as a bigint[], for "is this user one of ours". */
static Datum
ActorCustomerArray(const Actor *actor)
{
	return PointerGetDatum(Int8Array(actor->customer_ids, actor->ncustomers));
}

/*
 * Lock a user (FOR UPDATE: assignment changes of one user are serialised)
 * and check that the actor sees it: P0002 otherwise.  Returns its account
 * and fills context level and status.
 */
static int64
TargetUser(const Actor *actor, int64 user_id, char **level, char **status)
{
	Datum		args[2];
	int64		account_id = 0;
	bool		visible;
	bool		isnull;

	args[0] = Int64GetDatum(user_id);
	args[1] = ActorCustomerArray(actor);
	KeptPlanExec(&lock_user, args, NULL, false, 0);
	if (SPI_processed == 0)
		visible = false;
	else
	{
		account_id = SpiGetInt64(0, 1, NULL);
		*level = SpiGetText(0, 2);
		*status = SpiGetText(0, 3);
		visible = RuleUserInReach(actor, account_id, *level,
								  DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 4, &isnull)));
	}
	if (!visible)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id)));
	/* a customer admin changes users only through customers that are ACTIVE */
	if (!RuleUserWritable(actor,
						  DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("suspended_customer_read_only"),
				 errmsg("user %lld belongs only to SUSPENDED customers", (long long) user_id),
				 errdetail("A SUSPENDED customer is read-only to its own users.")));
	return account_id;
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* a JSON array of the ids */
static char *
IdArrayText(ArrayType *ids)
{
	StringInfoData s;
	int64	   *v = (int64 *) ARR_DATA_PTR(ids);
	int			n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	int			i;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	for (i = 0; i < n; i++)
		appendStringInfo(&s, "%s%lld", i ? ", " : "", (long long) v[i]);
	appendStringInfoChar(&s, ']');
	return s.data;
}

Datum
create_customer_user(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Request		req;
	Jsonb	   *prior;
	ArrayType  *ids;
	int			n;
	char	   *login;
	char	   *email;
	char	   *full_name;
	char	   *db_role = NULL;
	bool		is_admin;
	int64		account_id;
	int64		user_id;
	Datum		args[4];
	char		idbuf[32];
	AuditEvent	ev = {0};

	RequireCustomerUserManager(actor, "create_customer_user");
	prior = RequestBegin(fcinfo, 6, "create_customer_user", &req);
	if (prior)
		PG_RETURN_INT64(RequestIdOf(prior));
	ids = ArgIdArray(fcinfo, 0, "customer_ids", &n);
	login = ArgText(fcinfo, 1, "login", true, 128);
	email = ArgText(fcinfo, 2, "email", true, 254);
	full_name = ArgText(fcinfo, 3, "full_name", false, 200);
	RequireNotNull(fcinfo, 4, "is_admin");
	is_admin = PG_GETARG_BOOL(4);
	if (!PG_ARGISNULL(5))
		db_role = CheckedText(NameStr(*PG_GETARG_NAME(5)), "db_role", false, NAMEDATALEN - 1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	account_id = TargetCustomers(actor, ids, n);
	UserCheckNew(login, email, db_role);
	user_id = UserInsert(NULL, login, email, full_name, is_admin, db_role,
						 "CUSTOMER", account_id, 0);
	args[0] = Int64GetDatum(user_id);
	args[1] = PointerGetDatum(ids);
	args[2] = Int64GetDatum(account_id);
	args[3] = Int64GetDatum(actor->user_id);
	KeptPlanExec(&insert_assignments, args, actor->user_id ? NULL : "   n", false, 0);

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, user_id);
	ev.operation = "create_customer_user";
	ev.resource_type = "user";
	ev.resource_id = idbuf;
	ev.account_id = account_id;
	if (n == 1)
		ev.customer_id = ((int64 *) ARR_DATA_PTR(ids))[0];
	{
		StringInfoData json;

		initStringInfo(&json);
		appendStringInfo(&json, "{\"user_id\": %lld, \"login\": ", (long long) user_id);
		escape_json(&json, login);
		appendStringInfo(&json, ", \"is_admin\": %s, \"customer_ids\": %s}",
						 is_admin ? "true" : "false", IdArrayText(ids));
		ev.new_value = AuditJson(json.data);
	}
	AuditWrite(&ev);
	SPI_finish();
	RequestDone(&req, RequestId(user_id));
	PG_RETURN_INT64(user_id);
}

/* assign (true) or unassign (false) a customer user */
static int
ChangeAssignments(FunctionCallInfo fcinfo, bool assign)
{
	const char *operation = assign ? "assign_user_to_customers" : "unassign_user_from_customers";
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		user_id;
	ArrayType  *ids;
	int			n;
	int64		account_id;
	int64		user_account;
	char	   *level = NULL;
	char	   *status = NULL;
	Datum		args[4];
	int			changed;
	char		idbuf[32];
	AuditEvent	ev = {0};

	RequireCustomerUserManager(actor, operation);
	RequireNotNull(fcinfo, 0, "user_id");
	user_id = PG_GETARG_INT64(0);
	ids = ArgIdArray(fcinfo, 1, "customer_ids", &n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * Customers first, then the user: the order delete_customer locks them
	 * in (the customer, then its users), so the two wait for each other
	 * instead of deadlocking.
	 */
	account_id = TargetCustomers(actor, ids, n);
	user_account = TargetUser(actor, user_id, &level, &status);
	if (strcmp(level, "CUSTOMER") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("user_id"),
				 errmsg("user %lld is not a customer user", (long long) user_id),
				 errdetail("Only CUSTOMER-level users are assigned to customers.")));
	if (account_id != user_account)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("customer_user_one_account"),
				 errmsg("user %lld belongs to another account", (long long) user_id),
				 errdetail("A customer user can only be assigned to customers of its own account.")));

	args[0] = Int64GetDatum(user_id);
	args[1] = PointerGetDatum(ids);
	if (assign)
	{
		args[2] = Int64GetDatum(account_id);
		args[3] = Int64GetDatum(actor->user_id);
		KeptPlanExec(&insert_assignments, args, actor->user_id ? NULL : "   n", false, 0);
	}
	else
	{
		bool		isnull;
		int64		admin_of;

		KeptPlanExec(&remaining_after_unassign, args, NULL, false, 0);
		admin_of = SpiGetInt64(0, 2, &isnull);
		if (!isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errrule("customer_admin_stays_assigned"),
					 errmsg("user %lld is the admin user of customer %lld", (long long) user_id,
							(long long) admin_of),
					 errdetail("The admin user of a customer stays assigned to it.")));
		if (SpiGetInt64(0, 1, NULL) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errrule("customer_user_keeps_a_customer"),
					 errmsg("user %lld would have no customer left", (long long) user_id),
					 errdetail("A customer user keeps at least one customer."),
					 errhint("Assign it to another customer first, or lock it with cmp.set_user_status().")));
		KeptPlanExec(&delete_assignments, args, NULL, false, 0);
	}
	changed = (int) SPI_processed;

	if (changed > 0)
	{
		/* the customers that changed, in order (not the ones asked for) */
		int64	   *done = palloc(sizeof(int64) * changed);
		int			i;

		for (i = 0; i < changed; i++)
			done[i] = SpiGetInt64(i, 1, NULL);
		qsort(done, changed, sizeof(int64), CompareInt64);
		snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, user_id);
		ev.operation = operation;
		ev.resource_type = "user";
		ev.resource_id = idbuf;
		ev.account_id = account_id;
		ev.new_value = AuditJson(psprintf("{\"customer_ids\": %s, \"changed\": %d}",
										  IdArrayText(Int8Array(done, changed)), changed));
		AuditWrite(&ev);
	}
	SPI_finish();
	return changed;
}

Datum
assign_user_to_customers(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ChangeAssignments(fcinfo, true));
}

Datum
unassign_user_from_customers(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ChangeAssignments(fcinfo, false));
}

Datum
set_user_status(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		user_id;
	char	   *status;
	char	   *level = NULL;
	char	   *previous = NULL;
	int64		account_id;
	Datum		args[3];
	char		idbuf[32];
	AuditEvent	ev = {0};

	RuleRequire(actor, "set_user_status");
	RequireNotNull(fcinfo, 0, "user_id");
	user_id = PG_GETARG_INT64(0);
	status = ArgText(fcinfo, 1, "status", true, 16);
	if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "LOCKED") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("status"),
				 errmsg("invalid user status \"%s\"", status),
				 errhint("Use ACTIVE or LOCKED.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	account_id = TargetUser(actor, user_id, &level, &previous);
	/* account users manage their account's users, not CSP users */
	if (actor->kind == ACTOR_CUSTOMER && strcmp(level, "CUSTOMER") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id)));
	if (user_id == actor->user_id && strcmp(status, "LOCKED") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("user_cannot_lock_itself"),
				 errmsg("a user cannot lock itself")));

	if (strcmp(previous, status) != 0)
	{
		args[0] = Int64GetDatum(user_id);
		args[1] = CStringGetTextDatum(status);
		args[2] = Int64GetDatum(actor->user_id);
		KeptPlanExec(&update_user_status, args, actor->user_id ? NULL : "  n", false, 0);

		snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, user_id);
		ev.operation = "set_user_status";
		ev.resource_type = "user";
		ev.resource_id = idbuf;
		ev.account_id = account_id;
		ev.previous_value = AuditJson(psprintf("{\"status\": \"%s\"}", previous));
		ev.new_value = AuditJson(psprintf("{\"status\": \"%s\"}", status));
		AuditWrite(&ev);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(previous));
}

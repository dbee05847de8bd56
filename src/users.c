/*
 * users.c
 *		CMP users: cmp.create_user (CSP and ACCOUNT users).
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(create_user);

static KeptPlan account_exists = {
	"SELECT 1 FROM cmp.account WHERE account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan login_taken = {
	"SELECT 1 FROM cmp.app_user"
	" WHERE pg_catalog.lower(login) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
	1, {TEXTOID}
};
static KeptPlan role_taken = {
	"SELECT user_id FROM cmp.app_user WHERE db_role OPERATOR(pg_catalog.=) $1",
	1, {NAMEOID}
};
static KeptPlan insert_user = {
	"INSERT INTO cmp.app_user AS u (login, email, full_name, is_admin, db_role,"
	"   context_level, domain, account_id, created_by)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" RETURNING u.user_id, pg_catalog.to_jsonb(u.*)",
	9, {TEXTOID, TEXTOID, TEXTOID, BOOLOID, NAMEOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
};

/* Checks shared by every way of creating a user; the caller is connected to SPI. */
void
UserCheckNew(const char *login, const char *email, const char *db_role)
{
	Datum		arg;
	NameData	role;

	if (strpbrk(login, " \t\r\n") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("login \"%s\" contains whitespace", login)));
	if (!EmailIsValid(email))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email address \"%s\"", email),
				 errhint("An email address looks like name@example.com.")));
	arg = CStringGetTextDatum(login);
	KeptPlanExec(&login_taken, &arg, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("login \"%s\" already exists", login),
				 errdetail("Logins are unique regardless of case.")));
	if (db_role != NULL)
	{
		if (!OidIsValid(get_role_oid(db_role, true)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("role \"%s\" does not exist", db_role),
					 errhint("Create the database role first, or leave db_role NULL.")));
		namestrcpy(&role, db_role);
		arg = NameGetDatum(&role);
		KeptPlanExec(&role_taken, &arg, NULL, false, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
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
	const Actor *actor = ActorCurrent();
	Datum		values[9];
	char		nulls[9];
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
	}
	else
		nulls[4] = 'n';
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
	const Actor *actor = ActorCurrent();
	char	   *login;
	char	   *email;
	char	   *level;
	char	   *full_name;
	char	   *db_role = NULL;
	bool		is_admin;
	int64		account_id = 0;
	int64		user_id;

	/* who may create users at all: CSP users, and account admins */
	ActorRequire(actor,
				 actor->kind == ACTOR_SYSTEM || actor->kind == ACTOR_CSP ||
				 (actor->kind == ACTOR_ACCOUNT && actor->is_admin),
				 "create_user");

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
				 errmsg("create_user does not create CUSTOMER users"),
				 errhint("Use cmp.create_customer_user() for users of customers.")));
	if (strcmp(level, "CSP") != 0 && strcmp(level, "ACCOUNT") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid context_level \"%s\"", level),
				 errhint("Use CSP or ACCOUNT.")));

	if (strcmp(level, "CSP") == 0)
	{
		if (!PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
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
		if (SPI_processed == 0 ||
			(actor->kind == ACTOR_ACCOUNT && actor->account_id != account_id))
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
	PG_RETURN_INT64(user_id);
}

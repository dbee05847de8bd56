/*
 * customer.c
 *		Customers: cmp.create_customer, cmp.update_customer,
 *		cmp.delete_customer.
 *
 * Customer numbers come from the account row (last_customer_number), which
 * the creating transaction updates and so locks: numbering is per account,
 * gapless under concurrency and rollback, needs no table-wide lock, and is
 * kept by pg_dump with the account's data.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(create_customer);
PG_FUNCTION_INFO_V1(update_customer);
PG_FUNCTION_INFO_V1(delete_customer);

/*
 * The fields a caller may set, in the order of the update statement's
 * arrays.  kind: 't' text, 'n' numeric, 'b' boolean.
 */
typedef struct CustomerField
{
	const char *name;
	char		kind;
	int			maxlen;
	bool		(*valid) (const char *);
	const char *hint;
} CustomerField;

static const CustomerField fields[] = {
	{"name", 't', 200},
	{"external_customer_number", 't', 64},
	{"description", 't', 2000},
	{"country", 't', 64, CountryIsValid, "Use an ISO 3166-1 alpha-2 code in upper case, such as DE."},
	{"state", 't', 100},
	{"zip_code", 't', 20},
	{"city", 't', 100},
	{"street", 't', 200},
	{"phone", 't', 64, PhoneIsValid, "Use E.164: a + and up to 15 digits, such as +4930123456."},
	{"homepage", 't', 2048, UrlIsValid, "Use an absolute http:// or https:// URL."},
	{"linkedin", 't', 2048, UrlIsValid, "Use an absolute http:// or https:// URL."},
	{"estimated_annual_revenue", 'n', 40},
	{"revenue_currency", 't', 64, CurrencyIsValid, "Use an ISO 4217 code in upper case, such as EUR."},
	{"billable", 'b', 5},
};

#define NFIELDS lengthof(fields)
#define F_NAME 0
#define F_EXTERNAL 1
#define F_COUNTRY 3
#define F_ZIP 5
#define F_CITY 6
#define F_STREET 7
#define F_REVENUE 11
#define F_CURRENCY 12
#define F_BILLABLE 13

/* fields that can never be changed through update_customer */
static const char *const immutable_fields[] = {
	"customer_id", "account_id", "account_type", "customer_number", "status",
	"admin_user_id", "created_at", "created_by", "updated_at", "updated_by",
	"activated_at", "activated_by", "terminated_at", "terminated_by"
};

static KeptPlan next_customer_number = {
	"UPDATE cmp.account SET last_customer_number = last_customer_number OPERATOR(pg_catalog.+) 1"
	" WHERE account_id OPERATOR(pg_catalog.=) $1"
	" RETURNING last_customer_number, account_type",
	1, {INT8OID}
};
/*
 * Numbering in batches, for cmp.import_customers: thousands of UPDATEs of
 * one account row in one transaction would leave thousands of versions of
 * it that every later statement touching the row walks through.  In a
 * batch the account row is locked once (FOR UPDATE, outside the elements'
 * subtransactions), numbers are counted here, and the last one is written
 * back once.  A number is used only when its element succeeded, so the
 * numbering stays gapless.
 */
typedef struct NumberBatch
{
	int64		account_id;
	int64		last;			/* the last number used */
	int64		offered;		/* handed to the element running now, or 0 */
	char	   *account_type;
} NumberBatch;

static NumberBatch *numbering = NULL;
static int	nnumbering = 0;
static int	maxnumbering = 0;
static MemoryContext numbering_cxt = NULL;

static KeptPlan lock_account_number = {
	"SELECT a.last_customer_number, a.account_type FROM cmp.account a"
	" WHERE a.account_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}
};
static KeptPlan set_account_number = {
	"UPDATE cmp.account SET last_customer_number = $2"
	" WHERE account_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};

void
CustomerNumbersBegin(MemoryContext cxt)
{
	numbering_cxt = cxt;
	maxnumbering = 8;
	nnumbering = 0;
	numbering = MemoryContextAllocZero(cxt, sizeof(NumberBatch) * maxnumbering);
}

/* Lock an account for the batch, outside any element; false if it does not exist. */
bool
CustomerNumbersLock(int64 account_id)
{
	Datum		arg = Int64GetDatum(account_id);
	NumberBatch *b;
	int			i;

	for (i = 0; i < nnumbering; i++)
		if (numbering[i].account_id == account_id)
			return true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	KeptPlanExec(&lock_account_number, &arg, NULL, false, 0);
	if (SPI_processed == 0)
	{
		SPI_finish();
		return false;
	}
	if (nnumbering == maxnumbering)
	{
		maxnumbering *= 2;
		numbering = repalloc(numbering, sizeof(NumberBatch) * maxnumbering);
	}
	b = &numbering[nnumbering++];
	b->account_id = account_id;
	b->last = SpiGetInt64(0, 1, NULL);
	b->offered = 0;
	b->account_type = MemoryContextStrdup(numbering_cxt, SpiGetText(0, 2));
	SPI_finish();
	return true;
}

static int64
BatchNumber(int64 account_id, char **account_type)
{
	int			i;

	for (i = 0; i < nnumbering; i++)
		if (numbering[i].account_id == account_id)
		{
			numbering[i].offered = numbering[i].last + 1;
			*account_type = numbering[i].account_type;
			return numbering[i].offered;
		}
	/* CustomerNumbersLock found no such account */
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("account %lld does not exist", (long long) account_id)));
	return 0;
}

/* The element that ran last succeeded (keep) or was rolled back. */
void
CustomerNumbersSettle(bool keep)
{
	int			i;

	for (i = 0; i < nnumbering; i++)
	{
		if (keep && numbering[i].offered)
			numbering[i].last = numbering[i].offered;
		numbering[i].offered = 0;
	}
}

/* Write the last numbers back to the accounts (connected to SPI or not). */
void
CustomerNumbersWrite(void)
{
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < nnumbering; i++)
	{
		Datum		args[2];

		args[0] = Int64GetDatum(numbering[i].account_id);
		args[1] = Int64GetDatum(numbering[i].last);
		KeptPlanExec(&set_account_number, args, NULL, false, 0);
	}
	SPI_finish();
}

void
CustomerNumbersEnd(void)
{
	numbering = NULL;
	nnumbering = maxnumbering = 0;
	numbering_cxt = NULL;
}

static KeptPlan name_taken = {
	"SELECT c.customer_id FROM cmp.customer c"
	" WHERE c.account_id OPERATOR(pg_catalog.=) $1"
	"   AND pg_catalog.lower(c.name) OPERATOR(pg_catalog.=) pg_catalog.lower($2)"
	"   AND c.status OPERATOR(pg_catalog.<>) 'TERMINATED'"
	"   AND c.customer_id OPERATOR(pg_catalog.<>) $3",
	3, {INT8OID, TEXTOID, INT8OID}
};
static KeptPlan external_taken = {
	"SELECT c.customer_id FROM cmp.customer c"
	" WHERE c.account_id OPERATOR(pg_catalog.=) $1"
	"   AND c.external_customer_number OPERATOR(pg_catalog.=) $2"
	"   AND c.customer_id OPERATOR(pg_catalog.<>) $3",
	3, {INT8OID, TEXTOID, INT8OID}
};
static KeptPlan insert_customer = {
	"INSERT INTO cmp.customer AS c (account_id, account_type, customer_number, name,"
	"   external_customer_number, description, country, state, zip_code, city, street,"
	"   phone, homepage, linkedin, estimated_annual_revenue, revenue_currency, billable,"
	"   status, admin_user_id, created_by, activated_at, activated_by)"
	" VALUES ($1, $2, $3, $4[1], $4[2], $4[3], $4[4], $4[5], $4[6], $4[7], $4[8], $4[9],"
	"   $4[10], $4[11], $4[12]::pg_catalog.numeric, $4[13], $4[14]::pg_catalog.bool,"
	"   $5, $6, $7,"
	"   CASE WHEN $5 OPERATOR(pg_catalog.=) 'ACTIVE' THEN pg_catalog.now() END,"
	"   CASE WHEN $5 OPERATOR(pg_catalog.=) 'ACTIVE' THEN $7 END)"
	" RETURNING c.customer_id, pg_catalog.to_jsonb(c.*)",
	7, {INT8OID, TEXTOID, INT8OID, TEXTARRAYOID, TEXTOID, INT8OID, INT8OID}
};
static KeptPlan assign_admin = {
	"INSERT INTO cmp.user_customer (user_id, customer_id, account_id, assigned_by)"
	" VALUES ($1, $2, $3, $4)",
	4, {INT8OID, INT8OID, INT8OID, INT8OID}
};
static KeptPlan insert_history = {
	"INSERT INTO cmp.customer_status_history"
	"   (customer_id, account_id, from_status, to_status, changed_by, db_role, reason)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)",
	7, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, NAMEOID, TEXTOID}
};
static KeptPlan lock_customer = {
	"SELECT c.account_id, c.status, c.billable, c.account_type,"
	"       c.country, c.city, c.street, c.zip_code,"
	"       c.estimated_annual_revenue::pg_catalog.text, c.revenue_currency, c.admin_user_id"
	"  FROM cmp.customer c WHERE c.customer_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}
};
static KeptPlan update_customer_row = {
	"UPDATE cmp.customer AS c SET"
	"   name = CASE WHEN $2[1] THEN $3[1] ELSE c.name END,"
	"   external_customer_number = CASE WHEN $2[2] THEN $3[2] ELSE c.external_customer_number END,"
	"   description = CASE WHEN $2[3] THEN $3[3] ELSE c.description END,"
	"   country = CASE WHEN $2[4] THEN $3[4] ELSE c.country END,"
	"   state = CASE WHEN $2[5] THEN $3[5] ELSE c.state END,"
	"   zip_code = CASE WHEN $2[6] THEN $3[6] ELSE c.zip_code END,"
	"   city = CASE WHEN $2[7] THEN $3[7] ELSE c.city END,"
	"   street = CASE WHEN $2[8] THEN $3[8] ELSE c.street END,"
	"   phone = CASE WHEN $2[9] THEN $3[9] ELSE c.phone END,"
	"   homepage = CASE WHEN $2[10] THEN $3[10] ELSE c.homepage END,"
	"   linkedin = CASE WHEN $2[11] THEN $3[11] ELSE c.linkedin END,"
	"   estimated_annual_revenue = CASE WHEN $2[12] THEN $3[12]::pg_catalog.numeric"
	"                                   ELSE c.estimated_annual_revenue END,"
	"   revenue_currency = CASE WHEN $2[13] THEN $3[13] ELSE c.revenue_currency END,"
	"   billable = CASE WHEN $2[14] THEN $3[14]::pg_catalog.bool ELSE c.billable END,"
	"   updated_at = pg_catalog.now(), updated_by = $4"
	"  FROM (SELECT pg_catalog.to_jsonb(o.*) AS j FROM cmp.customer o"
	"         WHERE o.customer_id OPERATOR(pg_catalog.=) $1) AS old"
	" WHERE c.customer_id OPERATOR(pg_catalog.=) $1"
	" RETURNING (SELECT pg_catalog.jsonb_object_agg(k, old.j OPERATOR(pg_catalog.->) k)"
	"              FROM pg_catalog.unnest($5) AS k),"
	"           (SELECT pg_catalog.jsonb_object_agg(k, pg_catalog.to_jsonb(c.*) OPERATOR(pg_catalog.->) k)"
	"              FROM pg_catalog.unnest($5) AS k)",
	5, {INT8OID, BOOLARRAYOID, TEXTARRAYOID, INT8OID, TEXTARRAYOID}
};
static KeptPlan customer_sims = {
	"SELECT pg_catalog.count(*) FROM cmp.sim_card s WHERE s.customer_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
/*
 * The users of a customer about to be deleted, locked (in user id order) as
 * cmp.assign_user_to_customers and cmp.unassign_user_from_customers lock
 * the user they change: whether a user is left with no customer is then
 * decided from its committed assignments.  The customer is locked first, so
 * no user can be assigned to it meanwhile.
 */
static KeptPlan lock_customer_users = {
	"SELECT u.user_id FROM cmp.app_user_data u"
	" WHERE u.user_id OPERATOR(pg_catalog.=) ANY ("
	"       SELECT uc.user_id FROM cmp.user_customer uc"
	"        WHERE uc.customer_id OPERATOR(pg_catalog.=) $1)"
	" ORDER BY u.user_id FOR UPDATE",
	1, {INT8OID}
};
static KeptPlan delete_customer_row = {
	"WITH gone AS (DELETE FROM cmp.user_customer uc"
	"               WHERE uc.customer_id OPERATOR(pg_catalog.=) $1 RETURNING uc.user_id),"
	" orphans AS (DELETE FROM cmp.app_user_data u USING gone"
	"              WHERE u.user_id OPERATOR(pg_catalog.=) gone.user_id"
	"                AND NOT EXISTS (SELECT 1 FROM cmp.user_customer o"
	"                                 WHERE o.user_id OPERATOR(pg_catalog.=) u.user_id"
	"                                   AND o.customer_id OPERATOR(pg_catalog.<>) $1)"
	"                AND NOT EXISTS (SELECT 1 FROM cmp.customer oc"
	"                                 WHERE oc.admin_user_id OPERATOR(pg_catalog.=) u.user_id"
	"                                   AND oc.customer_id OPERATOR(pg_catalog.<>) $1)"
	"              RETURNING u.user_id),"
	" c AS (DELETE FROM cmp.customer c WHERE c.customer_id OPERATOR(pg_catalog.=) $1"
	"        RETURNING pg_catalog.to_jsonb(c.*) AS j)"
	" SELECT c.j, (SELECT pg_catalog.array_agg(g.user_id ORDER BY g.user_id) FROM gone g)::pg_catalog.text,"
	"        (SELECT pg_catalog.array_agg(o.user_id ORDER BY o.user_id) FROM orphans o)::pg_catalog.text"
	"   FROM c",
	1, {INT8OID}
};

/* Validate one field value (already trimmed, non-NULL); raises 22023. */
static void
CheckField(const CustomerField *f, const char *value)
{
	if (f->valid && !f->valid(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(f->name),
				 errmsg("invalid %s \"%s\"", f->name, value),
				 f->hint ? errhint("%s", f->hint) : 0));
	if (f->kind == 'n')
	{
		const char *dot = strchr(value, '.');
		size_t		whole = dot ? (size_t) (dot - value) : strlen(value);

		/* a company's yearly revenue: below 10^15, to the cent, never rounded */
		if (whole > 15 || (dot && strlen(dot + 1) > 2 &&
						   strspn(dot + 3, "0") != strlen(dot + 3)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(f->name),
					 errmsg("%s is out of range", f->name),
					 errdetail("At most 15 digits before the decimal point and 2 after it are allowed.")));
		/* numeric_in accepts NaN and Infinity; a revenue is neither */
		if (pg_strcasecmp(value, "nan") == 0 || strchr(value, 'n') || strchr(value, 'N') ||
			value[0] == '-')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield(f->name),
					 errmsg("invalid %s \"%s\"", f->name, value),
					 errhint("Use a finite number greater than or equal to 0.")));
	}
}

static void
CheckRevenuePair(const char *revenue, const char *currency)
{
	if ((revenue == NULL) != (currency == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("estimated_annual_revenue and revenue_currency go together"),
				 errdetail("%s is missing.", revenue ? "revenue_currency" : "estimated_annual_revenue"),
				 errhint("Give both, or neither.")));
}

/* The address fields a billable customer lacks, as a list; NULL when complete. */
char *
CustomerMissingAddress(const char *country, const char *city, const char *street,
					   const char *zip_code)
{
	StringInfoData s;

	initStringInfo(&s);
	if (!country)
		appendStringInfoString(&s, "country");
	if (!city)
		appendStringInfo(&s, "%scity", s.len ? ", " : "");
	if (!street)
		appendStringInfo(&s, "%sstreet", s.len ? ", " : "");
	if (!zip_code)
		appendStringInfo(&s, "%szip_code", s.len ? ", " : "");
	return s.len ? s.data : NULL;
}

#define MISSING_ADDRESS(v) \
	CustomerMissingAddress((v)[F_COUNTRY], (v)[F_CITY], (v)[F_STREET], (v)[F_ZIP])

/* 23505 when another customer of the account uses the name or external number. */
static void
CheckCustomerUnique(int64 account_id, const char *name, const char *external,
					int64 self)
{
	Datum		args[3];

	args[0] = Int64GetDatum(account_id);
	args[2] = Int64GetDatum(self);
	if (name)
	{
		args[1] = CStringGetTextDatum(name);
		KeptPlanExec(&name_taken, args, NULL, false, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errrule("customer_name_unique"),
					 errmsg("customer name \"%s\" is already used in account %lld", name,
							(long long) account_id),
					 errdetail("Customer %lld has that name; names are unique regardless of case among customers that are not TERMINATED.",
							   (long long) SpiGetInt64(0, 1, NULL))));
	}
	if (external)
	{
		args[1] = CStringGetTextDatum(external);
		KeptPlanExec(&external_taken, args, NULL, false, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errrule("external_customer_number_unique"),
					 errmsg("external customer number \"%s\" is already used in account %lld",
							external, (long long) account_id),
					 errdetail("Customer %lld has that external number.",
							   (long long) SpiGetInt64(0, 1, NULL))));
	}
}

/* The customer, locked; P0002 unless it exists and the actor may change it. */
void
CustomerLock(const Actor *actor, int64 customer_id, LockedCustomer *lc)
{
	Datum		arg = Int64GetDatum(customer_id);
	bool		isnull;

	KeptPlanExec(&lock_customer, &arg, NULL, false, 1);
	if (SPI_processed == 0 ||
		!RuleCustomerInReach(actor, SpiGetInt64(0, 1, NULL), customer_id))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("customer %lld does not exist", (long long) customer_id)));
	memset(lc, 0, sizeof(*lc));
	lc->account_id = SpiGetInt64(0, 1, NULL);
	lc->status = SpiGetText(0, 2);
	lc->billable = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	lc->account_type = SpiGetText(0, 4);
	lc->country = SpiGetText(0, 5);
	lc->city = SpiGetText(0, 6);
	lc->street = SpiGetText(0, 7);
	lc->zip_code = SpiGetText(0, 8);
	lc->revenue = SpiGetText(0, 9);
	lc->currency = SpiGetText(0, 10);
	lc->admin_user_id = SpiGetInt64(0, 11, NULL);
}

void
CustomerHistory(int64 customer_id, int64 account_id, const char *from,
				const char *to, const char *reason)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Datum		v[7];
	char		n[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	NameData	role;

	namestrcpy(&role, ActorDbRole());
	v[0] = Int64GetDatum(customer_id);
	v[1] = Int64GetDatum(account_id);
	v[2] = from ? CStringGetTextDatum(from) : (Datum) 0;
	n[2] = from ? ' ' : 'n';
	v[3] = CStringGetTextDatum(to);
	v[4] = Int64GetDatum(actor->user_id);
	n[4] = actor->user_id ? ' ' : 'n';
	v[5] = NameGetDatum(&role);
	v[6] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	n[6] = reason ? ' ' : 'n';
	KeptPlanExec(&insert_history, v, n, false, 0);
}

static ArrayType *
TextArray(char **values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = values[i] == NULL;
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(values[i]);
	}
	return construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

Datum
create_customer(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	Request		req;
	Jsonb	   *prior;
	int64		account_id;
	char	   *v[NFIELDS];
	char	   *status;
	char	   *admin_login;
	char	   *admin_email;
	char	   *admin_full_name;
	int64		customer_number;
	int64		customer_id;
	int64		admin_id = 0;
	char	   *account_type;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Jsonb	   *customer_json;
	char		idbuf[32];
	AuditEvent	ev = {0};
	int			i;

	/* argument positions of the text fields, in the order of fields[] */
	static const int argno[NFIELDS] = {1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 2};

	RuleRequire(actor, "create_customer");
	prior = RequestBegin(fcinfo, 19, "create_customer", &req);
	if (prior)
		PG_RETURN_INT64(RequestIdOf(prior));
	RequireNotNull(fcinfo, 0, "account_id");
	account_id = PG_GETARG_INT64(0);

	for (i = 0; i < NFIELDS; i++)
	{
		const CustomerField *f = &fields[i];

		if (f->kind == 't')
			v[i] = ArgText(fcinfo, argno[i], f->name, i == F_NAME, f->maxlen);
		else
		{
			v[i] = NULL;
			if (f->kind == 'b')
			{
				RequireNotNull(fcinfo, argno[i], f->name);
				v[i] = PG_GETARG_BOOL(argno[i]) ? "true" : "false";
			}
			else if (!PG_ARGISNULL(argno[i]))
				v[i] = DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(argno[i])));
		}
		if (v[i])
			CheckField(f, v[i]);
	}
	CheckRevenuePair(v[F_REVENUE], v[F_CURRENCY]);

	status = ArgText(fcinfo, 3, "status", true, 16);
	if (strcmp(status, "DRAFT") != 0 && strcmp(status, "ACTIVE") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("status"),
				 errrule("customer_created_draft_or_active"),
				 errmsg("a customer cannot be created with status \"%s\"", status),
				 errhint("Create it DRAFT or ACTIVE.")));

	admin_login = ArgText(fcinfo, 16, "admin_login", false, 128);
	admin_email = ArgText(fcinfo, 17, "admin_email", false, 254);
	admin_full_name = ArgText(fcinfo, 18, "admin_full_name", false, 200);
	if ((admin_login == NULL) != (admin_email == NULL) ||
		(admin_full_name != NULL && admin_login == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("admin_login and admin_email go together"),
				 errhint("Give both to create the Customer Admin User, or neither.")));
	if (strcmp(status, "ACTIVE") == 0)
	{
		if (admin_login == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errrule("customer_activation_needs_admin"),
					 errmsg("an ACTIVE customer needs an admin user"),
					 errhint("Pass admin_login and admin_email, or create the customer as DRAFT.")));
		if (strcmp(v[F_BILLABLE], "true") == 0 && MISSING_ADDRESS(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errrule("billable_customer_needs_address"),
					 errmsg("an ACTIVE billable customer needs a complete address"),
					 errdetail("Missing: %s.", MISSING_ADDRESS(v)),
					 errhint("Give country, city, street and zip_code, or create the customer as DRAFT.")));
	}

	if (!RuleAccountInReach(actor, account_id))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("account %lld does not exist", (long long) account_id)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the next number, and the account row's lock until commit */
	if (numbering)
		customer_number = BatchNumber(account_id, &account_type);
	else
	{
		args[0] = Int64GetDatum(account_id);
		KeptPlanExec(&next_customer_number, args, NULL, false, 0);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("account %lld does not exist", (long long) account_id)));
		customer_number = SpiGetInt64(0, 1, NULL);
		account_type = SpiGetText(0, 2);
	}

	if (strcmp(v[F_BILLABLE], "true") == 0 && strcmp(account_type, "RESELLER") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("billable_needs_reseller_account"),
				 errmsg("a billable customer needs a RESELLER account"),
				 errdetail("Account %lld is a %s account.", (long long) account_id, account_type),
				 errhint("Create a simple customer (billable => false) instead.")));

	CheckCustomerUnique(account_id, v[F_NAME], v[F_EXTERNAL], 0);

	if (admin_login)
	{
		UserCheckNew(admin_login, admin_email, NULL);
		admin_id = UserInsert(NULL, admin_login, admin_email, admin_full_name, true,
							  NULL, "CUSTOMER", account_id, 0);
	}

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(account_type);
	args[2] = Int64GetDatum(customer_number);
	args[3] = PointerGetDatum(TextArray(v, NFIELDS));
	args[4] = CStringGetTextDatum(status);
	args[5] = Int64GetDatum(admin_id);
	nulls[5] = admin_id ? ' ' : 'n';
	args[6] = Int64GetDatum(actor->user_id);
	nulls[6] = actor->user_id ? ' ' : 'n';
	KeptPlanExec(&insert_customer, args, nulls, false, 0);
	customer_id = SpiGetInt64(0, 1, NULL);
	customer_json = SpiGetJsonb(0, 2);

	if (admin_id)
	{
		args[0] = Int64GetDatum(admin_id);
		args[1] = Int64GetDatum(customer_id);
		args[2] = Int64GetDatum(account_id);
		args[3] = Int64GetDatum(actor->user_id);
		nulls[3] = actor->user_id ? ' ' : 'n';
		KeptPlanExec(&assign_admin, args, nulls, false, 0);
	}

	CustomerHistory(customer_id, account_id, NULL, status, "created");

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
	ev.operation = "create_customer";
	ev.resource_type = "customer";
	ev.resource_id = idbuf;
	ev.account_id = account_id;
	ev.customer_id = customer_id;
	ev.new_value = customer_json;
	AuditWrite(&ev);

	SPI_finish();
	RequestDone(&req, RequestId(customer_id));
	PG_RETURN_INT64(customer_id);
}

/* The text of a scalar JSON value for a field, NULL for JSON null; 22023 otherwise. */
static char *
JsonFieldValue(const CustomerField *f, JsonbValue *jv)
{
	switch (jv->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			if (f->kind == 't')
				return CheckedText(pnstrdup(jv->val.string.val, jv->val.string.len),
								   f->name, false, f->maxlen);
			break;
		case jbvNumeric:
			if (f->kind == 'n')
				return DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(jv->val.numeric)));
			break;
		case jbvBool:
			if (f->kind == 'b')
				return jv->val.boolean ? "true" : "false";
			break;
		default:
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errfield(f->name),
			 errmsg("%s must be a JSON %s or null", f->name,
					f->kind == 't' ? "string" : f->kind == 'n' ? "number" : "boolean"),
			 errdetail("The value given is a JSON %s.",
					   jv->type == jbvString ? "string" : jv->type == jbvNumeric ? "number" :
					   jv->type == jbvBool ? "boolean" : jv->type == jbvBinary ? "object or array" :
					   "value of another kind")));
	return NULL;				/* keep compiler quiet */
}

Datum
update_customer(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		customer_id;
	Jsonb	   *changes;
	JsonbIterator *it;
	JsonbValue	jv;
	JsonbIteratorToken tok;
	bool		present[NFIELDS] = {0};
	char	   *v[NFIELDS] = {0};
	char	   *keys[NFIELDS];
	int			nkeys = 0;
	LockedCustomer lc;
	Datum		args[5];
	Datum		flags[NFIELDS];
	char		idbuf[32];
	AuditEvent	ev = {0};
	int			i;
	bool		billable;

	RuleRequire(actor, "update_customer");
	RequireNotNull(fcinfo, 0, "customer_id");
	RequireNotNull(fcinfo, 1, "changes");
	customer_id = PG_GETARG_INT64(0);
	changes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errfield("changes"),
				 errmsg("changes must be a JSON object"),
				 errhint("Pass an object such as {\"city\": \"Vienna\"}.")));

	/* keys first: unknown and immutable fields are refused before anything else */
	it = JsonbIteratorInit(&changes->root);
	while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
	{
		char	   *key;
		int			f;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(jv.val.string.val, jv.val.string.len);
		for (f = 0; f < NFIELDS; f++)
			if (strcmp(fields[f].name, key) == 0)
				break;
		if (f == NFIELDS)
		{
			for (i = 0; i < lengthof(immutable_fields); i++)
				if (strcmp(immutable_fields[i], key) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errfield(key),
							 errmsg("field \"%s\" cannot be changed", key),
							 strcmp(key, "status") == 0 ?
							 errhint("Use cmp.set_customer_status() to change the status.") : 0));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield("changes"),
					 errmsg("unknown field \"%s\"", key),
					 errhint("Fields that can be changed: name, external_customer_number, description, country, state, zip_code, city, street, phone, homepage, linkedin, estimated_annual_revenue, revenue_currency, billable.")));
		}
		tok = JsonbIteratorNext(&it, &jv, true);
		Assert(tok == WJB_VALUE);
		present[f] = true;
		keys[nkeys++] = (char *) fields[f].name;
		v[f] = JsonFieldValue(&fields[f], &jv);
		if (v[f] == NULL && (f == F_NAME || f == F_BILLABLE))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errfield(fields[f].name),
					 errmsg("%s must not be null", fields[f].name)));
		if (v[f])
			CheckField(&fields[f], v[f]);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	CustomerLock(actor, customer_id, &lc);

	if (strcmp(lc.status, "TERMINATED") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("customer_terminated_read_only"),
				 errmsg("customer %lld is terminated", (long long) customer_id),
				 errdetail("No field of a TERMINATED customer changes.")));
	if (nkeys == 0)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}

	/* the customer as it will be, for the rules that span fields */
	if (!present[F_COUNTRY])
		v[F_COUNTRY] = lc.country;
	if (!present[F_CITY])
		v[F_CITY] = lc.city;
	if (!present[F_STREET])
		v[F_STREET] = lc.street;
	if (!present[F_ZIP])
		v[F_ZIP] = lc.zip_code;
	if (!present[F_REVENUE])
		v[F_REVENUE] = lc.revenue;
	if (!present[F_CURRENCY])
		v[F_CURRENCY] = lc.currency;
	billable = present[F_BILLABLE] ? strcmp(v[F_BILLABLE], "true") == 0 : lc.billable;
	if (present[F_BILLABLE] && billable != lc.billable && strcmp(lc.status, "DRAFT") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("billable_fixed_after_draft"),
				 errmsg("billable can only change while the customer is DRAFT"),
				 errdetail("Customer %lld is %s.", (long long) customer_id, lc.status)));
	if (billable && strcmp(lc.account_type, "RESELLER") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errrule("billable_needs_reseller_account"),
				 errmsg("a billable customer needs a RESELLER account"),
				 errdetail("Account %lld is a %s account.", (long long) lc.account_id, lc.account_type)));
	CheckRevenuePair(v[F_REVENUE], v[F_CURRENCY]);
	if (billable && strcmp(lc.status, "DRAFT") != 0 && MISSING_ADDRESS(v))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("billable_customer_needs_address"),
				 errmsg("a billable %s customer needs a complete address", lc.status),
				 errdetail("Missing: %s.", MISSING_ADDRESS(v)),
				 errhint("Keep country, city, street and zip_code set.")));
	CheckCustomerUnique(lc.account_id, present[F_NAME] ? v[F_NAME] : NULL,
						present[F_EXTERNAL] ? v[F_EXTERNAL] : NULL, customer_id);

	for (i = 0; i < NFIELDS; i++)
	{
		flags[i] = BoolGetDatum(present[i]);
		if (!present[i])
			v[i] = NULL;
	}
	args[0] = Int64GetDatum(customer_id);
	args[1] = PointerGetDatum(construct_array(flags, NFIELDS, BOOLOID, 1, true, TYPALIGN_CHAR));
	args[2] = PointerGetDatum(TextArray(v, NFIELDS));
	args[3] = Int64GetDatum(actor->user_id);
	args[4] = PointerGetDatum(TextArray(keys, nkeys));
	KeptPlanExec(&update_customer_row, args,
				 actor->user_id ? NULL : "   n ", false, 0);

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
	ev.operation = "update_customer";
	ev.resource_type = "customer";
	ev.resource_id = idbuf;
	ev.account_id = lc.account_id;
	ev.customer_id = customer_id;
	ev.previous_value = SpiGetJsonb(0, 1);
	ev.new_value = SpiGetJsonb(0, 2);
	AuditWrite(&ev);

	SPI_finish();
	PG_RETURN_VOID();
}

Datum
delete_customer(PG_FUNCTION_ARGS)
{
	const Actor mine = ActorGet();
	const Actor *actor = &mine;
	int64		customer_id;
	LockedCustomer lc;
	Datum		arg;
	int64		nsims;
	char		idbuf[32];
	char	   *json;
	AuditEvent	ev = {0};
	char	   *unassigned;
	char	   *removed;

	RuleRequire(actor, "delete_customer");
	RequireNotNull(fcinfo, 0, "customer_id");
	customer_id = PG_GETARG_INT64(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	CustomerLock(actor, customer_id, &lc);
	if (strcmp(lc.status, "DRAFT") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("delete_only_draft_customer"),
				 errmsg("customer %lld is %s", (long long) customer_id, lc.status),
				 errdetail("Only a DRAFT customer can be deleted."),
				 errhint("Terminate it with cmp.set_customer_status() instead.")));
	arg = Int64GetDatum(customer_id);
	KeptPlanExec(&customer_sims, &arg, NULL, false, 0);
	nsims = SpiGetInt64(0, 1, NULL);
	if (nsims > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("delete_customer_holds_no_sims"),
				 errmsg("customer %lld holds %lld SIM cards", (long long) customer_id,
						(long long) nsims),
				 errdetail("Only a customer holding no SIM cards can be deleted."),
				 errhint("Unassign its SIM cards with cmp.unassign_sims() first.")));

	KeptPlanExec(&lock_customer_users, &arg, NULL, false, 0);
	KeptPlanExec(&delete_customer_row, &arg, NULL, false, 0);
	unassigned = SpiGetText(0, 2);
	removed = SpiGetText(0, 3);
	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, customer_id);
	ev.operation = "delete_customer";
	ev.resource_type = "customer";
	ev.resource_id = idbuf;
	ev.account_id = lc.account_id;
	ev.customer_id = customer_id;
	ev.previous_value = SpiGetJsonb(0, 1);
	json = psprintf("{\"deleted\": true, \"unassigned_user_ids\": %s, \"deleted_user_ids\": %s}",
					unassigned ? psprintf("[%.*s]", (int) strlen(unassigned) - 2, unassigned + 1) : "[]",
					removed ? psprintf("[%.*s]", (int) strlen(removed) - 2, removed + 1) : "[]");
	ev.new_value = AuditJson(json);
	AuditWrite(&ev);

	SPI_finish();
	PG_RETURN_VOID();
}

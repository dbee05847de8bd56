/*
 * actor.c
 *		Who is acting: the cmp.actor setting, its cache, and what the
 *		row-level security policies read.
 *
 * The acting CMP user is kept in the superuser-only setting cmp.actor.  Only
 * cmp.set_actor (EXECUTE granted by the DBA) changes it for other roles, so a
 * client cannot forge it with SET, set_config or ALTER ROLE; being a setting,
 * it ends with the transaction when set locally, is rolled back with it, is
 * cleared by RESET ALL and DISCARD ALL, and is copied to parallel workers.
 * With no actor set, a superuser is the system actor and any other role acts
 * as the user whose db_role it is, if any.
 *
 * The resolved actor (kind, account, visible customers) is cached for the
 * backend.  Changes that can alter it fire a statement trigger that sends a
 * relcache invalidation of cmp.actor_cache_signal; every backend drops its
 * cache when it receives one.
 *
 * The policies fold the actor's kind, account and customers into constants
 * at plan time (see the install script), so a plan belongs to the actor it
 * was made for.  We therefore reset the plan cache whenever the actor, or
 * what a customer user may see, changes; and plangate.c puts a check on top
 * of every folded plan, evaluated once when it runs, that the actor is still
 * the one folded in, so a plan made for one actor shows nothing to another,
 * never too much.
 */
#include "reseller_onboarding.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/supportnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(set_actor);
PG_FUNCTION_INFO_V1(clear_actor);
PG_FUNCTION_INFO_V1(actor_id);
PG_FUNCTION_INFO_V1(whoami);
PG_FUNCTION_INFO_V1(actor_must_be);
PG_FUNCTION_INFO_V1(actor_sees);
PG_FUNCTION_INFO_V1(actor_sees_support);
PG_FUNCTION_INFO_V1(actor_policy_customer_ids);
PG_FUNCTION_INFO_V1(actor_policy_customer_id);
PG_FUNCTION_INFO_V1(actor_is_active);
PG_FUNCTION_INFO_V1(actor_policy_kind);
PG_FUNCTION_INFO_V1(actor_cache_invalidate);

#define ACTOR_GUC "cmp.actor"

/* the setting's text and the user id it names (0: none) */
static char *actor_setting = NULL;
static int64 actor_setting_id = 0;

/* the resolved actor, valid for (actor_setting_id, outer user) */
typedef struct ActorCache
{
	bool		valid;
	int64		setting_id;
	Oid			outer_user;
	bool		locked;
	Actor		actor;
} ActorCache;

static ActorCache cache;
static MemoryContext ActorContext = NULL;	/* lives for the backend */
static MemoryContext ResolvedContext = NULL;	/* reset at each resolution */

/*
 * Looked up lazily: the relation whose relcache invalidations signal that
 * what some actor sees has changed (a sequence no plan refers to, so that
 * the signal replans nothing), and the owner of the extension's tables.
 */
static Oid	signal_relid = InvalidOid;
static Oid	extension_owner = InvalidOid;

/*
 * The kind of actor every valid cached plan was folded for; KIND_UNSET when
 * no plan has been folded since the last reset.  The context level of a user
 * never changes, so we remember it per user id and can tell in the setting's
 * assign hook, without catalog access, what kind the new actor is.
 */
#define KIND_UNSET (-1)
static int	folded_kind = KIND_UNSET;
static Oid	folded_outer_user = InvalidOid;	/* the session role at that time */

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

typedef struct KindEntry
{
	int64		user_id;
	ActorKind	kind;
} KindEntry;

static HTAB *kind_by_user = NULL;

/* the kind of actor a role with no actor set is mapped to, if known */
static Oid	mapped_role = InvalidOid;
static int	mapped_kind = KIND_UNSET;

static KeptPlan user_by_id = {
	"SELECT u.user_id, u.context_level, u.account_id, u.is_admin, u.status"
	"  FROM cmp.app_user u WHERE u.user_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static KeptPlan user_by_role = {
	"SELECT u.user_id, u.context_level, u.account_id, u.is_admin, u.status"
	"  FROM cmp.app_user u WHERE u.db_role OPERATOR(pg_catalog.=) $1",
	1, {NAMEOID}
};
static KeptPlan visible_customers = {
	"SELECT uc.customer_id FROM cmp.user_customer uc"
	"  JOIN cmp.customer c ON c.customer_id OPERATOR(pg_catalog.=) uc.customer_id"
	" WHERE uc.user_id OPERATOR(pg_catalog.=) $1"
	"   AND c.status OPERATOR(pg_catalog.=) ANY (ARRAY['ACTIVE', 'SUSPENDED'])"
	" ORDER BY uc.customer_id",
	1, {INT8OID}
};
static KeptPlan whoami_user = {
	"SELECT u.login, pg_catalog.array_agg(uc.customer_id ORDER BY uc.customer_id)"
	"         FILTER (WHERE uc.customer_id IS NOT NULL)"
	"  FROM cmp.app_user u"
	"  LEFT JOIN cmp.user_customer uc ON uc.user_id OPERATOR(pg_catalog.=) u.user_id"
	" WHERE u.user_id OPERATOR(pg_catalog.=) $1 GROUP BY u.login",
	1, {INT8OID}
};

static ActorKind
KindFromText(const char *s)
{
	if (strcmp(s, "CSP") == 0)
		return ACTOR_CSP;
	if (strcmp(s, "ACCOUNT") == 0)
		return ACTOR_ACCOUNT;
	if (strcmp(s, "CUSTOMER") == 0)
		return ACTOR_CUSTOMER;
	return ACTOR_NONE;
}

const char *
ActorKindName(ActorKind kind)
{
	switch (kind)
	{
		case ACTOR_SYSTEM:
			return "SYSTEM";
		case ACTOR_CSP:
			return "CSP";
		case ACTOR_ACCOUNT:
			return "ACCOUNT";
		case ACTOR_CUSTOMER:
			return "CUSTOMER";
		default:
			return "NONE";
	}
}

static bool
ParseActorId(const char *s, int64 *id)
{
	char	   *end;
	long long	v;

	*id = 0;
	if (s == NULL || *s == '\0')
		return true;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*id = (int64) v;
	return true;
}

static void
RememberKind(int64 user_id, ActorKind kind)
{
	KindEntry  *e;
	bool		found;

	if (kind_by_user == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(KindEntry);
		ctl.hcxt = ActorContext;
		kind_by_user = hash_create("cmp actor kinds", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* a bound on memory for sessions that serve very many users */
	if (hash_get_num_entries(kind_by_user) > 100000)
	{
		hash_destroy(kind_by_user);
		kind_by_user = NULL;
		RememberKind(user_id, kind);
		return;
	}
	e = hash_search(kind_by_user, &user_id, HASH_ENTER, &found);
	e->kind = kind;
}

static int
KnownKind(int64 user_id)
{
	KindEntry  *e;

	if (kind_by_user == NULL)
		return KIND_UNSET;
	e = hash_search(kind_by_user, &user_id, HASH_FIND, NULL);
	return e ? (int) e->kind : KIND_UNSET;
}

/* Drop every cached plan: the next execution plans for the actor of the moment. */
static void
ForgetFoldedPlans(void)
{
	ResetPlanCache();
	folded_kind = KIND_UNSET;
}

/*
 * Called when the actor may have changed; new_kind is its kind if known.
 * Plans folded for CSP users hold nothing user-specific, so a change from
 * one CSP user to another keeps them; any other change may need other
 * constants, so the plans go.
 */
static void
ActorMayChange(int new_kind)
{
	if (folded_kind == KIND_UNSET)
		return;
	if (new_kind == ACTOR_CSP && folded_kind == ACTOR_CSP)
		return;
	ForgetFoldedPlans();
}

static bool
check_actor(char **newval, void **extra, GucSource source)
{
	int64		id;

	if (!ParseActorId(*newval, &id))
	{
		GUC_check_errdetail("The actor is a CMP user id, a positive integer.");
		return false;
	}
	return true;
}

static void
assign_actor(const char *newval, void *extra)
{
	int64		id;

	if (!ParseActorId(newval, &id) || id == actor_setting_id)
		return;
	actor_setting_id = id;
	cache.valid = false;
	if (id != 0)
		ActorMayChange(KnownKind(id));
	else if (mapped_role == GetOuterUserId())
		ActorMayChange(mapped_kind);
	else
		ActorMayChange(KIND_UNSET);
}

static Oid
SignalRelid(void)
{
	Oid			nsp = get_namespace_oid("cmp", true);

	return OidIsValid(nsp) ? get_relname_relid("actor_cache_signal", nsp) : InvalidOid;
}

/* The signal relation and the owner, looked up once per extension lifetime. */
static bool
LookupRelations(void)
{
	HeapTuple	tup;

	if (OidIsValid(signal_relid))
		return true;
	signal_relid = SignalRelid();
	if (!OidIsValid(signal_relid))
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(signal_relid));
	if (!HeapTupleIsValid(tup))
	{
		signal_relid = InvalidOid;
		return false;
	}
	extension_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return true;
}

static void
ActorRelcacheCallback(Datum arg, Oid relid)
{
	if (relid != InvalidOid && relid != signal_relid)
		return;
	cache.valid = false;
	/* the extension may have been dropped and created again: look it up anew */
	signal_relid = InvalidOid;

	/* a role's mapping may have changed */
	mapped_role = InvalidOid;
	mapped_kind = KIND_UNSET;
	if (actor_setting_id == 0)
		ActorMayChange(KIND_UNSET);

	/*
	 * A customer user's folded customers may be out of date, and a plan
	 * folded for nobody (a LOCKED user) may hide what an unlocked one sees.
	 * (A user locked meanwhile meets the check on top of its plans.)
	 */
	if (folded_kind == ACTOR_CUSTOMER || folded_kind == ACTOR_NONE)
	{
		ForgetFoldedPlans();
	}
}

/*
 * A cache built from a transaction snapshot may be older than invalidations
 * already received; it must not outlive that transaction.
 */
static void
ActorXactCallback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT) &&
		IsolationUsesXactSnapshot())
		cache.valid = false;
}

/*
 * PostgreSQL replans a row-security plan when the current user changes, but
 * inside a SECURITY DEFINER function the current user is always the owner,
 * while the actor follows the session's role (SET ROLE).  So on entry to
 * such a function, plans folded for another session role must go.
 */
static bool
ActorNeedsFmgrHook(Oid fn_oid)
{
	HeapTuple	tup;
	bool		secdef = false;

	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (HeapTupleIsValid(tup))
	{
		secdef = ((Form_pg_proc) GETSTRUCT(tup))->prosecdef;
		ReleaseSysCache(tup);
	}
	return secdef;
}

static void
ActorFmgrHook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (event == FHET_START && folded_kind != KIND_UNSET &&
		folded_outer_user != GetOuterUserId())
	{
		ForgetFoldedPlans();
	}
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, arg);
}

void
ActorInit(void)
{
	ActorContext = AllocSetContextCreate(TopMemoryContext, "cmp actor",
										 ALLOCSET_SMALL_SIZES);
	ResolvedContext = AllocSetContextCreate(ActorContext, "cmp resolved actor",
											ALLOCSET_SMALL_SIZES);
	DefineCustomStringVariable(ACTOR_GUC,
							   "The CMP user on whose behalf this session acts.",
							   "Set it with cmp.set_actor(); only superusers can set it directly.",
							   &actor_setting,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   check_actor, assign_actor, NULL);
	MarkGUCPrefixReserved("cmp");
	CacheRegisterRelcacheCallback(ActorRelcacheCallback, (Datum) 0);
	RegisterXactCallback(ActorXactCallback, NULL);
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = ActorNeedsFmgrHook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = ActorFmgrHook;
}

/* Run a lookup as the extension's owner, so row-level security is not applied. */
static int
LookupAsOwner(KeptPlan *kp, Datum *values, const char *nulls)
{
	Oid			save_user;
	int			save_sec;
	volatile int rc = 0;
	Snapshot	snap;

	/*
	 * Read committed work sees the latest data, so that no cache is built
	 * from a snapshot older than an invalidation already processed.
	 */
	if (IsInParallelMode() || IsolationUsesXactSnapshot())
		snap = GetActiveSnapshot();
	else
		snap = GetLatestSnapshot();

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(extension_owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_snapshot(KeptPlanGet(kp), values, nulls, snap,
								  InvalidSnapshot, true, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "actor lookup failed: %s", SPI_result_code_string(rc));
	return (int) SPI_processed;
}

static void
ResolveActor(void)
{
	Actor	   *a = &cache.actor;
	Oid			outer = GetOuterUserId();
	int64		setting_id = actor_setting_id;
	bool		mapped = false;

	MemoryContextReset(ResolvedContext);
	memset(a, 0, sizeof(Actor));
	cache.locked = false;
	a->kind = ACTOR_NONE;

	if (setting_id == 0 && superuser_arg(outer))
		a->kind = ACTOR_SYSTEM;
	else if (LookupRelations())
	{
		Datum		arg;
		int			n;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (setting_id != 0)
		{
			arg = Int64GetDatum(setting_id);
			n = LookupAsOwner(&user_by_id, &arg, NULL);
		}
		else
		{
			char	   *rolename = GetUserNameFromId(outer, true);
			NameData	role;

			n = 0;
			if (rolename != NULL)
			{
				namestrcpy(&role, rolename);
				arg = NameGetDatum(&role);
				n = LookupAsOwner(&user_by_role, &arg, NULL);
			}
			mapped = true;
		}
		if (n == 1)
		{
			bool		isnull;
			char	   *level = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);

			a->user_id = SpiGetInt64(0, 1, NULL);
			a->kind = KindFromText(level);
			a->account_id = SpiGetInt64(0, 3, NULL);
			a->is_admin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 4, &isnull));
			cache.locked = strcmp(status, "ACTIVE") != 0;
		}
		if (a->kind == ACTOR_CUSTOMER && !cache.locked)
		{
			int			i;

			arg = Int64GetDatum(a->user_id);
			n = LookupAsOwner(&visible_customers, &arg, NULL);
			a->ncustomers = n;
			a->customer_ids = MemoryContextAlloc(ResolvedContext, sizeof(int64) * Max(n, 1));
			for (i = 0; i < n; i++)
				a->customer_ids[i] = SpiGetInt64(i, 1, NULL);
		}
		SPI_finish();
	}

	if (a->user_id != 0)
		RememberKind(a->user_id, a->kind);
	if (mapped)
	{
		mapped_role = outer;
		mapped_kind = a->kind;
	}
	cache.setting_id = setting_id;
	cache.outer_user = outer;
	cache.valid = true;
}

const Actor *
ActorCurrent(void)
{
	if (!cache.valid || cache.setting_id != actor_setting_id ||
		cache.outer_user != GetOuterUserId())
		ResolveActor();
	return &cache.actor;
}

/* An actor that may act: somebody, and not LOCKED. */
static bool
ActorIsActive(const Actor *a)
{
	return a->kind != ACTOR_NONE && !cache.locked;
}

bool
ActorSeesCustomer(const Actor *a, int64 customer_id)
{
	int			lo = 0,
				hi = a->ncustomers - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (a->customer_ids[mid] == customer_id)
			return true;
		if (a->customer_ids[mid] < customer_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

void
ActorRequire(const Actor *a, bool allowed, const char *operation)
{
	if (a->kind == ACTOR_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", operation),
				 errdetail("No CMP user is acting in this session."),
				 errhint("Call cmp.set_actor() first, or map this database role to a CMP user.")));
	if (cache.locked)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", operation),
				 errdetail("CMP user %lld is locked.", (long long) a->user_id)));
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", operation),
				 errdetail("A %s user%s may not do this.", ActorKindName(a->kind),
						   a->is_admin ? " with admin rights" : "")));
}

const char *
ActorDbRole(void)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), true);

	return name ? name : "";
}

/* ---- SQL-callable ---- */

static void
SetActorSetting(const char *value, bool is_local)
{
	(void) set_config_option(ACTOR_GUC, value, PGC_SUSET, PGC_S_SESSION,
							 is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
							 true, 0, false);
}

Datum
set_actor(PG_FUNCTION_ARGS)
{
	int64		user_id;
	bool		is_local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	Datum		arg;
	char		buf[32];
	char	   *level;
	char	   *status;

	RequireNotNull(fcinfo, 0, "user_id");
	user_id = PG_GETARG_INT64(0);
	if (!LookupRelations())
		elog(ERROR, "the cmp schema is missing");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	arg = Int64GetDatum(user_id);
	if (LookupAsOwner(&user_by_id, &arg, NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id)));
	level = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	if (strcmp(status, "ACTIVE") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("user %lld is locked", (long long) user_id),
				 errhint("A locked user cannot act; unlock it with cmp.set_user_status().")));
	RememberKind(user_id, KindFromText(level));
	SPI_finish();

	snprintf(buf, sizeof(buf), INT64_FORMAT, user_id);
	SetActorSetting(buf, is_local);
	PG_RETURN_VOID();
}

Datum
clear_actor(PG_FUNCTION_ARGS)
{
	SetActorSetting("", false);
	PG_RETURN_VOID();
}

Datum
actor_id(PG_FUNCTION_ARGS)
{
	const Actor *a = ActorCurrent();

	if (a->user_id == 0 || cache.locked)
		PG_RETURN_NULL();
	PG_RETURN_INT64(a->user_id);
}

Datum
whoami(PG_FUNCTION_ARGS)
{
	const Actor *a = ActorCurrent();
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (a->kind == ACTOR_SYSTEM)
	{
		values[2] = CStringGetTextDatum("SYSTEM");
		nulls[2] = false;
	}
	else if (a->user_id != 0 && !cache.locked)
	{
		Datum		arg = Int64GetDatum(a->user_id);

		values[0] = Int64GetDatum(a->user_id);
		nulls[0] = false;
		values[2] = CStringGetTextDatum(ActorKindName(a->kind));
		nulls[2] = false;
		if (a->account_id != 0)
		{
			values[3] = Int64GetDatum(a->account_id);
			nulls[3] = false;
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (LookupAsOwner(&whoami_user, &arg, NULL) == 1)
		{
			bool		isnull;
			Datum		ids;

			values[1] = CStringGetTextDatum(SpiGetText(0, 1));
			nulls[1] = false;
			ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (!isnull)
			{
				values[4] = SPI_datumTransfer(ids, false, -1);
				nulls[4] = false;
			}
		}
		SPI_finish();
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
actor_is_active(PG_FUNCTION_ARGS)
{
	const Actor *a = ActorCurrent();

	PG_RETURN_BOOL(ActorIsActive(a) && a->kind != ACTOR_SYSTEM);
}

const char *
PolicyKindName(PolicyKind kind)
{
	switch (kind)
	{
		case POLICY_CSP:
			return "CSP";
		case POLICY_ACCOUNT:
			return "ACCOUNT";
		case POLICY_CUSTOMER:
			return "CUSTOMER";
		case POLICY_CUSTOMERS:
			return "CUSTOMERS";
		default:
			return "NONE";
	}
}

/* What the policies show the current actor (customer_ids point into the cache). */
static void
CurrentPolicyKey(PolicyKey *key)
{
	const Actor *a = ActorCurrent();

	memset(key, 0, sizeof(PolicyKey));
	if (a->kind == ACTOR_SYSTEM)
		key->kind = POLICY_CSP;
	else if (!ActorIsActive(a))
		key->kind = POLICY_NONE;
	else if (a->kind == ACTOR_CSP)
		key->kind = POLICY_CSP;
	else if (a->kind == ACTOR_ACCOUNT)
	{
		key->kind = POLICY_ACCOUNT;
		key->account_id = a->account_id;
	}
	else
	{
		key->kind = a->ncustomers == 1 ? POLICY_CUSTOMER : POLICY_CUSTOMERS;
		key->ncustomers = a->ncustomers;
		key->customer_ids = a->customer_ids;
	}
}

/*
 * Is the acting user still the one of this key?  The check plangate.c puts
 * on top of a folded plan; true, or an error.  A plan that fails it was
 * made for another actor and has outlived the plan cache reset that comes
 * with every change of actor (a cursor opened before the change, a SQL
 * function's plans kept for the rest of a statement that switched actors):
 * it must not run, neither showing the other actor's rows nor, silently,
 * none.  The plan cache is reset again, so that running the statement anew
 * plans it for the actor of the moment.
 */
Datum
actor_must_be(PG_FUNCTION_ARGS)
{
	PolicyKey	now;
	bool		same = false;

	CurrentPolicyKey(&now);
	if (!PG_ARGISNULL(0) &&
		strcmp(text_to_cstring(PG_GETARG_TEXT_PP(0)), PolicyKindName(now.kind)) == 0)
	{
		switch (now.kind)
		{
			case POLICY_NONE:
			case POLICY_CSP:
				same = true;
				break;
			case POLICY_ACCOUNT:
				same = !PG_ARGISNULL(1) && PG_GETARG_INT64(1) == now.account_id;
				break;
			case POLICY_CUSTOMER:
			case POLICY_CUSTOMERS:
				if (!PG_ARGISNULL(2))
				{
					ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);

					same = ARR_ELEMTYPE(arr) == INT8OID && !ARR_HASNULL(arr) &&
						ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) == now.ncustomers &&
						(now.ncustomers == 0 ||
						 memcmp(ARR_DATA_PTR(arr), now.customer_ids,
								sizeof(int64) * now.ncustomers) == 0);
				}
				break;
			default:
				break;
		}
	}
	if (!same)
	{
		ForgetFoldedPlans();
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: this plan was made for another acting user"),
				 errdetail("The plan shows what a %s user sees; the acting user is %s.",
						   PG_ARGISNULL(0) ? "NULL" : text_to_cstring(PG_GETARG_TEXT_PP(0)),
						   now.kind == POLICY_NONE ? "nobody" : "another one"),
				 errhint("Run the statement again: it is planned anew for the acting user.")));
	}
	PG_RETURN_BOOL(true);
}

/*
 * The key of the plan being made, recorded with plangate.c by the first
 * policy folded in a planning; NULL outside the planner hook.  Also notes
 * the kind folded, so that a change of actor knows whether plans must go.
 */
static void
NoteFolded(int kind)
{
	if (folded_kind != KIND_UNSET &&
		(folded_kind != kind || folded_outer_user != GetOuterUserId()))
		ResetPlanCache();
	folded_kind = kind;
	folded_outer_user = GetOuterUserId();
}

static const PolicyKey *
FoldedKey(void)
{
	const PolicyKey *key = PlanGateKey();
	PolicyKey	now;

	if (key != NULL || !PlanGatePlanning())
		return key;
	CurrentPolicyKey(&now);
	NoteFolded(now.kind == POLICY_NONE ? ACTOR_NONE :
			   now.kind == POLICY_CSP ? ACTOR_CSP : cache.actor.kind);
	return PlanGateSetKey(&now);
}

/*
 * cmp.actor_sees(account_id, customer_id [, other_customer_id]): may the
 * current actor see a row of this account and (either) customer?  Every
 * policy but app_user's is a call of it.  In a plan made through the
 * planner hook the call is gone, replaced by the condition it stands for
 * (actor_sees_support below); it only runs, row by row, in a plan made
 * without the hook.
 */
Datum
actor_sees(PG_FUNCTION_ARGS)
{
	const Actor *a = ActorCurrent();
	int			i;

	if (!ActorIsActive(a))
		PG_RETURN_BOOL(false);
	switch (a->kind)
	{
		case ACTOR_SYSTEM:
		case ACTOR_CSP:
			PG_RETURN_BOOL(true);
		case ACTOR_ACCOUNT:
			PG_RETURN_BOOL(!PG_ARGISNULL(0) && PG_GETARG_INT64(0) == a->account_id);
		case ACTOR_CUSTOMER:
			for (i = 1; i < PG_NARGS(); i++)
				if (!PG_ARGISNULL(i) && ActorSeesCustomer(a, PG_GETARG_INT64(i)))
					PG_RETURN_BOOL(true);
			PG_RETURN_BOOL(false);
		default:
			PG_RETURN_BOOL(false);
	}
}

#define INT8_EQ_OPERATOR 410	/* bigint = bigint (pg_operator.dat) */

/* column = value */
static Node *
ColumnIs(Node *column, int64 value)
{
	OpExpr	   *op = (OpExpr *) make_opclause(INT8_EQ_OPERATOR, BOOLOID, false,
											  (Expr *) column,
											  (Expr *) makeConst(INT8OID, -1, InvalidOid,
																 sizeof(int64),
																 Int64GetDatum(value),
																 false, FLOAT8PASSBYVAL),
											  InvalidOid, InvalidOid);

	op->opfuncid = F_INT8EQ;
	return (Node *) op;
}

/* column = ANY ('{values}') */
static Node *
ColumnIn(Node *column, const int64 *values, int n)
{
	ScalarArrayOpExpr *op = makeNode(ScalarArrayOpExpr);

	op->opno = INT8_EQ_OPERATOR;
	op->opfuncid = F_INT8EQ;
	op->useOr = true;
	op->inputcollid = InvalidOid;
	op->args = list_make2(column,
						  makeConst(INT8ARRAYOID, -1, InvalidOid, -1,
									PointerGetDatum(Int8Array(values, n)), false, false));
	op->location = -1;
	return (Node *) op;
}

static bool
IsNullConst(Node *n)
{
	return IsA(n, Const) && ((Const *) n)->constisnull;
}

/*
 * The planner support function of cmp.actor_sees: while the planner hook
 * plans a statement, it replaces the call by what the actor of the plan's
 * key sees, in the terms of the row's own columns:
 *   CSP        true
 *   ACCOUNT    account_id = N
 *   CUSTOMER   customer_id = N            (OR other_customer_id = N)
 *   CUSTOMERS  customer_id = ANY ('{...}') (OR other_customer_id = ...)
 *   NONE       false
 * which the planner estimates and indexes like the query written by hand.
 */
Datum
actor_sees_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	const PolicyKey *key;
	List	   *args;
	List	   *arms = NIL;
	ListCell   *lc;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	args = req->fcall->args;
	key = FoldedKey();
	if (key == NULL || list_length(args) < 2)
		PG_RETURN_POINTER(NULL);	/* not folding: the call checks each row */

	switch (key->kind)
	{
		case POLICY_CSP:
			PG_RETURN_POINTER(makeBoolConst(true, false));
		case POLICY_ACCOUNT:
			PG_RETURN_POINTER(ColumnIs((Node *) linitial(args), key->account_id));
		case POLICY_CUSTOMER:
		case POLICY_CUSTOMERS:
			if (key->ncustomers == 0)
				break;
			for_each_from(lc, args, 1)
			{
				Node	   *column = (Node *) lfirst(lc);

				if (IsNullConst(column))
					continue;
				arms = lappend(arms, key->kind == POLICY_CUSTOMER ?
							   ColumnIs(column, key->customer_ids[0]) :
							   ColumnIn(column, key->customer_ids, key->ncustomers));
			}
			if (arms == NIL)
				break;
			if (list_length(arms) == 1)
				PG_RETURN_POINTER(linitial(arms));
			PG_RETURN_POINTER(makeBoolExpr(OR_EXPR, arms, -1));
		default:
			break;
	}
	PG_RETURN_POINTER(makeBoolConst(false, false));
}

/*
 * The three functions below are evaluated by the planner (they are declared
 * IMMUTABLE): the kind, account and customers of the actor the plan under
 * construction is for, read from the plan's key (app_user's policy uses
 * them).  Outside the planner hook they fold nothing: the kind is UNFOLDED.
 */
Datum
actor_policy_kind(PG_FUNCTION_ARGS)
{
	const PolicyKey *key = FoldedKey();

	PG_RETURN_TEXT_P(cstring_to_text(key ? PolicyKindName(key->kind) : "UNFOLDED"));
}

Datum
actor_policy_customer_id(PG_FUNCTION_ARGS)
{
	const PolicyKey *key = FoldedKey();

	if (key == NULL || key->kind != POLICY_CUSTOMER)
		PG_RETURN_NULL();
	PG_RETURN_INT64(key->customer_ids[0]);
}

Datum
actor_policy_customer_ids(PG_FUNCTION_ARGS)
{
	const PolicyKey *key = FoldedKey();

	if (key != NULL && (key->kind == POLICY_CUSTOMER || key->kind == POLICY_CUSTOMERS))
		PG_RETURN_ARRAYTYPE_P(Int8Array(key->customer_ids, key->ncustomers));
	PG_RETURN_ARRAYTYPE_P(Int8Array(NULL, 0));
}

Datum
actor_cache_invalidate(PG_FUNCTION_ARGS)
{
	Oid			signal;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cmp.actor_cache_invalidate() must be called as a trigger")));
	/* every session drops its cached actor when this commits */
	signal = SignalRelid();
	if (OidIsValid(signal))
		CacheInvalidateRelcacheByRelid(signal);
	return PointerGetDatum(NULL);
}

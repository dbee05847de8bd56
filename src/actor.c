/*
 * actor.c
 *		Who is acting: the cmp.actor setting and its resolution.
 *
 * The acting CMP user is kept in the superuser-only setting cmp.actor.  Only
 * cmp.set_actor (EXECUTE granted by the DBA) changes it for other roles, so a
 * client cannot forge it with SET, set_config or ALTER ROLE; being a setting,
 * it ends with the transaction when set locally, is rolled back with it, is
 * cleared by RESET ALL and DISCARD ALL, and is copied to parallel workers.
 * With no actor set, a superuser is the system actor and any other role acts
 * as the user whose db_role it is, if any.
 *
 * The actor (kind, status, account, visible customers) is resolved for the
 * snapshot of the statement that asks, by index look-ups (lookup.c), and
 * kept only while that snapshot is the active one: every statement sees the
 * revocations its snapshot sees, and no invalidation has to reach a backend
 * in time.
 * What cmp.set_actor looked up is kept the same way, for its own snapshot:
 * the next statement, if nothing committed in between, needs no look-up.
 * Under REPEATABLE READ and SERIALIZABLE the actor is resolved for the
 * transaction's snapshot and for the latest one, and is what both allow:
 * a revocation committed after the transaction began still applies, as
 * PostgreSQL's own privilege checks do.
 *
 * What the session's actor is *called* (the setting, the session role) is
 * cheap to know; fold.c listens to its changes to keep the plans folded for
 * one kind of actor from running for another.
 */
#include "reseller_onboarding.h"
#include "lookup.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(set_actor);
PG_FUNCTION_INFO_V1(clear_actor);
PG_FUNCTION_INFO_V1(actor_id);
PG_FUNCTION_INFO_V1(whoami);
PG_FUNCTION_INFO_V1(actor_is_active);
PG_FUNCTION_INFO_V1(actor_cache_invalidate);

#define ACTOR_GUC "cmp.actor"

/* the setting's text and the user id it names (0: none) */
static char *actor_setting = NULL;
static int64 actor_setting_id = 0;
static bool allow_session_actor = true;

static MemoryContext ActorContext = NULL;	/* lives for the backend */

/*
 * Looked up lazily: the relation whose relcache invalidations signal that a
 * role mapping changed (a sequence no plan refers to), and the owner of the
 * extension's tables.
 */
static Oid	signal_relid = InvalidOid;
static Oid	extension_owner = InvalidOid;

static ActorChangeListener listener = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;
static Oid	told_outer = InvalidOid;	/* the session role when last told */

/*
 * The context level of a user never changes, so it is remembered per user
 * id: the setting's assign hook can then tell, without catalog access, what
 * kind of actor the new one is.  Likewise the kind a session role maps to
 * (until a mapping changes) and whether it is a superuser.
 */
typedef struct KindEntry
{
	int64		user_id;
	ActorKind	kind;
	int			ncustomers;		/* visible customers when last resolved */
} KindEntry;

static HTAB *kind_by_user = NULL;
static Oid	known_role = InvalidOid;
static int	known_role_kind = ACTOR_KIND_UNKNOWN;	/* with no actor set */
static int	known_role_ncustomers = -1;

/* the last resolution, valid for its key */
typedef struct Resolved
{
	bool		valid;
	int64		setting_id;
	Oid			outer_user;
	/* the snapshot it was resolved for */
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	TransactionId *xip;
	TransactionId *subxip;
	TimestampTz statement;		/* REPEATABLE READ: the statement too */
	Actor		actor;
	bool		have_users;
	int			nusers;
	int64	   *user_ids;
} Resolved;

static Resolved last;
static MemoryContext ResolvedContext = NULL;	/* reset at each resolution */

static KeptPlan visible_users = {
	"SELECT DISTINCT uc.user_id FROM cmp.user_customer uc"
	" WHERE uc.customer_id OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY uc.user_id",
	1, {INT8ARRAYOID}
};
static KeptPlan whoami_user = {
	"SELECT u.login, pg_catalog.array_agg(uc.customer_id ORDER BY uc.customer_id)"
	"         FILTER (WHERE uc.customer_id IS NOT NULL)"
	"  FROM cmp.app_user_data u"
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
RememberKind(int64 user_id, ActorKind kind, int ncustomers)
{
	KindEntry  *e;

	if (kind_by_user == NULL || hash_get_num_entries(kind_by_user) > 100000)
	{
		HASHCTL		ctl;

		/* a bound on memory for sessions that serve very many users */
		if (kind_by_user != NULL)
			hash_destroy(kind_by_user);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(KindEntry);
		ctl.hcxt = ActorContext;
		kind_by_user = hash_create("cmp actor kinds", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(kind_by_user, &user_id, HASH_ENTER, NULL);
	e->kind = kind;
	e->ncustomers = ncustomers;
}

/*
 * The kind the current setting and session role name, if known, and the
 * number of customers it had when last resolved (-1: not known).
 */
static int
KindOfSetting(int *ncustomers)
{
	*ncustomers = -1;
	if (actor_setting_id != 0)
	{
		KindEntry  *e = kind_by_user ?
			hash_search(kind_by_user, &actor_setting_id, HASH_FIND, NULL) : NULL;

		if (e == NULL)
			return ACTOR_KIND_UNKNOWN;
		*ncustomers = e->ncustomers;
		return (int) e->kind;
	}
	if (known_role == GetOuterUserId())
	{
		*ncustomers = known_role_ncustomers;
		return known_role_kind;
	}
	return ACTOR_KIND_UNKNOWN;
}

/* Drop the last resolution and everything allocated for it. */
static void
ForgetResolved(void)
{
	last.valid = false;
	last.have_users = false;
	MemoryContextReset(ResolvedContext);
}

static void
Tell(void)
{
	int			kind,
				ncustomers;

	last.valid = false;
	told_outer = GetOuterUserId();
	kind = KindOfSetting(&ncustomers);
	if (listener)
		listener(kind, ncustomers);
}

void
ActorListen(ActorChangeListener l)
{
	listener = l;
}

uint64
ActorToken(void)
{
	uint64		h = hash_bytes_uint32_extended((uint32) GetOuterUserId(),
											   (uint64) actor_setting_id);

	return h;
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
	Tell();
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
	{
		VersionRequire();
		return true;
	}
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
	VersionRequire();
	return true;
}

/*
 * A role mapping changed somewhere (or the extension was dropped): the kind
 * a role maps to must be looked up again.  Sessions that act through
 * cmp.set_actor only forget what they knew; a session acting through its
 * mapping is told its actor may have changed.
 */
static void
ActorRelcacheCallback(Datum arg, Oid relid)
{
	if (relid != InvalidOid && relid != signal_relid)
		return;
	signal_relid = InvalidOid;
	LookupForget();
	VersionForget();
	known_role = InvalidOid;
	known_role_kind = ACTOR_KIND_UNKNOWN;
	known_role_ncustomers = -1;
	if (actor_setting_id == 0)
		Tell();
}

/*
 * PostgreSQL replans a row-security plan when the current user changes, but
 * inside a SECURITY DEFINER function the current user is always the owner,
 * while the actor follows the session's role (SET ROLE).  PostgreSQL calls
 * fmgr_hook on entry to every such function: tell fold.c when the session
 * role is another one than last time.
 */
static void
ActorFmgrHook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (event == FHET_START && told_outer != GetOuterUserId())
		Tell();
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
	DefineCustomBoolVariable("cmp.allow_session_actor",
							 "Whether cmp.set_actor(..., is_local => false) may set an actor for the session.",
							 "Turn it off for roles behind a transaction pooler: "
							 "ALTER ROLE ... SET cmp.allow_session_actor = off.",
							 &allow_session_actor,
							 true,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("cmp");
	CacheRegisterRelcacheCallback(ActorRelcacheCallback, (Datum) 0);
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = ActorFmgrHook;
}

/* Run a lookup as the extension's owner, so row-level security is not applied. */
static int
LookupAsOwner(KeptPlan *kp, Datum *values, Snapshot snap)
{
	Oid			save_user;
	int			save_sec;
	volatile int rc = 0;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(extension_owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_snapshot(KeptPlanGet(kp), values, NULL, snap,
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

static Snapshot
StatementSnapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

/*
 * Resolve the actor named by (setting_id, outer) as snap sees it, into a
 * (its customers allocated in cxt).
 */
static void
ResolveFor(Snapshot snap, int64 setting_id, Oid outer, Actor *a, MemoryContext cxt)
{
	UserRow		row;
	bool		found = false;

	memset(a, 0, sizeof(Actor));
	a->kind = ACTOR_NONE;
	snap = RegisterSnapshot(snap);
	if (setting_id != 0)
		found = LookupUserById(snap, setting_id, &row);
	else
	{
		char	   *rolename = GetUserNameFromId(outer, true);

		if (rolename != NULL)
			found = LookupUserByRole(snap, rolename, outer, &row);
	}
	if (found)
	{
		a->user_id = row.user_id;
		a->kind = KindFromText(row.context_level);
		a->account_id = row.account_id;
		a->is_admin = row.is_admin;
		a->active = row.active;
	}
	if (found && a->kind == ACTOR_CUSTOMER && a->active)
		a->ncustomers = LookupUserCustomers(snap, a->user_id, &a->customer_ids, cxt);
	UnregisterSnapshot(snap);
}

/* What both resolutions allow (REPEATABLE READ: transaction and latest). */
static void
Intersect(Actor *a, const Actor *b)
{
	int			i,
				j = 0,
				k = 0;

	if (a->user_id != b->user_id || a->kind != b->kind || !b->active)
	{
		a->active = false;
		a->ncustomers = 0;
		return;
	}
	for (i = 0; i < a->ncustomers; i++)
	{
		while (j < b->ncustomers && b->customer_ids[j] < a->customer_ids[i])
			j++;
		if (j < b->ncustomers && b->customer_ids[j] == a->customer_ids[i])
			a->customer_ids[k++] = a->customer_ids[i];
	}
	a->ncustomers = k;
}

static bool
SameKey(Snapshot snap, bool xact_snapshot)
{
	if (!last.valid || last.setting_id != actor_setting_id ||
		last.outer_user != GetOuterUserId())
		return false;
	if (snap->xmin != last.xmin || snap->xmax != last.xmax ||
		snap->curcid != last.curcid || snap->xcnt != last.xcnt ||
		snap->subxcnt != last.subxcnt || snap->suboverflowed != last.suboverflowed)
		return false;
	if (xact_snapshot && last.statement != GetCurrentStatementStartTimestamp())
		return false;
	return (snap->xcnt == 0 ||
			memcmp(snap->xip, last.xip, sizeof(TransactionId) * snap->xcnt) == 0) &&
		(snap->subxcnt <= 0 ||
		 memcmp(snap->subxip, last.subxip, sizeof(TransactionId) * snap->subxcnt) == 0);
}

/*
 * The resolution in last (in ResolvedContext) is the actor as snap sees it:
 * so is it for any snapshot that sees the same (SameKey).
 */
static void
KeepFor(Snapshot snap)
{
	last.setting_id = actor_setting_id;
	last.outer_user = GetOuterUserId();
	last.xmin = snap->xmin;
	last.xmax = snap->xmax;
	last.curcid = snap->curcid;
	last.xcnt = snap->xcnt;
	last.subxcnt = snap->subxcnt;
	last.suboverflowed = snap->suboverflowed;
	last.xip = MemoryContextAlloc(ResolvedContext, sizeof(TransactionId) * Max(snap->xcnt, 1));
	if (snap->xcnt > 0)
		memcpy(last.xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	last.subxip = MemoryContextAlloc(ResolvedContext,
									 sizeof(TransactionId) * Max(snap->subxcnt, 1));
	if (snap->subxcnt > 0)
		memcpy(last.subxip, snap->subxip, sizeof(TransactionId) * snap->subxcnt);
	last.statement = GetCurrentStatementStartTimestamp();
	last.valid = true;
}

static void
Resolve(void)
{
	Snapshot	snap = StatementSnapshot();
	bool		xact_snapshot = IsolationUsesXactSnapshot();
	Actor	   *a = &last.actor;
	Oid			outer = GetOuterUserId();

	if (SameKey(snap, xact_snapshot))
		return;

	ForgetResolved();
	memset(a, 0, sizeof(Actor));
	a->kind = ACTOR_NONE;

	if (actor_setting_id == 0 && superuser_arg(outer))
	{
		a->kind = ACTOR_SYSTEM;
		a->active = true;
	}
	else if (LookupRelations())
	{
		ResolveFor(snap, actor_setting_id, outer, a, ResolvedContext);
		if (xact_snapshot && !IsInParallelMode())
		{
			Actor		now;

			ResolveFor(GetLatestSnapshot(), actor_setting_id, outer, &now, ResolvedContext);
			Intersect(a, &now);
		}
	}

	if (a->user_id != 0)
		RememberKind(a->user_id, a->kind, a->ncustomers);
	if (actor_setting_id == 0)
	{
		known_role = outer;
		known_role_kind = a->kind;
		known_role_ncustomers = a->ncustomers;
	}

	KeepFor(snap);
}

Actor
ActorGet(void)
{
	Actor		copy;

	Resolve();
	copy = last.actor;
	copy.customer_ids = palloc(sizeof(int64) * Max(copy.ncustomers, 1));
	if (copy.ncustomers > 0)
		memcpy(copy.customer_ids, last.actor.customer_ids, sizeof(int64) * copy.ncustomers);
	return copy;
}

int
ActorVisibleUsers(int64 **user_ids)
{
	Resolve();
	if (!last.have_users)
	{
		last.nusers = 0;
		if (last.actor.ncustomers > 0)
		{
			Datum		arg;
			int			n,
						i;

			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			arg = PointerGetDatum(Int8Array(last.actor.customer_ids, last.actor.ncustomers));
			n = LookupAsOwner(&visible_users, &arg, StatementSnapshot());
			last.user_ids = MemoryContextAlloc(ResolvedContext, sizeof(int64) * Max(n, 1));
			for (i = 0; i < n; i++)
				last.user_ids[i] = SpiGetInt64(i, 1, NULL);
			last.nusers = n;
			SPI_finish();
		}
		last.have_users = true;
	}
	*user_ids = palloc(sizeof(int64) * Max(last.nusers, 1));
	if (last.nusers > 0)
		memcpy(*user_ids, last.user_ids, sizeof(int64) * last.nusers);
	return last.nusers;
}

static bool
Contains(const int64 *values, int n, int64 value)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (values[mid] == value)
			return true;
		if (values[mid] < value)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

bool
ActorSeesRow(int64 account_id, const int64 *customer_ids, int n)
{
	const Actor *a;
	int			i;

	Resolve();
	a = &last.actor;
	if (!a->active)
		return false;
	switch (a->kind)
	{
		case ACTOR_SYSTEM:
		case ACTOR_CSP:
			return true;
		case ACTOR_ACCOUNT:
			return account_id == a->account_id;
		case ACTOR_CUSTOMER:
			for (i = 0; i < n; i++)
				if (Contains(a->customer_ids, a->ncustomers, customer_ids[i]))
					return true;
			return false;
		default:
			return false;
	}
}

bool
ActorSeesUser(int64 user_id)
{
	int64	   *ids;
	int			n;

	Resolve();
	if (last.actor.kind != ACTOR_CUSTOMER || !last.actor.active)
		return false;
	n = ActorVisibleUsers(&ids);
	return Contains(ids, n, user_id);
}

bool
ActorSeesCustomer(const Actor *a, int64 customer_id)
{
	return Contains(a->customer_ids, a->ncustomers, customer_id);
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
	if (!a->active)
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

/*
 * Learn, while catalog access is possible, what the session role maps to
 * with no actor set, so that the end of a local actor tells fold.c the kind
 * of the actor that follows without a lookup.
 */
static void
LearnRoleKind(void)
{
	Oid			outer = GetOuterUserId();
	Actor		a;

	if (known_role == outer)
		return;
	memset(&a, 0, sizeof(a));
	if (superuser_arg(outer))
		a.kind = ACTOR_SYSTEM;
	else
		ResolveFor(StatementSnapshot(), 0, outer, &a, CurrentMemoryContext);
	known_role = outer;
	known_role_kind = a.kind;
	known_role_ncustomers = a.ncustomers;
}

/*
 * Make user_id the actor, as cmp.set_actor does.  With refusal set (a
 * verified identity), a user who does not exist or may not act is refused
 * with 42501, that message and a DETAIL saying why, instead of P0002/55000.
 */
void
ActorSetUser(int64 user_id, bool is_local, const char *refusal)
{
	char		buf[32];
	Actor		a;
	Snapshot	snap = StatementSnapshot();
	MemoryContext caller = CurrentMemoryContext;

	if (!LookupRelations())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension reseller_onboarding is not installed in this database"),
				 errhint("CREATE EXTENSION reseller_onboarding.")));

	if (!is_local && !allow_session_actor)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set a session actor"),
				 errdetail("cmp.allow_session_actor is off for this role."),
				 errhint("Use cmp.set_actor(user_id) inside a transaction: the actor then ends with it.")));

	/* one look-up: whether the user exists and may act, its kind and customers */
	ResolveFor(snap, user_id, GetOuterUserId(), &a, caller);
	if (a.user_id == 0 && refusal)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s", refusal),
				 errdetail("CMP user %lld does not exist.", (long long) user_id)));
	if (a.user_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %lld does not exist", (long long) user_id)));
	if (!a.active && refusal)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s", refusal),
				 errdetail("CMP user %lld is locked.", (long long) user_id)));
	if (!a.active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errrule("actor_not_locked"),
				 errmsg("user %lld is locked", (long long) user_id),
				 errhint("A locked user cannot act; unlock it with cmp.set_user_status().")));
	/* its kind and number of customers tell fold.c whether plans must go */
	RememberKind(user_id, a.kind, a.ncustomers);
	LearnRoleKind();

	if (is_local && !IsTransactionBlock())
	{
		ereport(WARNING,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("cmp.set_actor(is_local => true) has no effect outside a transaction block"),
				 errdetail("The actor would end with this statement's own transaction."),
				 errhint("Call it after BEGIN, in the transaction whose statements it is for.")));
		return;
	}

	snprintf(buf, sizeof(buf), INT64_FORMAT, user_id);
	SetActorSetting(buf, is_local);

	/*
	 * What was looked up is this actor as snap sees it: the statements that
	 * follow with a snapshot that sees the same (no commit in between) need
	 * not look it up again.  Under REPEATABLE READ a statement's resolution
	 * also asks the latest snapshot, which this one did not.
	 */
	if (!IsolationUsesXactSnapshot() && actor_setting_id == user_id)
	{
		ForgetResolved();
		last.actor = a;
		last.actor.customer_ids = MemoryContextAlloc(ResolvedContext,
													 sizeof(int64) * Max(a.ncustomers, 1));
		if (a.ncustomers > 0)
			memcpy(last.actor.customer_ids, a.customer_ids, sizeof(int64) * a.ncustomers);
		KeepFor(snap);
	}
}

Datum
set_actor(PG_FUNCTION_ARGS)
{
	bool		is_local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	FieldsOperation("set_actor");

	RequireNotNull(fcinfo, 0, "user_id");
	ActorSetUser(PG_GETARG_INT64(0), is_local, NULL);
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
	Actor		a = ActorGet();

	if (a.user_id == 0 || !a.active)
		PG_RETURN_NULL();
	PG_RETURN_INT64(a.user_id);
}

Datum
whoami(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (a.kind == ACTOR_SYSTEM)
	{
		values[2] = CStringGetTextDatum("SYSTEM");
		nulls[2] = false;
	}
	else if (a.user_id != 0 && a.active)
	{
		Datum		arg = Int64GetDatum(a.user_id);
		char	   *login = NULL;

		values[0] = Int64GetDatum(a.user_id);
		nulls[0] = false;
		values[2] = CStringGetTextDatum(ActorKindName(a.kind));
		nulls[2] = false;
		if (a.account_id != 0)
		{
			values[3] = Int64GetDatum(a.account_id);
			nulls[3] = false;
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (LookupAsOwner(&whoami_user, &arg, StatementSnapshot()) == 1)
		{
			bool		isnull;
			Datum		ids;

			login = SpiGetText(0, 1);	/* in the caller's memory */
			ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (!isnull)
			{
				values[4] = SPI_datumTransfer(ids, false, -1);
				nulls[4] = false;
			}
		}
		SPI_finish();
		/* after SPI_finish, which frees what was allocated while connected */
		if (login != NULL)
		{
			values[1] = CStringGetTextDatum(login);
			nulls[1] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
actor_is_active(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	PG_RETURN_BOOL(a.kind != ACTOR_NONE && a.kind != ACTOR_SYSTEM && a.active);
}

/*
 * The trigger on changes of role mappings: every session forgets which kind
 * of actor a role maps to when this commits.
 */
Datum
actor_cache_invalidate(PG_FUNCTION_ARGS)
{
	Oid			signal;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cmp.actor_cache_invalidate() must be called as a trigger")));
	signal = SignalRelid();
	if (OidIsValid(signal))
		CacheInvalidateRelcacheByRelid(signal);
	return PointerGetDatum(NULL);
}

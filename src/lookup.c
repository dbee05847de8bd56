/*
 * lookup.c
 *		A CMP user and its visible customers, read straight from the indexes
 *		of cmp.app_user_data, cmp.user_customer and cmp.customer; and, for a
 *		customer's change of status, whether the transition is allowed and
 *		which admin it gets (cmp.customer_status_transition).
 *
 * The actor is resolved for every new snapshot (actor.c), so this is on the
 * path of every request.  A query through SPI spent most of its time
 * starting its executor; an index scan with the statement's snapshot reads
 * the same rows, as the catalogs' own look-ups do (genam.c's systable_*).
 * Row-level security does not apply here, as it did not to the owner's
 * query this replaces.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "lib/qunique.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "lookup.h"

/* A table, one of its indexes and the columns read, found once. */
typedef struct Table
{
	const char *name;
	const char *index;			/* NULL: the primary key */
	const char *key;			/* the column the index is searched by */
	const char *columns[6];
	Oid			relid;
	Oid			indexid;
	AttrNumber	key_attnum;
	Oid			key_collation;	/* the key column's, which its index uses */
	AttrNumber	attnums[6];
} Table;

static Table users_by_id = {"app_user_data", NULL, "user_id",
{"user_id", "context_level", "account_id", "is_admin", "status", "db_role_oid"}};
static Table users_by_role = {"app_user_data", "app_user_db_role_key", "db_role",
{"user_id", "context_level", "account_id", "is_admin", "status", "db_role_oid"}};
static Table assignments = {"user_customer", NULL, "user_id", {"customer_id"}};
static Table customers = {"customer", NULL, "customer_id", {"status"}};
static Table assigned_users = {"user_customer", "user_customer_customer_idx", "customer_id", {"user_id"}};
static Table transitions = {"customer_status_transition", NULL, "from_status", {"to_status"}};

static Table *const tables[] = {&users_by_id, &users_by_role, &assignments, &customers,
&assigned_users, &transitions};

void
LookupForget(void)
{
	int			i;

	for (i = 0; i < lengthof(tables); i++)
		tables[i]->relid = InvalidOid;
}

/*
 * A table or an index read here changed or went away (DROP EXTENSION in
 * another session, REINDEX CONCURRENTLY, which gives the index a new OID):
 * find it again by name on its next use.  InvalidOid: everything may have.
 */
static void
LookupRelcacheCallback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(tables); i++)
		if (!OidIsValid(relid) || tables[i]->relid == relid || tables[i]->indexid == relid)
			tables[i]->relid = InvalidOid;
}

/* Find the table, its index and its columns by name; relid is set last. */
static void
FindTable(Table *t)
{
	Oid			relid;
	Oid			type;
	int32		typmod;
	Relation	rel;
	int			i;

	relid = get_relname_relid(t->name, get_namespace_oid("cmp", false));
	if (!OidIsValid(relid))
		elog(ERROR, "cmp.%s is missing", t->name);
	rel = table_open(relid, AccessShareLock);
	t->indexid = t->index ? get_relname_relid(t->index, RelationGetNamespace(rel))
		: RelationGetPrimaryKeyIndex(rel);
	table_close(rel, NoLock);
	if (!OidIsValid(t->indexid))
		elog(ERROR, "the index of cmp.%s is missing", t->name);
	t->key_attnum = get_attnum(relid, t->key);
	if (t->key_attnum == InvalidAttrNumber)
		elog(ERROR, "cmp.%s has no column \"%s\"", t->name, t->key);
	get_atttypetypmodcoll(relid, t->key_attnum, &type, &typmod, &t->key_collation);
	for (i = 0; i < lengthof(t->columns) && t->columns[i]; i++)
	{
		t->attnums[i] = get_attnum(relid, t->columns[i]);
		if (t->attnums[i] == InvalidAttrNumber)
			elog(ERROR, "cmp.%s has no column \"%s\"", t->name, t->columns[i]);
	}
	t->relid = relid;
}

/*
 * Open the table and lock its index, finding both on first use.  Taking a
 * lock reads the invalidations that arrived: if one was about the table or
 * its index (LookupRelcacheCallback), what was found is stale, so find it
 * again, as PostgreSQL does for a name it resolves (RangeVarGetRelidExtended).
 */
static Relation
OpenTable(Table *t)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(LookupRelcacheCallback, (Datum) 0);
		registered = true;
	}
	for (;;)
	{
		Relation	rel;
		Oid			indexid;

		if (!OidIsValid(t->relid))
			FindTable(t);
		indexid = t->indexid;
		rel = try_table_open(t->relid, AccessShareLock);
		if (rel == NULL)
		{
			t->relid = InvalidOid;
			continue;
		}
		LockRelationOid(indexid, AccessShareLock);
		if (OidIsValid(t->relid) && t->indexid == indexid)
			return rel;
		UnlockRelationOid(indexid, AccessShareLock);
		table_close(rel, AccessShareLock);
	}
}

/* A scan key on the table's key column (the first of its index). */
static void
KeyInit(Table *t, ScanKey key, RegProcedure eq, Datum value)
{
	ScanKeyInit(key, t->key_attnum, BTEqualStrategyNumber, eq, value);
	if (OidIsValid(t->key_collation))
		key->sk_collation = t->key_collation;
}

static bool
TextIs(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/*
 * The first row the scan key finds, into row; with role set, only a row whose
 * db_role_oid is that role (a role created anew under the name maps nobody).
 */
static bool
LookupUser(Table *t, Snapshot snap, ScanKey key, Oid role, UserRow *row)
{
	Relation	rel = OpenTable(t);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	bool		isnull;
	bool		no_account;

	key->sk_attno = t->key_attnum;
	scan = systable_beginscan(rel, t->indexid, true, snap, 1, key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Datum		role_oid = heap_getattr(tup, t->attnums[5], desc, &isnull);

		if (!OidIsValid(role) || (!isnull && DatumGetObjectId(role_oid) == role))
		{
			Datum		level = heap_getattr(tup, t->attnums[1], desc, &isnull);
			Datum		account = heap_getattr(tup, t->attnums[2], desc, &no_account);

			found = true;
			memset(row, 0, sizeof(*row));
			row->user_id = DatumGetInt64(heap_getattr(tup, t->attnums[0], desc, &isnull));
			row->context_level = TextDatumGetCString(level);
			row->account_id = no_account ? 0 : DatumGetInt64(account);
			row->is_admin = DatumGetBool(heap_getattr(tup, t->attnums[3], desc, &isnull));
			row->active = TextIs(heap_getattr(tup, t->attnums[4], desc, &isnull), "ACTIVE");
		}
	}
	systable_endscan(scan);
	table_close(rel, NoLock);
	return found;
}

bool
LookupUserById(Snapshot snap, int64 user_id, UserRow *row)
{
	ScanKeyData key;

	/* the column is set by LookupUser, which knows the table */
	ScanKeyInit(&key, InvalidAttrNumber, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(user_id));
	return LookupUser(&users_by_id, snap, &key, InvalidOid, row);
}

bool
LookupUserByRole(Snapshot snap, const char *role_name, Oid role, UserRow *row)
{
	ScanKeyData key;
	NameData	name;

	namestrcpy(&name, role_name);
	ScanKeyInit(&key, InvalidAttrNumber, BTEqualStrategyNumber, F_NAMEEQ, NameGetDatum(&name));
	return LookupUser(&users_by_role, snap, &key, role, row);
}

static int
CompareIds(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

int
LookupUserCustomers(Snapshot snap, int64 user_id, int64 **ids, MemoryContext cxt)
{
	Relation	uc = OpenTable(&assignments);
	Relation	c = OpenTable(&customers);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int64	   *assigned;
	int			n = 0,
				size = 8,
				kept = 0,
				i;
	bool		isnull;

	assigned = palloc(sizeof(int64) * size);
	ScanKeyInit(&key, assignments.key_attnum, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(user_id));
	scan = systable_beginscan(uc, assignments.indexid, true, snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		if (n == size)
		{
			size *= 2;
			assigned = repalloc(assigned, sizeof(int64) * size);
		}
		assigned[n++] = DatumGetInt64(heap_getattr(tup, assignments.attnums[0],
												   RelationGetDescr(uc), &isnull));
	}
	systable_endscan(scan);
	table_close(uc, NoLock);

	*ids = MemoryContextAlloc(cxt, sizeof(int64) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ScanKeyInit(&key, customers.key_attnum, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(assigned[i]));
		scan = systable_beginscan(c, customers.indexid, true, snap, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			Datum		status = heap_getattr(tup, customers.attnums[0], RelationGetDescr(c), &isnull);

			if (TextIs(status, "ACTIVE") || TextIs(status, "SUSPENDED"))
				(*ids)[kept++] = assigned[i];
		}
		systable_endscan(scan);
	}
	table_close(c, NoLock);
	pfree(assigned);

	qsort(*ids, kept, sizeof(int64), CompareIds);
	return (int) qunique(*ids, kept, sizeof(int64), CompareIds);
}

bool
LookupTransition(Snapshot snap, const char *from, const char *to)
{
	Relation	rel = OpenTable(&transitions);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	bool		isnull;

	KeyInit(&transitions, &key, F_TEXTEQ, CStringGetTextDatum(from));
	scan = systable_beginscan(rel, transitions.indexid, true, snap, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = TextIs(heap_getattr(tup, transitions.attnums[0], RelationGetDescr(rel), &isnull), to);
	systable_endscan(scan);
	table_close(rel, NoLock);
	return found;
}

int64
LookupActiveAdmin(Snapshot snap, int64 customer_id, int64 admin_user_id)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	UserRow		row;
	int64		found = 0;
	bool		isnull;

	if (admin_user_id != 0 && LookupUserById(snap, admin_user_id, &row) && row.active)
		return admin_user_id;

	rel = OpenTable(&assigned_users);
	KeyInit(&assigned_users, &key, F_INT8EQ, Int64GetDatum(customer_id));
	scan = systable_beginscan(rel, assigned_users.indexid, true, snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		int64		user_id = DatumGetInt64(heap_getattr(tup, assigned_users.attnums[0],
														 RelationGetDescr(rel), &isnull));

		if ((found == 0 || user_id < found) &&
			LookupUserById(snap, user_id, &row) && row.is_admin && row.active)
			found = user_id;
	}
	systable_endscan(scan);
	table_close(rel, NoLock);
	return found;
}

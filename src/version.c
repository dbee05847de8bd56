/*
 * version.c
 *		The library's version, and the check that the SQL objects match it.
 *
 * One library serves the SQL objects of one version.  After a package
 * upgrade the new library may meet a database whose objects are still those
 * of the old version: it refuses to work there until
 * ALTER EXTENSION reseller_onboarding UPDATE has been run.  The entry points
 * that only older SQL versions call are kept, so that such a database can
 * still be dumped, updated or dropped, and raise the same error.
 */
#include "reseller_onboarding.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

/* from the control file, by the Makefile */
#ifndef RO_VERSION
#error "RO_VERSION must be defined (the Makefile passes the control file's default_version)"
#endif
#define LIBRARY_VERSION RO_VERSION

PG_FUNCTION_INFO_V1(cmp_version);
PG_FUNCTION_INFO_V1(actor_policy_kind);
PG_FUNCTION_INFO_V1(actor_policy_customer_id);
PG_FUNCTION_INFO_V1(actor_policy_customer_ids);
PG_FUNCTION_INFO_V1(actor_must_be);

static bool version_checked = false;

/* The installed version of the extension's SQL objects; NULL if none. */
static char *
InstalledVersion(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("reseller_onboarding"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

static void
Mismatch(const char *installed)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("reseller_onboarding library %s cannot serve version %s of the extension",
					LIBRARY_VERSION, installed ? installed : "(none)"),
			 errdetail("The installed library and the extension's SQL objects are of different versions."),
			 errhint("Run ALTER EXTENSION reseller_onboarding UPDATE.")));
}

void
VersionRequire(void)
{
	char	   *installed;

	if (version_checked || creating_extension)
		return;
	installed = InstalledVersion();
	if (installed == NULL || strcmp(installed, LIBRARY_VERSION) != 0)
		Mismatch(installed);
	version_checked = true;
}

void
VersionForget(void)
{
	version_checked = false;
}

Datum
cmp_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(LIBRARY_VERSION));
}

/*
 * Called by the upgrade script to 1.1, which every fresh install of 1.1 runs:
 * CREATE EXTENSION must not adopt a schema cmp that existed before it (SPEC
 * §1), whose owner could rename it or add look-alike functions.  The schema
 * CREATE EXTENSION makes itself is new in this transaction and owned by the
 * installing superuser.  (An update of an installed extension is not a new
 * install: it passes.)
 */
/* Entry points of version 1.0 that 1.1 dropped. */
static Datum
Retired(void)
{
	Mismatch(InstalledVersion());
	return (Datum) 0;
}

Datum
actor_policy_kind(PG_FUNCTION_ARGS)
{
	return Retired();
}

Datum
actor_policy_customer_id(PG_FUNCTION_ARGS)
{
	return Retired();
}

Datum
actor_policy_customer_ids(PG_FUNCTION_ARGS)
{
	return Retired();
}

Datum
actor_must_be(PG_FUNCTION_ARGS)
{
	return Retired();
}

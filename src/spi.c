/*
 * spi.c
 *		Kept SPI plans and small helpers for reading SPI results.
 *
 * Every statement the extension runs is written once, fully qualified, and
 * prepared on first use; the plan is kept for the life of the backend and
 * replanned by the plan cache when the objects it uses change.
 */
#include "reseller_onboarding.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

SPIPlanPtr
KeptPlanGet(KeptPlan *kp)
{
	if (kp->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(kp->sql, kp->nargs, kp->argtypes,
											  kp->generic ? CURSOR_OPT_GENERIC_PLAN : 0);

		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", kp->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep plan for \"%s\"", kp->sql);
		kp->plan = plan;
	}
	return kp->plan;
}

int
KeptPlanExec(KeptPlan *kp, Datum *values, const char *nulls, bool read_only,
			 long count)
{
	int			rc = SPI_execute_plan(KeptPlanGet(kp), values, nulls,
									  read_only, count);

	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s", kp->sql,
			 SPI_result_code_string(rc));
	return rc;
}

int64
SpiGetInt64(int row, int col, bool *isnull)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);

	if (isnull)
		*isnull = null;
	return null ? 0 : DatumGetInt64(d);
}

/* The text value of a column, copied out of the SPI context; NULL for NULL. */
char *
SpiGetText(int row, int col)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	char	   *copy;

	if (s == NULL)
		return NULL;
	copy = SPI_palloc(strlen(s) + 1);
	strcpy(copy, s);
	return copy;
}

/* A jsonb column, copied out of the SPI context; NULL for NULL. */
Jsonb *
SpiGetJsonb(int row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);

	if (null)
		return NULL;
	return DatumGetJsonbP(SPI_datumTransfer(d, false, -1));
}

/* A bigint[] of n values (n may be 0). */
ArrayType *
Int8Array(const int64 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

/*
 * module.c
 *		Library entry point: each module initialises itself here.
 */
#include "reseller_onboarding.h"

PG_MODULE_MAGIC;

void
_PG_init(void)
{
	ActorInit();
	FoldInit();
}

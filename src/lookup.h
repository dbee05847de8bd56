/*
 * lookup.h
 *		Reading a CMP user, and the customers it may see, straight from the
 *		tables' indexes, for the actor's resolution (actor.c); and the two
 *		facts a customer's change of status checks (lifecycle.c).
 */
#ifndef RESELLER_ONBOARDING_LOOKUP_H
#define RESELLER_ONBOARDING_LOOKUP_H

#include "postgres.h"

#include "utils/snapshot.h"

/* A user's row, as the actor needs it. */
typedef struct UserRow
{
	int64		user_id;
	const char *context_level;	/* 'CSP', 'ACCOUNT' or 'CUSTOMER' */
	int64		account_id;		/* 0 if NULL */
	bool		is_admin;
	bool		active;			/* status is 'ACTIVE' */
} UserRow;

/* The user with this id, or with this db_role and role OID; false: none. */
extern bool LookupUserById(Snapshot snap, int64 user_id, UserRow *row);
extern bool LookupUserByRole(Snapshot snap, const char *role_name, Oid role, UserRow *row);

/*
 * The customers assigned to the user that are ACTIVE or SUSPENDED,
 * ascending, allocated in cxt; returns how many.
 */
extern int	LookupUserCustomers(Snapshot snap, int64 user_id, int64 **ids, MemoryContext cxt);

/* Whether cmp.customer_status_transition allows from -> to. */
extern bool LookupTransition(Snapshot snap, const char *from, const char *to);

/*
 * The admin a customer becoming ACTIVE gets: its admin_user_id if that user
 * is ACTIVE, else the lowest ACTIVE admin user assigned to it; 0 if none.
 */
extern int64 LookupActiveAdmin(Snapshot snap, int64 customer_id, int64 admin_user_id);

/* The tables were dropped or replaced: find them again on the next look-up. */
extern void LookupForget(void);

#endif

/*
 * actor.h
 *		Who is acting (actor.c): the boundary between identity and the rest.
 *
 * An Actor is resolved for the snapshot of the statement that asks, so it
 * reflects every change (a user locked, unassigned, a customer suspended, a
 * role mapping changed) that this statement can see.  Callers get it by
 * value; its arrays are allocated in the caller's memory context.
 */
#ifndef RESELLER_ONBOARDING_ACTOR_H
#define RESELLER_ONBOARDING_ACTOR_H

#include "postgres.h"

typedef enum ActorKind
{
	ACTOR_NONE = 0,				/* nobody: sees nothing, may change nothing */
	ACTOR_SYSTEM,				/* superuser with no actor set */
	ACTOR_CSP,
	ACTOR_ACCOUNT,
	ACTOR_CUSTOMER
} ActorKind;

/* what ActorKindOfSetting says when it cannot tell without a catalog lookup */
#define ACTOR_KIND_UNKNOWN (-1)

typedef struct Actor
{
	ActorKind	kind;			/* the user's context level; never changes */
	bool		active;			/* may act: not LOCKED (the system actor: true) */
	int64		user_id;		/* 0 for the system actor and for nobody */
	int64		account_id;		/* 0 unless ACCOUNT or CUSTOMER */
	bool		is_admin;
	/* assigned customers that are ACTIVE or SUSPENDED, ascending; none if LOCKED */
	int			ncustomers;
	int64	   *customer_ids;
} Actor;

extern void ActorInit(void);
extern Actor ActorGet(void);
extern const char *ActorKindName(ActorKind kind);
extern bool ActorSeesCustomer(const Actor *actor, int64 customer_id);
extern void ActorRequire(const Actor *actor, bool allowed, const char *operation);
extern void ActorSetUser(int64 user_id, bool is_local, const char *refusal);
extern const char *ActorDbRole(void);

/*
 * Row checks against the actor of the moment, without a copy: may it see a
 * row of this account and (any of these) customers; this user?
 */
extern bool ActorSeesRow(int64 account_id, const int64 *customer_ids, int n);
extern bool ActorSeesUser(int64 user_id);

/* The users assigned to the actor's visible customers (app_user's policy). */
extern int	ActorVisibleUsers(int64 **user_ids);

/*
 * Who the session says is acting, without resolving it: the setting and the
 * session role, hashed.  Equal tokens name the same actor.
 */
extern uint64 ActorToken(void);

/*
 * Told whenever the acting user may have become another one: the kind of the
 * new one, if known without a catalog lookup, else ACTOR_KIND_UNKNOWN, and
 * how many customers it saw when last resolved (-1: not known).
 * Called from a setting's assign hook and from invalidation callbacks, so
 * the listener must not fail nor read the catalog.
 */
typedef void (*ActorChangeListener) (int new_kind, int ncustomers);
extern void ActorListen(ActorChangeListener listener);

#endif							/* RESELLER_ONBOARDING_ACTOR_H */

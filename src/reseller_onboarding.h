/*
 * reseller_onboarding.h
 *		What the modules of the extension share.
 *
 * Every SQL-callable function lives in the module of its concern; this header
 * holds the internal interfaces between modules: the actor (actor.h), the
 * folded policies (fold.c), input validation (validate.c), the audit log
 * (audit.c) and SPI helpers (spi.c).
 */
#ifndef RESELLER_ONBOARDING_H
#define RESELLER_ONBOARDING_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "actor.h"

/* ---- fold.c: the policies folded by kind of actor, and their plans ---- */

extern void FoldInit(void);

/* ---- version.c: the library's version against the SQL objects' ---- */

extern void VersionRequire(void);
extern void VersionForget(void);

/* ---- validate.c: shapes of values ---- */

extern bool IccidIsValid(const char *s);
extern bool ImsiIsValid(const char *s);
extern bool MsisdnIsValid(const char *s);
extern bool PhoneIsValid(const char *s);	/* E.164: + and 2..15 digits */
extern bool UrlIsValid(const char *s);	/* absolute http(s) URL with a host */
extern bool EmailIsValid(const char *s);
extern bool CountryIsValid(const char *s);	/* assigned ISO 3166-1 alpha-2 */
extern bool CurrencyIsValid(const char *s); /* active ISO 4217 code */
extern const char *IccidProblem(const char *s); /* NULL when valid */

/*
 * Text arguments: NULL -> 22004 when required; trimmed; empty after trimming
 * counts as NULL for optional arguments and as an error for required ones;
 * longer than maxlen characters or holding control characters -> 22023.
 */
extern char *ArgText(FunctionCallInfo fcinfo, int argno, const char *name,
					 bool required, int maxlen);
extern void RequireNotNull(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *CheckedText(const char *value, const char *name, bool required,
						 int maxlen);

/* ---- audit.c: the audit log and the change feed ---- */

typedef struct AuditEvent
{
	const char *operation;		/* the SQL function, e.g. create_customer */
	const char *resource_type;	/* account, customer, user, sim */
	const char *resource_id;	/* may be NULL for bulk calls */
	int64		account_id;		/* 0 -> NULL */
	int64		customer_id;	/* 0 -> NULL */
	Jsonb	   *previous_value;
	Jsonb	   *new_value;
	const char *reason;
	Jsonb	   *event_extra;	/* more fields of the event's payload, or NULL */
} AuditEvent;

extern void AuditWrite(const AuditEvent *event);
extern Jsonb *AuditJson(const char *json);

/* ---- spi.c: kept plans and small query helpers ---- */

typedef struct KeptPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[24];
	/*
	 * Always the generic plan: for bulk statements, whose array argument
	 * would otherwise be planned as a constant of a million elements.
	 */
	bool		generic;
	SPIPlanPtr	plan;
} KeptPlan;

extern SPIPlanPtr KeptPlanGet(KeptPlan *kp);
extern int	KeptPlanExec(KeptPlan *kp, Datum *values, const char *nulls,
						 bool read_only, long count);
extern int64 SpiGetInt64(int row, int col, bool *isnull);
extern char *SpiGetText(int row, int col);
extern Jsonb *SpiGetJsonb(int row, int col);
extern ArrayType *Int8Array(const int64 *values, int n);

/* ---- customer.c ---- */

/* a customer locked FOR UPDATE, with what the rules look at */
typedef struct LockedCustomer
{
	int64		account_id;
	char	   *status;
	bool		billable;
	char	   *account_type;
	char	   *country;
	char	   *city;
	char	   *street;
	char	   *zip_code;
	char	   *revenue;
	char	   *currency;
	int64		admin_user_id;	/* 0: none */
} LockedCustomer;

extern void CustomerLock(const Actor *actor, int64 customer_id, LockedCustomer *lc);
extern char *CustomerMissingAddress(const char *country, const char *city,
									const char *street, const char *zip_code);
/* numbering in batches (import.c): Begin, Lock each account, Settle after each
 * element, Write, End (also on error) */
extern void CustomerNumbersBegin(MemoryContext cxt);
extern bool CustomerNumbersLock(int64 account_id);
extern void CustomerNumbersSettle(bool keep);
extern void CustomerNumbersWrite(void);
extern void CustomerNumbersEnd(void);
extern void CustomerHistory(int64 customer_id, int64 account_id, const char *from,
							const char *to, const char *reason);

/* ---- sims.c ---- */
extern int	CheckIccids(FunctionCallInfo fcinfo, int argno);
extern int64 SimTarget(const Actor *actor, int64 customer_id);

/*
 * What a moving statement returns: how many SIMs moved, for the event of
 * the call their ICCIDs in order (at most 10,000 of them; beyond, the
 * first and last ICCID instead, and the history rows are the full record)
 * and the customers they came from, and that customer if they all came
 * from one.  The list is a top-N of the moved rows, so its memory is
 * bounded whatever the call's size.
 */
#define MOVED_SUMMARY \
	" SELECT pg_catalog.count(*)," \
	"        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(" \
	"           'iccids', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.<=) 10000 THEN" \
	"              (SELECT COALESCE(pg_catalog.jsonb_agg(x.iccid ORDER BY x.iccid COLLATE \"C\"), '[]')" \
	"                 FROM (SELECT m2.iccid FROM moved m2 ORDER BY m2.iccid COLLATE \"C\" LIMIT 10000) x) END," \
	"           'first_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000" \
	"              THEN pg_catalog.min(m.iccid COLLATE \"C\") END," \
	"           'last_iccid', CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 10000" \
	"              THEN pg_catalog.max(m.iccid COLLATE \"C\") END," \
	"           'from_customer_ids', COALESCE(pg_catalog.jsonb_agg(DISTINCT m.from_customer_id)" \
	"                                   FILTER (WHERE m.from_customer_id IS NOT NULL), '[]')))," \
	"        CASE WHEN pg_catalog.count(DISTINCT m.from_customer_id) OPERATOR(pg_catalog.=) 1" \
	"             THEN pg_catalog.min(m.from_customer_id) END" \
	"   FROM moved m"


/* ---- users.c ---- */
extern void UserCheckNew(const char *login, const char *email, const char *db_role);
extern int64 UserInsert(const char *operation, const char *login, const char *email,
						const char *full_name, bool is_admin, const char *db_role,
						const char *context_level, int64 account_id, int64 customer_id);

/* ---- request.c: idempotent creation by request id ---- */

typedef struct Request
{
	bool		active;			/* a new request: record its result */
	int64		actor;
	Datum		request_id;
} Request;

extern Jsonb *RequestBegin(FunctionCallInfo fcinfo, int request_argno,
						   const char *operation, Request *req);
extern void RequestDone(Request *req, Jsonb *result);
extern Jsonb *RequestId(int64 id);
extern int64 RequestIdOf(Jsonb *result);

/* ---- fields.c: the error fields of refusals (SPEC §8) ---- */

extern void FieldsOperation(const char *operation);
extern int	errfield(const char *argument);
extern int	errrule(const char *rule);

/* ---- rules.c: who may call which function on which object ---- */

typedef enum RuleObject
{
	RULE_NO_OBJECT,
	RULE_ACCOUNT,
	RULE_CUSTOMER,
	RULE_USER,
	RULE_CUSTOMER_USER			/* a user that must be a CUSTOMER user */
} RuleObject;

typedef struct OperationRule
{
	const char *operation;		/* the SQL function */
	RuleObject	object;			/* what actor_can's object_id names */
	int			kinds;			/* bit per ActorKind allowed */
	int			flags;			/* admins only, per kind */
} OperationRule;

extern const OperationRule *RuleOf(const char *operation);
extern void RuleRequire(const Actor *actor, const char *operation);
extern bool RuleAccountInReach(const Actor *actor, int64 account_id);
extern bool RuleCustomerInReach(const Actor *actor, int64 account_id, int64 customer_id);
extern bool RuleCustomerWritable(const Actor *actor, const char *status);
extern bool RuleUserInReach(const Actor *actor, int64 account_id, const char *level,
							bool assigned);
extern bool RuleUserWritable(const Actor *actor, bool assigned_active);

/* ---- module init ---- */
extern void _PG_init(void);

#endif							/* RESELLER_ONBOARDING_H */

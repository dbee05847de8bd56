/*
 * plangate.c
 *		The check on top of every plan that folded a row-level security
 *		policy.
 *
 * The policies fold the acting user's kind, account and customers into the
 * plan as constants (see actor.c and the install script), which makes the
 * plan as fast as the query written by hand, and makes it belong to that
 * actor.  This planner hook
 *
 *  - gives the policy functions one key per planning: the first policy
 *    folded records the actor's key, and every later one in the same
 *    planning folds the same key, even if the actor's cache is refreshed
 *    meanwhile; and
 *  - puts a Result node with the one-time filter
 *    cmp.actor_must_be(kind, account, customers) on top of a plan that
 *    folded a key (for INSERT, UPDATE, DELETE and MERGE: on top of what
 *    ModifyTable reads, in the statement and in its data-modifying WITH
 *    queries), so that a plan run for another actor than its own fails
 *    with 42501 instead of showing that actor's rows.
 *
 * The plan cache is reset when the actor changes (actor.c), so the check
 * only ever fails for a plan that outlived that: a cursor declared but not
 * yet read when the actor changed, a SQL function's plans kept for the rest
 * of the statement that switched actors.  Plans folded for nobody are
 * checked too, so that they cannot silently show nothing to somebody.  It
 * costs one function call per execution (and a pass-through of each result
 * row), where a check inside the policy would cost one call per row read.
 *
 * A planning that does not go through this hook (the statement that loads
 * the library, which finds the hook not yet installed) folds nothing: the
 * policies then check every row against the current actor.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"

/* one planning in progress through the hook; nested plannings stack */
typedef struct Planning
{
	struct Planning *outer;
	MemoryContext cxt;			/* where the key is kept */
	bool		has_key;
	PolicyKey	key;
} Planning;

static Planning *planning = NULL;
static planner_hook_type prev_planner_hook = NULL;
static Oid	gate_fn = InvalidOid;	/* cmp.actor_must_be(text, bigint, bigint[]) */

bool
PlanGatePlanning(void)
{
	return planning != NULL;
}

const PolicyKey *
PlanGateKey(void)
{
	return planning && planning->has_key ? &planning->key : NULL;
}

/* Record the key the planning in progress folds; returns the kept copy. */
const PolicyKey *
PlanGateSetKey(const PolicyKey *key)
{
	Assert(planning != NULL && !planning->has_key);
	planning->key = *key;
	planning->key.customer_ids = NULL;
	if (key->ncustomers > 0)
	{
		planning->key.customer_ids = MemoryContextAlloc(planning->cxt,
														sizeof(int64) * key->ncustomers);
		memcpy(planning->key.customer_ids, key->customer_ids,
			   sizeof(int64) * key->ncustomers);
	}
	planning->has_key = true;
	return &planning->key;
}

static void
ForgetGateFunction(Datum arg, int cacheid, uint32 hashvalue)
{
	gate_fn = InvalidOid;
}

static Oid
GateFunction(void)
{
	if (!OidIsValid(gate_fn))
	{
		Oid			argtypes[3] = {TEXTOID, INT8OID, INT8ARRAYOID};

		gate_fn = LookupFuncName(list_make2(makeString("cmp"), makeString("actor_must_be")),
								 3, argtypes, false);
	}
	return gate_fn;
}

/* cmp.actor_must_be('<kind>', account or NULL, customers or NULL) */
static Expr *
GateExpr(const PolicyKey *key)
{
	Const	   *kind;
	Const	   *account;
	Const	   *customers;
	FuncExpr   *call;

	kind = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
					 CStringGetTextDatum(PolicyKindName(key->kind)), false, false);
	account = makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
						Int64GetDatum(key->account_id), key->kind != POLICY_ACCOUNT,
						FLOAT8PASSBYVAL);
	if (key->kind == POLICY_CUSTOMER || key->kind == POLICY_CUSTOMERS)
		customers = makeConst(INT8ARRAYOID, -1, InvalidOid, -1,
							  PointerGetDatum(Int8Array(key->customer_ids, key->ncustomers)),
							  false, false);
	else
		customers = makeNullConst(INT8ARRAYOID, -1, InvalidOid);

	call = makeFuncExpr(GateFunction(), BOOLOID, list_make3(kind, account, customers),
						InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
	return (Expr *) call;
}

/* The highest plan_node_id in a plan tree, so the gate gets a new one. */
static int
MaxNodeId(Plan *plan)
{
	int			max;
	List	   *children = NIL;
	ListCell   *lc;

	if (plan == NULL)
		return -1;
	max = plan->plan_node_id;
	max = Max(max, MaxNodeId(plan->lefttree));
	max = Max(max, MaxNodeId(plan->righttree));
	switch (nodeTag(plan))
	{
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		case T_SubqueryScan:
			max = Max(max, MaxNodeId(((SubqueryScan *) plan)->subplan));
			break;
		default:
			break;
	}
	foreach(lc, children)
		max = Max(max, MaxNodeId((Plan *) lfirst(lc)));
	return max;
}

/*
 * A Result node that passes every row of child through once gate is true:
 * the gating node the planner itself makes for a WHERE clause that reads no
 * column, in its finished form (columns as OUTER_VAR references).
 */
static Plan *
Gate(Plan *child, Expr *gate, int node_id)
{
	Result	   *r = makeNode(Result);
	List	   *tlist = NIL;
	ListCell   *lc;

	foreach(lc, child->targetlist)
	{
		TargetEntry *te = (TargetEntry *) lfirst(lc);
		Expr	   *e;
		TargetEntry *nte;

		/*
		 * Constants stay constants, as setrefs.c leaves them: an INSERT
		 * checks that a dropped column gets a NULL Const.
		 */
		if (IsA(te->expr, Const))
			e = (Expr *) copyObject(te->expr);
		else
			e = (Expr *) makeVar(OUTER_VAR, te->resno, exprType((Node *) te->expr),
								 exprTypmod((Node *) te->expr),
								 exprCollation((Node *) te->expr), 0);
		nte = makeTargetEntry(e, te->resno, te->resname, te->resjunk);

		nte->ressortgroupref = te->ressortgroupref;
		nte->resorigtbl = te->resorigtbl;
		nte->resorigcol = te->resorigcol;
		tlist = lappend(tlist, nte);
	}
	r->plan.targetlist = tlist;
	r->plan.startup_cost = child->startup_cost;
	r->plan.total_cost = child->total_cost;
	r->plan.plan_rows = child->plan_rows;
	r->plan.plan_width = child->plan_width;
	r->plan.parallel_aware = false;
	r->plan.parallel_safe = false;
	r->plan.plan_node_id = node_id;
	r->plan.lefttree = child;
	r->plan.extParam = bms_copy(child->extParam);
	r->plan.allParam = bms_copy(child->allParam);
	r->resconstantqual = (Node *) list_make1(gate);
	return (Plan *) r;
}

static void
AddGate(PlannedStmt *stmt, const PolicyKey *key)
{
	Expr	   *gate = GateExpr(key);
	int			next_id = MaxNodeId(stmt->planTree);
	ListCell   *lc;

	foreach(lc, stmt->subplans)
		next_id = Max(next_id, MaxNodeId((Plan *) lfirst(lc)));
	next_id++;

	if (IsA(stmt->planTree, ModifyTable))
		stmt->planTree->lefttree = Gate(stmt->planTree->lefttree, gate, next_id++);
	else
		stmt->planTree = Gate(stmt->planTree, gate, next_id++);

	/* data-modifying WITH queries run to the end even if the top returns nothing */
	foreach(lc, stmt->subplans)
	{
		Plan	   *sub = (Plan *) lfirst(lc);

		if (sub != NULL && IsA(sub, ModifyTable))
			sub->lefttree = Gate(sub->lefttree, (Expr *) copyObject(gate), next_id++);
	}
}

/*
 * Only plans that read a table need the check.  One that reads none (say
 * SELECT cmp.actor_policy_kind()) shows nothing but the actor's own key, and
 * PL/pgSQL evaluates such a "simple expression" from the plan's top Result
 * itself, which must stay as the planner made it.
 */
static bool
ReadsRelation(PlannedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_RELATION)
			return true;
	return false;
}

static PlannedStmt *
GatePlanner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	Planning	p;
	PlannedStmt *result;

	memset(&p, 0, sizeof(p));
	p.outer = planning;
	p.cxt = CurrentMemoryContext;
	planning = &p;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_CATCH();
	{
		planning = p.outer;
		PG_RE_THROW();
	}
	PG_END_TRY();
	planning = p.outer;

	if (p.has_key && ReadsRelation(result))
		AddGate(result, &p.key);
	return result;
}

void
PlanGateInit(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = GatePlanner;
	CacheRegisterSyscacheCallback(PROCOID, ForgetGateFunction, (Datum) 0);
}

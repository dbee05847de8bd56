/*
 * fold.c
 *		Row-level security policies folded by the kind of actor; the actor's
 *		values read once per execution.
 *
 * Every policy is a call of cmp.actor_sees(account_id, customer_id) (and
 * app_user's also of cmp.actor_sees_user(user_id)).  While the planner hook
 * plans a statement, the calls' planner support function replaces them by
 * the condition they stand for, for the *kind* of the acting user, with the
 * user's own values left to the execution as one-time sub-selects:
 *
 *   CSP user, system actor        cmp.actor_gate((SELECT cmp.actor_is_csp()))
 *   ACCOUNT user                  account_id = (SELECT cmp.actor_account_id())
 *   CUSTOMER user, one customer   customer_id = (SELECT cmp.actor_customer_id())
 *   CUSTOMER user, other numbers  customer_id = ANY ((SELECT cmp.actor_customer_ids()))
 *   nobody                        false
 *
 * PostgreSQL makes each sub-select an InitPlan whose output is a Param: an
 * index condition evaluated once per execution, passed to parallel workers,
 * and an equality that lets customer_id = $1 walk an index on (customer_id,
 * iccid) in ICCID order.  The values are resolved for the execution's own
 * snapshot (actor.c), so a revocation committed before a statement starts
 * applies to it, however old its plan: prepared, cached in a PL/pgSQL
 * function or planned just now.
 *
 * A plan therefore depends only on the kind of its actor (and for customer
 * users on whether they have one customer), which changes only when the
 * session's actor does.  Plans are kept across changes of actor of the same
 * kind; a change of kind marks the plans folded for the old one invalid,
 * in this backend only (each plan carries a plan invalidation item derived
 * from the value function of its shape: its mark), and a customer user whose number
 * of customers moved across one marks the plans of the other shape
 * invalid.  Nothing else ever replans.
 *
 * The executor hooks, for a plan that carries a mark:
 *  - refuse (42501) to start a plan folded for another kind of actor than
 *    the one acting (the acting user changed inside one statement: a SQL
 *    function plans all its statements before it runs them);
 *  - compute the plan's one-time values when the execution starts, for its
 *    snapshot, so that a cursor that has started reading goes on with the
 *    values of the actor that opened it;
 *  - refuse (42501) the first read of a plan opened by another acting user
 *    (a cursor declared before cmp.set_actor).
 *
 * A planning that does not go through the hook (the statement that loads
 * the library) folds nothing: the calls then check every row.
 */
#include "reseller_onboarding.h"

#include "access/parallel.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/nodeSubplan.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(actor_sees);
PG_FUNCTION_INFO_V1(actor_sees_user);
PG_FUNCTION_INFO_V1(actor_sees_support);
PG_FUNCTION_INFO_V1(actor_account_id);
PG_FUNCTION_INFO_V1(actor_customer_id);
PG_FUNCTION_INFO_V1(actor_customer_ids);
PG_FUNCTION_INFO_V1(actor_is_csp);
PG_FUNCTION_INFO_V1(actor_gate);
PG_FUNCTION_INFO_V1(actor_gate_support);
PG_FUNCTION_INFO_V1(actor_user_ids);

typedef enum Shape
{
	SHAPE_NONE = 0,
	SHAPE_CSP,
	SHAPE_ACCOUNT,
	SHAPE_CUSTOMER,				/* exactly one customer */
	SHAPE_CUSTOMERS				/* any other number */
} Shape;


/* one planning in progress through the hook; nested plannings stack */
typedef struct Planning
{
	struct Planning *outer;
	bool		folded;
	Shape		shape;
} Planning;

static Planning *planning = NULL;
static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorRun_hook_type prev_executor_run = NULL;
static set_rel_pathlist_hook_type prev_rel_pathlist = NULL;

/* The functions the folded plans call, and their plan invalidation hashes. */
typedef struct Funcs
{
	bool		valid;
	Oid			nsp;			/* schema cmp */
	Oid			account_id;
	Oid			customer_id;
	Oid			customer_ids;
	Oid			user_ids;
	Oid			is_csp;
	Oid			gate;			/* cmp.actor_gate(boolean) */
	uint32		account_id_hash;
	uint32		customer_id_hash;
	uint32		customer_ids_hash;
	uint32		is_csp_hash;
} Funcs;

static Funcs funcs;
static bool invalidating = false;

/*
 * The kind of actor the folded plans that may still be valid were made for
 * (CSP stands for the system actor too); -1 when there are none.
 */
static int	folded_kind = -1;

static Oid
FuncOid(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("cmp"), makeString(pstrdup(name))),
						  nargs, argtypes, false);
}

/*
 * A plan's mark of its shape: a function-cache invalidation item whose
 * hash is derived from the shape's value function but is not that
 * function's own.  The planner itself adds an item with the function's
 * hash to every plan that calls it (a view's CASE may call
 * cmp.actor_is_csp()), which must not be taken for a mark.  The plan cache
 * compares nothing but the hash, so a mark invalidates exactly the plans
 * that carry it.
 */
#define MARK_SALT 0x9e3779b9U

static uint32
MarkOf(Oid oid)
{
	return GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(oid)) ^ MARK_SALT;
}

static const Funcs *
GetFuncs(void)
{
	if (!funcs.valid)
	{
		funcs.nsp = get_namespace_oid("cmp", false);
		funcs.account_id = FuncOid("actor_account_id", 0, NULL);
		funcs.customer_id = FuncOid("actor_customer_id", 0, NULL);
		funcs.customer_ids = FuncOid("actor_customer_ids", 0, NULL);
		funcs.user_ids = FuncOid("actor_user_ids", 0, NULL);
		funcs.is_csp = FuncOid("actor_is_csp", 0, NULL);
		{
			Oid			boolarg = BOOLOID;

			funcs.gate = FuncOid("actor_gate", 1, &boolarg);
		}
		funcs.account_id_hash = MarkOf(funcs.account_id);
		funcs.is_csp_hash = MarkOf(funcs.is_csp);
		funcs.customer_id_hash = MarkOf(funcs.customer_id);
		funcs.customer_ids_hash = MarkOf(funcs.customer_ids);
		funcs.valid = true;
	}
	return &funcs;
}

/* A function of ours changed (or the extension was dropped): look them up anew. */
static void
ForgetFuncs(Datum arg, int cacheid, uint32 hashvalue)
{
	if (!invalidating)
		funcs.valid = false;
}

/*
 * Mark invalid, in this backend only, every cached plan that carries this
 * mark: the plan cache replans them at their next use.
 */
static void
InvalidatePlansMarked(uint32 hash)
{
	if (!funcs.valid)
		return;					/* nothing was folded with these functions */
	invalidating = true;
	CallSyscacheCallbacks(PROCOID, hash);
	invalidating = false;
}

/* Every folded plan carries at least one of the four marks. */
static void
InvalidateFolded(void)
{
	InvalidatePlansMarked(funcs.is_csp_hash);
	InvalidatePlansMarked(funcs.account_id_hash);
	InvalidatePlansMarked(funcs.customer_id_hash);
	InvalidatePlansMarked(funcs.customer_ids_hash);
	folded_kind = -1;
}

static int
BaseKind(int kind)
{
	return kind == ACTOR_SYSTEM ? ACTOR_CSP : kind;
}

static int
ShapeKind(Shape shape)
{
	switch (shape)
	{
		case SHAPE_CSP:
			return ACTOR_CSP;
		case SHAPE_ACCOUNT:
			return ACTOR_ACCOUNT;
		case SHAPE_CUSTOMER:
		case SHAPE_CUSTOMERS:
			return ACTOR_CUSTOMER;
		default:
			return ACTOR_NONE;
	}
}

/*
 * actor.c: the session's actor may be another one now.  Plans folded for
 * another kind of actor must not run for this one.  (Nobody needs no
 * replanning: every folded plan shows nobody nothing.)
 */
static void
ActorChanged(int kind, int ncustomers)
{
	if (folded_kind < 0 || kind == ACTOR_NONE)
		return;
	if (kind == ACTOR_KIND_UNKNOWN || BaseKind(kind) != folded_kind)
		InvalidateFolded();
	else if (kind == ACTOR_CUSTOMER)
	{
		/* a customer user of the other shape: those plans go */
		if (ncustomers != 1)
			InvalidatePlansMarked(funcs.customer_id_hash);
		if (ncustomers < 0 || ncustomers == 1)
			InvalidatePlansMarked(funcs.customer_ids_hash);
	}
}

/* The shape this planning folds: decided by its first policy. */
static Shape
PlanningShape(void)
{
	if (!planning->folded)
	{
		Actor		a = ActorGet();
		Shape		shape;

		switch (a.kind)
		{
			case ACTOR_SYSTEM:
			case ACTOR_CSP:
				shape = SHAPE_CSP;
				break;
			case ACTOR_ACCOUNT:
				shape = SHAPE_ACCOUNT;
				break;
			case ACTOR_CUSTOMER:
				shape = a.ncustomers == 1 ? SHAPE_CUSTOMER : SHAPE_CUSTOMERS;
				break;
			default:
				shape = SHAPE_NONE;
				break;
		}
		if (folded_kind >= 0 && folded_kind != ShapeKind(shape))
			InvalidateFolded();
		else if (shape == SHAPE_CUSTOMER)
			InvalidatePlansMarked(funcs.customer_ids_hash);
		else if (shape == SHAPE_CUSTOMERS)
			InvalidatePlansMarked(funcs.customer_id_hash);
		folded_kind = ShapeKind(shape);
		planning->shape = shape;
		planning->folded = true;
	}
	return planning->shape;
}

/* (SELECT fn()): a sub-select the planner turns into an InitPlan */
static Node *
ValueOf(PlannerInfo *root, Oid fn, Oid type)
{
	Query	   *q = makeNode(Query);
	SubLink    *s = makeNode(SubLink);
	FuncExpr   *call = makeFuncExpr(fn, type, NIL, InvalidOid, InvalidOid,
									COERCE_EXPLICIT_CALL);

	q->commandType = CMD_SELECT;
	q->querySource = QSRC_ORIGINAL;
	q->canSetTag = true;
	q->jointree = makeFromExpr(NIL, NULL);
	q->targetList = list_make1(makeTargetEntry((Expr *) call, 1, pstrdup("value"), false));

	s->subLinkType = EXPR_SUBLINK;
	s->subselect = (Node *) q;
	s->location = -1;
	root->parse->hasSubLinks = true;
	return (Node *) s;
}

#define INT8_EQ_OPERATOR 410	/* bigint = bigint (pg_operator.dat) */

/* column = value */
static Node *
Equals(Node *column, Node *value)
{
	OpExpr	   *op = (OpExpr *) make_opclause(INT8_EQ_OPERATOR, BOOLOID, false,
											  (Expr *) column, (Expr *) value,
											  InvalidOid, InvalidOid);

	op->opfuncid = F_INT8EQ;
	return (Node *) op;
}

/* column = ANY (values) */
static Node *
EqualsAny(Node *column, Node *values)
{
	ScalarArrayOpExpr *op = makeNode(ScalarArrayOpExpr);

	op->opno = INT8_EQ_OPERATOR;
	op->opfuncid = F_INT8EQ;
	op->useOr = true;
	op->inputcollid = InvalidOid;
	op->args = list_make2(column, values);
	op->location = -1;
	return (Node *) op;
}

static bool
IsNullConst(Node *n)
{
	return IsA(n, Const) && ((Const *) n)->constisnull;
}

static bool
ReadsRelation(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_RELATION)
			return true;
	return false;
}

/* The customer columns a customer user's policy tests, as an OR. */
static Node *
CustomerCondition(PlannerInfo *root, List *columns, Shape shape)
{
	const Funcs *f = GetFuncs();
	List	   *arms = NIL;
	ListCell   *lc;

	foreach(lc, columns)
	{
		Node	   *column = (Node *) lfirst(lc);

		if (IsNullConst(column))
			continue;
		arms = lappend(arms, shape == SHAPE_CUSTOMER ?
					   Equals(column, ValueOf(root, f->customer_id, INT8OID)) :
					   EqualsAny(column, ValueOf(root, f->customer_ids, INT8ARRAYOID)));
	}
	if (arms == NIL)
		return (Node *) makeBoolConst(false, false);
	if (list_length(arms) == 1)
		return linitial(arms);
	return (Node *) makeBoolExpr(OR_EXPR, arms, -1);
}

/*
 * The planner support function of cmp.actor_sees and cmp.actor_sees_user:
 * while the hook plans a statement that reads a table, replace the call by
 * the condition of the planning's shape (see the head of this file).
 */
Datum
actor_sees_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	PlannerInfo *root;
	List	   *args;
	Shape		shape;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	root = req->root;
	args = req->fcall->args;

	/*
	 * Fold only in a planning through the hook, and only in a query that
	 * reads a table: PL/pgSQL evaluates a query without one as a "simple
	 * expression", which must not grow InitPlans.
	 */
	if (planning == NULL || root == NULL || root->parse == NULL ||
		!ReadsRelation(root->parse->rtable) || args == NIL)
		PG_RETURN_POINTER(NULL);

	shape = PlanningShape();
	if (list_length(args) == 1)
	{
		/* actor_sees_user(user_id): the users of a customer user's customers */
		if (shape == SHAPE_CUSTOMER || shape == SHAPE_CUSTOMERS)
			PG_RETURN_POINTER(EqualsAny(linitial(args),
										ValueOf(root, GetFuncs()->user_ids, INT8ARRAYOID)));
		PG_RETURN_POINTER(makeBoolConst(false, false));
	}

	switch (shape)
	{
		case SHAPE_CSP:
			/* cmp.actor_gate((SELECT cmp.actor_is_csp())): see actor_gate */
			PG_RETURN_POINTER(makeFuncExpr(GetFuncs()->gate, BOOLOID,
										   list_make1(ValueOf(root, GetFuncs()->is_csp, BOOLOID)),
										   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
		case SHAPE_ACCOUNT:
			if (IsNullConst(linitial(args)))
				break;
			PG_RETURN_POINTER(Equals(linitial(args),
									 ValueOf(root, GetFuncs()->account_id, INT8OID)));
		case SHAPE_CUSTOMER:
		case SHAPE_CUSTOMERS:
			PG_RETURN_POINTER(CustomerCondition(root, list_delete_first(list_copy(args)), shape));
		default:
			break;
	}
	PG_RETURN_POINTER(makeBoolConst(false, false));
}

/*
 * cmp.actor_sees(account_id, customer_id [, other_customer_id]): may the
 * acting user see a row of this account and (either) customer?  Runs only
 * in a plan made without the hook, row by row.
 */
Datum
actor_sees(PG_FUNCTION_ARGS)
{
	int64		customers[2];
	int			n = 0;
	int			i;

	for (i = 1; i < PG_NARGS() && n < 2; i++)
		if (!PG_ARGISNULL(i))
			customers[n++] = PG_GETARG_INT64(i);
	PG_RETURN_BOOL(ActorSeesRow(PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0), customers, n));
}

/* cmp.actor_sees_user(user_id): is this user assigned to one of a customer user's customers? */
Datum
actor_sees_user(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!PG_ARGISNULL(0) && ActorSeesUser(PG_GETARG_INT64(0)));
}

/*
 * The values the folded conditions compare with, for the actor of the
 * moment: the account of an active ACCOUNT user; the customer(s) of an
 * active CUSTOMER user; NULL or nothing for anyone else.
 */
Datum
actor_account_id(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	if (a.kind != ACTOR_ACCOUNT || !a.active)
		PG_RETURN_NULL();
	PG_RETURN_INT64(a.account_id);
}

/*
 * A plan of the one-customer shape compares with one value.  If the user
 * has been given more customers since the plan was made, it shows the
 * first, and the plans of this shape are replanned before their next use.
 */
Datum
actor_customer_id(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	if (a.kind != ACTOR_CUSTOMER || a.ncustomers == 0)
		PG_RETURN_NULL();
	if (a.ncustomers > 1)
		InvalidatePlansMarked(GetFuncs()->customer_id_hash);
	PG_RETURN_INT64(a.customer_ids[0]);
}

Datum
actor_is_csp(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	PG_RETURN_BOOL(a.active && BaseKind(a.kind) == ACTOR_CSP);
}

/*
 * cmp.actor_gate(allowed): its argument.  A CSP user's policy is
 * actor_gate($n), $n being (SELECT cmp.actor_is_csp()): a bare Param as a
 * row-level security condition is estimated to keep half the rows, and the
 * planner's choices for a CSP user (who sees every row) would be made for
 * half the table.  The support function below tells the planner it keeps
 * them all, at no cost.
 */
Datum
actor_gate(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_BOOL(0));
}

Datum
actor_gate_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestSelectivity))
	{
		((SupportRequestSelectivity *) rawreq)->selectivity = 1.0;
		PG_RETURN_POINTER(rawreq);
	}
	if (IsA(rawreq, SupportRequestCost))
	{
		SupportRequestCost *req = (SupportRequestCost *) rawreq;

		req->startup = 0;
		req->per_tuple = 0;
		PG_RETURN_POINTER(req);
	}
	PG_RETURN_POINTER(NULL);
}

Datum
actor_customer_ids(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	if (a.kind != ACTOR_CUSTOMER)
		PG_RETURN_ARRAYTYPE_P(Int8Array(NULL, 0));
	/* one customer: the next planning gives the shape that walks its index in order */
	if (a.ncustomers == 1)
		InvalidatePlansMarked(GetFuncs()->customer_ids_hash);
	PG_RETURN_ARRAYTYPE_P(Int8Array(a.customer_ids, a.ncustomers));
}

Datum
actor_user_ids(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();
	int64	   *ids;
	int			n;

	if (a.kind != ACTOR_CUSTOMER || !a.active)
		PG_RETURN_ARRAYTYPE_P(Int8Array(NULL, 0));
	n = ActorVisibleUsers(&ids);
	PG_RETURN_ARRAYTYPE_P(Int8Array(ids, n));
}

/* ---- the planner hook: one shape per planning, marked in the plan ---- */

static void
AddInvalItem(PlannedStmt *stmt, uint32 hash)
{
	PlanInvalItem *item = makeNode(PlanInvalItem);

	item->cacheId = PROCOID;
	item->hashValue = hash;
	stmt->invalItems = lappend(stmt->invalItems, item);
}

static PlannedStmt *
FoldPlanner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	Planning	p;
	PlannedStmt *result;

	memset(&p, 0, sizeof(p));
	p.outer = planning;
	planning = &p;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		planning = p.outer;
	}
	PG_END_TRY();

	if (p.folded)
	{
		const Funcs *f = GetFuncs();

		/*
		 * The shape's mark (MarkOf its value function), or all four for
		 * nobody's.  A change of kind or of shape marks the
		 * plan invalid through it, and the executor hook reads the shape
		 * from it.
		 */
		if (p.shape == SHAPE_CSP || p.shape == SHAPE_NONE)
			AddInvalItem(result, f->is_csp_hash);
		if (p.shape == SHAPE_ACCOUNT || p.shape == SHAPE_NONE)
			AddInvalItem(result, f->account_id_hash);
		if (p.shape == SHAPE_CUSTOMER || p.shape == SHAPE_NONE)
			AddInvalItem(result, f->customer_id_hash);
		if (p.shape == SHAPE_CUSTOMERS || p.shape == SHAPE_NONE)
			AddInvalItem(result, f->customer_ids_hash);
	}
	return result;
}

/*
 * A table whose conditions include a constant false (nobody's policy) is
 * empty: plan it as such, so that nobody's EXPLAIN shows no estimate made
 * from the rows it cannot see.  PostgreSQL itself does this only when the
 * false is the table's sole condition.
 */
static void
FoldRelPathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	ListCell   *lc;

	if (prev_rel_pathlist)
		prev_rel_pathlist(root, rel, rti, rte);
	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
		Const	   *c = (Const *) ri->clause;

		if (IsA(c, Const) && (c->constisnull || !DatumGetBool(c->constvalue)))
		{
			mark_dummy_rel(rel);
			return;
		}
	}
}

/* ---- the executor hook: the token and the values, when execution starts ---- */

/*
 * The shape a plan was folded for, read from its marks; -1 for a plan that
 * folded nothing.  A mark is a hash, so a plan that does not read the
 * extension's tables is not taken for a folded one by a collision.
 */
static int
PlanShape(PlannedStmt *stmt)
{
	bool		csp = false,
				account = false,
				one = false,
				many = false;
	ListCell   *lc;

	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

		if (item->cacheId != PROCOID)
			continue;
		csp |= item->hashValue == funcs.is_csp_hash;
		account |= item->hashValue == funcs.account_id_hash;
		one |= item->hashValue == funcs.customer_id_hash;
		many |= item->hashValue == funcs.customer_ids_hash;
	}
	if (!(csp || account || one || many))
		return -1;
	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

		if (rte->rtekind == RTE_RELATION && get_rel_namespace(rte->relid) == funcs.nsp)
		{
			if (csp && account && one && many)
				return SHAPE_NONE;
			return csp ? SHAPE_CSP : account ? SHAPE_ACCOUNT : one ? SHAPE_CUSTOMER : SHAPE_CUSTOMERS;
		}
	}
	return -1;
}

/*
 * Executions of folded plans in progress, with the acting user that opened
 * each, until the first row is asked for (the list is short: it holds the
 * nesting of executions and the open cursors).
 */
typedef struct Opened
{
	struct Opened *next;
	QueryDesc  *queryDesc;
	uint64		token;
	bool		started;
} Opened;

static Opened *opened = NULL;

static void
ForgetOpened(void *arg)
{
	Opened	  **p;

	for (p = &opened; *p != NULL; p = &(*p)->next)
		if (*p == (Opened *) arg)
		{
			*p = (*p)->next;
			return;
		}
}

static bool
IsValueInitPlan(SubPlanState *sps)
{
	Plan	   *plan = sps->planstate ? sps->planstate->plan : NULL;
	Node	   *expr;
	Oid			fn;

	if (plan == NULL || !IsA(plan, Result) || plan->lefttree != NULL ||
		list_length(plan->targetlist) != 1)
		return false;
	expr = (Node *) ((TargetEntry *) linitial(plan->targetlist))->expr;
	if (!IsA(expr, FuncExpr))
		return false;
	fn = ((FuncExpr *) expr)->funcid;
	return fn == funcs.account_id || fn == funcs.customer_id ||
		fn == funcs.customer_ids || fn == funcs.user_ids || fn == funcs.is_csp;
}

static bool
ComputeValues(PlanState *ps, void *context)
{
	EState	   *estate = (EState *) context;
	ListCell   *lc;

	foreach(lc, ps->initPlan)
	{
		SubPlanState *sps = (SubPlanState *) lfirst(lc);
		int			paramid;

		if (!IsValueInitPlan(sps) || sps->subplan->setParam == NIL)
			continue;
		paramid = linitial_int(sps->subplan->setParam);
		if (estate->es_param_exec_vals[paramid].execPlan != NULL)
			ExecSetParamPlan(sps, GetPerTupleExprContext(estate));
	}
	return planstate_tree_walker(ps, ComputeValues, context);
}

/*
 * A CSP user's condition, cmp.actor_gate($n), keeps every row once $n is
 * known to be true.  PostgreSQL evaluates a row-level security condition
 * without columns at its scan, row by row (it never makes one a one-time
 * filter), and a call per row costs a CSP user's count a fifth of its time.
 * Once the execution's values are known, a scan's conditions are compiled
 * again without the gates that are true: the plan is unchanged (EXPLAIN
 * shows the filter), its execution skips it.  A false or unknown gate is
 * left in place, and so are the conditions of a scan that also holds a
 * sub-select (compiling those again would start the sub-select twice).
 */
static Oid	gate_oid = InvalidOid;	/* cmp.actor_gate, for SkipTrueGates */

static bool
IsTrueGate(Node *qual, EState *estate)
{
	FuncExpr   *f = (FuncExpr *) qual;
	Param	   *p;
	ParamExecData *prm;

	if (!IsA(qual, FuncExpr) || f->funcid != gate_oid || list_length(f->args) != 1)
		return false;
	p = (Param *) linitial(f->args);
	if (!IsA(p, Param) || p->paramkind != PARAM_EXEC || p->paramid >= list_length(estate->es_plannedstmt->paramExecTypes))
		return false;
	prm = &estate->es_param_exec_vals[p->paramid];
	return prm->execPlan == NULL && !prm->isnull && DatumGetBool(prm->value);
}

static bool
SkipTrueGatesIn(PlanState *ps, void *context)
{
	EState	   *estate = (EState *) context;
	Plan	   *plan = ps->plan;

	if (IsA(plan, SeqScan) || IsA(plan, IndexScan) || IsA(plan, IndexOnlyScan) ||
		IsA(plan, BitmapHeapScan) || IsA(plan, TidScan) || IsA(plan, TidRangeScan) ||
		IsA(plan, SampleScan))
	{
		List	   *rest = NIL;
		bool		skipped = false;
		ListCell   *lc;

		foreach(lc, plan->qual)
		{
			if (IsTrueGate((Node *) lfirst(lc), estate))
				skipped = true;
			else
				rest = lappend(rest, lfirst(lc));
		}
		if (skipped && !contain_subplans((Node *) rest))
		{
			MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

			ps->qual = ExecInitQual(rest, ps);
			MemoryContextSwitchTo(old);
		}
	}
	return planstate_tree_walker(ps, SkipTrueGatesIn, context);
}

static void
SkipTrueGates(QueryDesc *queryDesc)
{
	Oid			boolarg = BOOLOID;

	/* a parallel worker may not have looked our functions up */
	gate_oid = funcs.valid ? funcs.gate :
		LookupFuncName(list_make2(makeString("cmp"), makeString("actor_gate")), 1, &boolarg, true);
	if (OidIsValid(gate_oid))
		SkipTrueGatesIn(queryDesc->planstate, queryDesc->estate);
}

static void
FoldExecutorStart(QueryDesc *queryDesc, int eflags)
{
	int			shape;
	EState	   *estate;
	Opened	   *o;
	MemoryContextCallback *cb;

	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || !funcs.valid)
		return;
	shape = PlanShape(queryDesc->plannedstmt);
	if (shape < 0)
		return;
	estate = queryDesc->estate;

	/*
	 * A plan folded for another kind of actor than the one acting: the
	 * acting user changed inside one statement, after the statement's plans
	 * were made (a SQL function plans all its statements first).
	 */
	{
		Actor		a = ActorGet();

		if (a.kind != ACTOR_NONE && BaseKind(a.kind) != ShapeKind((Shape) shape))
		{
			InvalidateFolded();
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: this plan was made for another kind of acting user"),
					 errdetail("The plan shows what a %s user sees; a %s user is acting.",
							   ActorKindName(ShapeKind((Shape) shape)), ActorKindName(BaseKind(a.kind))),
					 errhint("The acting user changed inside one statement (a SQL function that calls "
							 "cmp.set_actor() and then reads): call cmp.set_actor() in a statement of its own.")));
		}
	}

	/* who opened it, until the first row is asked for */
	o = MemoryContextAlloc(estate->es_query_cxt, sizeof(Opened));
	o->queryDesc = queryDesc;
	o->token = ActorToken();
	o->started = false;
	o->next = opened;
	opened = o;
	cb = MemoryContextAlloc(estate->es_query_cxt, sizeof(MemoryContextCallback));
	cb->func = ForgetOpened;
	cb->arg = o;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, cb);

	/* the actor's values, for this execution's snapshot, now */
	PushActiveSnapshot(estate->es_snapshot);
	PG_TRY();
	{
		ComputeValues(queryDesc->planstate, estate);
	}
	PG_FINALLY();
	{
		PopActiveSnapshot();
	}
	PG_END_TRY();
	SkipTrueGates(queryDesc);
}

/*
 * The first time a folded plan is asked for rows, the acting user must be
 * the one that opened it: a cursor declared before cmp.set_actor() must not
 * show the next actor the rows of the one before.  Once it has started, it
 * goes on for the actor that opened it.
 */
static void
FoldExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
				bool execute_once)
{
	Opened	   *o;

	/*
	 * A parallel worker's plan carries no marks; the values reach it from
	 * the leader after its executor has started, before it runs.
	 */
	if (IsParallelWorker())
		SkipTrueGates(queryDesc);

	for (o = opened; o != NULL; o = o->next)
		if (o->queryDesc == queryDesc)
			break;
	if (o != NULL && !o->started)
	{
		if (o->token != ActorToken())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: this query was opened for another acting user"),
					 errdetail("The acting user changed after the cursor or portal was opened and before it was first read."),
					 errhint("Open the cursor after cmp.set_actor(), as the user who reads it.")));
		o->started = true;
	}
	if (prev_executor_run)
		prev_executor_run(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}

void
FoldInit(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = FoldPlanner;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = FoldExecutorStart;
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = FoldExecutorRun;
	prev_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = FoldRelPathlist;
	CacheRegisterSyscacheCallback(PROCOID, ForgetFuncs, (Datum) 0);
	ActorListen(ActorChanged);
}

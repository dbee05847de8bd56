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
 *   CSP user, system actor        (SELECT cmp.actor_is_csp())
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
 * kind; a change of kind marks the plans folded for the old one invalid
 * (they hold a plan invalidation item for the check function below), and a
 * customer user whose number of customers moved across one marks the plans
 * of the other shape invalid.  Nothing else ever replans.
 *
 * On top of every folded plan that reads a table the hook puts a Result
 * node with the one-time filter cmp.actor_plan_check(shape, $n), $n being
 * the actor token set when the execution starts.  It runs once, when the
 * plan first produces a row, and
 *  - refuses (42501) a plan opened by one actor and first read by another
 *    (a cursor declared before cmp.set_actor), or a plan folded for another
 *    kind of actor than the one acting (the acting user changed inside one
 *    statement: a SQL function that calls cmp.set_actor and then reads).
 * The one-time values are computed when the execution starts, so a cursor
 * that has started reading goes on with the values of the actor that
 * opened it.
 *
 * A planning that does not go through the hook (the statement that loads
 * the library) folds nothing: the calls then check every row.
 */
#include "reseller_onboarding.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "executor/executor.h"
#include "executor/nodeSubplan.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(actor_sees);
PG_FUNCTION_INFO_V1(actor_sees_user);
PG_FUNCTION_INFO_V1(actor_sees_support);
PG_FUNCTION_INFO_V1(actor_account_id);
PG_FUNCTION_INFO_V1(actor_customer_id);
PG_FUNCTION_INFO_V1(actor_customer_ids);
PG_FUNCTION_INFO_V1(actor_is_csp);
PG_FUNCTION_INFO_V1(actor_user_ids);
PG_FUNCTION_INFO_V1(actor_plan_check);

typedef enum Shape
{
	SHAPE_NONE = 0,
	SHAPE_CSP,
	SHAPE_ACCOUNT,
	SHAPE_CUSTOMER,				/* exactly one customer */
	SHAPE_CUSTOMERS				/* any other number */
} Shape;

static const char *const shape_names[] = {"NONE", "CSP", "ACCOUNT", "CUSTOMER", "CUSTOMERS"};

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
static set_rel_pathlist_hook_type prev_rel_pathlist = NULL;

/* The functions the folded plans call, and their plan invalidation hashes. */
typedef struct Funcs
{
	bool		valid;
	Oid			check;			/* cmp.actor_plan_check(text, bigint) */
	Oid			account_id;
	Oid			customer_id;
	Oid			customer_ids;
	Oid			user_ids;
	Oid			is_csp;
	uint32		check_hash;
	uint32		customer_id_hash;
	uint32		customer_ids_hash;
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

static uint32
ProcHash(Oid oid)
{
	return GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(oid));
}

static const Funcs *
GetFuncs(void)
{
	if (!funcs.valid)
	{
		Oid			check_args[2] = {TEXTOID, INT8OID};

		funcs.check = FuncOid("actor_plan_check", 2, check_args);
		funcs.account_id = FuncOid("actor_account_id", 0, NULL);
		funcs.customer_id = FuncOid("actor_customer_id", 0, NULL);
		funcs.customer_ids = FuncOid("actor_customer_ids", 0, NULL);
		funcs.user_ids = FuncOid("actor_user_ids", 0, NULL);
		funcs.is_csp = FuncOid("actor_is_csp", 0, NULL);
		funcs.check_hash = ProcHash(funcs.check);
		funcs.customer_id_hash = ProcHash(funcs.customer_id);
		funcs.customer_ids_hash = ProcHash(funcs.customer_ids);
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
 * Mark invalid, in this backend only, every cached plan that calls the
 * function of this hash: the plan cache replans them at their next use.
 */
static void
InvalidatePlansCalling(uint32 hash)
{
	if (!funcs.valid)
		return;					/* nothing was folded with these functions */
	invalidating = true;
	CallSyscacheCallbacks(PROCOID, hash);
	invalidating = false;
}

static void
InvalidateFolded(void)
{
	InvalidatePlansCalling(funcs.check_hash);
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
			InvalidatePlansCalling(funcs.customer_id_hash);
		if (ncustomers < 0 || ncustomers == 1)
			InvalidatePlansCalling(funcs.customer_ids_hash);
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
			InvalidatePlansCalling(funcs.customer_ids_hash);
		else if (shape == SHAPE_CUSTOMERS)
			InvalidatePlansCalling(funcs.customer_id_hash);
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
			PG_RETURN_POINTER(ValueOf(root, GetFuncs()->is_csp, BOOLOID));
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
		InvalidatePlansCalling(GetFuncs()->customer_id_hash);
	PG_RETURN_INT64(a.customer_ids[0]);
}

Datum
actor_is_csp(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	PG_RETURN_BOOL(a.active && BaseKind(a.kind) == ACTOR_CSP);
}

Datum
actor_customer_ids(PG_FUNCTION_ARGS)
{
	Actor		a = ActorGet();

	if (a.kind != ACTOR_CUSTOMER)
		PG_RETURN_ARRAYTYPE_P(Int8Array(NULL, 0));
	/* one customer: the next planning gives the shape that walks its index in order */
	if (a.ncustomers == 1)
		InvalidatePlansCalling(GetFuncs()->customer_ids_hash);
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

static Shape
ShapeFromName(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(shape_names); i++)
		if (strcmp(name, shape_names[i]) == 0)
			return (Shape) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown plan shape \"%.*s\"",
					pg_mbcliplen(name, strlen(name), 40), name),
			 errhint("The shapes are NONE, CSP, ACCOUNT, CUSTOMER and CUSTOMERS.")));
	return SHAPE_NONE;			/* not reached */
}

/*
 * cmp.actor_plan_check(shape, opened): the one-time filter on top of a
 * folded plan (see the head of this file).
 */
Datum
actor_plan_check(PG_FUNCTION_ARGS)
{
	Shape		shape;
	Actor		a;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	shape = ShapeFromName(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (!PG_ARGISNULL(1) && PG_GETARG_INT64(1) != (int64) ActorToken())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: this query was opened for another acting user"),
				 errdetail("The acting user changed after the cursor or portal was opened and before it was first read."),
				 errhint("Open the cursor after cmp.set_actor(), as the user who reads it.")));

	a = ActorGet();
	if (a.kind != ACTOR_NONE && BaseKind(a.kind) != ShapeKind(shape))
	{
		InvalidateFolded();
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: this plan was made for another kind of acting user"),
				 errdetail("The plan shows what a %s user sees; a %s user is acting.",
						   ActorKindName(ShapeKind(shape)), ActorKindName(BaseKind(a.kind))),
				 errhint("The acting user changed inside one statement (a SQL function that calls "
						 "cmp.set_actor() and then reads): call cmp.set_actor() in a statement of its own.")));
	}
	PG_RETURN_BOOL(true);
}

/* ---- the planner hook: one shape per planning, and the check on top ---- */

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
AddInvalItem(PlannedStmt *stmt, uint32 hash)
{
	PlanInvalItem *item = makeNode(PlanInvalItem);

	item->cacheId = PROCOID;
	item->hashValue = hash;
	stmt->invalItems = lappend(stmt->invalItems, item);
}

static void
AddGate(PlannedStmt *stmt, Shape shape)
{
	const Funcs *f = GetFuncs();
	Param	   *opened = makeNode(Param);
	Expr	   *gate;
	int			next_id = MaxNodeId(stmt->planTree);
	ListCell   *lc;

	/* a Param of the plan's own, set by the executor hook below */
	stmt->paramExecTypes = lappend_oid(stmt->paramExecTypes, INT8OID);
	opened->paramkind = PARAM_EXEC;
	opened->paramid = list_length(stmt->paramExecTypes) - 1;
	opened->paramtype = INT8OID;
	opened->paramtypmod = -1;
	opened->paramcollid = InvalidOid;
	opened->location = -1;
	gate = (Expr *) makeFuncExpr(f->check, BOOLOID,
								 list_make2(makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
													  CStringGetTextDatum(shape_names[shape]),
													  false, false),
											opened),
								 InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);

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

		/* a change of kind replans this; so does a change of shape */
		AddInvalItem(result, f->check_hash);
		if (p.shape == SHAPE_CUSTOMER)
			AddInvalItem(result, f->customer_id_hash);
		else if (p.shape == SHAPE_CUSTOMERS)
			AddInvalItem(result, f->customer_ids_hash);
		if (ReadsRelation(result->rtable))
			AddGate(result, p.shape);
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

/* The Param of the check on top of a folded plan, or -1. */
static int
CheckParam(PlannedStmt *stmt)
{
	Plan	   *top = stmt->planTree;
	Node	   *qual;
	FuncExpr   *call;

	if (top != NULL && IsA(top, ModifyTable))
		top = top->lefttree;
	if (top == NULL || !IsA(top, Result) || ((Result *) top)->resconstantqual == NULL)
		return -1;
	qual = (Node *) ((Result *) top)->resconstantqual;
	if (IsA(qual, List))
		qual = linitial((List *) qual);
	if (!IsA(qual, FuncExpr))
		return -1;
	call = (FuncExpr *) qual;
	if (call->funcid != funcs.check || list_length(call->args) != 2 ||
		!IsA(lsecond(call->args), Param))
		return -1;
	return ((Param *) lsecond(call->args))->paramid;
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

static void
FoldExecutorStart(QueryDesc *queryDesc, int eflags)
{
	int			param;

	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || !funcs.valid)
		return;
	param = CheckParam(queryDesc->plannedstmt);
	if (param < 0)
		return;
	queryDesc->estate->es_param_exec_vals[param].value = Int64GetDatum((int64) ActorToken());
	queryDesc->estate->es_param_exec_vals[param].isnull = false;

	/* the actor's values, for this execution's snapshot, now */
	PushActiveSnapshot(queryDesc->estate->es_snapshot);
	PG_TRY();
	{
		ComputeValues(queryDesc->planstate, queryDesc->estate);
	}
	PG_FINALLY();
	{
		PopActiveSnapshot();
	}
	PG_END_TRY();
}

void
FoldInit(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = FoldPlanner;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = FoldExecutorStart;
	prev_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = FoldRelPathlist;
	CacheRegisterSyscacheCallback(PROCOID, ForgetFuncs, (Datum) 0);
	ActorListen(ActorChanged);
}

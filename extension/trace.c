/*
 * trace.c — the forward and backward walk over the batch graph (links), in
 * C: breadth-first, one level at a time, the frontier probed in id order
 * through link_from_idx / link_to_idx, each batch visited once (a hash
 * table keyed by batch id), then the quantity shares propagated over the
 * reached sub-graph in topological order. Under row-level security the walk
 * applies the caller's policies itself when it understands every one of
 * them (TraceRls below), else it reads by one SPI query per level, so that
 * the policies apply. docs/trace.md states the rules.
 */
#include "records.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "pgstat.h"
#include "rewrite/rowsecurity.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "access/visibilitymap.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/timestamp.h"

#include "trace.h"

/* The links the walk may hold per batch it may hold (shilian.trace_max_batches). */
#define TRACE_LINKS_PER_BATCH	8

typedef struct TraceHashEntry
{
	int64		id;				/* batch id: the key */
	int32		idx;			/* index into TraceWalk.nodes */
	char		status;			/* simplehash's */
} TraceHashEntry;

/* batch id -> node: an open-addressing table inlined for int64 keys */
#define SH_PREFIX TraceHash
#define SH_ELEMENT_TYPE TraceHashEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) ((uint64) (key) ^ ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct TraceEdge
{
	int32		u;				/* walked from (node index) */
	int32		v;				/* walked to */
	int64		link;
	Qty			q;				/* qty_accepted: in the source batch's unit */
} TraceEdge;

/* One level's links in walk direction, before the new batches are looked up. */
static SlStmt forward_level_stmt = {
	"SELECT l.id, l.from_batch, l.to_batch, l.qty_accepted FROM shilian.link l"
	" WHERE l.from_batch = ANY ($1) AND l.status = 'received' AND l.received_at <= $2",
	2, {"bigint[]", "timestamptz"}
};

static SlStmt backward_level_stmt = {
	"SELECT l.id, l.to_batch, l.from_batch, l.qty_accepted FROM shilian.link l"
	" WHERE l.to_batch = ANY ($1) AND l.status = 'received' AND l.received_at <= $2",
	2, {"bigint[]", "timestamptz"}
};

static SlStmt batches_stmt = {
	"SELECT b.id, b.trace_code, b.owner_id, b.qty, b.qty_left FROM shilian.batch b"
	" WHERE b.id = ANY ($1)",
	1, {"bigint[]"}
};

/*
 * Lots the caller reached through a link it may see but whose rows row-level
 * security hides (a counterparty's lot, a lot across a regulator's border):
 * code, holder and size from a definer-rights lookup that checks the link
 * (part 85); they are reported without what is on hand.
 */
static SlStmt hidden_stmt = {
	"SELECT e.id, e.trace_code, e.owner_id, e.qty FROM shilian.trace_link_end($1) e",
	1, {"bigint[]"}
};

static SlStmt root_stmt = {
	"SELECT b.id, b.trace_code, b.owner_id, b.qty, b.qty_left FROM shilian.batch b"
	" WHERE b.trace_code OPERATOR(shilian.=) $1",
	1, {"shilian.trace_code"}
};

/*
 * On hand as of a past moment: what the records after that moment changed in
 * qty_left, per batch, to be added back (docs/trace.md, "on hand").
 *  - a sale or processing input removes qty_shipped on shipped_on and gives
 *    back what was not accepted (all of it if rejected) at received_at;
 *  - consumption removes its quantity at its time;
 *  - a receipt into an existing batch adds qty_accepted at received_at.
 */
static SlStmt as_of_stmt = {
	"SELECT l.from_batch,"
	"  (CASE l.status WHEN 'received' THEN l.qty_accepted WHEN 'pending' THEN l.qty_shipped"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	"  OPERATOR(shilian.-) (CASE WHEN l.shipped_on <= shilian.platform_date($2) THEN l.qty_shipped"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	"  OPERATOR(shilian.+) (CASE WHEN l.status <> 'pending' AND l.received_at <= $2"
	"    THEN l.qty_shipped OPERATOR(shilian.-) coalesce(l.qty_accepted, l.qty_shipped OPERATOR(shilian.-) l.qty_shipped)"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	" FROM shilian.link l WHERE l.from_batch = ANY ($1) AND (l.shipped_on > shilian.platform_date($2) OR l.received_at > $2)"
	" UNION ALL"
	" SELECT c.batch_id, c.qty FROM shilian.consumption c WHERE c.batch_id = ANY ($1) AND c.consumed_at > $2"
	" UNION ALL"
	" SELECT l.to_batch, OPERATOR(shilian.-) l.qty_accepted FROM shilian.link l"
	" WHERE l.to_batch = ANY ($1) AND l.status = 'received' AND l.received_at > $2",
	2, {"bigint[]", "timestamptz"}
};

/*
 * Run a walk statement. Prepared once per backend with a generic plan: a
 * custom plan would be re-planned for every level, and the planner's
 * selectivity estimate of "= ANY (array)" costs time per array element.
 */
static int
TraceExec(SlStmt *stmt, Datum *values)
{
	int			rc;

	if (stmt->plan == NULL)
	{
		Oid			types[lengthof(stmt->argtypes)];
		SPIPlanPtr	plan;

		for (int i = 0; i < stmt->nargs; i++)
			types[i] = SlTypeOid(stmt->argtypes[i]);
		plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, types, CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), stmt->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		stmt->plan = plan;
	}
	rc = SPI_execute_plan(stmt->plan, values, NULL, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), stmt->sql);
	return rc;
}


static int
TraceCmpInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* ---- row-level security applied by the walk ------------------------------
 *
 * The policies on batch and link (part 80) test one thing: whether an
 * operator id of the row (batch.owner_id, link.seller_id / buyer_id) lies in
 * the set of operators the caller sees, that set named by one of the SQL
 * functions of parts 15 and 80 (current_operator(), client_operators(),
 * subtree_operators()), or they are "true" (the admin). The walk reads the
 * policies that apply to the caller for SELECT from the relation's own
 * row-security descriptor (as the rewriter does), recognises in each qual
 * only these forms
 *     col = shilian.current_operator()
 *     col IN (SELECT x FROM shilian.client_operators() x)   (or subtree_operators())
 *     true, false, and OR of these,
 * with col a bigint column, evaluates each named set once per walk through
 * SPI (the same functions, as the same user, in the same snapshot: the one
 * definition of who sees what) and tests the rows it reads against them.
 * Anything else (a restrictive policy, a policy a DBA added or altered, a
 * row-security hook) and the walk falls back to one SPI query per level,
 * where PostgreSQL applies the policies itself: never a different answer.
 */
#define TRACE_RLS_MAX_ATOMS		8

typedef enum TraceRlsSetKind
{
	TRACE_SET_CURRENT_OPERATOR,
	TRACE_SET_CLIENT_OPERATORS,
	TRACE_SET_SUBTREE_OPERATORS,
	TRACE_NSETS
} TraceRlsSetKind;

/* the functions that name the sets, and how the walk evaluates each */
static const struct
{
	const char *name;
	bool		retset;
	const char *sql;
}			trace_rls_sets[TRACE_NSETS] = {
	{"current_operator", false, "SELECT o FROM shilian.current_operator() AS o WHERE o IS NOT NULL"},
	{"client_operators", true, "SELECT c FROM shilian.client_operators() AS c WHERE c IS NOT NULL"},
	{"subtree_operators", true, "SELECT s FROM shilian.subtree_operators() AS s WHERE s IS NOT NULL"},
};

/* A row is visible when all, or when some atom's column holds an id of its set. */
typedef struct TraceRlsFilter
{
	bool		all;
	int			natoms;
	AttrNumber	attnum[TRACE_RLS_MAX_ATOMS];	/* table column */
	AttrNumber	iattnum[TRACE_RLS_MAX_ATOMS];	/* its index column, or 0 */
	TraceRlsSetKind set[TRACE_RLS_MAX_ATOMS];
} TraceRlsFilter;

/*
 * Each set as a bitmap over [lo, lo + nbits) when that is at most
 * TRACE_RLS_MAX_BITS bits (operator ids are dense: a subtree's operators,
 * 20,000 of a province, take 2.5 kB), else sorted ids, searched.
 */
#define TRACE_RLS_MAX_BITS	((int64) 1 << 27)

typedef struct TraceRlsSets
{
	int64	   *ids[TRACE_NSETS];	/* sorted, distinct */
	int32		n[TRACE_NSETS];
	int64		lo[TRACE_NSETS];
	int64		nbits[TRACE_NSETS];
	uint8	   *bits[TRACE_NSETS];	/* or NULL */
} TraceRlsSets;

static TraceRlsSetKind
TraceRlsFunc(Oid funcid, bool retset)
{
	Oid			nsp = get_func_namespace(funcid);
	char	   *name;

	if (!OidIsValid(nsp) || strcmp(get_namespace_name(nsp), "shilian") != 0 ||
		get_func_nargs(funcid) != 0 || get_func_rettype(funcid) != INT8OID ||
		get_func_retset(funcid) != retset)
		return TRACE_NSETS;
	name = get_func_name(funcid);
	for (int k = 0; k < TRACE_NSETS; k++)
		if (trace_rls_sets[k].retset == retset && strcmp(name, trace_rls_sets[k].name) == 0)
			return k;
	return TRACE_NSETS;
}

/* a bigint column of the policy's table, or 0 */
static AttrNumber
TraceRlsVar(Node *n)
{
	Var		   *v;

	if (n == NULL || !IsA(n, Var))
		return 0;
	v = (Var *) n;
	if (v->varno != 1 || v->varlevelsup != 0 || v->vartype != INT8OID || v->varattno <= 0)
		return 0;
	return v->varattno;
}

/* SELECT x FROM shilian.f() AS x, nothing else: f's set, or TRACE_NSETS */
static TraceRlsSetKind
TraceRlsSubselect(Node *n)
{
	Query	   *q;
	RangeTblEntry *rte;
	RangeTblFunction *rtf;
	TargetEntry *te;
	Var		   *v;

	if (n == NULL || !IsA(n, Query))
		return TRACE_NSETS;
	q = (Query *) n;
	if (q->commandType != CMD_SELECT || q->utilityStmt != NULL || q->hasAggs ||
		q->hasWindowFuncs || q->hasTargetSRFs || q->hasSubLinks || q->hasDistinctOn ||
		q->hasRecursive || q->hasModifyingCTE || q->hasForUpdate || q->cteList != NIL ||
		q->groupClause != NIL || q->groupingSets != NIL || q->havingQual != NULL ||
		q->windowClause != NIL || q->distinctClause != NIL || q->limitOffset != NULL ||
		q->limitCount != NULL || q->setOperations != NULL || q->rowMarks != NIL ||
		list_length(q->rtable) != 1 || q->jointree == NULL || q->jointree->quals != NULL ||
		list_length(q->jointree->fromlist) != 1 || list_length(q->targetList) != 1)
		return TRACE_NSETS;
	if (!IsA(linitial(q->jointree->fromlist), RangeTblRef) ||
		((RangeTblRef *) linitial(q->jointree->fromlist))->rtindex != 1)
		return TRACE_NSETS;
	rte = linitial_node(RangeTblEntry, q->rtable);
	if (rte->rtekind != RTE_FUNCTION || rte->funcordinality || list_length(rte->functions) != 1)
		return TRACE_NSETS;
	rtf = linitial_node(RangeTblFunction, rte->functions);
	if (rtf->funcexpr == NULL || !IsA(rtf->funcexpr, FuncExpr) ||
		((FuncExpr *) rtf->funcexpr)->args != NIL)
		return TRACE_NSETS;
	te = linitial_node(TargetEntry, q->targetList);
	if (te->resjunk || te->expr == NULL || !IsA(te->expr, Var))
		return TRACE_NSETS;
	v = (Var *) te->expr;
	if (v->varno != 1 || v->varattno != 1 || v->varlevelsup != 0 || v->vartype != INT8OID)
		return TRACE_NSETS;
	return TraceRlsFunc(((FuncExpr *) rtf->funcexpr)->funcid, true);
}

static bool
TraceRlsAtom(TraceRlsFilter *f, AttrNumber col, TraceRlsSetKind set)
{
	if (col == 0 || set == TRACE_NSETS || f->natoms == TRACE_RLS_MAX_ATOMS)
		return false;
	f->attnum[f->natoms] = col;
	f->set[f->natoms] = set;
	f->natoms++;
	return true;
}

/* Add a policy qual's disjuncts to f; false when it has another form. */
static bool
TraceRlsQual(Node *n, TraceRlsFilter *f)
{
	if (n == NULL)
		return false;
	if (IsA(n, Const))
	{
		Const	   *c = (Const *) n;

		if (c->consttype != BOOLOID)
			return false;
		if (!c->constisnull && DatumGetBool(c->constvalue))
			f->all = true;
		return true;			/* false and NULL admit nothing */
	}
	if (IsA(n, BoolExpr))
	{
		BoolExpr   *b = (BoolExpr *) n;
		ListCell   *lc;

		if (b->boolop != OR_EXPR)
			return false;
		foreach(lc, b->args)
			if (!TraceRlsQual(lfirst(lc), f))
				return false;
		return true;
	}
	if (IsA(n, OpExpr))
	{
		/* col = shilian.current_operator() (either side) */
		OpExpr	   *op = (OpExpr *) n;
		Node	   *a,
				   *b;

		if (get_opcode(op->opno) != F_INT8EQ || list_length(op->args) != 2)
			return false;
		a = linitial(op->args);
		b = lsecond(op->args);
		if (TraceRlsVar(a) == 0)
		{
			Node	   *t = a;

			a = b;
			b = t;
		}
		if (b == NULL || !IsA(b, FuncExpr) || ((FuncExpr *) b)->args != NIL)
			return false;
		return TraceRlsAtom(f, TraceRlsVar(a), TraceRlsFunc(((FuncExpr *) b)->funcid, false));
	}
	if (IsA(n, SubLink))
	{
		/* col IN (SELECT x FROM shilian.f() AS x) */
		SubLink    *sl = (SubLink *) n;
		OpExpr	   *op;
		Param	   *p;

		if (sl->subLinkType != ANY_SUBLINK || sl->testexpr == NULL || !IsA(sl->testexpr, OpExpr))
			return false;
		op = (OpExpr *) sl->testexpr;
		if (get_opcode(op->opno) != F_INT8EQ || list_length(op->args) != 2 ||
			!IsA(lsecond(op->args), Param))
			return false;
		p = lsecond_node(Param, op->args);
		if (p->paramkind != PARAM_SUBLINK || p->paramid != 1)
			return false;
		return TraceRlsAtom(f, TraceRlsVar(linitial(op->args)), TraceRlsSubselect(sl->subselect));
	}
	return false;
}

/*
 * The filter the caller's SELECT policies on rel amount to, as the rewriter
 * picks them (rewrite/rowsecurity.c: command ALL or SELECT, role PUBLIC or
 * one whose privileges the user has): false when one is not understood.
 * Without row-level security for the caller, everything is visible.
 */
static bool
TraceRlsFilterBuild(Relation rel, TraceRlsFilter *f, const char **why)
{
	Oid			user = GetUserId();
	ListCell   *lc;

	memset(f, 0, sizeof(*f));
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) != RLS_ENABLED)
	{
		f->all = true;
		return true;
	}
	if (row_security_policy_hook_permissive != NULL || row_security_policy_hook_restrictive != NULL)
	{
		*why = "a row-security hook is installed";
		return false;
	}
	if (rel->rd_rsdesc == NULL)
		return true;			/* no policy: no row */
	foreach(lc, rel->rd_rsdesc->policies)
	{
		RowSecurityPolicy *p = lfirst(lc);
		Datum	   *roles;
		int			nroles;
		bool		applies = false;

		if (p->polcmd != '*' && p->polcmd != ACL_SELECT_CHR)
			continue;
		deconstruct_array(p->roles, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &roles, NULL, &nroles);
		for (int i = 0; !applies && i < nroles; i++)
			applies = DatumGetObjectId(roles[i]) == ACL_ID_PUBLIC ||
				has_privs_of_role(user, DatumGetObjectId(roles[i]));
		pfree(roles);
		if (!applies)
			continue;
		if (!p->permissive || !TraceRlsQual((Node *) p->qual, f))
		{
			*why = p->policy_name;
			return false;
		}
	}
	return true;
}

/* Evaluate the sets the filters name, once per walk (the caller is in SPI). */
static void
TraceRlsSetsFetch(TraceRlsSets *s, const TraceRlsFilter *a, const TraceRlsFilter *b)
{
	bool		need[TRACE_NSETS] = {false};

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < a->natoms; i++)
		need[a->set[i]] = !a->all;
	for (int i = 0; i < b->natoms; i++)
		need[b->set[i]] = need[b->set[i]] || !b->all;
	for (int k = 0; k < TRACE_NSETS; k++)
	{
		int			rc;
		int32		n = 0;

		if (!need[k])
			continue;
		rc = SPI_execute(trace_rls_sets[k].sql, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed (%s) for: %s", SPI_result_code_string(rc),
				 trace_rls_sets[k].sql);
		s->ids[k] = palloc(sizeof(int64) * Max(SPI_processed, 1));
		for (uint64 r = 0; r < SPI_processed; r++)
			s->ids[k][r] = DatumGetInt64(SlGet(r, 1, NULL));
		SPI_freetuptable(SPI_tuptable);
		qsort(s->ids[k], SPI_processed, sizeof(int64), TraceCmpInt64);
		for (uint64 r = 0; r < SPI_processed; r++)
			if (n == 0 || s->ids[k][r] != s->ids[k][n - 1])
				s->ids[k][n++] = s->ids[k][r];
		s->n[k] = n;
		if (n > 0 && s->ids[k][n - 1] - s->ids[k][0] < TRACE_RLS_MAX_BITS)
		{
			s->lo[k] = s->ids[k][0];
			s->nbits[k] = s->ids[k][n - 1] - s->lo[k] + 1;
			s->bits[k] = palloc0((s->nbits[k] + 7) / 8);
			for (int32 i = 0; i < n; i++)
			{
				int64		b = s->ids[k][i] - s->lo[k];

				s->bits[k][b >> 3] |= (uint8) (1 << (b & 7));
			}
		}
	}
}

static inline bool
TraceRlsIn(const TraceRlsSets *s, TraceRlsSetKind k, int64 id)
{
	const int64 *a = s->ids[k];
	int32		lo = 0,
				hi = s->n[k];

	if (s->bits[k] != NULL)
	{
		uint64		b = (uint64) id - (uint64) s->lo[k];	/* below lo: wraps, out of range */

		return b < (uint64) s->nbits[k] && (s->bits[k][b >> 3] & (1 << (b & 7))) != 0;
	}
	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (a[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n[k] && a[lo] == id;
}

/* Whether the row (index entry itup, or heap row in slot) passes f. */
static bool
TraceRlsVisible(const TraceRlsFilter *f, const TraceRlsSets *s, IndexTuple itup,
				TupleDesc idesc, TupleTableSlot *slot)
{
	if (f->all)
		return true;
	for (int i = 0; i < f->natoms; i++)
	{
		bool		isnull;
		Datum		d = itup ? index_getattr(itup, f->iattnum[i], idesc, &isnull)
			: slot_getattr(slot, f->attnum[i], &isnull);

		if (!isnull && TraceRlsIn(s, f->set[i], DatumGetInt64(d)))
			return true;
	}
	return false;
}

/* ---- direct index scans ---------------------------------------------------
 *
 * The walk reads link_from_idx / link_to_idx and batch_pkey directly: one
 * index probe per batch, in id order, with no executor, no SPI tuple copies
 * and no per-level plan. Under row-level security it filters the rows by
 * the caller's policies as TraceRls above recognises them (a link the
 * caller may not see is not walked; a batch it may not see is named through
 * trace_link_end, as the SPI walk does); with a policy it does not
 * recognise it uses the SPI queries above instead, so that policies apply.
 */
typedef struct TraceRels
{
	Relation	link;
	Relation	link_idx;		/* link_from_idx forward, link_to_idx backward */
	Relation	batch;
	Relation	batch_idx;		/* batch_pkey */
	AttrNumber	l_id,
				l_from,
				l_to,
				l_qty,
				l_status,
				l_received;
	AttrNumber	b_id,
				b_code,
				b_owner,
				b_qty,
				b_left,
				b_last;			/* the last of these */
	/*
	 * With batch's columns 1 .. b_last all 8-byte, by value and NOT NULL,
	 * their offsets in a row are fixed: b_off, 0-based by column
	 */
	bool		b_fixed;
	int32		b_off[8];
	/*
	 * link_idx's columns (1-based; 0 when it lacks one): with all four, the
	 * walk reads links index-only where the visibility map allows. Status is
	 * not among them: a link is received exactly when to_batch is set (link's
	 * CHECK), and the walk reads only links whose both ends are set.
	 */
	bool		ioscan;
	AttrNumber	i_id,
				i_to,
				i_qty,
				i_received;
	Buffer		vmbuf;			/* visibility map page of link */
	/* the caller's policies (all visible without row-level security) */
	TraceRlsFilter link_rls;
	TraceRlsFilter batch_rls;
	TraceRlsSets sets;
} TraceRels;

typedef struct TraceIdIdx
{
	int64		id;
	int32		idx;
} TraceIdIdx;

/* an inlined sort by id (lib/sort_template.h): the frontier is sorted every level */
#define ST_SORT TraceSortIds
#define ST_ELEMENT_TYPE TraceIdIdx
#define ST_COMPARE(a, b) ((a)->id < (b)->id ? -1 : (a)->id > (b)->id ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static Oid
TraceRelid(Oid nsp, const char *name)
{
	Oid			relid;

	SlCheckSchemaVersion();
	relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation shilian.%s is missing", name);
	return relid;
}

static AttrNumber
TraceAttnum(Relation rel, const char *name)
{
	AttrNumber	a = get_attnum(RelationGetRelid(rel), name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "column %s of %s is missing", name, RelationGetRelationName(rel));
	return a;
}

/* The position of a table column among an index's columns (key or INCLUDE), or 0. */
static AttrNumber
TraceIndexAttnum(Relation idx, AttrNumber attnum)
{
	for (int i = 0; i < idx->rd_index->indnatts; i++)
		if (idx->rd_index->indkey.values[i] == attnum)
			return i + 1;
	return 0;
}

/*
 * Open the relations for direct scans, with the filters of the caller's
 * row-level security policies and their sets; or return false when a policy
 * on either table is not one TraceRlsQual recognises. SELECT privilege is
 * checked as a query would.
 */
static bool
TraceRelsOpen(TraceRels *r, bool forward)
{
	Oid			nsp = get_namespace_oid("shilian", false);
	Oid			link = TraceRelid(nsp, "link");
	Oid			batch = TraceRelid(nsp, "batch");
	AclResult	acl;
	const char *why = NULL;

	acl = pg_class_aclcheck(link, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "link");
	acl = pg_class_aclcheck(batch, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "batch");

	r->link = table_open(link, AccessShareLock);
	r->batch = table_open(batch, AccessShareLock);
	if (!TraceRlsFilterBuild(r->link, &r->link_rls, &why) ||
		!TraceRlsFilterBuild(r->batch, &r->batch_rls, &why))
	{
		elog(DEBUG1, "trace walk: row-level security through SQL, one query per level (policy or setting not recognised: %s)",
			 why);
		table_close(r->batch, AccessShareLock);
		table_close(r->link, AccessShareLock);
		return false;
	}
	if (!r->link_rls.all || !r->batch_rls.all)
		elog(DEBUG1, "trace walk: row-level security applied in the walk (%d link, %d batch conditions)",
			 r->link_rls.all ? 0 : r->link_rls.natoms, r->batch_rls.all ? 0 : r->batch_rls.natoms);
	TraceRlsSetsFetch(&r->sets, &r->link_rls, &r->batch_rls);
	r->link_idx = index_open(TraceRelid(nsp, forward ? "link_from_idx" : "link_to_idx"), AccessShareLock);
	r->batch_idx = index_open(TraceRelid(nsp, "batch_pkey"), AccessShareLock);
	r->l_id = TraceAttnum(r->link, "id");
	r->l_from = TraceAttnum(r->link, forward ? "from_batch" : "to_batch");
	r->l_to = TraceAttnum(r->link, forward ? "to_batch" : "from_batch");
	r->l_qty = TraceAttnum(r->link, "qty_accepted");
	r->l_status = TraceAttnum(r->link, "status");
	r->l_received = TraceAttnum(r->link, "received_at");
	r->b_id = TraceAttnum(r->batch, "id");
	r->b_code = TraceAttnum(r->batch, "trace_code");
	r->b_owner = TraceAttnum(r->batch, "owner_id");
	r->b_qty = TraceAttnum(r->batch, "qty");
	r->b_left = TraceAttnum(r->batch, "qty_left");
	r->b_last = Max(Max(r->b_code, r->b_owner), Max(r->b_qty, r->b_left));
	r->b_fixed = r->b_last <= (AttrNumber) lengthof(r->b_off);
	for (int i = 0, off = 0; r->b_fixed && i < r->b_last; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(r->batch), i);

		r->b_fixed = !att->attisdropped && att->attnotnull && att->attbyval && att->attlen == 8;
		off = att_align_nominal(off, att->attalign);
		r->b_off[i] = off;
		off += att->attlen;
	}
	r->i_id = TraceIndexAttnum(r->link_idx, r->l_id);
	r->i_to = TraceIndexAttnum(r->link_idx, r->l_to);
	r->i_qty = TraceIndexAttnum(r->link_idx, r->l_qty);
	r->i_received = TraceIndexAttnum(r->link_idx, r->l_received);
	r->ioscan = r->i_id && r->i_to && r->i_qty && r->i_received;
	/* the link's policy columns: index-only too when the index holds them */
	for (int i = 0; i < r->link_rls.natoms; i++)
	{
		r->link_rls.iattnum[i] = TraceIndexAttnum(r->link_idx, r->link_rls.attnum[i]);
		if (!r->link_rls.all && r->link_rls.iattnum[i] == 0)
			r->ioscan = false;
	}
	r->vmbuf = InvalidBuffer;
	return true;
}

static void
TraceRelsClose(TraceRels *r)
{
	if (BufferIsValid(r->vmbuf))
		ReleaseBuffer(r->vmbuf);
	index_close(r->batch_idx, AccessShareLock);
	table_close(r->batch, AccessShareLock);
	index_close(r->link_idx, AccessShareLock);
	table_close(r->link, AccessShareLock);
}

/* status = 'received' */
static bool
IsReceived(Datum status)
{
	text	   *t = DatumGetTextPP(status);
	bool		yes = VARSIZE_ANY_EXHDR(t) == 8 && memcmp(VARDATA_ANY(t), "received", 8) == 0;

	if ((Pointer) t != DatumGetPointer(status))
		pfree(t);
	return yes;
}

static void
TraceLimitError(int64 limit, const char *what)
{
	ereport(ERROR,
			(errcode(SL_TRACE_TOO_LARGE),
			 errmsg("trace reaches more than %lld %s", (long long) limit, what),
			 errdetail("The walk holds every reached batch and link in memory, bounded by shilian.trace_max_batches (%d) batches and %d links per batch.",
					   shilian_trace_max_batches, TRACE_LINKS_PER_BATCH),
			 errhint("Bound the walk with max_depth, or raise shilian.trace_max_batches.")));
}

static ArrayType *
IdArray(int64 *ids, int n)
{
	return construct_array((Datum *) ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static int32
NodeAdd(TraceWalk *w, TraceHash_hash *hash, int64 id, int depth, int64 via)
{
	TraceHashEntry *e;
	bool		found;

	e = TraceHash_insert(hash, id, &found);
	if (found)
		return e->idx;
	if (w->n >= shilian_trace_max_batches)
		TraceLimitError(shilian_trace_max_batches, "batches");
	if (w->n == w->cap)
	{
		/*
		 * Four times as large: a wide walk's array is copied a third as
		 * often (the copies, page faults included, were 7 % of the hub
		 * lot's walk growing by doubling); pages past w->n are not touched.
		 */
		w->cap = (int32) Min((int64) w->cap * 4, Max((int64) shilian_trace_max_batches, w->cap + 1));
		w->nodes = repalloc_huge(w->nodes, sizeof(TraceNode) * w->cap);
	}
	e->idx = w->n;
	memset(&w->nodes[w->n], 0, sizeof(TraceNode));
	w->nodes[w->n].id = id;
	w->nodes[w->n].depth = depth;
	w->nodes[w->n].via_link = via;
	return w->n++;
}

static int32
NodeFind(TraceHash_hash *hash, int64 id)
{
	TraceHashEntry *e = TraceHash_lookup(hash, id);

	if (e == NULL)
		elog(ERROR, "trace walk lost batch %lld", (long long) id);
	return e->idx;
}



/*
 * Probe an int8 btree for every key of keys[0 .. n) (sorted, distinct),
 * calling visit for each row. The keys are taken in runs of close ids (each
 * within TRACE_PROBE_GAP of the one before): one descent per run, bounded
 * by the run's first and last key, reading on along the leaf level between
 * them. A reached set is often dense in id order (lots of one line, one
 * tier), and a descent costs more than a few leaf entries; the upper bound
 * stops the scan at the run's end (a scan with only a lower bound reads and
 * checks the rest of the leaf page at every descent).
 *
 * With ioscan (an index that holds every column visit reads), a row on a
 * page the visibility map says all-visible is not fetched from the heap:
 * visit reads it from scan->xs_itup (an index-only scan), slot is then
 * empty. Otherwise the heap row is fetched (and visibility checked) into slot.
 */
#define TRACE_PROBE_GAP		24	/* ids ahead worth reading on for */

typedef void (*TraceVisit) (IndexScanDesc scan, TupleTableSlot *slot, bool from_index,
							int32 idx, void *arg);

static void
TraceProbeSorted(IndexScanDesc scan, TupleTableSlot *slot, bool ioscan, Buffer *vmbuf,
				 const TraceIdIdx *keys, int32 n, TraceVisit visit, void *arg)
{
	int32		i = 0;

	while (i < n)
	{
		int32		last = i;
		ScanKeyData key[2];

		while (last + 1 < n && keys[last + 1].id - keys[last].id <= TRACE_PROBE_GAP)
			last++;
		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&key[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(keys[i].id));
		ScanKeyInit(&key[1], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(keys[last].id));
		index_rescan(scan, key, 2, NULL, 0);
		for (;;)
		{
			ItemPointer tid = index_getnext_tid(scan, ForwardScanDirection);
			int64		k;
			bool		isnull;

			if (tid == NULL)
				break;
			k = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull));
			while (i < last && keys[i].id < k)
				i++;			/* k <= keys[last].id (the upper bound) */
			if (keys[i].id != k)
				continue;
			if (ioscan && VM_ALL_VISIBLE(scan->heapRelation, ItemPointerGetBlockNumber(tid), vmbuf))
			{
				/* as nodeIndexonlyscan.c: the page, not the tuple, is locked */
				PredicateLockPage(scan->heapRelation, ItemPointerGetBlockNumber(tid),
								  scan->xs_snapshot);
				visit(scan, slot, true, keys[i].idx, arg);
			}
			else if (index_fetch_heap(scan, slot))
				visit(scan, slot, false, keys[i].idx, arg);
		}
		i = last + 1;
	}
}

/* ---- the forward sweep ------------------------------------------------------
 *
 * Forward, with no depth limit, the walk does not go level by level: it
 * takes the reached lots in id order, smallest first (a heap), whatever
 * their depth, so that the whole walk reads link_from_idx as one pass from
 * left to right. A link leads to a lot recorded later (a sale's receipt,
 * a processing's output), so to a larger id, and the lots a walk reaches
 * are dense in id order while each level's are not: on the bench's hub lot,
 * 35,288 lots in 77 levels made 25,000 index descents level by level
 * (runs of close ids), and the whole set is 421 such runs. Each lot's links
 * are found in the leaf page the previous lot's were read from, or one or
 * two pages to its right, by a binary search in the page (TraceLeafRead);
 * the tree is descended only when the next lot's id is further on, or
 * smaller (a receipt into an older lot). The depths, first links, node
 * order and edge order are then those of the level walk, computed over the
 * links in memory (TraceSweepLevels), so the results are the same rows in
 * the same order.
 *
 * The reader reads the leaf pages of a btree on one int8 key (ascending,
 * nulls last, no posting lists: link_from_idx has INCLUDE columns, which
 * btree never deduplicates) under the rules nbtsearch.c follows: a share
 * lock while the page is read, the page copied out (as _bt_readpage copies
 * its entries; the lots found on it are then read from the copy) and the
 * buffer kept pinned, the lock released before any heap access; the copy's
 * right-link followed for the key's entries that go on in the right sibling
 * and to the pages on (deleted and half-dead pages skipped); every page read
 * predicate-locked; killed entries skipped as a scan skips them. Anything
 * unexpected about the index and the walk goes level by level instead.
 */
#if PG_VERSION_NUM < 170000
#define TRACE_SWEEP 1
#endif

#define TRACE_LEAF_STEPS	2	/* right siblings tried before a descent */

typedef struct TraceLeafReader
{
	Relation	idx;
	TupleDesc	desc;
	BTScanInsert key;			/* for descents: the first entry >= a key */
	bool		ignore_killed;
	bool		postings;		/* posting lists expected (batch_pkey) */
	/*
	 * The leaf page last read, copied out whole while share-locked, as a
	 * btree scan copies a page's entries (_bt_readpage), so that the lots
	 * whose entries are on it (most of a sweep's run of close ids) are read
	 * from the copy with no lock each; its buffer stays pinned, so that
	 * VACUUM cannot remove the entries (and let their heap TIDs be reused)
	 * while the walk reads them index-only. An entry a concurrent insert
	 * adds after the copy is of a transaction the walk's MVCC snapshot does
	 * not see; a split after it moves entries the copy holds.
	 */
	Buffer		buf;			/* pinned, unlocked (InvalidBuffer: no copy) */
	char	   *page;			/* its copy, BLCKSZ */
	int64		last;			/* the key last read (with buf valid) */
	OffsetNumber next;			/* where last's entries ended on the copy: a hint */
	/*
	 * the entries of the key last read: in the copy, or, when they go on
	 * over more than one page, copied into space
	 */
	IndexTuple *tup;
	char	   *space;
	Size		used,
				space_cap;
	Size	   *off;
	int			n,
				cap;
	int64		descents,		/* for the DEBUG1 line */
				steps;
} TraceLeafReader;

/*
 * sign of (the key of itup) - k; a null key is last. The key is the first
 * attribute, an int8 (TraceLeafUsable): at the start of the tuple's data,
 * read in place (index_getattr went through nocache_index_getattr for every
 * tuple with a null in its INCLUDE columns, 8 % of the hub lot's walk).
 */
static inline int
TraceLeafCmp(TraceLeafReader *r, IndexTuple itup, int64 k)
{
	int64		v;

	(void) r;
	if (IndexTupleHasNulls(itup) && att_isnull(0, (bits8 *) itup + sizeof(IndexTupleData)))
		return 1;
	memcpy(&v, (char *) itup + IndexInfoFindDataOffset(itup->t_info), sizeof(v));
	return v < k ? -1 : v > k ? 1 : 0;
}

#ifdef TRACE_SWEEP
/*
 * Whether the walk can read idx with TraceLeafRead (see above): a btree on
 * one int8 key, ascending, nulls last; with INCLUDE columns (no posting
 * lists), or, with postings, a unique index on that key alone, whose
 * posting lists (versions of one row, deduplicated) the caller reads.
 */
static bool
TraceLeafUsable(Relation idx, bool postings)
{
	return idx->rd_rel->relam == BTREE_AM_OID &&
		IndexRelationGetNumberOfKeyAttributes(idx) == 1 &&
		(postings ? IndexRelationGetNumberOfAttributes(idx) == 1 && idx->rd_index->indisunique
		 : IndexRelationGetNumberOfAttributes(idx) > 1) &&
		TupleDescAttr(RelationGetDescr(idx), 0)->atttypid == INT8OID &&
		idx->rd_indoption[0] == 0;	/* ASC NULLS LAST */
}

static void
TraceLeafBegin(TraceLeafReader *r, Relation idx, IndexScanDesc scan, bool postings)
{
	TupleDesc	desc = RelationGetDescr(idx);
	Datum	   *values = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	IndexTuple	itup;

	memset(r, 0, sizeof(*r));
	r->idx = idx;
	r->desc = desc;
	r->ignore_killed = scan->ignore_killed_tuples;
	r->postings = postings;
	r->buf = InvalidBuffer;
	/* an insertion key on the first column, any heap TID (scantid NULL) */
	for (int i = 0; i < desc->natts; i++)
		nulls[i] = i > 0;
	itup = index_form_tuple(desc, values, nulls);
	r->key = _bt_mkscankey(idx, itup);
	r->key->scantid = NULL;
	pfree(itup);
	pfree(values);
	pfree(nulls);
	r->page = palloc(BLCKSZ);
	r->space_cap = BLCKSZ;
	r->space = palloc(r->space_cap);
	r->cap = 64;
	r->off = palloc(sizeof(Size) * r->cap);
	r->tup = palloc(sizeof(IndexTuple) * r->cap);
}

static void
TraceLeafEnd(TraceLeafReader *r)
{
	if (BufferIsValid(r->buf))
		ReleaseBuffer(r->buf);
	r->buf = InvalidBuffer;
	pfree(r->page);
	pfree(r->space);
	pfree(r->off);
	pfree(r->tup);
}

/* the high key of a leaf page compared with k: >= 0 when k is not past the page */
static inline int
TraceLeafHikeyCmp(TraceLeafReader *r, Page page, int64 k)
{
	IndexTuple	hikey = (IndexTuple) PageGetItem(page, PageGetItemId(page, P_HIKEY));

	if (BTreeTupleGetNAtts(hikey, r->idx) < 1)
		return -1;				/* not expected: descend */
	return TraceLeafCmp(r, hikey, k);
}

/* Copy the share-locked leaf page buf, predicate-lock it, unlock it (kept pinned). */
static void
TraceLeafCopy(TraceLeafReader *r, Buffer buf, Snapshot snapshot)
{
	memcpy(r->page, BufferGetPage(buf), BLCKSZ);
	if (!P_IGNORE(BTPageGetOpaque((Page) r->page)))
		PredicateLockPage(r->idx, BufferGetBlockNumber(buf), snapshot);
	_bt_unlockbuf(r->idx, buf);
	r->buf = buf;
}

/* The copy's right sibling blkno (the copy's link, as a scan follows it), copied. */
static void
TraceLeafNext(TraceLeafReader *r, BlockNumber blkno, Snapshot snapshot)
{
	Buffer		buf = ReleaseAndReadBuffer(r->buf, r->idx, blkno);

	r->buf = InvalidBuffer;
	_bt_lockbuf(r->idx, buf, BT_READ);
	_bt_checkpage(r->idx, buf);
	TraceLeafCopy(r, buf, snapshot);
}

/* The leaf page where k's entries begin, from the tree's root, copied; false: an empty index. */
static bool
TraceLeafDescend(TraceLeafReader *r, int64 k, Snapshot snapshot)
{
	Buffer		buf;
	BTStack		stack;

	if (BufferIsValid(r->buf))
		ReleaseBuffer(r->buf);
	r->buf = InvalidBuffer;
	r->descents++;
	r->key->scankeys[0].sk_argument = Int64GetDatum(k);
#if PG_VERSION_NUM >= 160000
	stack = _bt_search(r->idx, NULL, r->key, &buf, BT_READ);
#else
	stack = _bt_search(r->idx, r->key, &buf, BT_READ, snapshot);
#endif
	_bt_freestack(stack);
	if (!BufferIsValid(buf))
		return false;
	TraceLeafCopy(r, buf, snapshot);
	return true;
}

/* one of k's entries, in the copy: kept in place, or in space once they span pages */
static inline void
TraceLeafKeep(TraceLeafReader *r, IndexTuple itup, bool spanned)
{
	if (r->n == r->cap)
	{
		r->cap *= 2;
		r->off = repalloc_huge(r->off, sizeof(Size) * r->cap);
		r->tup = repalloc_huge(r->tup, sizeof(IndexTuple) * r->cap);
	}
	if (spanned)
	{
		Size		sz = MAXALIGN(IndexTupleSize(itup));

		if (r->used + sz > r->space_cap)
		{
			r->space_cap = Max(r->space_cap * 2, r->used + sz);
			r->space = repalloc_huge(r->space, r->space_cap);
		}
		memcpy(r->space + r->used, itup, IndexTupleSize(itup));
		r->off[r->n] = r->used;
		r->used += sz;
	}
	else
		r->tup[r->n] = itup;
	r->n++;
}

/* k's entries (r->tup[0 .. r->n)), from the first at or after k on the copy and on. */
static void
TraceLeafRead(TraceLeafReader *r, int64 k, Snapshot snapshot)
{
	Page		page;
	BTPageOpaque opaque;
	OffsetNumber hint = InvalidOffsetNumber,
				next = InvalidOffsetNumber;
	bool		spanned = false;

	r->n = 0;
	r->used = 0;
	/* the page last read, or one of its right siblings, if k is not past it */
	if (BufferIsValid(r->buf) && k > r->last)
	{
		int			steps = 0;

		hint = r->next;
		for (;;)
		{
			page = (Page) r->page;
			opaque = BTPageGetOpaque(page);
			if (P_IGNORE(opaque) || !P_ISLEAF(opaque))
				break;
			if (P_RIGHTMOST(opaque) || TraceLeafHikeyCmp(r, page, k) >= 0)
				goto found;
			if (++steps > TRACE_LEAF_STEPS)
				break;
			r->steps++;
			hint = InvalidOffsetNumber;
			TraceLeafNext(r, opaque->btpo_next, snapshot);
		}
	}
	hint = InvalidOffsetNumber;
	if (!TraceLeafDescend(r, k, snapshot))
		return;
found:
	for (;;)
	{
		OffsetNumber lo,
					hi,
					maxoff;

		page = (Page) r->page;
		opaque = BTPageGetOpaque(page);
		maxoff = PageGetMaxOffsetNumber(page);
		if (!P_IGNORE(opaque))
		{
			/*
			 * The first entry >= k: by a binary search between lo, every
			 * entry before which is < k, and hi, which is >= k or past the
			 * page's end. On the page last read, the keys come in ascending
			 * order, so k's entries are usually a few entries after where
			 * the last key's ended: from there, steps doubling bound them
			 * (the hint only narrows the search).
			 */
			lo = P_FIRSTDATAKEY(opaque);
			hi = maxoff + 1;
			if (hint >= lo && hint <= maxoff)
			{
				if (TraceLeafCmp(r, (IndexTuple) PageGetItem(page, PageGetItemId(page, hint)), k) >= 0)
				{
					hi = hint;
					if (hint > lo &&
						TraceLeafCmp(r, (IndexTuple) PageGetItem(page, PageGetItemId(page, hint - 1)), k) < 0)
						lo = hint;
				}
				else
				{
					OffsetNumber step = 1;

					lo = hint + 1;
					while (lo + step - 1 <= maxoff &&
						   TraceLeafCmp(r, (IndexTuple) PageGetItem(page, PageGetItemId(page, lo + step - 1)), k) < 0)
					{
						lo += step;
						step *= 2;
					}
					hi = Min(lo + step - 1, maxoff + 1);
				}
			}
			while (lo < hi)
			{
				OffsetNumber mid = lo + (hi - lo) / 2;

				if (TraceLeafCmp(r, (IndexTuple) PageGetItem(page, PageGetItemId(page, mid)), k) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo <= maxoff; lo++)
			{
				ItemId		iid = PageGetItemId(page, lo);
				IndexTuple	itup = (IndexTuple) PageGetItem(page, iid);

				if (TraceLeafCmp(r, itup, k) != 0)
				{
					next = lo;
					goto done;
				}
				if (r->ignore_killed && ItemIdIsDead(iid))
					continue;
				if ((BTreeTupleIsPosting(itup) && !r->postings) || BTreeTupleIsPivot(itup))
					elog(ERROR, "trace walk: unexpected tuple in index \"%s\"",
						 RelationGetRelationName(r->idx));
				TraceLeafKeep(r, itup, spanned);
			}
			/* the page's end: k's entries may go on in the right sibling */
			if (P_RIGHTMOST(opaque) || TraceLeafHikeyCmp(r, page, k) > 0)
				goto done;
		}
		else if (P_RIGHTMOST(opaque))
			goto done;
		/* the copy is about to be replaced: what it holds of k's entries into space */
		if (!spanned)
		{
			int			n = r->n;

			spanned = true;
			r->n = 0;
			for (int i = 0; i < n; i++)
				TraceLeafKeep(r, r->tup[i], true);
		}
		hint = InvalidOffsetNumber;
		TraceLeafNext(r, opaque->btpo_next, snapshot);
	}
done:
	if (spanned)
		for (int i = 0; i < r->n; i++)
			r->tup[i] = (IndexTuple) (r->space + r->off[i]);
	r->last = k;
	r->next = next;
}
#endif							/* TRACE_SWEEP */

/* One walked link u -> v (v's id): v added at depth + 1 if new, the edge kept. */
static inline void
TraceAddEdge(TraceWalk *w, TraceHash_hash *hash, TraceEdge **edges, int64 *nedges, int64 *edge_cap,
			 int64 max_edges, int32 depth, int32 u, int64 link, int64 vid, Qty q)
{
	int32		v = NodeAdd(w, hash, vid, depth + 1, link);

	/* first reached by: the lowest depth, then the lowest link id */
	if (w->nodes[v].depth == depth + 1 && link < w->nodes[v].via_link)
		w->nodes[v].via_link = link;
	if (*nedges >= max_edges)
		TraceLimitError(max_edges, "links");
	if (*nedges == *edge_cap)
	{
		*edge_cap = Min(*edge_cap * 4, Max(max_edges, *edge_cap + 1));	/* as NodeAdd's */
		*edges = repalloc_huge(*edges, sizeof(TraceEdge) * *edge_cap);
	}
	(*edges)[*nedges].u = u;
	(*edges)[*nedges].v = v;
	(*edges)[*nedges].link = link;
	(*edges)[*nedges].q = q;
	(*nedges)++;
}

static void NodesLoadHidden(TraceWalk *w, TraceHash_hash *hash, int32 from, int32 to);

/* Fill code, owner, qty, qty_left of nodes [from, to) by one query. */
static void
NodesLoad(TraceWalk *w, TraceHash_hash *hash, int32 from, int32 to)
{
	int64	   *ids;
	Datum		arg;

	if (from >= to)
		return;
	ids = palloc(sizeof(int64) * (to - from));
	for (int32 i = from; i < to; i++)
		ids[i - from] = w->nodes[i].id;
	arg = PointerGetDatum(IdArray(ids, to - from));
	TraceExec(&batches_stmt, &arg);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		TraceNode  *n = &w->nodes[NodeFind(hash, DatumGetInt64(SlGet(r, 1, NULL)))];

		n->code = DatumGetTraceCode(SlGet(r, 2, NULL));
		n->owner = DatumGetInt64(SlGet(r, 3, NULL));
		n->qty = DatumGetQty(SlGet(r, 4, NULL));
		n->qty_left = DatumGetQty(SlGet(r, 5, NULL));
		n->on_hand = n->qty_left;
		n->loaded = true;
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(arg));
	pfree(ids);
	NodesLoadHidden(w, hash, from, to);
}

/*
 * The rows of nodes [from, to) that row-level security hid: the lots at the
 * far end of a link the caller sees, named through trace_link_end.
 */
static void
NodesLoadHidden(TraceWalk *w, TraceHash_hash *hash, int32 from, int32 to)
{
	int64	   *ids;
	Datum		arg;

	if (from >= to)
		return;
	ids = palloc(sizeof(int64) * (to - from));
	{
		int32		nhidden = 0;

		for (int32 i = from; i < to; i++)
			if (!w->nodes[i].loaded)
				ids[nhidden++] = w->nodes[i].id;
		if (nhidden > 0)
		{
			arg = PointerGetDatum(IdArray(ids, nhidden));
			TraceExec(&hidden_stmt, &arg);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				TraceNode  *n = &w->nodes[NodeFind(hash, DatumGetInt64(SlGet(r, 1, NULL)))];

				n->code = DatumGetTraceCode(SlGet(r, 2, NULL));
				n->owner = DatumGetInt64(SlGet(r, 3, NULL));
				n->qty = DatumGetQty(SlGet(r, 4, NULL));
				n->qty_left = n->qty;
				n->on_hand = n->qty;
				n->loaded = true;
				n->hidden = true;
			}
			SPI_freetuptable(SPI_tuptable);
			for (int32 i = from; i < to; i++)
				if (!w->nodes[i].loaded)
					elog(ERROR, "trace walk lost batch %lld", (long long) w->nodes[i].id);
		}
	}
	pfree(ids);
}



typedef struct TraceLinkArg
{
	TraceWalk  *w;
	TraceHash_hash *hash;
	TraceRels  *rels;
	TraceEdge **edges;
	int64	   *nedges;
	int64	   *edge_cap;
	int64		max_edges;
	TimestampTz as_of;
	int32		depth;
} TraceLinkArg;

/*
 * A link of the frontier batch idx: walked if received by as_of, read from
 * the index entry (index-only) or the heap row.
 */
static void
TraceLinkVisit(IndexScanDesc scan, TupleTableSlot *slot, bool from_index, int32 idx, void *arg)
{
	TraceLinkArg *la = arg;
	TraceRels  *r = la->rels;
	bool		isnull;
	Datum		d;
	int64		link,
				to;
	Qty			q;

	if (from_index)
	{
		IndexTuple	itup = scan->xs_itup;
		TupleDesc	desc = scan->xs_itupdesc;

		/* to_batch set: received (both directions: the key is the other end) */
		d = index_getattr(itup, r->i_to, desc, &isnull);
		if (isnull)
			return;
		to = DatumGetInt64(d);
		d = index_getattr(itup, r->i_received, desc, &isnull);
		if (isnull || DatumGetTimestampTz(d) > la->as_of)
			return;
		if (!TraceRlsVisible(&r->link_rls, &r->sets, itup, desc, NULL))
			return;
		link = DatumGetInt64(index_getattr(itup, r->i_id, desc, &isnull));
		q = DatumGetQty(index_getattr(itup, r->i_qty, desc, &isnull));
	}
	else
	{
		d = slot_getattr(slot, r->l_status, &isnull);
		if (isnull || !IsReceived(d))
			return;
		d = slot_getattr(slot, r->l_received, &isnull);
		if (isnull || DatumGetTimestampTz(d) > la->as_of)
			return;
		if (!TraceRlsVisible(&r->link_rls, &r->sets, NULL, NULL, slot))
			return;
		link = DatumGetInt64(slot_getattr(slot, r->l_id, &isnull));
		to = DatumGetInt64(slot_getattr(slot, r->l_to, &isnull));
		q = DatumGetQty(slot_getattr(slot, r->l_qty, &isnull));
	}
	TraceAddEdge(la->w, la->hash, la->edges, la->nedges, la->edge_cap, la->max_edges, la->depth, idx,
				 link, to, q);
}

typedef struct TraceLoadArg
{
	TraceWalk  *w;
	TraceRels  *r;
} TraceLoadArg;

static void
TraceLoadVisit(IndexScanDesc scan, TupleTableSlot *slot, bool from_index, int32 idx, void *arg)
{
	TraceLoadArg *la = arg;
	TraceNode  *node = &la->w->nodes[idx];
	bool		isnull;

	/*
	 * the row's columns up to the last read, deformed at once (a
	 * slot_getattr per column deformed the row four times over)
	 */
	slot_getsomeattrs(slot, la->r->b_last);
	/* a row the caller may not see: named through trace_link_end after */
	if (!TraceRlsVisible(&la->r->batch_rls, &la->r->sets, NULL, NULL, slot))
		return;
	node->code = DatumGetTraceCode(slot_getattr(slot, la->r->b_code, &isnull));
	node->owner = DatumGetInt64(slot_getattr(slot, la->r->b_owner, &isnull));
	node->qty = DatumGetQty(slot_getattr(slot, la->r->b_qty, &isnull));
	node->qty_left = DatumGetQty(slot_getattr(slot, la->r->b_left, &isnull));
	node->on_hand = node->qty_left;
	node->loaded = true;
}

#ifdef TRACE_SWEEP
/* a min-heap of reached lots by id: the sweep's order */
static void
TraceHeapPush(TraceIdIdx **h, int32 *n, int32 *cap, int64 id, int32 idx)
{
	int32		i;

	if (*n == *cap)
	{
		*cap *= 2;
		*h = repalloc_huge(*h, sizeof(TraceIdIdx) * *cap);
	}
	for (i = (*n)++; i > 0; i = (i - 1) / 2)
	{
		if ((*h)[(i - 1) / 2].id <= id)
			break;
		(*h)[i] = (*h)[(i - 1) / 2];
	}
	(*h)[i].id = id;
	(*h)[i].idx = idx;
}

static TraceIdIdx
TraceHeapPop(TraceIdIdx *h, int32 *n)
{
	TraceIdIdx	top = h[0],
				x = h[--(*n)];
	int32		i = 0;

	for (;;)
	{
		int32		c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1].id < h[c].id)
			c++;
		if (x.id <= h[c].id)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
	return top;
}

/*
 * The heap TIDs of the lots' rows, queued while they are on one heap page
 * (the lots come in id order, and so mostly do their rows): the page is
 * share-locked once for all of them, each TID's HOT chain searched as
 * heapam_index_fetch_tuple searches an index scan's (heap_page_prune_opt
 * when it moves to the page, heap_hot_search_buffer, which applies the
 * snapshot and the predicate locks), the visible version loaded by
 * TraceLoadVisit, rather than a lock and a fetch per row.
 */
#define TRACE_ROW_QUEUE		256

typedef struct TraceRowQueue
{
	Relation	rel;
	Snapshot	snapshot;
	IndexScanDesc scan;			/* batch_pkey's: its statistics */
	Buffer		buf;			/* the heap page last read: pinned */
	BlockNumber blk;			/* the queued TIDs' page */
	int			n;
	ItemPointerData tid[TRACE_ROW_QUEUE];
	int32		idx[TRACE_ROW_QUEUE];
} TraceRowQueue;

/*
 * A visible row's columns read in place, as fastgetattr reads a column at
 * its cached offset, when they are at fixed offsets (b_fixed: the row has
 * all of them, none null) and no policy is to be applied: else false.
 */
static inline bool
TraceRowRead(TraceRels *r, HeapTuple tuple, TraceNode *node)
{
	HeapTupleHeader h = tuple->t_data;
	char	   *data;

	if (!r->b_fixed || !r->batch_rls.all || HeapTupleHeaderGetNatts(h) < r->b_last)
		return false;
	if (HeapTupleHasNulls(tuple))
		for (int i = 0; i < r->b_last; i++)
			if (att_isnull(i, h->t_bits))
				return false;
	data = (char *) h + h->t_hoff;
	node->code = DatumGetTraceCode(fetch_att(data + r->b_off[r->b_code - 1], true, 8));
	node->owner = DatumGetInt64(fetch_att(data + r->b_off[r->b_owner - 1], true, 8));
	node->qty = DatumGetQty(fetch_att(data + r->b_off[r->b_qty - 1], true, 8));
	node->qty_left = DatumGetQty(fetch_att(data + r->b_off[r->b_left - 1], true, 8));
	node->on_hand = node->qty_left;
	node->loaded = true;
	return true;
}

static void
TraceRowFlush(TraceRowQueue *q, TupleTableSlot *slot, TraceLoadArg *ba)
{
	if (q->n == 0)
		return;
	if (!BufferIsValid(q->buf) || BufferGetBlockNumber(q->buf) != q->blk)
	{
		q->buf = ReleaseAndReadBuffer(q->buf, q->rel, q->blk);
		heap_page_prune_opt(q->rel, q->buf);
	}
	LockBuffer(q->buf, BUFFER_LOCK_SHARE);
	for (int i = 0; i < q->n; i++)
	{
		HeapTupleData tuple;
		bool		all_dead = false;

		if (heap_hot_search_buffer(&q->tid[i], q->rel, q->buf, q->snapshot, &tuple, &all_dead, true))
		{
			pgstat_count_heap_fetch(q->scan->indexRelation);
			if (TraceRowRead(ba->r, &tuple, &ba->w->nodes[q->idx[i]]))
				continue;
			tuple.t_tableOid = RelationGetRelid(q->rel);
			ExecStoreBufferHeapTuple(&tuple, slot, q->buf);
			TraceLoadVisit(NULL, slot, false, q->idx[i], ba);
		}
	}
	LockBuffer(q->buf, BUFFER_LOCK_UNLOCK);
	ExecClearTuple(slot);
	q->n = 0;
}

/*
 * Lot u's row, read as the sweep reaches it: its entries in batch_pkey by
 * the leaf reader (the lots come in id order, so the same leaf page or the
 * next), each heap TID (a posting list holds the versions of one row)
 * queued for its page (TraceRowFlush), the visible version loaded as
 * NodesLoadDirect loads it.
 */
static void
TraceSweepLoad(TraceLeafReader *br, TraceRowQueue *q, TupleTableSlot *bslot,
			   TraceIdIdx u, TraceLoadArg *ba)
{
	TraceLeafRead(br, u.id, q->snapshot);
	for (int i = 0; i < br->n; i++)
	{
		IndexTuple	itup = br->tup[i];
		bool		posting = BTreeTupleIsPosting(itup);
		int			ntids = posting ? BTreeTupleGetNPosting(itup) : 1;

		for (int t = 0; t < ntids; t++)
		{
			ItemPointer tid = posting ? BTreeTupleGetPostingN(itup, t) : &itup->t_tid;

			if (q->n == TRACE_ROW_QUEUE || (q->n > 0 && ItemPointerGetBlockNumber(tid) != q->blk))
				TraceRowFlush(q, bslot, ba);
			q->blk = ItemPointerGetBlockNumber(tid);
			q->tid[q->n] = *tid;
			q->idx[q->n] = u.idx;
			q->n++;
		}
	}
}

/*
 * The forward walk as one sweep in id order (see "the forward sweep"):
 * every reached lot probed once, its links (edges) appended together, so
 * that lot u's are edges [start[u], start[u] + count[u]). Where batch_pkey
 * can be read the same way, each lot's row is loaded as it is reached
 * (*loaded_p true); else NodesLoadDirect loads them after.
 */
static void
TraceSweep(TraceWalk *w, TraceRels *rels, IndexScanDesc scan, TupleTableSlot *slot,
		   TraceLinkArg *la, int64 **start_p, int32 **count_p, bool *loaded_p)
{
	TraceLeafReader r,
				br;
	bool		load = TraceLeafUsable(rels->batch_idx, true);
	IndexScanDesc bscan = NULL;
	TupleTableSlot *bslot = NULL;
	TraceRowQueue *rows = NULL;
	TraceLoadArg ba = {w, rels};
	Snapshot	snapshot = scan->xs_snapshot;
	int32		nheap = 0,
				heap_cap = 1024,
				span_cap = w->cap;
	TraceIdIdx *heap = palloc(sizeof(TraceIdIdx) * heap_cap);
	int64	   *start = palloc(sizeof(int64) * span_cap);
	int32	   *count = palloc(sizeof(int32) * span_cap);

	TraceLeafBegin(&r, rels->link_idx, scan, false);
	if (load)
	{
		bslot = table_slot_create(rels->batch, NULL);
		bscan = index_beginscan(rels->batch, rels->batch_idx, snapshot, 0, 0);
		TraceLeafBegin(&br, rels->batch_idx, bscan, true);
		rows = palloc(sizeof(TraceRowQueue));
		rows->rel = rels->batch;
		rows->snapshot = snapshot;
		rows->scan = bscan;
		rows->buf = InvalidBuffer;
		rows->n = 0;
	}
	la->depth = 0;				/* depths are the levels', set after */
	TraceHeapPush(&heap, &nheap, &heap_cap, w->nodes[0].id, 0);
	while (nheap > 0)
	{
		TraceIdIdx	u = TraceHeapPop(heap, &nheap);
		int32		before = w->n;

		CHECK_FOR_INTERRUPTS();
		if (u.idx >= span_cap)
		{
			span_cap = w->cap;
			start = repalloc_huge(start, sizeof(int64) * span_cap);
			count = repalloc_huge(count, sizeof(int32) * span_cap);
		}
		if (load && u.idx > 0)	/* the root's row is loaded */
			TraceSweepLoad(&br, rows, bslot, u, &ba);
		start[u.idx] = *la->nedges;
		TraceLeafRead(&r, u.id, snapshot);
		for (int i = 0; i < r.n; i++)
		{
			IndexTuple	itup = r.tup[i];
			BlockNumber blk = ItemPointerGetBlockNumber(&itup->t_tid);

			if (rels->ioscan && VM_ALL_VISIBLE(rels->link, blk, &rels->vmbuf))
			{
				/* as nodeIndexonlyscan.c: the page, not the tuple, is locked */
				PredicateLockPage(rels->link, blk, snapshot);
				scan->xs_itup = itup;
				TraceLinkVisit(scan, slot, true, u.idx, la);
			}
			else
			{
				/*
				 * what index_getnext_tid leaves for index_fetch_heap: the TID,
				 * and no HOT chain being followed (an MVCC snapshot sees one
				 * member of a chain; the scan was never rescanned, which is
				 * where the flag is otherwise cleared)
				 */
				scan->xs_heaptid = itup->t_tid;
				scan->xs_heap_continue = false;
				if (index_fetch_heap(scan, slot))
					TraceLinkVisit(scan, slot, false, u.idx, la);
			}
		}
		count[u.idx] = (int32) (*la->nedges - start[u.idx]);
		for (int32 v = before; v < w->n; v++)
			TraceHeapPush(&heap, &nheap, &heap_cap, w->nodes[v].id, v);
	}
	scan->xs_itup = NULL;
	scan->kill_prior_tuple = false;
	if (load)
	{
		elog(DEBUG1, "trace walk: one sweep in id order over %d lots: %lld descents of %s, %lld steps right; their rows: %lld descents of %s, %lld steps right",
			 w->n, (long long) r.descents, RelationGetRelationName(r.idx), (long long) r.steps,
			 (long long) br.descents, RelationGetRelationName(br.idx), (long long) br.steps);
		TraceRowFlush(rows, bslot, &ba);
		if (BufferIsValid(rows->buf))
			ReleaseBuffer(rows->buf);
		pfree(rows);
		bscan->kill_prior_tuple = false;
		TraceLeafEnd(&br);
		index_endscan(bscan);
		ExecDropSingleTupleTableSlot(bslot);
	}
	else
		elog(DEBUG1, "trace walk: one sweep in id order over %d lots: %lld descents of %s, %lld steps right",
			 w->n, (long long) r.descents, RelationGetRelationName(r.idx), (long long) r.steps);
	TraceLeafEnd(&r);
	pfree(heap);
	*start_p = start;
	*count_p = count;
	*loaded_p = load;
}

/*
 * After the sweep, what the level walk would have made: breadth first from
 * the root, each level's lots in id order and each lot's links in index
 * order, so the same depth and first link (the lowest depth, then the lowest
 * link id) for every lot, and the nodes in the same order (renumbered in
 * place, the edges and the hash table with them). Each lot's edges are in
 * index order already, which is all TracePropagate's order depends on.
 */
static void
TraceSweepLevels(TraceWalk *w, TraceHash_hash *hash, TraceEdge *edges, int64 nedges,
				 const int64 *start, const int32 *count)
{
	int32		n = w->n;
	int32	   *newidx = palloc(sizeof(int32) * n);
	int32	   *order = palloc(sizeof(int32) * n);	/* order[new] = old */
	TraceIdIdx *level = palloc(sizeof(TraceIdIdx) * n);
	int64		ne = 0;
	int32		numbered = 1,
				from = 0,
				to = 1,
				depth = 0;

	for (int32 i = 0; i < n; i++)
		newidx[i] = -1;
	newidx[0] = 0;
	order[0] = 0;
	w->nodes[0].depth = 0;
	w->nodes[0].via_link = 0;
	while (from < to)
	{
		int32		m = to - from;

		for (int32 i = 0; i < m; i++)
		{
			level[i].id = w->nodes[order[from + i]].id;
			level[i].idx = order[from + i];
		}
		TraceSortIds(level, m);
		for (int32 i = 0; i < m; i++)
		{
			int32		u = level[i].idx;

			for (int64 e = start[u]; e < start[u] + count[u]; e++)
			{
				int32		v = edges[e].v;
				TraceNode  *nv = &w->nodes[v];

				if (newidx[v] < 0)
				{
					newidx[v] = numbered;
					order[numbered++] = v;
					nv->depth = depth + 1;
					nv->via_link = edges[e].link;
				}
				else if (nv->depth == depth + 1 && edges[e].link < nv->via_link)
					nv->via_link = edges[e].link;
				ne++;
			}
		}
		from = to;
		to = numbered;
		depth++;
	}
	if (numbered != n || ne != nedges)
		elog(ERROR, "trace walk: the sweep's levels lost batches");
	for (int64 e = 0; e < nedges; e++)
	{
		edges[e].u = newidx[edges[e].u];
		edges[e].v = newidx[edges[e].v];
	}
	/* position j takes node order[j]: cycle by cycle, -1 marking the done */
	for (int32 i = 0; i < n; i++)
	{
		TraceNode	carry;
		int32		at = i;

		if (order[i] < 0)
			continue;
		carry = w->nodes[i];
		while (order[at] != i)
		{
			int32		from = order[at];

			w->nodes[at] = w->nodes[from];
			order[at] = -1;
			at = from;
		}
		w->nodes[at] = carry;
		order[at] = -1;
	}
	/* the table's entries in their own order: no probe per node */
	{
		TraceHash_iterator it;
		TraceHashEntry *e;

		TraceHash_start_iterate(hash, &it);
		while ((e = TraceHash_iterate(hash, &it)) != NULL)
			e->idx = newidx[e->idx];
	}
	pfree(newidx);
	pfree(order);
	pfree(level);
}
#endif							/* TRACE_SWEEP */

/*
 * Fill code, owner, qty, qty_left of nodes [from, to) by index probes in id
 * order; those the caller's policies hide, through trace_link_end.
 */
static void NodesLoadRest(TraceWalk *w, TraceHash_hash *hash, TraceRels *r, int32 from, int32 to);

static void
NodesLoadDirect(TraceWalk *w, TraceHash_hash *hash, TraceRels *r, int32 from, int32 to)
{
	int32		n = to - from;
	TraceIdIdx *order;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	if (n <= 0)
		return;
	order = palloc(sizeof(TraceIdIdx) * n);
	for (int32 i = 0; i < n; i++)
	{
		order[i].id = w->nodes[from + i].id;
		order[i].idx = from + i;
	}
	TraceSortIds(order, n);
	slot = table_slot_create(r->batch, NULL);
	scan = index_beginscan(r->batch, r->batch_idx, GetActiveSnapshot(), 2, 0);
	scan->xs_want_itup = true;
	{
		TraceLoadArg la = {w, r};

		TraceProbeSorted(scan, slot, false, NULL, order, n, TraceLoadVisit, &la);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	pfree(order);
	NodesLoadRest(w, hash, r, from, to);
}

/*
 * After the rows of nodes [from, to) were read: with no policy every one was
 * there; else those the caller's policies hid, through trace_link_end.
 */
static void
NodesLoadRest(TraceWalk *w, TraceHash_hash *hash, TraceRels *r, int32 from, int32 to)
{
	if (r->batch_rls.all)
	{
		for (int32 i = from; i < to; i++)
			if (!w->nodes[i].loaded)
				elog(ERROR, "trace walk lost batch %lld", (long long) w->nodes[i].id);
	}
	else
		NodesLoadHidden(w, hash, from, to);
}

/*
 * The root by its code, as the caller may see it (node 0): through
 * batch_trace_code_key and the caller's batch policies, or by a query.
 */
static bool
TraceRootDirect(TraceWalk *w, TraceHash_hash *hash, TraceRels *r, Datum code)
{
	Relation	idx = index_open(TraceRelid(get_namespace_oid("shilian", false), "batch_trace_code_key"),
								 AccessShareLock);
	Oid			eqop = get_opfamily_member(idx->rd_opfamily[0], idx->rd_opcintype[0],
										   idx->rd_opcintype[0], BTEqualStrategyNumber);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found = false;

	if (!OidIsValid(eqop))
		elog(ERROR, "no equality operator for batch_trace_code_key");
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, idx->rd_opcintype[0],
						   idx->rd_indcollation[0], get_opcode(eqop), code);
	slot = table_slot_create(r->batch, NULL);
	scan = index_beginscan(r->batch, idx, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot) &&
		TraceRlsVisible(&r->batch_rls, &r->sets, NULL, NULL, slot))
	{
		TraceLoadArg la = {w, r};
		bool		isnull;

		NodeAdd(w, hash, DatumGetInt64(slot_getattr(slot, r->b_id, &isnull)), 0, 0);
		TraceLoadVisit(scan, slot, false, 0, &la);
		found = true;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	return found;
}

static bool
TraceRootSpi(TraceWalk *w, TraceHash_hash *hash, Datum code)
{
	TraceNode  *n;

	TraceExec(&root_stmt, &code);
	if (SPI_processed == 0)
		return false;
	NodeAdd(w, hash, DatumGetInt64(SlGet(0, 1, NULL)), 0, 0);
	n = &w->nodes[0];
	n->code = DatumGetTraceCode(SlGet(0, 2, NULL));
	n->owner = DatumGetInt64(SlGet(0, 3, NULL));
	n->qty = DatumGetQty(SlGet(0, 4, NULL));
	n->qty_left = DatumGetQty(SlGet(0, 5, NULL));
	n->on_hand = n->qty_left;
	n->loaded = true;
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* a / b for two quantities of one dimension (0 when b is not positive). */
static double
QtyShare(Qty a, Qty b)
{
	int64		bm = QtyMilli(b);

	if (bm <= 0)
		return 0.0;
	return (double) QtyMilli(a) / (double) bm;
}

/*
 * Propagate the shares in topological order of the reached sub-graph (Kahn):
 * a batch's share is final once every reached link into it has been summed,
 * so a batch reached by several paths gets the sum over all of them.
 *   forward:  share(v) += share(u) * q / qty(u)   (fraction of the suspect lot in v)
 *   backward: share(v) += share(u) * q / qty(v)   (fraction of v that went into the suspect lot)
 */
static void
TracePropagate(TraceWalk *w, TraceEdge *edges, int64 nedges)
{
	int32	   *indeg = palloc0(sizeof(int32) * w->n);
	int64	   *start = palloc0(sizeof(int64) * (w->n + 1));
	int64	   *order = palloc(sizeof(int64) * Max(nedges, 1));
	int32	   *queue = palloc(sizeof(int32) * w->n);
	int32		head = 0,
				tail = 0;

	/* edges grouped by u (counting sort) */
	for (int64 e = 0; e < nedges; e++)
	{
		start[edges[e].u + 1]++;
		indeg[edges[e].v]++;
	}
	for (int32 i = 0; i < w->n; i++)
		start[i + 1] += start[i];
	{
		int64	   *fill = palloc(sizeof(int64) * w->n);

		memcpy(fill, start, sizeof(int64) * w->n);
		for (int64 e = 0; e < nedges; e++)
			order[fill[edges[e].u]++] = e;
		pfree(fill);
	}

	w->nodes[0].share = 1.0;
	for (int32 i = 0; i < w->n; i++)
		if (indeg[i] == 0)
			queue[tail++] = i;
	while (head < tail)
	{
		int32		u = queue[head++];

		if ((head & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 k = start[u]; k < start[u + 1]; k++)
		{
			TraceEdge  *e = &edges[order[k]];
			TraceNode  *from = &w->nodes[u];
			TraceNode  *to = &w->nodes[e->v];

			to->share += from->share * QtyShare(e->q, w->forward ? from->qty : to->qty);
			if (--indeg[e->v] == 0)
				queue[tail++] = e->v;
		}
	}
	/* the graph is acyclic (records refuse cycles), so every batch was reached */
	if (tail != w->n)
		elog(ERROR, "trace found a cycle in the batch graph");
	pfree(indeg);
	pfree(start);
	pfree(order);
	pfree(queue);
}

/* On hand as of a past moment, for every reached batch: one query. */
static void
TraceOnHandAsOf(TraceWalk *w, TraceHash_hash *hash, TimestampTz as_of)
{
	int64	   *ids = palloc(sizeof(int64) * w->n);
	Datum		args[2];

	for (int32 i = 0; i < w->n; i++)
		ids[i] = w->nodes[i].id;
	args[0] = PointerGetDatum(IdArray(ids, w->n));
	args[1] = TimestampTzGetDatum(as_of);
	TraceExec(&as_of_stmt, args);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		TraceNode  *n = &w->nodes[NodeFind(hash, DatumGetInt64(SlGet(r, 1, NULL)))];
		Qty			d = DatumGetQty(SlGet(r, 2, NULL));

		if (QtySameDimension(n->on_hand, d))
			n->on_hand = QtyAdd(n->on_hand, d);
	}
	SPI_freetuptable(SPI_tuptable);
	for (int32 i = 0; i < w->n; i++)
	{
		TraceNode  *n = &w->nodes[i];

		if (QtyMilli(n->on_hand) < 0)
			n->on_hand = QtyZero(QtyGetDimension(n->on_hand));
		if (QtyMilli(n->on_hand) > QtyMilli(n->qty))
			n->on_hand = n->qty;
	}
	pfree(ids);
}

void
TraceWalkRun(TraceWalk *w, TraceCode root, bool forward, int max_depth, TimestampTz as_of,
			 MemoryContext result_cxt)
{
	TraceHash_hash *hash;
	SlStmt	   *level = forward ? &forward_level_stmt : &backward_level_stmt;
	int64		max_edges = (int64) shilian_trace_max_batches * TRACE_LINKS_PER_BATCH;
	int64		nedges = 0,
				edge_cap = 1024;
	TraceEdge  *edges;
	int32		level_from,
				level_to,
				depth = 0;
	Datum		arg;
	TraceRels	rels = {0};
	bool		direct;
	IndexScanDesc scan = NULL;
	TupleTableSlot *slot = NULL;
	TraceIdIdx *order = NULL;
	int32		order_cap = 0;
	TraceLinkArg la;
	bool		swept_rows = false;	/* the sweep loaded the lots' rows */

	memset(w, 0, sizeof(*w));
	la.w = w;
	la.rels = &rels;
	la.edges = &edges;
	la.nedges = &nedges;
	la.edge_cap = &edge_cap;
	la.max_edges = max_edges;
	la.as_of = as_of;
	w->forward = forward;
	w->cap = 1024;
	/* the nodes outlive SPI_finish; edges, hash and query results do not */
	w->nodes = MemoryContextAllocExtended(result_cxt, sizeof(TraceNode) * w->cap, MCXT_ALLOC_HUGE);
	edges = palloc_extended(sizeof(TraceEdge) * edge_cap, MCXT_ALLOC_HUGE);

	hash = TraceHash_create(CurrentMemoryContext, 1024, NULL);
	la.hash = hash;

	arg = TraceCodeGetDatum(root);
	direct = TraceRelsOpen(&rels, forward);
	if (direct ? !TraceRootDirect(w, hash, &rels, arg) : !TraceRootSpi(w, hash, arg))
		ereport(ERROR,
				(errcode(SL_UNKNOWN_BATCH),
				 errmsg("unknown batch %s", TraceCodeToCString(root)),
				 errdetail("No batch has this trace code.")));

	level_from = 0;
	level_to = 1;
	if (direct)
	{
		slot = table_slot_create(rels.link, NULL);
		scan = index_beginscan(rels.link, rels.link_idx, GetActiveSnapshot(), 2, 0);
		scan->xs_want_itup = true;
		order = palloc(sizeof(TraceIdIdx) * 1024);
		order_cap = 1024;
	}
#ifdef TRACE_SWEEP
	if (direct && forward && max_depth < 0 && TraceLeafUsable(rels.link_idx, false))
	{
		int64	   *start;
		int32	   *count;

		TraceSweep(w, &rels, scan, slot, &la, &start, &count, &swept_rows);
		TraceSweepLevels(w, hash, edges, nedges, start, count);
		pfree(start);
		pfree(count);
		level_from = level_to = w->n;	/* no level left to walk */
	}
#endif
	while (level_from < level_to && (max_depth < 0 || depth < max_depth))
	{
		CHECK_FOR_INTERRUPTS();
		if (direct)
		{
			int32		n = level_to - level_from;

			/* probe the frontier in id order: neighbouring index and heap pages */
			if (n > order_cap)
			{
				order_cap = Max(n, order_cap * 2);
				order = repalloc_huge(order, sizeof(TraceIdIdx) * order_cap);
			}
			for (int32 i = 0; i < n; i++)
			{
				order[i].id = w->nodes[level_from + i].id;
				order[i].idx = level_from + i;
			}
			TraceSortIds(order, n);
			la.depth = depth;
			TraceProbeSorted(scan, slot, rels.ioscan, &rels.vmbuf, order, n, TraceLinkVisit, &la);
		}
		else
		{
			int64	   *ids = palloc(sizeof(int64) * (level_to - level_from));
			Datum		args[2];

			for (int32 i = level_from; i < level_to; i++)
				ids[i - level_from] = w->nodes[i].id;
			args[0] = PointerGetDatum(IdArray(ids, level_to - level_from));
			args[1] = TimestampTzGetDatum(as_of);
			TraceExec(level, args);
			pfree(ids);
			pfree(DatumGetPointer(args[0]));
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				if ((r & 1023) == 1023)
					CHECK_FOR_INTERRUPTS();
				TraceAddEdge(w, hash, &edges, &nedges, &edge_cap, max_edges, depth,
							 NodeFind(hash, DatumGetInt64(SlGet(r, 2, NULL))),
							 DatumGetInt64(SlGet(r, 1, NULL)),
							 DatumGetInt64(SlGet(r, 3, NULL)),
							 DatumGetQty(SlGet(r, 4, NULL)));
			}
			SPI_freetuptable(SPI_tuptable);
		}
		level_from = level_to;
		level_to = w->n;
		depth++;
	}
	/* the reached batches' rows, in id order (the root's is loaded) */
	if (direct)
	{
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		pfree(order);
		if (swept_rows)
			NodesLoadRest(w, hash, &rels, 1, w->n);
		else
			NodesLoadDirect(w, hash, &rels, 1, w->n);
		TraceRelsClose(&rels);
	}
	else
		NodesLoad(w, hash, 1, w->n);

	TracePropagate(w, edges, nedges);
	if (as_of < GetCurrentTransactionStartTimestamp())
		TraceOnHandAsOf(w, hash, as_of);
	for (int32 i = 0; i < w->n; i++)
	{
		TraceNode  *n = &w->nodes[i];
		Qty			unit = forward ? w->nodes[0].qty : n->qty;
		double		m = n->share * (double) QtyMilli(unit);

		n->reached = QtyFromMilli(QtyGetDimension(unit), (int64) llround(m));
	}
	pfree(edges);
	TraceHash_destroy(hash);
}

/* The text of a node's status: origin, on_hand or depleted. */
const char *
TraceNodeStatus(const TraceNode *n)
{
	if (n->depth == 0)
		return "origin";
	if (n->hidden)
		return "other_holder";
	return QtyMilli(n->on_hand) > 0 ? "on_hand" : "depleted";
}

/*
 * The result rows, formed by patching a template: a row's columns are
 * by-value fixed-width ones but for a last text (the status word, one of
 * four), so that rows with the same nulls and status differ only in the
 * bytes of those columns, at offsets that nulls and status fix. The first
 * row of each such shape is formed by heap_form_minimal_tuple, the bytes of
 * the next ones stored into it where heap_fill_tuple stores them, and the
 * result copied into the tuplestore (tuplestore_puttupleslot): the same
 * bytes as tuplestore_putvalues forms, without computing the layout per row
 * (a fifth of the hub lot's walk in callgrind).
 */
#define TRACE_ROW_SHAPES	16

typedef struct TraceRowShape
{
	int			key;			/* nulls and status */
	MinimalTuple tmpl;
	char	   *data;			/* its columns' data */
	int16		off[8];			/* each by-value column's offset in data */
} TraceRowShape;

typedef struct TraceRowPut
{
	Tuplestorestate *store;
	TupleDesc	desc;
	TupleTableSlot *slot;
	bool		fast;			/* the columns are of that kind */
	int			nshapes;
	TraceRowShape shapes[TRACE_ROW_SHAPES];
} TraceRowPut;

static void
TraceRowPutBegin(TraceRowPut *p, Tuplestorestate *store, TupleDesc desc)
{
	memset(p, 0, sizeof(*p));
	p->store = store;
	p->desc = desc;
	p->fast = desc->natts <= 8;
	for (int i = 0; p->fast && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			p->fast = false;
		else if (att->attlen == -1)
			p->fast = i == desc->natts - 1;
		else
			p->fast = att->attbyval && (att->attlen == 1 || att->attlen == 2 ||
										att->attlen == 4 || att->attlen == 8);
	}
	if (p->fast)
		p->slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
}

/* a row: key names its nulls and, when the last column is a text, that text */
static void
TraceRowPutValues(TraceRowPut *p, Datum *values, bool *nulls, int key)
{
	TraceRowShape *s = NULL;

	if (p->fast)
	{
		for (int i = 0; i < p->nshapes; i++)
			if (p->shapes[i].key == key)
			{
				s = &p->shapes[i];
				break;
			}
		if (s == NULL && p->nshapes < TRACE_ROW_SHAPES)
		{
			int32		off = 0;

			s = &p->shapes[p->nshapes++];
			s->key = key;
			s->tmpl = heap_form_minimal_tuple(p->desc, values, nulls);
			s->data = (char *) s->tmpl + s->tmpl->t_hoff - MINIMAL_TUPLE_OFFSET;
			for (int i = 0; i < p->desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(p->desc, i);

				s->off[i] = -1;
				if (nulls[i] || att->attlen < 0)
					continue;
				off = att_align_nominal(off, att->attalign);
				s->off[i] = (int16) off;
				off += att->attlen;
			}
		}
		else if (s != NULL)
		{
			for (int i = 0; i < p->desc->natts; i++)
				if (s->off[i] >= 0)
					store_att_byval(s->data + s->off[i], values[i], TupleDescAttr(p->desc, i)->attlen);
		}
	}
	if (s == NULL)
	{
		tuplestore_putvalues(p->store, p->desc, values, nulls);
		return;
	}
	ExecStoreMinimalTuple(s->tmpl, p->slot, false);
	tuplestore_puttupleslot(p->store, p->slot);
}

static void
TraceRowPutEnd(TraceRowPut *p)
{
	if (p->slot != NULL)
		ExecDropSingleTupleTableSlot(p->slot);
	for (int i = 0; i < p->nshapes; i++)
		pfree(p->shapes[i].tmpl);
}

/*
 * The walk's rows: trace_forward / trace_backward (code, max_depth, as_of),
 * or with ids for trace_targets (code, direction): the batch id first, no
 * status, no bound, as of now.
 */
static Datum
TraceSrf(FunctionCallInfo fcinfo, bool forward, bool ids)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TraceCode	root;
	int			max_depth = -1;
	TimestampTz as_of;
	TraceWalk	w;
	MemoryContext caller_cxt;
	const char *status_word[4];
	Datum		status_text[4];
	int			nstatus = 0;
	TraceRowPut put;

	RecordRequire(fcinfo, 0, "code");
	root = PG_GETARG_TRACE_CODE(0);
	if (ids)
		;
	else if (!PG_ARGISNULL(1))
	{
		max_depth = PG_GETARG_INT32(1);
		if (max_depth < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_depth must not be negative"),
					 errhint("Pass NULL for a walk without a depth bound.")));
	}
	as_of = ids || PG_ARGISNULL(2) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(2);

	InitMaterializedSRF(fcinfo, 0);
	caller_cxt = CurrentMemoryContext;
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TraceWalkRun(&w, root, forward, max_depth, as_of, caller_cxt);
	SPI_finish();

	/*
	 * The rows are about the size of the walk's nodes, which are in memory
	 * already (bounded by shilian.trace_max_batches): the result is kept in
	 * memory up to twice their size rather than work_mem, so that a wide
	 * walk's rows are not written to a temporary file and read back (5 % of
	 * the hub lot's 35,000-row walk in perf).
	 */
	{
		int64		kb = (int64) w.n * sizeof(TraceNode) * 2 / 1024;

		if (kb > work_mem)
		{
			MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

			tuplestore_end(rsinfo->setResult);
			rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
													  false, (int) Min(kb, MAX_KILOBYTES));
			MemoryContextSwitchTo(old);
		}
	}

	TraceRowPutBegin(&put, rsinfo->setResult, rsinfo->setDesc);
	for (int32 i = 0; i < w.n; i++)
	{
		TraceNode  *n = &w.nodes[i];
		Datum		values[8];
		bool		nulls[8] = {false};
		int			key = (n->depth == 0) | (n->hidden << 1);

		if (ids)
		{
			values[0] = Int64GetDatum(n->id);
			values[1] = TraceCodeGetDatum(n->code);
			values[2] = Int64GetDatum(n->owner);
			values[3] = Int32GetDatum(n->depth);
			values[4] = Int64GetDatum(n->via_link);
			nulls[4] = n->depth == 0;
			values[5] = QtyGetDatum(n->reached);
			values[6] = QtyGetDatum(n->on_hand);
			nulls[6] = n->hidden;
			TraceRowPutValues(&put, values, nulls, key);
			continue;
		}
		values[0] = TraceCodeGetDatum(n->code);
		values[1] = Int64GetDatum(n->owner);
		values[2] = Int32GetDatum(n->depth);
		values[3] = Int64GetDatum(n->via_link);
		nulls[3] = n->depth == 0;
		values[4] = QtyGetDatum(n->reached);
		values[5] = QtyGetDatum(n->on_hand);
		nulls[5] = n->hidden;	/* another holder's stock is not the caller's to see */
		{
			/* a text per status word, not per row (TraceNodeStatus's literals) */
			const char *st = TraceNodeStatus(n);
			int			k = 0;

			while (k < nstatus && status_word[k] != st)
				k++;
			if (k == nstatus)
			{
				Assert(nstatus < (int) lengthof(status_word));
				status_word[k] = st;
				status_text[k] = CStringGetTextDatum(st);
				nstatus++;
			}
			values[6] = status_text[k];
			key |= k << 2;
		}
		TraceRowPutValues(&put, values, nulls, key);
	}
	TraceRowPutEnd(&put);
	pfree(w.nodes);
	return (Datum) 0;
}

/* trace_forward(code, max_depth, as_of): every batch downstream of code. */
PG_FUNCTION_INFO_V1(sl_trace_forward);
Datum
sl_trace_forward(PG_FUNCTION_ARGS)
{
	return TraceSrf(fcinfo, true, false);
}

/* trace_backward(code, max_depth, as_of): every batch upstream of code. */
PG_FUNCTION_INFO_V1(sl_trace_backward);
Datum
sl_trace_backward(PG_FUNCTION_ARGS)
{
	return TraceSrf(fcinfo, false, false);
}

/*
 * trace_targets(code, direction): the walk with each batch's id, for
 * recall_open (no join back to batch by trace code).
 */
PG_FUNCTION_INFO_V1(sl_trace_targets);
Datum
sl_trace_targets(PG_FUNCTION_ARGS)
{
	text	   *dir = PG_GETARG_TEXT_PP(1);
	char	   *d = text_to_cstring(dir);

	if (strcmp(d, "forward") == 0)
		return TraceSrf(fcinfo, true, true);
	if (strcmp(d, "backward") == 0)
		return TraceSrf(fcinfo, false, true);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown trace direction \"%s\"", d),
			 errhint("Use \"forward\" or \"backward\".")));
	return (Datum) 0;
}

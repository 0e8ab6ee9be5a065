/*
 * merkle_log.c — the Merkle log over all ledger entries: checkpoint()
 * assigns leaf indices and stores the new subtree roots, the proof functions
 * read those roots back, and log_verify() rebuilds the tree from the ledger.
 * The tree arithmetic itself is core/merkle.c.
 */
#include "shilian.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "ledger_internal.h"
#include "merkle.h"

/* merkle_node keeps the roots of complete subtrees at every NODE_STRIDE-th level. */
#define NODE_STRIDE 4
#define CHECKPOINT_BATCH 10000

/*
 * A hasher over the backend's digest context (hash.c): nothing to free, so
 * no error between here and the end of the caller can leak an OpenSSL
 * context. The struct lives in the caller's frame.
 */
static SlHasher
MakeHasher(SlDigestAlg alg)
{
	SlHasher	h;

	h.alg = alg;
	h.ctx = LedgerDigestCtx();
	return h;
}

static void
HashFailed(SlHasher *h)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not compute %s digest", sl_digest_name(h->alg)),
			 errdetail("OpenSSL refused the operation; is the SM3 provider available?")));
}

static void
LogDamaged(const char *detail)
{
	ereport(ERROR,
			(errcode(SL_ERRCODE('L', '2', '4')),
			 errmsg("the ledger's Merkle log is damaged"),
			 errdetail("%s", detail),
			 errhint("Run shilian.log_verify() and shilian.chain_verify().")));
}

static bytea *
GetBytea32(HeapTuple t, TupleDesc d, int col, const char *what)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);
	bytea	   *b;

	if (isnull)
		LogDamaged(psprintf("A stored %s is null.", what));
	b = DatumGetByteaPP(v);
	if (VARSIZE_ANY_EXHDR(b) != SL_DIGEST_LEN)
		LogDamaged(psprintf("A stored %s is not %d bytes long.", what, SL_DIGEST_LEN));
	return b;
}

/* ---- the latest checkpoint --------------------------------------------------- */

typedef struct Head
{
	bool		exists;
	int64		tree_size;
	SlDigestAlg alg;
	int64		last_entry_id;
	uint8_t		root[SL_DIGEST_LEN];
	SlFrontier	frontier;
	TimestampTz created_at;
} Head;

/*
 * Inside SPI. fresh: read with a new snapshot (checkpoint(), after its lock
 * wait: the statement's snapshot predates the checkpoint it waited for).
 */
static void
LatestHead(Head *head, bool fresh)
{
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	bytea	   *fr;

	memset(head, 0, sizeof(*head));
	if (SPI_execute("SELECT tree_size, alg, last_entry_id, root, frontier, created_at "
					"FROM shilian.checkpoint ORDER BY tree_size DESC LIMIT 1", !fresh, 1) != SPI_OK_SELECT)
		elog(ERROR, "checkpoint lookup failed");
	if (SPI_processed == 0)
	{
		sl_frontier_init(&head->frontier);
		return;
	}
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	head->exists = true;
	head->tree_size = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	head->alg = (SlDigestAlg) DatumGetInt16(SPI_getbinval(t, d, 2, &isnull));
	head->last_entry_id = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
	memcpy(head->root, VARDATA_ANY(GetBytea32(t, d, 4, "checkpoint root")), SL_DIGEST_LEN);
	fr = DatumGetByteaPP(SPI_getbinval(t, d, 5, &isnull));
	if (sl_frontier_load(&head->frontier, (uint64_t) head->tree_size,
						 (const uint8_t *) VARDATA_ANY(fr), VARSIZE_ANY_EXHDR(fr)) != 0)
		LogDamaged("The stored frontier of the latest checkpoint does not match its tree size.");
	head->created_at = DatumGetTimestampTz(SPI_getbinval(t, d, 6, &isnull));
	if (sl_digest_name(head->alg) == NULL)
		LogDamaged("The latest checkpoint names an unknown hash algorithm.");
}

/* ---- checkpoint() ----------------------------------------------------------- */

typedef struct Pending
{
	int			n;
	Datum		a[5][CHECKPOINT_BATCH];	/* ledger_leaf columns */
	int			nn;
	Datum		b[3][CHECKPOINT_BATCH];	/* merkle_node columns */
	SPIPlanPtr	leafplan;
	SPIPlanPtr	nodeplan;
} Pending;

static void
FlushLeaves(Pending *p)
{
	Datum		args[5];
	static const Oid types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID};

	if (p->n == 0)
		return;
	for (int c = 0; c < 5; c++)
		args[c] = PointerGetDatum(construct_array(p->a[c], p->n, types[c],
												  types[c] == BYTEAOID ? -1 : 8,
												  types[c] != BYTEAOID, types[c] == BYTEAOID ? 'i' : 'd'));
	if (SPI_execute_plan(p->leafplan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ledger_leaf insert failed");
	p->n = 0;
}

static void
FlushNodes(Pending *p)
{
	Datum		args[3];

	if (p->nn == 0)
		return;
	args[0] = PointerGetDatum(construct_array(p->b[0], p->nn, INT2OID, 2, true, 's'));
	args[1] = PointerGetDatum(construct_array(p->b[1], p->nn, INT8OID, 8, true, 'd'));
	args[2] = PointerGetDatum(construct_array(p->b[2], p->nn, BYTEAOID, -1, false, 'i'));
	if (SPI_execute_plan(p->nodeplan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "merkle_node insert failed");
	p->nn = 0;
}

static int
EmitNode(void *arg, int level, uint64_t idx, const uint8_t *hash)
{
	Pending    *p = arg;

	if (level % NODE_STRIDE != 0)
		return 0;
	if (p->nn == CHECKPOINT_BATCH)
		FlushNodes(p);
	p->b[0][p->nn] = Int16GetDatum((int16) level);
	p->b[1][p->nn] = Int64GetDatum((int64) idx);
	p->b[2][p->nn] = PointerGetDatum(LedgerBytea(hash, SL_DIGEST_LEN));
	p->nn++;
	return 0;
}

/* checkpoint() → (tree_size, root, created_at) */
PG_FUNCTION_INFO_V1(shilian_checkpoint);
Datum
shilian_checkpoint(PG_FUNCTION_ARGS)
{
	Head		head;
	SlHasher	hasher;
	SlHasher   *h = &hasher;
	Pending    *p;
	Portal		portal;
	SPIPlanPtr	plan;
	Oid			t1[1] = {INT8OID};
	Datum		arg;
	int64		size,
				last_id;
	uint8_t		root[SL_DIGEST_LEN];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TupleDesc	tupdesc;
	Datum		out[3];
	bool		outnull[3] = {false, false, false};
	MemoryContext batchcxt,
				oldcxt;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/*
	 * The new leaves are read after the lock below is granted; a transaction
	 * snapshot taken earlier would miss entries committed while we waited,
	 * and the watermark would then skip them for good.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '0')),
				 errmsg("checkpoint() must run at READ COMMITTED isolation"),
				 errdetail("Under REPEATABLE READ or SERIALIZABLE its snapshot could miss entries committed while it waited for its lock.")));

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock every append
	 * holds until its transaction ends, and with itself: once granted, every
	 * entry id ever allocated belongs to a finished transaction and no new id
	 * can be allocated until we commit. So "id > last_entry_id, in id order"
	 * is a definite set that no late commit can add to afterwards.
	 */
	LockRelationOid(LedgerRelid("ledger"), ShareRowExclusiveLock);

	LatestHead(&head, true);
	hasher = MakeHasher(head.exists ? head.alg : LedgerCurrentAlg());
	size = head.tree_size;
	last_id = head.last_entry_id;

	p = palloc0(sizeof(Pending));
	{
		Oid			lt[5] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
		Oid			nt[3] = {INT2ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};

		p->leafplan = SPI_prepare("INSERT INTO shilian.ledger_leaf (leaf_index, entry_id, operator_id, seq, hash) "
								  "SELECT * FROM unnest($1, $2, $3, $4, $5)", 5, lt);
		p->nodeplan = SPI_prepare("INSERT INTO shilian.merkle_node (level, idx, hash) "
								  "SELECT * FROM unnest($1, $2, $3)", 3, nt);
		if (p->leafplan == NULL || p->nodeplan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}

	arg = Int64GetDatum(last_id);
	plan = SPI_prepare("SELECT id, operator_id, seq, hash FROM shilian.ledger WHERE id > $1 ORDER BY id", 1, t1);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, &arg, NULL, false);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "checkpoint batch", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, CHECKPOINT_BATCH);
		tt = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	t = tt->vals[i];
			bool		isnull;
			bytea	   *eh;
			uint8_t		leaf[SL_DIGEST_LEN];

			eh = DatumGetByteaPP(SPI_getbinval(t, tt->tupdesc, 4, &isnull));
			if (isnull || VARSIZE_ANY_EXHDR(eh) != SL_DIGEST_LEN)
				ereport(ERROR,
						(errcode(SL_ERRCODE('L', '1', '0')),
						 errmsg("ledger entry has no valid hash"),
						 errhint("Run shilian.chain_verify().")));
			if (p->n == CHECKPOINT_BATCH)
				FlushLeaves(p);
			last_id = DatumGetInt64(SPI_getbinval(t, tt->tupdesc, 1, &isnull));
			p->a[0][p->n] = Int64GetDatum(size);
			p->a[1][p->n] = Int64GetDatum(last_id);
			p->a[2][p->n] = SPI_getbinval(t, tt->tupdesc, 2, &isnull);
			p->a[3][p->n] = SPI_getbinval(t, tt->tupdesc, 3, &isnull);
			p->a[4][p->n] = PointerGetDatum(LedgerBytea(VARDATA_ANY(eh), SL_DIGEST_LEN));
			p->n++;
			if (sl_merkle_leaf(h, VARDATA_ANY(eh), SL_DIGEST_LEN, leaf) != 0 ||
				sl_frontier_append(&head.frontier, h, leaf, EmitNode, p) != 0)
				HashFailed(h);
			size++;
		}
		FlushLeaves(p);
		FlushNodes(p);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batchcxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);

	if (head.exists && size == head.tree_size)
	{
		/* nothing new: the latest tree head stands */
		memcpy(root, head.root, SL_DIGEST_LEN);
		now = head.created_at;
	}
	else
	{
		Oid			ct[6] = {INT8OID, BYTEAOID, INT2OID, INT8OID, BYTEAOID, TIMESTAMPTZOID};
		Datum		cv[6];

		if (sl_frontier_root(&head.frontier, h, root) != 0)
			HashFailed(h);
		cv[0] = Int64GetDatum(size);
		cv[1] = PointerGetDatum(LedgerBytea(root, SL_DIGEST_LEN));
		cv[2] = Int16GetDatum((int16) h->alg);
		cv[3] = Int64GetDatum(last_id);
		cv[4] = PointerGetDatum(LedgerBytea(head.frontier.hash, (size_t) head.frontier.count * SL_DIGEST_LEN));
		cv[5] = TimestampTzGetDatum(now);
		if (SPI_execute_with_args("INSERT INTO shilian.checkpoint (tree_size, root, alg, last_entry_id, frontier, created_at) "
								  "VALUES ($1, $2, $3, $4, $5, $6)", 6, ct, cv, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "checkpoint insert failed");
	}
	SPI_finish();

	out[0] = Int64GetDatum(size);
	out[1] = PointerGetDatum(LedgerBytea(root, SL_DIGEST_LEN));
	out[2] = TimestampTzGetDatum(now);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), out, outnull)));
}

/* ---- reading subtrees back for proofs --------------------------------------- */

typedef struct LogReader
{
	SlHasher   *h;
	SPIPlanPtr	leaves;
	SPIPlanPtr	nodes;
} LogReader;

static void
ReaderInit(LogReader *r, SlHasher *h)
{
	Oid			lt[2] = {INT8OID, INT8OID};
	Oid			nt[3] = {INT2OID, INT8OID, INT8OID};

	r->h = h;
	r->leaves = SPI_prepare("SELECT hash FROM shilian.ledger_leaf WHERE leaf_index >= $1 AND leaf_index < $2 "
							"ORDER BY leaf_index", 2, lt);
	r->nodes = SPI_prepare("SELECT hash FROM shilian.merkle_node WHERE level = $1 AND idx >= $2 AND idx < $3 "
						   "ORDER BY idx", 3, nt);
	if (r->leaves == NULL || r->nodes == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* A complete subtree from the nearest stored level at or below it: at most 8 rows. */
static int
ReadNode(void *arg, int level, uint64_t idx, uint8_t *out)
{
	LogReader  *r = arg;
	int			base = level - level % NODE_STRIDE;
	uint64_t	cnt = (uint64_t) 1 << (level - base);
	uint64_t	first = idx << (level - base);
	uint8_t		hs[1 << (NODE_STRIDE - 1)][SL_DIGEST_LEN];
	Datum		args[3];
	int			rc;

	if (base == 0)
	{
		args[0] = Int64GetDatum((int64) first);
		args[1] = Int64GetDatum((int64) (first + cnt));
		rc = SPI_execute_plan(r->leaves, args, NULL, true, 0);
	}
	else
	{
		args[0] = Int16GetDatum((int16) base);
		args[1] = Int64GetDatum((int64) first);
		args[2] = Int64GetDatum((int64) (first + cnt));
		rc = SPI_execute_plan(r->nodes, args, NULL, true, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "Merkle log lookup failed");
	if (SPI_processed != cnt)
		LogDamaged(psprintf("Level %d of the tree lacks rows between %llu and %llu.", base,
							(unsigned long long) first, (unsigned long long) (first + cnt - 1)));
	for (uint64 i = 0; i < cnt; i++)
	{
		bytea	   *b = GetBytea32(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
								   base == 0 ? "leaf entry hash" : "subtree root");

		if (base == 0)
		{
			if (sl_merkle_leaf(r->h, VARDATA_ANY(b), SL_DIGEST_LEN, hs[i]) != 0)
				HashFailed(r->h);
		}
		else
			memcpy(hs[i], VARDATA_ANY(b), SL_DIGEST_LEN);
	}
	SPI_freetuptable(SPI_tuptable);
	while (cnt > 1)
	{
		for (uint64 i = 0; i < cnt / 2; i++)
			if (sl_merkle_node(r->h, hs[2 * i], hs[2 * i + 1], hs[i]) != 0)
				HashFailed(r->h);
		cnt /= 2;
	}
	memcpy(out, hs[0], SL_DIGEST_LEN);
	return 0;
}

static void
HexAppend(StringInfo s, const uint8_t *p)
{
	char		hex[2 * SL_DIGEST_LEN + 1];

	sl_hex(p, SL_DIGEST_LEN, hex);
	appendStringInfoChar(s, '"');
	appendBinaryStringInfo(s, hex, 2 * SL_DIGEST_LEN);
	appendStringInfoChar(s, '"');
}

static void
PathAppend(StringInfo s, uint8_t proof[][SL_DIGEST_LEN], int count)
{
	appendStringInfoChar(s, '[');
	for (int i = 0; i < count; i++)
	{
		if (i > 0)
			appendStringInfoString(s, ", ");
		HexAppend(s, proof[i]);
	}
	appendStringInfoChar(s, ']');
}

/* The published root of size n if a checkpoint has that size, else computed from the stored tree. */
static void
RootOf(LogReader *r, int64 n, uint8_t *out)
{
	Oid			t1[1] = {INT8OID};
	Datum		a = Int64GetDatum(n);

	if (SPI_execute_with_args("SELECT root FROM shilian.checkpoint WHERE tree_size = $1", 1, t1, &a, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "checkpoint lookup failed");
	if (SPI_processed == 1)
	{
		memcpy(out, VARDATA_ANY(GetBytea32(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, "checkpoint root")),
			   SL_DIGEST_LEN);
		return;
	}
	if (n == 0)
	{
		if (sl_merkle_empty(r->h, out) != 0)
			HashFailed(r->h);
		return;
	}
	sl_merkle_range(r->h, ReadNode, r, 0, (uint64_t) n, out);
}

/* Inside SPI: the latest head, refusing sizes beyond it. */
static void
CheckSize(Head *head, int64 n, const char *what)
{
	LatestHead(head, false);
	if (n < 0 || n > head->tree_size)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '2')),
				 errmsg("%s %lld is not a size of the published Merkle log", what, (long long) n),
				 errdetail("The latest checkpoint has tree size %lld.", (long long) head->tree_size),
				 errhint("Run shilian.checkpoint() to publish newer entries.")));
}

static Datum
JsonbFromText(StringInfo s)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s->data));
}

/* inclusion_proof(entry, tree_size) → jsonb */
PG_FUNCTION_INFO_V1(shilian_inclusion_proof);
Datum
shilian_inclusion_proof(PG_FUNCTION_ARGS)
{
	int64		entry;
	int64		n;
	int64		leaf_index;
	Head		head;
	LogReader	r;
	uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
	uint8_t		root[SL_DIGEST_LEN],
				ehash[SL_DIGEST_LEN];
	int			count;
	StringInfoData s;
	Oid			t1[1] = {INT8OID};
	Datum		a;
	Datum		result;
	SlHasher	hasher;
	MemoryContext fncxt = CurrentMemoryContext,
				spicxt;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	entry = PG_GETARG_INT64(0);
	a = Int64GetDatum(entry);
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LatestHead(&head, false);
	n = PG_ARGISNULL(1) ? head.tree_size : PG_GETARG_INT64(1);
	CheckSize(&head, n, "tree size");
	if (SPI_execute_with_args("SELECT leaf_index, hash FROM shilian.ledger_leaf WHERE entry_id = $1",
							  1, t1, &a, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ledger_leaf lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '1')),
				 errmsg("ledger entry %lld is not in the Merkle log yet", (long long) entry),
				 errdetail("Entries get a leaf index at the first checkpoint after they commit."),
				 errhint("Run shilian.checkpoint().")));
	{
		bool		isnull;

		leaf_index = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		memcpy(ehash, VARDATA_ANY(GetBytea32(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, "leaf entry hash")),
			   SL_DIGEST_LEN);
	}
	if (leaf_index >= n)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '1')),
				 errmsg("ledger entry %lld is not in the tree of size %lld", (long long) entry, (long long) n),
				 errdetail("Its leaf index is %lld.", (long long) leaf_index)));

	hasher = MakeHasher(head.alg);
	ReaderInit(&r, &hasher);
	if (sl_merkle_inclusion_proof(r.h, ReadNode, &r, (uint64_t) leaf_index, (uint64_t) n, proof, &count) != 0)
		LogDamaged("The inclusion proof could not be assembled.");
	RootOf(&r, n, root);

	/* the result belongs to the caller: built there, before SPI_finish frees SPI's memory */
	spicxt = MemoryContextSwitchTo(fncxt);
	initStringInfo(&s);
	appendStringInfo(&s, "{\"entry\": \"%lld\", \"leaf_index\": \"%lld\", \"tree_size\": \"%lld\", \"alg\": \"%s\", \"entry_hash\": ",
					 (long long) entry, (long long) leaf_index, (long long) n, sl_digest_name(head.alg));
	HexAppend(&s, ehash);
	appendStringInfoString(&s, ", \"root\": ");
	HexAppend(&s, root);
	appendStringInfoString(&s, ", \"path\": ");
	PathAppend(&s, proof, count);
	appendStringInfoChar(&s, '}');
	result = JsonbFromText(&s);
	pfree(s.data);
	MemoryContextSwitchTo(spicxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* consistency_proof(old_size, new_size) → jsonb */
PG_FUNCTION_INFO_V1(shilian_consistency_proof);
Datum
shilian_consistency_proof(PG_FUNCTION_ARGS)
{
	int64		m;
	int64		n;
	Head		head;
	LogReader	r;
	uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
	uint8_t		r1[SL_DIGEST_LEN],
				r2[SL_DIGEST_LEN];
	int			count;
	StringInfoData s;
	Datum		result;
	SlHasher	hasher;
	MemoryContext fncxt = CurrentMemoryContext,
				spicxt;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = PG_GETARG_INT64(0);
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LatestHead(&head, false);
	n = PG_ARGISNULL(1) ? head.tree_size : PG_GETARG_INT64(1);
	CheckSize(&head, n, "new tree size");
	CheckSize(&head, m, "old tree size");
	if (m > n)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '2')),
				 errmsg("old tree size %lld is larger than new tree size %lld", (long long) m, (long long) n)));
	hasher = MakeHasher(head.alg);
	ReaderInit(&r, &hasher);
	if (sl_merkle_consistency_proof(r.h, ReadNode, &r, (uint64_t) m, (uint64_t) n, proof, &count) != 0)
		LogDamaged("The consistency proof could not be assembled.");
	RootOf(&r, m, r1);
	RootOf(&r, n, r2);
	/* the result belongs to the caller: built there, before SPI_finish frees SPI's memory */
	spicxt = MemoryContextSwitchTo(fncxt);
	initStringInfo(&s);
	appendStringInfo(&s, "{\"old_size\": \"%lld\", \"new_size\": \"%lld\", \"alg\": \"%s\", \"old_root\": ",
					 (long long) m, (long long) n, sl_digest_name(head.alg));
	HexAppend(&s, r1);
	appendStringInfoString(&s, ", \"new_root\": ");
	HexAppend(&s, r2);
	appendStringInfoString(&s, ", \"path\": ");
	PathAppend(&s, proof, count);
	appendStringInfoChar(&s, '}');
	result = JsonbFromText(&s);
	pfree(s.data);
	MemoryContextSwitchTo(spicxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* ---- verification without the log -------------------------------------------- */

static SlDigestAlg
AlgArg(text *t)
{
	char	   *name = text_to_cstring(t);
	SlDigestAlg alg = sl_digest_from_name(name);

	if (alg == SL_DIGEST_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown hash algorithm \"%s\"", name),
				 errhint("Use \"sha256\" or \"sm3\".")));
	return alg;
}

static bool
Hash32Arg(bytea *b, uint8_t *out)
{
	if (VARSIZE_ANY_EXHDR(b) != SL_DIGEST_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), SL_DIGEST_LEN);
	return true;
}

/* A bytea[] of 32-byte hashes; false if any element is null or of another length. */
static bool
PathArg(ArrayType *arr, uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		return false;
	deconstruct_array(arr, BYTEAOID, -1, false, 'i', &elems, &nulls, &n);
	if (n > SL_MERKLE_MAX_PROOF)
		return false;
	for (int i = 0; i < n; i++)
		if (nulls[i] || !Hash32Arg(DatumGetByteaPP(elems[i]), proof[i]))
			return false;
	*count = n;
	return true;
}

/* verify_inclusion(leaf_index, tree_size, leaf_hash, path, root, algorithm) → boolean */
PG_FUNCTION_INFO_V1(shilian_verify_inclusion);
Datum
shilian_verify_inclusion(PG_FUNCTION_ARGS)
{
	int64		index = PG_GETARG_INT64(0);
	int64		size = PG_GETARG_INT64(1);
	uint8_t		leaf[SL_DIGEST_LEN],
				root[SL_DIGEST_LEN];
	uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
	int			count;
	SlHasher	hasher = MakeHasher(AlgArg(PG_GETARG_TEXT_PP(5)));
	SlHasher   *h = &hasher;
	bool		ok;

	if (index < 0 || size < 0 || !Hash32Arg(PG_GETARG_BYTEA_PP(2), leaf) ||
		!PathArg(PG_GETARG_ARRAYTYPE_P(3), proof, &count) || !Hash32Arg(PG_GETARG_BYTEA_PP(4), root))
		ok = false;
	else
		ok = sl_merkle_verify_inclusion(h, (uint64_t) index, (uint64_t) size, leaf,
										(const uint8_t (*)[SL_DIGEST_LEN]) proof, count, root) == NULL;
	PG_RETURN_BOOL(ok);
}

/* verify_consistency(old_size, new_size, old_root, new_root, path, algorithm) → boolean */
PG_FUNCTION_INFO_V1(shilian_verify_consistency);
Datum
shilian_verify_consistency(PG_FUNCTION_ARGS)
{
	int64		m = PG_GETARG_INT64(0);
	int64		n = PG_GETARG_INT64(1);
	uint8_t		r1[SL_DIGEST_LEN],
				r2[SL_DIGEST_LEN];
	uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
	int			count;
	SlHasher	hasher = MakeHasher(AlgArg(PG_GETARG_TEXT_PP(5)));
	SlHasher   *h = &hasher;
	bool		ok;

	if (m < 0 || n < 0 || !Hash32Arg(PG_GETARG_BYTEA_PP(2), r1) || !Hash32Arg(PG_GETARG_BYTEA_PP(3), r2) ||
		!PathArg(PG_GETARG_ARRAYTYPE_P(4), proof, &count))
		ok = false;
	else
		ok = sl_merkle_verify_consistency(h, (uint64_t) m, (uint64_t) n, r1, r2,
										  (const uint8_t (*)[SL_DIGEST_LEN]) proof, count) == NULL;
	PG_RETURN_BOOL(ok);
}

/* ---- log_verify() ------------------------------------------------------------ */

/* log_verify() → (tree_size, ok, first_bad_leaf, reason): rebuild the tree from the ledger */
PG_FUNCTION_INFO_V1(shilian_log_verify);
Datum
shilian_log_verify(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Head		head;
	SlHasher	hasher;
	SlHasher   *h = &hasher;
	SlFrontier	f;
	Portal		portal;
	int64		nck = 0,
				ck = 0;
	int64	   *sizes = NULL;
	uint8_t   (*roots)[SL_DIGEST_LEN] = NULL;
	int64		expect = 0;
	bool		ok = true;
	int64		bad_leaf = -1;
	char	   *reason = NULL;
	Datum		out[4];
	bool		outnull[4] = {false, false, false, false};
	MemoryContext batchcxt,
				oldcxt,
				fncxt = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LatestHead(&head, false);
	hasher = MakeHasher(head.exists ? head.alg : LedgerCurrentAlg());

	if (SPI_execute("SELECT tree_size, root FROM shilian.checkpoint ORDER BY tree_size", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "checkpoint lookup failed");
	nck = (int64) SPI_processed;
	sizes = palloc(sizeof(int64) * Max(nck, 1));
	roots = palloc(SL_DIGEST_LEN * Max(nck, 1));
	for (int64 i = 0; i < nck; i++)
	{
		bool		isnull;

		sizes[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		memcpy(roots[i], VARDATA_ANY(GetBytea32(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, "checkpoint root")),
			   SL_DIGEST_LEN);
	}
	SPI_freetuptable(SPI_tuptable);

	sl_frontier_init(&f);
	{
		/*
		 * an entry of an archived month is no longer in the ledger: its
		 * hash is the one ledger_chain keeps, inside an archived stretch of
		 * its chain (ledger_archived_range); the archive file holds the rest
		 */
		SPIPlanPtr	plan = SPI_prepare("SELECT f.leaf_index, f.entry_id, f.hash, coalesce(l.hash, a.hash), "
									   "coalesce(l.operator_id, a.operator_id), coalesce(l.seq, a.seq), "
									   "f.operator_id, f.seq FROM shilian.ledger_leaf f "
									   "LEFT JOIN shilian.ledger l ON l.id = f.entry_id "
									   "LEFT JOIN LATERAL (SELECT c.hash, c.operator_id, c.seq FROM shilian.ledger_chain c "
									   "JOIN shilian.ledger_archived_range r ON r.operator_id = c.operator_id "
									   "AND c.seq BETWEEN r.first_seq AND r.last_seq "
									   "WHERE l.id IS NULL AND c.entry_id = f.entry_id) a ON true "
									   "ORDER BY f.leaf_index", 0, NULL);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	}
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "log_verify batch", ALLOCSET_DEFAULT_SIZES);

#define LOG_BAD(leaf, ...) \
	do { if (ok) { ok = false; bad_leaf = (leaf); reason = MemoryContextStrdup(fncxt, psprintf(__VA_ARGS__)); } } while (0)

	/* the empty tree's checkpoint, if any */
	while (ok && ck < nck && sizes[ck] == 0)
	{
		uint8_t		r[SL_DIGEST_LEN];

		if (sl_frontier_root(&f, h, r) != 0)
			HashFailed(h);
		if (memcmp(r, roots[ck], SL_DIGEST_LEN) != 0)
			LOG_BAD(-1, "root of checkpoint 0 is not the empty tree's root");
		ck++;
	}
	while (ok)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 20000);
		tt = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (uint64 i = 0; i < nrows && ok; i++)
		{
			HeapTuple	t = tt->vals[i];
			TupleDesc	d = tt->tupdesc;
			bool		nulls[8];
			Datum		v[8];
			int64		leaf_index;
			bytea	   *fh;
			uint8_t		leaf[SL_DIGEST_LEN];

			heap_deform_tuple(t, d, v, nulls);
			leaf_index = DatumGetInt64(v[0]);
			if (leaf_index != expect)
			{
				LOG_BAD(expect, "leaf %lld is missing", (long long) expect);
				break;
			}
			expect++;
			fh = DatumGetByteaPP(v[2]);
			if (VARSIZE_ANY_EXHDR(fh) != SL_DIGEST_LEN)
			{
				LOG_BAD(leaf_index, "leaf %lld has no valid hash", (long long) leaf_index);
				break;
			}
			if (nulls[3])
			{
				LOG_BAD(leaf_index, "entry %lld (operator %lld seq %lld) of leaf %lld is missing from the ledger",
						(long long) DatumGetInt64(v[1]), (long long) DatumGetInt64(v[6]),
						(long long) DatumGetInt64(v[7]), (long long) leaf_index);
				break;
			}
			if (VARSIZE_ANY_EXHDR(DatumGetByteaPP(v[3])) != SL_DIGEST_LEN ||
				memcmp(VARDATA_ANY(DatumGetByteaPP(v[3])), VARDATA_ANY(fh), SL_DIGEST_LEN) != 0 ||
				DatumGetInt64(v[4]) != DatumGetInt64(v[6]) || DatumGetInt64(v[5]) != DatumGetInt64(v[7]))
			{
				LOG_BAD(leaf_index, "entry %lld (operator %lld seq %lld) differs from what leaf %lld recorded",
						(long long) DatumGetInt64(v[1]), (long long) DatumGetInt64(v[6]),
						(long long) DatumGetInt64(v[7]), (long long) leaf_index);
				break;
			}
			if (sl_merkle_leaf(h, VARDATA_ANY(fh), SL_DIGEST_LEN, leaf) != 0 ||
				sl_frontier_append(&f, h, leaf, NULL, NULL) != 0)
				HashFailed(h);
			while (ck < nck && sizes[ck] == (int64) f.size)
			{
				uint8_t		r[SL_DIGEST_LEN];

				if (sl_frontier_root(&f, h, r) != 0)
					HashFailed(h);
				if (memcmp(r, roots[ck], SL_DIGEST_LEN) != 0)
					LOG_BAD(ck > 0 ? sizes[ck - 1] : 0,
							"root of checkpoint %lld does not match the leaves: a leaf from %lld on was changed",
							(long long) sizes[ck], (long long) (ck > 0 ? sizes[ck - 1] : 0));
				ck++;
			}
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batchcxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	if (ok && ck < nck)
		LOG_BAD(expect, "checkpoint %lld has more leaves than ledger_leaf holds (%lld)",
				(long long) sizes[ck], (long long) expect);
	if (ok && head.exists && expect != head.tree_size)
		LOG_BAD(head.tree_size, "ledger_leaf holds %lld leaves beyond the latest checkpoint",
				(long long) (expect - head.tree_size));
#undef LOG_BAD
	SPI_finish();

	out[0] = Int64GetDatum(head.tree_size);
	out[1] = BoolGetDatum(ok);
	out[2] = Int64GetDatum(bad_leaf);
	outnull[2] = ok || bad_leaf < 0;
	out[3] = ok ? (Datum) 0 : CStringGetTextDatum(reason);
	outnull[3] = ok;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), out, outnull)));
}

/* ---- a Merkle tree over a list held in memory (the heads commitment) ------------- */

/*
 * Every complete subtree of a list's RFC 9162 tree, level by level, so that
 * the core's range and proof functions can read them: level 0 holds the leaf
 * hashes H(0x00 || data), level l the roots of 2^l leaves.
 */
typedef struct ListTree
{
	uint64_t	n;
	int			levels;
	uint8_t    *level[64];
} ListTree;

static int
ListNode(void *arg, int level, uint64_t idx, uint8_t *out)
{
	ListTree   *t = arg;

	if (level >= t->levels || idx >= (t->n >> level))
		return -1;
	memcpy(out, t->level[level] + idx * SL_DIGEST_LEN, SL_DIGEST_LEN);
	return 0;
}

static void
ListTreeBuild(ListTree *t, SlHasher *h, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("the leaves are a one-dimensional array")));
	deconstruct_array(arr, BYTEAOID, -1, false, 'i', &elems, &nulls, &n);
	memset(t, 0, sizeof(*t));
	t->n = (uint64_t) n;
	t->level[0] = palloc((Size) n * SL_DIGEST_LEN + 1);
	for (int i = 0; i < n; i++)
	{
		bytea	   *b;

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("leaf %d is null", i)));
		b = DatumGetByteaPP(elems[i]);
		if (sl_merkle_leaf(h, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), t->level[0] + (Size) i * SL_DIGEST_LEN) != 0)
			HashFailed(h);
	}
	t->levels = 1;
	while ((t->n >> t->levels) > 0)
	{
		uint64_t	cnt = t->n >> t->levels;
		uint8_t    *below = t->level[t->levels - 1];

		t->level[t->levels] = palloc(cnt * SL_DIGEST_LEN);
		for (uint64_t i = 0; i < cnt; i++)
			if (sl_merkle_node(h, below + 2 * i * SL_DIGEST_LEN, below + (2 * i + 1) * SL_DIGEST_LEN,
							   t->level[t->levels] + i * SL_DIGEST_LEN) != 0)
				HashFailed(h);
		t->levels++;
	}
}

/* merkle_root(leaves bytea[], algorithm) → bytea: MTH of the list, H("") when empty */
PG_FUNCTION_INFO_V1(shilian_merkle_root);
Datum
shilian_merkle_root(PG_FUNCTION_ARGS)
{
	SlHasher	hasher = MakeHasher(AlgArg(PG_GETARG_TEXT_PP(1)));
	ListTree	t;
	bytea	   *out = palloc(VARHDRSZ + SL_DIGEST_LEN);

	SET_VARSIZE(out, VARHDRSZ + SL_DIGEST_LEN);
	ListTreeBuild(&t, &hasher, PG_GETARG_ARRAYTYPE_P(0));
	if (t.n == 0 ? sl_merkle_empty(&hasher, (uint8_t *) VARDATA(out)) != 0
		: sl_merkle_range(&hasher, ListNode, &t, 0, t.n, (uint8_t *) VARDATA(out)) != 0)
		HashFailed(&hasher);
	PG_RETURN_BYTEA_P(out);
}

/* merkle_path(leaves bytea[], index, algorithm) → bytea[]: PATH(index, D[n]), innermost first */
PG_FUNCTION_INFO_V1(shilian_merkle_path);
Datum
shilian_merkle_path(PG_FUNCTION_ARGS)
{
	SlHasher	hasher = MakeHasher(AlgArg(PG_GETARG_TEXT_PP(2)));
	int64		index = PG_GETARG_INT64(1);
	ListTree	t;
	uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
	int			count;
	Datum		elems[SL_MERKLE_MAX_PROOF];

	ListTreeBuild(&t, &hasher, PG_GETARG_ARRAYTYPE_P(0));
	if (index < 0 || (uint64_t) index >= t.n)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '2', '2')),
				 errmsg("leaf %lld is outside a list of %llu", (long long) index, (unsigned long long) t.n)));
	if (sl_merkle_inclusion_proof(&hasher, ListNode, &t, (uint64_t) index, t.n, proof, &count) != 0)
		HashFailed(&hasher);
	for (int i = 0; i < count; i++)
	{
		bytea	   *b = palloc(VARHDRSZ + SL_DIGEST_LEN);

		SET_VARSIZE(b, VARHDRSZ + SL_DIGEST_LEN);
		memcpy(VARDATA(b), proof[i], SL_DIGEST_LEN);
		elems[i] = PointerGetDatum(b);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, count, BYTEAOID, -1, false, 'i'));
}

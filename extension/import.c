/*
 * import.c — the set-based apply of a bulk upload (docs/integration.md).
 *
 * import_apply(job, max_lines) takes the staged lines of a job
 * (shilian.import_stage, filled by COPY or by import_ndjson) in line order,
 * a chunk at a time, and for every line either accepts it or refuses it with
 * the SQLSTATE and message the single-record function would raise.
 *
 * A chunk's lines are parsed first (JSON, fields, literals) in one
 * subtransaction: a line that does not parse rolls it back (nothing is
 * written in it) and is refused, and the lines after it are parsed in the
 * next one. batch, inspection, ship, receive, consume, first_entry,
 * transform and reject lines are then checked by the very rule functions
 * batch_create(), inspect(), ship(), receive(), consume(),
 * receive_first_entry(), transform() and reject() run (RecordBatchCheck,
 * RecordInspectCheck, RecordShipCheck, RecordReceiveCheck,
 * RecordConsumeCheck, RecordFirstEntryCheck, RecordTransformCheck,
 * RecordRejectCheck in records.c), which report a
 * refusal without throwing, against the chunk's caches: the batches and
 * sales the chunk names, read and locked once (so no per-line lock and no
 * per-line subtransaction), the operators, licences and products read once,
 * and what earlier lines did (balances, sales now received, sales made by
 * earlier lines). Valid lines are written with one statement per kind per
 * chunk, then one ledger entry per line, the chunk's entries appended at once
 * in line order through RecordsToLedger (exactly what one RecordToLedger call
 * per line appends), so each operator's chain follows the upload. New
 * batches' ids and codes, link ids (sales, transform inputs) and inspection
 * ids are drawn in line order first. Every other kind (the registry kinds,
 * a receipt into an existing batch: it may close a cycle, which receive()
 * checks on the graph under an advisory lock) is applied by its record
 * function in a subtransaction of its own, after the queued writes. A chunk whose set writes raise a refusal
 * (a constraint or trigger on one line's row) is rolled back and applied
 * again line by line that way (ChunkTry).
 *
 * Only refusals (RecordIsRefusal: SLR*, SLI*, SLD*, 22*, 23*, 42501) refuse a line, and
 * only after the subtransaction they were raised in is rolled back;
 * anything else (a cancel, out of memory, a serialization failure) fails the
 * call. Nothing is caught and continued past otherwise.
 */
#include "records.h"
#include "fk_cover.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "parser/parse_coerce.h"
#include "utils/numeric.h"
#include "utils/typcache.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "direct_write.h"
#include "jsonlimit.h"
#include "ledger.h"
#include "strict_input.h"

/* Lines per chunk: one batch/link read, one write per kind, one report insert. */
#define IMPORT_CHUNK 5000

/* The referencing field of a receipt: the line number of a ship line of the same upload. */
#define SL_BAD_LINE_REF SL_ERRCODE('I', '0', '3')

typedef enum LineKind
{
	LK_NONE, LK_SHIP, LK_RECEIVE, LK_BATCH, LK_INSPECT, LK_CONSUME, LK_FIRST, LK_REJECT, LK_TRANSFORM, LK_OTHER
} LineKind;

/* A batch as the chunk sees it: read once, balance kept in memory. */
typedef struct IBatch
{
	TraceCode	code;			/* hash key */
	bool		found;
	bool		dirty;			/* b.left changed: written at flush */
	bool		cert_pending;	/* a queued release inspection (pass) gives it its certificate */
	SlBatch		b;
} IBatch;

/* A sale: an existing link (by id) or one made by a ship line of this upload. */
typedef struct ILink
{
	int64		key;			/* hash key: link id (links), or a ship line's number (made) */
	bool		found;
	int64		id;				/* 0 until the ship line is written */
	IBatch	   *from;			/* the seller's batch (NULL until read) */
	int64		from_id;
	int64		seller;
	int64		buyer;
	Qty			shipped_qty;
	DateADT		shipped;
	char	   *status;
	bool		has_licence;
	LicenseNo	licence;
	/*
	 * The receive line of the same flush that receives this sale before it
	 * is written: the sale is then inserted already received, with the
	 * receipt (an insert then an update of a row of the same transaction
	 * re-runs every foreign key check of link, RI_FKey_fk_upd_check_required).
	 */
	struct ILine *settled;
	struct ILine *ship;			/* the ship line that made it (a sale of this upload) */
} ILink;

typedef struct IBatchId
{
	int64		id;
	IBatch	   *batch;
} IBatchId;

typedef struct IOperator
{
	int64		id;
	bool		found;
	char	   *status;
	SlOperatorInfo info;
} IOperator;

typedef struct ILicenceKey
{
	int64		seller;
	DateADT		on;
	char		category[64];
} ILicenceKey;

typedef struct ILicence
{
	ILicenceKey key;
	LicenseNo	licence;
} ILicence;

typedef struct IProduct
{
	int64		id;
	bool		found;
	bool		has_shelf;
	int32		shelf;
} IProduct;

typedef struct IActorKey
{
	int64		op;
	char		action[24];		/* as the rule names it: "ship", "receive", "create a batch" */
} IActorKey;

/* One line of the chunk and what became of it. */
typedef struct ILine
{
	int			line_no;
	LineKind	kind;
	char	   *kind_name;
	Jsonb	   *rec;
	bool		refused;
	SlRefusal	err;
	char	   *result;
	/* ship */
	SlShip		ship;
	ILink	   *made;			/* the sale this ship line made */
	/* receive */
	SlReceive	recv;
	bool		has_ref;
	int64		ref;			/* link_ref: the line number of a ship line */
	Datum		reason;			/* text or 0 */
	ILink	   *link;
	/* batch */
	SlBatchNew	batch;
	Datum		lot;			/* text or 0 */
	/* inspection */
	SlInspect	insp;
	bool		sets_cert;		/* the first release inspection (pass) of a batch without certificate */
	int64		insp_id;		/* the inspection's id (inspect lines, receive and first_entry lines with one) */
	/* consume */
	SlConsume	cons;
	Datum		note;			/* text or 0 */
	/* first_entry (its lot in lot) */
	SlFirstEntry first;
	/* reject (its reason in reason, its sale in link) */
	SlReject	rej;
	/* transform (its lot in lot); its links' ids, one per input, drawn in line order with the sales' */
	SlTransform tr;
	int64	   *link_ids;
	/* the new batch of a batch or receive line: id and trace code, drawn in line order */
	int64		new_id;
	TraceCode	new_code;
	/* ledger */
	int64		ledger_op;
	Jsonb	   *ledger_body;
} ILine;

/* The chunk: its lines, and its caches behind the rules' lookup (first member). */
typedef struct IChunk
{
	SlLookup	lookup;
	ILine	   *lines;
	int			n;
	HTAB	   *batches;
	HTAB	   *batch_ids;		/* id → IBatch *, of the batches read */
	HTAB	   *links;			/* sales by link id */
	HTAB	   *made;			/* sales made by ship lines of the chunk, by line number */
	ILink	   *named;			/* the sale the receive line in hand names */
	HTAB	   *operators;
	HTAB	   *licences;
	HTAB	   *actors;
	HTAB	   *products;
	List	   *pending;		/* ILine * queued for the flush, in line order */
	int			nship;
	int			nrecv;
	int			nbatch;
	int			ninsp;
	int			ncons;
	int			nfirst;
	int			nrej;
	int			ntrans;
	int			ntrans_in;		/* the inputs of the transform lines queued */
	bool		single;			/* every line through its record function (ChunkTry) */
	List	   *dirty;			/* IBatch * with a changed balance */
} IChunk;

/* line number → link id of the accepted ship lines of this call, for link_ref across chunks */
typedef struct IShipRef
{
	int64		line_no;
	int64		link;
} IShipRef;
static HTAB *ship_refs = NULL;
static int64 current_job = 0;

/*
 * h-history: line number → trace code of the accepted lines of this call
 * that made a batch (batch, receive, first_entry, transform), for code_ref
 * across chunks; a line with a code_ref (or a reject line with a link_ref)
 * starts a chunk of its own, so the line it names has been applied before
 * it is parsed.
 */
typedef struct IBatchRef
{
	int64		line_no;
	char		code[32];
} IBatchRef;
static HTAB *batch_refs = NULL;
/* the last chunk ended early, before a line with such a reference */
static bool chunk_cut = false;
/* the first line number of the chunk in hand */
static int64 chunk_first = 0;

static Oid	qty_typ,
			trace_code_typ,
			licence_typ;

static void
Types(void)
{
	qty_typ = SlTypeOid("shilian.qty");
	trace_code_typ = SlTypeOid("shilian.trace_code");
	licence_typ = SlTypeOid("shilian.licence_no");
}

/* ---- caches --------------------------------------------------------------- */

static HTAB *
NewHash(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
CachesReset(IChunk *c)
{
	c->batches = NewHash("import batches", sizeof(TraceCode), sizeof(IBatch));
	c->batch_ids = NewHash("import batch ids", sizeof(int64), sizeof(IBatchId));
	c->links = NewHash("import links", sizeof(int64), sizeof(ILink));
	c->made = NewHash("import sales made", sizeof(int64), sizeof(ILink));
	c->named = NULL;
	c->operators = NewHash("import operators", sizeof(int64), sizeof(IOperator));
	c->licences = NewHash("import licences", sizeof(ILicenceKey), sizeof(ILicence));
	c->actors = NewHash("import actors", sizeof(IActorKey), sizeof(IActorKey));
	c->products = NewHash("import products", sizeof(int64), sizeof(IProduct));
}

/* Batches by trace code or id, locked in id order (so concurrent imports cannot deadlock). */
static SlStmt batches_stmt = {
	"SELECT " SL_BATCH_COLS ", b.trace_code" SL_BATCH_FROM
	" WHERE b.trace_code OPERATOR(shilian.=) ANY ($1) OR b.id = ANY ($2)"
	" ORDER BY b.id FOR UPDATE OF b",
	2, {"shilian.trace_code[]", "bigint[]"}
};

/* Row row of batches_stmt into the cache, unless read before (its balance may have moved since). */
static void
BatchCache(IChunk *c, int row)
{
	TraceCode	code = DatumGetTraceCode(SlGet(row, 15, NULL));
	bool		found;
	IBatch	   *b = hash_search(c->batches, &code, HASH_ENTER, &found);
	IBatchId   *bi;

	if (found && b->found)
		return;
	b->found = true;
	b->dirty = false;
	b->cert_pending = false;
	RecordBatchFill(&b->b, code, row);
	bi = hash_search(c->batch_ids, &b->b.id, HASH_ENTER, NULL);
	bi->batch = b;
}

/*
 * Read and lock the batches named by code or id that are not read yet; a
 * code no batch has is remembered as such.
 */
static void
BatchesLoad(IChunk *c, Datum *codes, int ncodes, Datum *ids, int nids)
{
	Datum		v[2];

	if (ncodes + nids == 0)
		return;
	v[0] = PointerGetDatum(construct_array(codes, ncodes, trace_code_typ, 8, true, TYPALIGN_DOUBLE));
	v[1] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, true, TYPALIGN_DOUBLE));
	SlExec(&batches_stmt, v, NULL, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
		BatchCache(c, (int) r);
	for (int i = 0; i < ncodes; i++)
	{
		TraceCode	code = DatumGetTraceCode(codes[i]);
		bool		found;
		IBatch	   *b = hash_search(c->batches, &code, HASH_ENTER, &found);

		if (!found)
		{
			b->found = false;
			b->dirty = false;
			b->cert_pending = false;
		}
	}
}

/* The batch by trace code, read (and locked) on first use in the chunk. */
static IBatch *
BatchGet(IChunk *c, TraceCode code)
{
	bool		found;
	IBatch	   *b = hash_search(c->batches, &code, HASH_FIND, &found);
	Datum		one = TraceCodeGetDatum(code);

	if (b != NULL)
		return b;
	BatchesLoad(c, &one, 1, NULL, 0);
	return hash_search(c->batches, &code, HASH_FIND, &found);
}

static IBatch *
BatchGetById(IChunk *c, int64 id)
{
	bool		found;
	IBatchId   *bi = hash_search(c->batch_ids, &id, HASH_FIND, &found);
	Datum		one = Int64GetDatum(id);

	if (bi != NULL)
		return bi->batch;
	BatchesLoad(c, NULL, 0, &one, 1);
	bi = hash_search(c->batch_ids, &id, HASH_FIND, &found);
	if (bi == NULL)
		elog(ERROR, "batch %lld of a sale vanished", (long long) id);
	return bi->batch;
}

static SlStmt links_stmt = {
	"SELECT l.id, l.from_batch, l.seller_id, l.buyer_id, l.qty_shipped, l.shipped_on, l.status,"
	" l.seller_licence FROM shilian.link l"
	" WHERE l.id = ANY ($1) AND l.kind = 'ship' ORDER BY l.id FOR UPDATE OF l",
	1, {"bigint[]"}
};

/*
 * Read and lock the sales by id, then the batches they come from together
 * with the batches named by codes (one statement, in id order).
 */
static void
LinksLoad(IChunk *c, Datum *ids, int n, Datum *codes, int ncodes)
{
	Datum		v[1];
	uint64		rows;
	SPITupleTable *tt;

	if (n + ncodes == 0)
		return;
	v[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	SlExec(&links_stmt, v, NULL, 0);
	rows = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 r = 0; r < rows; r++)
	{
		bool		isnull;
		int64		id;
		ILink	   *l;
		int64		from;

		SPI_tuptable = tt;
		SPI_processed = rows;
		id = DatumGetInt64(SlGet(r, 1, NULL));
		l = hash_search(c->links, &id, HASH_ENTER, NULL);
		l->found = true;
		l->id = id;
		from = DatumGetInt64(SlGet(r, 2, NULL));
		l->seller = DatumGetInt64(SlGet(r, 3, NULL));
		l->buyer = DatumGetInt64(SlGet(r, 4, NULL));
		l->shipped_qty = DatumGetQty(SlGet(r, 5, NULL));
		l->shipped = DatumGetDateADT(SlGet(r, 6, NULL));
		l->status = TextDatumGetCString(SlGet(r, 7, NULL));
		l->licence = DatumGetLicenseNo(SlGet(r, 8, &isnull));
		l->has_licence = !isnull;
		l->from_id = from;
		l->from = NULL;			/* read below */
		l->settled = NULL;
		l->ship = NULL;
	}
	/* ids no sale has: remembered as such */
	for (int i = 0; i < n; i++)
	{
		int64		id = DatumGetInt64(ids[i]);
		bool		found;
		ILink	   *l = hash_search(c->links, &id, HASH_ENTER, &found);

		if (!found)
			l->found = false;
	}
	/* the sellers' batches: read after the links (the order receive locks them in), in id order */
	{
		HASH_SEQ_STATUS st;
		ILink	   *l;
		List	   *todo = NIL;
		ListCell   *lc;
		Datum	   *bids;
		int			nb = 0;

		hash_seq_init(&st, c->links);
		while ((l = hash_seq_search(&st)) != NULL)
			if (l->found && l->from == NULL)
				todo = lappend(todo, l);
		bids = palloc_array(Datum, Max(list_length(todo), 1));
		foreach(lc, todo)
		{
			bool		found;

			l = lfirst(lc);
			if (hash_search(c->batch_ids, &l->from_id, HASH_FIND, &found) == NULL)
				bids[nb++] = Int64GetDatum(l->from_id);
		}
		BatchesLoad(c, codes, ncodes, bids, nb);
		foreach(lc, todo)
		{
			l = lfirst(lc);
			l->from = BatchGetById(c, l->from_id);
		}
	}
}

static ILink *
LinkGet(IChunk *c, int64 id)
{
	bool		found;
	ILink	   *l = hash_search(c->links, &id, HASH_FIND, &found);

	if (l != NULL)
		return l;
	{
		Datum		one = Int64GetDatum(id);

		LinksLoad(c, &one, 1, NULL, 0);
	}
	return hash_search(c->links, &id, HASH_FIND, &found);
}

/* ---- the rules' lookup over the chunk's caches ------------------------------ */

static void Flush(IChunk *c);

/*
 * The batch by trace code. A code no batch has may be that of the new batch
 * of a batch or receive line queued in the chunk: those are written first
 * and the code read again, as one record function call per line would have it.
 */
static SlBatch *
ChunkBatch(SlLookup *self, TraceCode code)
{
	IChunk	   *c = (IChunk *) self;
	IBatch	   *b = BatchGet(c, code);

	if (!b->found && c->nbatch + c->nrecv + c->nfirst + c->ntrans > 0)
	{
		Flush(c);
		hash_search(c->batches, &code, HASH_REMOVE, NULL);
		b = BatchGet(c, code);
	}
	return b->found ? &b->b : NULL;
}

/* The operator row, read once per chunk. */
static IOperator *
OperatorGet(IChunk *c, int64 id)
{
	bool		found;
	IOperator  *o = hash_search(c->operators, &id, HASH_ENTER, &found);

	if (!found)
		o->found = ValidateLookupOperator(id, &o->status, &o->info);
	return o;
}

static bool
ChunkOperator(SlLookup *self, int64 id, char **status, SlOperatorInfo *info)
{
	IOperator  *o = OperatorGet((IChunk *) self, id);

	if (!o->found)
		return false;
	*status = o->status;
	if (info)
		*info = o->info;
	return true;
}

/* A licence found valid is kept for the chunk; a refusal is looked up again (its message). */
static bool
ChunkLicence(SlLookup *self, int64 seller, const char *category, DateADT on, LicenseNo *lic,
			 SlRefusal *r)
{
	IChunk	   *c = (IChunk *) self;
	ILicenceKey k;
	bool		found;
	ILicence   *l;

	memset(&k, 0, sizeof(k));
	k.seller = seller;
	k.on = on;
	strlcpy(k.category, category, sizeof(k.category));
	l = hash_search(c->licences, &k, HASH_FIND, &found);
	if (l != NULL)
	{
		*lic = l->licence;
		return true;
	}
	if (!CheckLicence(seller, category, on, lic, r))
		return false;
	l = hash_search(c->licences, &k, HASH_ENTER, &found);
	l->licence = *lic;
	return true;
}

/* The actor check passed once is not asked again in the chunk. */
static bool
ChunkMayAct(SlLookup *self, int64 op, const char *action, SlRefusal *r)
{
	IChunk	   *c = (IChunk *) self;
	IActorKey	k;
	bool		found;

	memset(&k, 0, sizeof(k));
	k.op = op;
	strlcpy(k.action, action, sizeof(k.action));
	hash_search(c->actors, &k, HASH_FIND, &found);
	if (found)
		return true;
	if (!RecordMayAct(op, action, r))
		return false;
	hash_search(c->actors, &k, HASH_ENTER, &found);
	return true;
}

/*
 * The sale the receive line in hand names: ReceiveLine resolves its link
 * (or link_ref, to a ship line of the upload) before the rules run.
 */
static bool
ChunkSale(SlLookup *self, int64 key, SlSale *p)
{
	IChunk	   *c = (IChunk *) self;
	ILink	   *l = c->named;
	IOperator  *so,
			   *bo;
	SlBatch    *b;

	if (l == NULL || !l->found)
		return false;
	/* the operators as the link's join reads them */
	so = OperatorGet(c, l->seller);
	bo = OperatorGet(c, l->buyer);
	if (!so->found || !bo->found)
		elog(ERROR, "the parties of sale %lld are not registered", (long long) l->id);
	b = &l->from->b;
	p->id = l->id;
	p->from_batch = b->id;
	p->from_code = b->code;
	p->seller = l->seller;
	p->buyer = l->buyer;
	p->shipped_qty = l->shipped_qty;
	p->shipped = l->shipped;
	p->status = l->status;
	p->has_expiry = b->has_expiry;
	p->expires = b->expires;
	p->product = b->product;
	p->has_licence = l->has_licence;
	p->licence = l->licence;
	p->seller_status = so->status;
	p->buyer_status = bo->status;
	p->buyer_station = bo->info.station;
	return true;
}

/* The product's shelf life, read once per chunk. */
static bool
ChunkProduct(SlLookup *self, int64 id, bool *has_shelf, int32 *shelf)
{
	IChunk	   *c = (IChunk *) self;
	bool		found;
	IProduct   *p = hash_search(c->products, &id, HASH_ENTER, &found);

	if (!found)
		p->found = RecordLookupProduct(id, &p->has_shelf, &p->shelf);
	if (!p->found)
		return false;
	*has_shelf = p->has_shelf;
	*shelf = p->shelf;
	return true;
}

static const SlLookup chunk_lookup = {ChunkBatch, ChunkOperator, ChunkLicence, ChunkMayAct, ChunkSale,
ChunkProduct};

static SlStmt ship_ref_stmt = {
	"SELECT result::bigint FROM shilian.import_line WHERE job_id = $1 AND line_no = $2"
	" AND kind = 'ship' AND status = 'accepted'",
	2, {"bigint", "integer"}
};

static int64
ShipRefLink(int64 line_no)
{
	bool		found;
	IShipRef   *r;

	if (ship_refs != NULL && (r = hash_search(ship_refs, &line_no, HASH_FIND, &found)) != NULL)
		return r->link;
	if (line_no < 1 || line_no > PG_INT32_MAX)
		return 0;
	{
		Datum		v[2] = {Int64GetDatum(current_job), Int32GetDatum((int32) line_no)};

		SlExec(&ship_ref_stmt, v, NULL, 1);
	}
	return SPI_processed == 1 ? DatumGetInt64(SlGet(0, 1, NULL)) : 0;
}

/* ---- line fields (as import_line_call reads them) ------------------------- */

static const char *const ship_fields[] = {"code", "buyer", "qty", "shipped_on", "seller", NULL};
static const int ship_required = 3;
static const char *const receive_fields[] = {"link", "qty", "inspection", "received_at",
"reject_reason", "into_batch", "link_ref", NULL};
static const int receive_required = 2;	/* inspection is optional (RecordReceiveCheck) */

static const char *const batch_fields[] = {"owner", "product", "qty", "produced_on", "lot",
"expires_on", "certificate", NULL};
static const int batch_required = 3;	/* produced_on defaults to the platform's today */

/* inspect's parameters; kind is the field inspection_kind (import_line_call) */
static const char *const inspection_fields[] = {"code", "inspection_kind", "result", "report",
"inspected_at", "operator", NULL};
static const int inspection_required = 4;	/* inspected_at defaults to now() */

/* consume's parameters; kind is the field consumption_kind, consumed_at may come as "at" (0.2.0) */
static const char *const consume_fields[] = {"code", "qty", "consumption_kind", "consumed_at", "note",
"operator", "at", NULL};
static const int consume_required = 3;	/* consumed_at defaults to now() */

/* receive_first_entry's parameters */
static const char *const first_entry_fields[] = {"buyer", "product", "qty", "supplier", "inspection",
"produced_on", "received_at", "lot", "certificate", NULL};
static const int first_entry_required = 4;	/* produced_on: today, received_at: now() */

/* transform's parameters */
static const char *const transform_fields[] = {"inputs", "qtys", "product", "qty", "produced_on", "lot",
"expires_on", "operator", NULL};
static const int transform_required = 4;	/* produced_on defaults to the platform's today */

/* reject's parameters */
static const char *const reject_fields[] = {"link", "reject_reason", "rejected_at", NULL};
static const int reject_required = 2;	/* rejected_at defaults to now() */

/* Whether the object rec has the key field (with any value, JSON null too). */
static bool
FieldPresent(Jsonb *rec, const char *field)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) field;
	k.val.string.len = strlen(field);
	return findJsonbValueFromContainer(&rec->root, JB_FOBJECT, &k) != NULL;
}

/* The value of key field in the object rec: NULL for absent or JSON null. */
static JsonbValue *
FieldValue(Jsonb *rec, const char *field)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) field;
	k.val.string.len = strlen(field);
	v = findJsonbValueFromContainer(&rec->root, JB_FOBJECT, &k);
	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

/* A JSON value as ->> and jsonb_array_elements_text give it: NULL for JSON null. */
static char *
ValueText(JsonbValue *v)
{
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (v->type == jbvBool)
		return pstrdup(v->val.boolean ? "true" : "false");
	return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
}

/* $1 ->> field: NULL for absent or JSON null. */
static char *
FieldText(Jsonb *rec, const char *field)
{
	return ValueText(FieldValue(rec, field));
}

/*
 * ARRAY(SELECT jsonb_array_elements_text($1 -> field)), as import_line_call
 * reads an array parameter (the field is there): its elements' texts (NULL
 * for JSON null), *n of them; raises what jsonb_array_elements_text raises
 * for a field that is no array.
 */
static char **
FieldArray(Jsonb *rec, const char *field, int *n)
{
	JsonbValue *v = FieldValue(rec, field);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken t;
	char	  **out;
	int			k = 0;

	if (v->type != jbvBinary || JsonContainerIsScalar(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from a scalar")));
	if (!JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from an object")));
	out = palloc_array(char *, Max(JsonContainerSize(v->val.binary.data), 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((t = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (t == WJB_ELEM)
			out[k++] = ValueText(&e);
	*n = k;
	return out;
}

/* $1 -> field as jsonb: NULL for absent or JSON null. */
static Jsonb *
FieldJsonb(Jsonb *rec, const char *field)
{
	JsonbValue *v = FieldValue(rec, field);

	return v == NULL ? NULL : JsonbValueToJsonb(v);
}

/*
 * The input functions Cast calls, looked up once per ParseFrom (a handful
 * of types; the lookup and fmgr_info were a tenth of a line's parsing).
 * Emptied at each ParseFrom's start, so nothing an error interrupted is
 * used again; kept in ParseFrom's context, which outlives its rollback.
 */
typedef struct CastFn
{
	Oid			typ;
	Oid			ioparam;
	FmgrInfo	fn;
} CastFn;

#define NCAST_FNS 8
static CastFn cast_fns[NCAST_FNS];
static int	ncast_fns = 0;
static MemoryContext cast_cxt = NULL;	/* set while ParseFrom parses */

static Datum
Cast(const char *text, Oid typ)
{
	Oid			in,
				ioparam;
	CastFn	   *f;

	for (int i = 0; i < ncast_fns; i++)
		if (cast_fns[i].typ == typ)
			return InputFunctionCall(&cast_fns[i].fn, (char *) text, cast_fns[i].ioparam, -1);
	getTypeInputInfo(typ, &in, &ioparam);
	if (cast_cxt == NULL || ncast_fns == NCAST_FNS)
		return OidInputFunctionCall(in, (char *) text, ioparam, -1);
	f = &cast_fns[ncast_fns];
	fmgr_info_cxt(in, &f->fn, cast_cxt);
	f->typ = typ;
	f->ioparam = ioparam;
	ncast_fns++;
	return InputFunctionCall(&f->fn, (char *) text, ioparam, -1);
}

/*
 * The checks import_line_call makes before a call: every field names a
 * parameter (in key order), every required parameter is there (in parameter
 * order). link_ref stands in for link.
 */
/* Whether key (len bytes) is "kind" or one of fields. */
static bool
KnownField(const char *key, int len, const char *const *fields)
{
	if (len == 4 && memcmp(key, "kind", 4) == 0)
		return true;
	for (int i = 0; fields[i]; i++)
		if (strlen(fields[i]) == (size_t) len && memcmp(key, fields[i], len) == 0)
			return true;
	return false;
}

/*
 * The keys are first only matched (jsonb's keys hold no NUL byte): only a
 * line with an unknown key has them copied and sorted, to name the first
 * unknown one in key order as before.
 */
static void
CheckFields(Jsonb *rec, const char *kind, const char *const *fields, int required)
{
	JsonbIterator *it = JsonbIteratorInit(&rec->root);
	JsonbValue	v;
	JsonbIteratorToken r;
	List	   *keys = NIL;
	ListCell   *lc;
	bool		unknown = false;

	while (!unknown && (r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (r == WJB_KEY)
			unknown = !KnownField(v.val.string.val, v.val.string.len, fields);
	if (unknown)
	{
		it = JsonbIteratorInit(&rec->root);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_KEY)
				keys = lappend(keys, pnstrdup(v.val.string.val, v.val.string.len));
		list_sort(keys, (list_sort_comparator) pg_qsort_strcmp);
	}
	foreach(lc, keys)
	{
		char	   *k = lfirst(lc);
		bool		ok = strcmp(k, "kind") == 0;

		for (int i = 0; !ok && fields[i]; i++)
			ok = strcmp(k, fields[i]) == 0;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"%s\" for kind %s", k, kind)));
	}
	for (int i = 0; i < required; i++)
	{
		/* FieldText's NULL: absent or JSON null */
		if (FieldValue(rec, fields[i]) != NULL)
			continue;
		if (strcmp(fields[i], "link") == 0 && FieldValue(rec, "link_ref") != NULL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("missing field \"%s\" for kind %s", fields[i], kind)));
	}
}

/* ---- parsing (throws: run in a subtransaction by ParseFrom) ----------------- */

static const char *
KindName(Jsonb *rec)
{
	return FieldText(rec, "kind");
}

static void
ParseShip(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlShip	   *sh = &ln->ship;
	char	   *s;

	CheckFields(rec, "ship", ship_fields, ship_required);
	sh->code = DatumGetTraceCode(Cast(FieldText(rec, "code"), trace_code_typ));
	sh->buyer = DatumGetInt64(Cast(FieldText(rec, "buyer"), INT8OID));
	sh->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	s = FieldText(rec, "shipped_on");
	sh->shipped = s ? SlStrictDate(s, "shipped_on") : PlatformToday();
	s = FieldText(rec, "seller");
	sh->has_seller = s != NULL;
	sh->seller = s ? DatumGetInt64(Cast(s, INT8OID)) : 0;
}

static void
ParseReceive(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlReceive  *rv = &ln->recv;
	char	   *s;
	char	   *ref;

	CheckFields(rec, "receive", receive_fields, receive_required);
	s = FieldText(rec, "link");
	ref = FieldText(rec, "link_ref");
	if (s != NULL && ref != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields \"link\" and \"link_ref\" exclude each other")));
	rv->link = s ? DatumGetInt64(Cast(s, INT8OID)) : 0;
	rv->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	rv->inspection = FieldJsonb(rec, "inspection");
	s = FieldText(rec, "received_at");
	rv->at = s ? SlStrictTimestamptz(s, "received_at") : GetCurrentTransactionStartTimestamp();
	s = FieldText(rec, "reject_reason");
	ln->reason = s ? CStringGetTextDatum(s) : (Datum) 0;
	rv->has_reason = s != NULL;
	ln->has_ref = ref != NULL;
	if (ln->has_ref)
		ln->ref = DatumGetInt32(Cast(ref, INT4OID));
}

/* The arguments of batch_create, as import_line_call casts them, in their order. */
static void
ParseBatch(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlBatchNew *b = &ln->batch;
	char	   *s;

	CheckFields(rec, "batch", batch_fields, batch_required);
	b->owner = DatumGetInt64(Cast(FieldText(rec, "owner"), INT8OID));
	b->product = DatumGetInt64(Cast(FieldText(rec, "product"), INT8OID));
	b->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	s = FieldText(rec, "produced_on");
	b->produced = s ? SlStrictDate(s, "produced_on") : PlatformToday();
	s = FieldText(rec, "lot");
	ln->lot = s ? CStringGetTextDatum(s) : (Datum) 0;
	s = FieldText(rec, "expires_on");
	b->has_expiry = s != NULL;
	b->expires = s ? SlStrictDate(s, "expires_on") : 0;
	b->certificate = FieldJsonb(rec, "certificate");
}

/* The arguments of inspect, as import_line_call casts them, in their order. */
static void
ParseInspect(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlInspect  *in = &ln->insp;
	char	   *s;

	CheckFields(rec, "inspection", inspection_fields, inspection_required);
	in->code = DatumGetTraceCode(Cast(FieldText(rec, "code"), trace_code_typ));
	in->kind = FieldText(rec, "inspection_kind");
	in->result = FieldText(rec, "result");
	in->report = FieldJsonb(rec, "report");
	s = FieldText(rec, "inspected_at");
	in->at = s ? SlStrictTimestamptz(s, "inspected_at") : GetCurrentTransactionStartTimestamp();
	s = FieldText(rec, "operator");
	in->has_operator = s != NULL;
	in->operator_id = s ? DatumGetInt64(Cast(s, INT8OID)) : 0;
}

/*
 * The arguments of consume, as import_line_call casts them, in their order:
 * consumed_at is read from "at" when the line has no key consumed_at.
 */
static void
ParseConsume(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlConsume  *cn = &ln->cons;
	const char *atf = FieldPresent(rec, "consumed_at") || !FieldPresent(rec, "at") ? "consumed_at" : "at";
	char	   *s;

	CheckFields(rec, "consume", consume_fields, consume_required);
	cn->code = DatumGetTraceCode(Cast(FieldText(rec, "code"), trace_code_typ));
	cn->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	cn->kind = FieldText(rec, "consumption_kind");
	s = FieldText(rec, atf);
	cn->at = s ? SlStrictTimestamptz(s, atf) : GetCurrentTransactionStartTimestamp();
	s = FieldText(rec, "note");
	ln->note = s ? CStringGetTextDatum(s) : (Datum) 0;
	s = FieldText(rec, "operator");
	cn->has_operator = s != NULL;
	cn->operator_id = s ? DatumGetInt64(Cast(s, INT8OID)) : 0;
}

/* The arguments of receive_first_entry, as import_line_call casts them, in their order. */
static void
ParseFirstEntry(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlFirstEntry *f = &ln->first;
	char	   *s;

	CheckFields(rec, "first_entry", first_entry_fields, first_entry_required);
	f->buyer = DatumGetInt64(Cast(FieldText(rec, "buyer"), INT8OID));
	f->product = DatumGetInt64(Cast(FieldText(rec, "product"), INT8OID));
	f->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	f->supplier = FieldJsonb(rec, "supplier");
	f->inspection = FieldJsonb(rec, "inspection");
	s = FieldText(rec, "produced_on");
	f->produced = s ? SlStrictDate(s, "produced_on") : PlatformToday();
	s = FieldText(rec, "received_at");
	f->at = s ? SlStrictTimestamptz(s, "received_at") : GetCurrentTransactionStartTimestamp();
	s = FieldText(rec, "lot");
	ln->lot = s ? CStringGetTextDatum(s) : (Datum) 0;
	f->certificate = FieldJsonb(rec, "certificate");
}

/* The arguments of transform, as import_line_call casts them, in their order. */
static void
ParseTransform(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlTransform *t = &ln->tr;
	char	  **texts;
	char	   *s;

	CheckFields(rec, "transform", transform_fields, transform_required);
	texts = FieldArray(rec, "inputs", &t->ncodes);
	t->codes = palloc0_array(TraceCode, Max(t->ncodes, 1));
	t->code_null = palloc0_array(bool, Max(t->ncodes, 1));
	for (int i = 0; i < t->ncodes; i++)
	{
		t->code_null[i] = texts[i] == NULL;
		if (texts[i])
			t->codes[i] = DatumGetTraceCode(Cast(texts[i], trace_code_typ));
	}
	texts = FieldArray(rec, "qtys", &t->nqtys);
	t->qtys = palloc0_array(Qty, Max(t->nqtys, 1));
	t->qty_null = palloc0_array(bool, Max(t->nqtys, 1));
	for (int i = 0; i < t->nqtys; i++)
	{
		t->qty_null[i] = texts[i] == NULL;
		if (texts[i])
			t->qtys[i] = DatumGetQty(Cast(texts[i], qty_typ));
	}
	t->product = DatumGetInt64(Cast(FieldText(rec, "product"), INT8OID));
	t->q = DatumGetQty(Cast(FieldText(rec, "qty"), qty_typ));
	s = FieldText(rec, "produced_on");
	t->produced = s ? SlStrictDate(s, "produced_on") : PlatformToday();
	s = FieldText(rec, "lot");
	ln->lot = s ? CStringGetTextDatum(s) : (Datum) 0;
	s = FieldText(rec, "expires_on");
	t->has_expiry = s != NULL;
	t->expires = s ? SlStrictDate(s, "expires_on") : 0;
	s = FieldText(rec, "operator");
	t->has_operator = s != NULL;
	t->operator_id = s ? DatumGetInt64(Cast(s, INT8OID)) : 0;
}

/* The arguments of reject, as import_line_call casts them, in their order (link_ref resolved before). */
static void
ParseReject(ILine *ln)
{
	Jsonb	   *rec = ln->rec;
	SlReject   *rj = &ln->rej;
	char	   *s;

	CheckFields(rec, "reject", reject_fields, reject_required);
	rj->link = DatumGetInt64(Cast(FieldText(rec, "link"), INT8OID));
	ln->reason = CStringGetTextDatum(FieldText(rec, "reject_reason"));
	s = FieldText(rec, "rejected_at");
	rj->at = s ? SlStrictTimestamptz(s, "rejected_at") : GetCurrentTransactionStartTimestamp();
}

/* ---- h-history: line references to batches and to sales of earlier lines ---- */

static SlStmt batch_ref_stmt = {
	"SELECT result FROM shilian.import_line WHERE job_id = $1 AND line_no = $2"
	" AND kind IN ('batch', 'receive', 'first_entry', 'transform') AND status = 'accepted'",
	2, {"bigint", "integer"}
};

static SlStmt ref_replace_stmt = {
	"SELECT ($1 - $2) || jsonb_build_object($3, $4::jsonb)",
	4, {"jsonb", "text", "text", "text"}
};

/* rec with field `from` replaced by field `to` = value (JSON text). */
static Jsonb *
RefReplace(Jsonb *rec, const char *from, const char *to, const char *value)
{
	Datum		v[4] = {JsonbPGetDatum(rec), CStringGetTextDatum(from), CStringGetTextDatum(to),
	CStringGetTextDatum(value)};

	SlExec(&ref_replace_stmt, v, NULL, 1);
	return (Jsonb *) PG_DETOAST_DATUM_COPY(SlGet(0, 1, NULL));
}

static int64
RefLineNo(Jsonb *rec, const char *field)
{
	return DatumGetInt32(Cast(FieldText(rec, field), INT4OID));
}

/*
 * A ship, inspection or consume line may name its lot by "code_ref": N, the
 * number of an earlier line of the same upload that made a batch (batch,
 * receive, first_entry, transform) and was accepted; a reject line its sale
 * by "link_ref": N, an accepted ship line. The reference becomes the field
 * it stands for before the line is parsed (docs/integration.md).
 */
static Jsonb *
ResolveRefs(Jsonb *rec, const char *kind)
{
	if (FieldText(rec, "code_ref") != NULL)
	{
		int64		n;
		IBatchRef  *r;
		bool		found;
		char	   *code = NULL;

		if (strcmp(kind, "ship") != 0 && strcmp(kind, "inspection") != 0 && strcmp(kind, "consume") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"code_ref\" for kind %s", kind),
					 errhint("code_ref names the lot of a ship, inspection or consume line.")));
		if (FieldText(rec, "code") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fields \"code\" and \"code_ref\" exclude each other")));
		n = RefLineNo(rec, "code_ref");
		if (batch_refs != NULL && (r = hash_search(batch_refs, &n, HASH_FIND, &found)) != NULL)
			code = pstrdup(r->code);
		else if (n >= 1 && n <= PG_INT32_MAX)
		{
			Datum		v[2] = {Int64GetDatum(current_job), Int32GetDatum((int32) n)};
			bool		isnull;

			SlExec(&batch_ref_stmt, v, NULL, 1);
			if (SPI_processed == 1)
			{
				Datum		d = SlGet(0, 1, &isnull);

				if (!isnull)
					code = TextDatumGetCString(d);
			}
		}
		if (code == NULL)
			ereport(ERROR,
					(errcode(SL_BAD_LINE_REF),
					 errmsg("bad line reference: line %lld of this upload is not an accepted line that made a batch",
							(long long) n),
					 errdetail("code_ref names an earlier batch, receive, first_entry or transform line of the same upload.")));
		{
			StringInfoData j;

			initStringInfo(&j);
			escape_json(&j, code);
			rec = RefReplace(rec, "code_ref", "code", j.data);
		}
	}
	if (strcmp(kind, "reject") == 0 && FieldText(rec, "link_ref") != NULL)
	{
		int64		n;
		int64		id;

		if (FieldText(rec, "link") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fields \"link\" and \"link_ref\" exclude each other")));
		n = RefLineNo(rec, "link_ref");
		id = ShipRefLink(n);
		if (id == 0)
			ereport(ERROR,
					(errcode(SL_BAD_LINE_REF),
					 errmsg("bad line reference: line %lld of this upload is not an accepted ship line",
							(long long) n),
					 errdetail("link_ref names an earlier ship line of the same upload.")));
		rec = RefReplace(rec, "link_ref", "link", psprintf(INT64_FORMAT, id));
	}
	return rec;
}

/* Whether a staged line refers to an earlier line by a reference resolved at parse time. */
static bool
HasParseRef(const char *body)
{
	return body != NULL && (strstr(body, "\"code_ref\"") != NULL ||
							(strstr(body, "\"link_ref\"") != NULL && strstr(body, "\"reject\"") != NULL));
}

/* The line's JSON, kind and (for ship and receive) fields and literals. */
static void
ParseLine(ILine *ln, const char *body)
{
	Jsonb	   *rec = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(body)));
	const char *k;

	ln->rec = rec;
	if (!JB_ROOT_IS_OBJECT(rec) || JB_ROOT_IS_SCALAR(rec))
	{
		const char *t = JB_ROOT_IS_ARRAY(rec) && !JB_ROOT_IS_SCALAR(rec) ? "array" :
			TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(rec)));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a line must be a JSON object, not %s", t)));
	}
	k = KindName(rec);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("missing field \"kind\"")));
	ln->kind_name = pstrdup(k);
	rec = ln->rec = ResolveRefs(rec, k);
	if (strcmp(k, "ship") == 0)
		ln->kind = LK_SHIP;
	else if (strcmp(k, "receive") == 0 && FieldText(rec, "into_batch") == NULL)
		ln->kind = LK_RECEIVE;
	else if (strcmp(k, "batch") == 0)
		ln->kind = LK_BATCH;
	else if (strcmp(k, "inspection") == 0)
		ln->kind = LK_INSPECT;
	else if (strcmp(k, "consume") == 0)
		ln->kind = LK_CONSUME;
	else if (strcmp(k, "first_entry") == 0)
		ln->kind = LK_FIRST;
	else if (strcmp(k, "reject") == 0)
		ln->kind = LK_REJECT;
	else if (strcmp(k, "transform") == 0)
		ln->kind = LK_TRANSFORM;
	else
		ln->kind = LK_OTHER;
	if (ln->kind == LK_SHIP)
		ParseShip(ln);
	else if (ln->kind == LK_RECEIVE)
		ParseReceive(ln);
	else if (ln->kind == LK_BATCH)
		ParseBatch(ln);
	else if (ln->kind == LK_INSPECT)
		ParseInspect(ln);
	else if (ln->kind == LK_CONSUME)
		ParseConsume(ln);
	else if (ln->kind == LK_FIRST)
		ParseFirstEntry(ln);
	else if (ln->kind == LK_REJECT)
		ParseReject(ln);
	else if (ln->kind == LK_TRANSFORM)
		ParseTransform(ln);
}

static void
RefuseLine(ILine *ln, int sqlerrcode, const char *message, const char *detail)
{
	ln->refused = true;
	ln->err.sqlerrcode = sqlerrcode;
	ln->err.message = pstrdup(message ? message : "");
	ln->err.detail = detail ? pstrdup(detail) : NULL;
	ln->err.hint = NULL;
}

/*
 * Parse the lines from `from` on in one subtransaction (nothing is written
 * in it, so it takes no transaction id), up to the first that does not
 * parse: that line is refused once the subtransaction is rolled back, or,
 * for an error that is no refusal, the error is thrown on. Returns the line
 * to go on from. What the lines parsed lives in cxt, which the rollback
 * leaves alone.
 */
static int
ParseFrom(IChunk *c, int from, char **bodies, MemoryContext cxt)
{
	volatile int i = from;
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile e = NULL;

	ncast_fns = 0;
	cast_cxt = cxt;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (; i < c->n; i++)
			if (!c->lines[i].refused)
				ParseLine(&c->lines[i], bodies[i] ? bodies[i] : "");
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	ncast_fns = 0;
	cast_cxt = NULL;
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	if (e == NULL)
		return c->n;
	if (!RecordIsRefusal(e->sqlerrcode))
		ReThrowError(e);
	RefuseLine(&c->lines[i], e->sqlerrcode, e->message, e->detail);
	return i + 1;
}

/* ---- the rules of one line, and what an accepted line changes ------------- */

static void
Refused(ILine *ln, SlRefusal *r)
{
	ln->refused = true;
	ln->err = *r;
}

static void
MarkDirty(IChunk *c, IBatch *b)
{
	if (!b->dirty)
	{
		b->dirty = true;
		c->dirty = lappend(c->dirty, b);
	}
}

static void
ShipLine(IChunk *c, ILine *ln)
{
	SlShip	   *sh = &ln->ship;
	SlRefusal	r;
	IBatch	   *b;
	ILink	   *made;

	if (!RecordShipCheck(&c->lookup, sh, &r))
	{
		Refused(ln, &r);
		return;
	}
	/* accepted: the balance and the sale it makes, for later lines */
	b = BatchGet(c, sh->code);
	b->b.left = QtySub(b->b.left, sh->q);
	MarkDirty(c, b);
	{
		int64		line = ln->line_no;

		made = hash_search(c->made, &line, HASH_ENTER, NULL);
	}
	made->found = true;
	made->id = 0;
	made->from = b;
	made->from_id = b->b.id;
	made->seller = sh->seller;
	made->buyer = sh->buyer;
	made->shipped_qty = sh->q;
	made->shipped = sh->shipped;
	made->status = "pending";
	made->has_licence = sh->has_licence;
	made->licence = sh->licence;
	made->settled = NULL;
	made->ship = ln;
	ln->made = made;
	ln->ledger_op = sh->seller;
	c->nship++;
}

static void
ReceiveLine(IChunk *c, ILine *ln)
{
	SlReceive  *rv = &ln->recv;
	SlRefusal	r;
	ILink	   *l;

	if (ln->has_ref)
	{
		int64		n = ln->ref;
		bool		found;

		l = hash_search(c->made, &n, HASH_FIND, &found);
		if (l == NULL)
		{
			/* a ship line of an earlier chunk: its link by the report or this call's map */
			int64		id = ShipRefLink(n);

			if (id != 0)
				l = LinkGet(c, id);
		}
		if (l == NULL || !l->found)
		{
			Refuse(&r, SL_BAD_LINE_REF,
				   "link_ref names an earlier line of the same upload whose sale is received.", NULL,
				   "bad line reference: line %lld of this upload is not an accepted ship line",
				   (long long) n);
			Refused(ln, &r);
			return;
		}
		rv->link = l->id;		/* 0 for a sale of this chunk not written yet */
	}
	else
		l = LinkGet(c, rv->link);
	c->named = l;
	if (!RecordReceiveCheck(&c->lookup, rv, &r))
	{
		/*
		 * A sale of this chunk not written yet is checked as it is; only if
		 * a rule refuses is it written first, so the message names its id.
		 */
		if (l->found && l->id == 0)
		{
			Flush(c);
			if (RecordReceiveCheck(&c->lookup, rv, &r))
				elog(ERROR, "the rules of receive disagree once the sale is written");
		}
		Refused(ln, &r);
		return;
	}

	/*
	 * accepted; a receipt copies the seller's certificate: one a queued
	 * inspection line gives the batch is written first
	 */
	if (l->from != NULL && l->from->cert_pending)
		Flush(c);
	l->status = "received";
	if (l->id == 0)
		l->settled = ln;
	if (rv->cmp < 0)
	{
		IBatch	   *b = l->from;

		b->b.left = QtyAdd(b->b.left, QtySub(l->shipped_qty, rv->q));
		MarkDirty(c, b);
	}
	ln->link = l;
	ln->ledger_op = l->buyer;
	c->nrecv++;
}

static void
BatchLine(IChunk *c, ILine *ln)
{
	SlRefusal	r;

	if (!RecordBatchCheck(&c->lookup, &ln->batch, &r))
	{
		Refused(ln, &r);
		return;
	}
	ln->ledger_op = ln->batch.owner;
	c->nbatch++;
}

static void
InspectLine(IChunk *c, ILine *ln)
{
	SlInspect  *in = &ln->insp;
	SlRefusal	r;
	IBatch	   *b;

	if (!RecordInspectCheck(&c->lookup, in, &r))
	{
		Refused(ln, &r);
		return;
	}
	/* inspect_stmt: the first release inspection passed gives a batch without one its certificate */
	b = BatchGet(c, in->code);
	ln->sets_cert = strcmp(in->kind, "release") == 0 && strcmp(in->result, "pass") == 0 &&
		b->b.certificate == (Datum) 0 && !b->cert_pending;
	if (ln->sets_cert)
		b->cert_pending = true;
	ln->ledger_op = in->operator_id;
	c->ninsp++;
}

static void
ConsumeLine(IChunk *c, ILine *ln)
{
	SlConsume  *cn = &ln->cons;
	SlRefusal	r;
	IBatch	   *b;

	if (!RecordConsumeCheck(&c->lookup, cn, &r))
	{
		Refused(ln, &r);
		return;
	}
	/* accepted: the balance, for later lines */
	b = BatchGet(c, cn->code);
	b->b.left = QtySub(b->b.left, cn->q);
	MarkDirty(c, b);
	ln->ledger_op = cn->operator_id;
	c->ncons++;
}

static void
FirstEntryLine(IChunk *c, ILine *ln)
{
	SlRefusal	r;

	if (!RecordFirstEntryCheck(&c->lookup, &ln->first, &r))
	{
		Refused(ln, &r);
		return;
	}
	ln->ledger_op = ln->first.buyer;
	c->nfirst++;
}

/*
 * A rejection: the sale (by link id; a link_ref was resolved when the line
 * was parsed, to a sale of an earlier chunk) goes back whole to the seller's
 * batch, for later lines.
 */
static void
RejectLine(IChunk *c, ILine *ln)
{
	SlRefusal	r;
	ILink	   *l = LinkGet(c, ln->rej.link);
	IBatch	   *b;

	c->named = l;
	if (!RecordRejectCheck(&c->lookup, &ln->rej, &r))
	{
		Refused(ln, &r);
		return;
	}
	l->status = "rejected";
	b = l->from;
	b->b.left = QtyAdd(b->b.left, l->shipped_qty);
	MarkDirty(c, b);
	ln->link = l;
	ln->ledger_op = l->buyer;
	c->nrej++;
}

/* A transformation: each input's quantity leaves its balance, for later lines. */
static void
TransformLine(IChunk *c, ILine *ln)
{
	SlTransform *t = &ln->tr;
	SlRefusal	r;

	if (!RecordTransformCheck(&c->lookup, t, &r))
	{
		Refused(ln, &r);
		return;
	}
	for (int i = 0; i < t->ncodes; i++)
	{
		IBatch	   *b = BatchGet(c, t->codes[i]);

		b->b.left = QtySub(b->b.left, t->qtys[i]);
		MarkDirty(c, b);
	}
	ln->ledger_op = t->operator_id;
	c->ntrans++;
	c->ntrans_in += t->ncodes;
}

/* ---- writes ------------------------------------------------------------------- */

/* Whether the line writes an inspection (its id drawn in line order). */
static bool
DrawsInspection(ILine *ln)
{
	return ln->kind == LK_INSPECT || (ln->kind == LK_RECEIVE && ln->recv.inspection != NULL) ||
		(ln->kind == LK_FIRST && ln->first.inspection != NULL);
}

/*
 * The ids and trace codes of the chunk's new batches (of batch and receive
 * lines), drawn in line order as one record function call per line draws
 * them, so each line's batch gets the id and code it would get alone.
 */
static SlStmt batch_ids_stmt = {
	"SELECT nextval('shilian.batch_id_seq'::regclass), shilian.trace_code_next(u.region)"
	" FROM unnest($1::text[]) WITH ORDINALITY AS u(region, o) ORDER BY u.o",
	1, {"text[]"}
};

/*
 * n inspection ids, in the order drawn (one record function call per line
 * draws them in line order). The sequence is looked up once per statement:
 * pg_get_serial_sequence() in the select list ran for every id (a pg_depend
 * scan each, 3 % of a ship + receive import).
 */
static SlStmt inspection_ids_stmt = {
	"WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('shilian.inspection', 'id')::regclass AS seq)"
	" SELECT nextval(s.seq) AS id FROM s CROSS JOIN generate_series(1, $1) ORDER BY id",
	1, {"integer"}
};

/*
 * The inspections of the chunk's inspection lines, as inspect_stmt writes
 * one: the first release inspection passed of a batch without certificate
 * (cert, found by the lines' checks) gives it one. In line order.
 */
static SlStmt inspect_many_stmt = {
	"WITH d AS MATERIALIZED (SELECT u.*"
	"  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[],"
	"   $7::timestamptz[], $8::boolean[]) WITH ORDINALITY AS u(id, batch, op, kind, result, report, at,"
	"   cert, o)),"
	" i AS (INSERT INTO shilian.inspection (id, batch_id, operator_id, kind, result, report, inspected_at)"
	"  OVERRIDING SYSTEM VALUE SELECT d.id, d.batch, d.op, d.kind, d.result, d.report, d.at FROM d"
	"  RETURNING id, to_jsonb(inspection.*) AS j),"
	" c AS (UPDATE shilian.batch b SET certificate = jsonb_build_object("
	"    'certificate_no', d.report->'certificate_no', 'inspection_id', d.id)"
	"  FROM d WHERE b.id = d.batch AND d.cert AND b.certificate IS NULL RETURNING b.id, b.certificate)"
	" SELECT i.j, c.certificate FROM d JOIN i ON i.id = d.id LEFT JOIN c ON d.cert AND c.id = d.batch"
	" ORDER BY d.o",
	8, {"bigint[]", "bigint[]", "bigint[]", "text[]", "text[]", "jsonb[]", "timestamptz[]", "boolean[]"}
};

/*
 * The new batches of the chunk's batch lines, as batch_create writes one; in
 * line order: their rows, for their entries built from them in C (RowBody),
 * or (batch_many_json_stmt) by to_jsonb when batch has a column RowValue
 * does not convert. The rows are inserted in the arrays' order and RETURNING
 * gives them back in that order, with the ids drawn for the lines in line
 * order: Flush checks each returned id against its line's (a join of the
 * returned rows back to the lines by id, then a sort, was a sixth of the
 * statement).
 */
#define BATCH_MANY_WRITE \
	"INSERT INTO shilian.batch (id, trace_code, owner_id, product_id, qty, qty_left," \
	"   produced_on, expires_on, lot, origin, certificate) OVERRIDING SYSTEM VALUE" \
	" SELECT u.nid, u.code, u.owner, u.product, u.q, u.q, u.produced, u.expires, u.lot, 'produced', u.cert" \
	"  FROM unnest($1::bigint[], $2::shilian.trace_code[], $3::bigint[], $4::bigint[], $5::shilian.qty[]," \
	"   $6::date[], $7::date[], $8::text[], $9::jsonb[]) AS u(nid, code, owner, product," \
	"   q, produced, expires, lot, cert)"
static SlStmt batch_many_stmt = {
	BATCH_MANY_WRITE
	" RETURNING batch AS r, id",
	9, {"bigint[]", "shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]",
		"text[]", "jsonb[]"}
};
static SlStmt batch_many_json_stmt = {
	BATCH_MANY_WRITE
	" RETURNING to_jsonb(batch.*) AS j, id",
	9, {"bigint[]", "shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]",
		"text[]", "jsonb[]"}
};

/*
 * The new batches (and incoming inspections) of the chunk's first_entry
 * lines, as first_entry_stmt writes one, ids and codes drawn before; in line order.
 */
static SlStmt first_entry_many_stmt = {
	"WITH d AS MATERIALIZED (SELECT u.*"
	"  FROM unnest($1::bigint[], $2::shilian.trace_code[], $3::bigint[], $4::bigint[], $5::shilian.qty[],"
	"   $6::date[], $7::date[], $8::text[], $9::jsonb[], $10::jsonb[], $11::text[], $12::jsonb[],"
	"   $13::bigint[], $14::timestamptz[]) WITH ORDINALITY AS u(nid, code, buyer, product, q, produced,"
	"   expires, lot, supplier, cert, res, insp, iid, at, o)),"
	" nb AS (INSERT INTO shilian.batch (id, trace_code, owner_id, product_id, qty, qty_left,"
	"   produced_on, expires_on, lot, origin, supplier, certificate, received_at) OVERRIDING SYSTEM VALUE"
	"  SELECT d.nid, d.code, d.buyer, d.product, d.q, d.q, d.produced, d.expires, d.lot, 'first_entry',"
	"   d.supplier, d.cert, d.at FROM d"
	"  RETURNING id, batch AS r),"
	" ins AS (INSERT INTO shilian.inspection (id, batch_id, operator_id, kind, result, report, inspected_at)"
	"  OVERRIDING SYSTEM VALUE"
	"  SELECT d.iid, d.nid, d.buyer, 'incoming', d.res, d.insp, d.at FROM d WHERE d.insp IS NOT NULL"
	"  RETURNING id, batch_id)"
	/* the entry {batch, inspection_id} by one to_jsonb of the rows, as for receipts */
	" SELECT to_jsonb(e)"
	" FROM d JOIN nb ON nb.id = d.nid LEFT JOIN ins ON ins.batch_id = d.nid,"
	"  LATERAL (SELECT nb.r AS batch, ins.id AS inspection_id) e ORDER BY d.o",
	14, {"bigint[]", "shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]",
		"text[]", "jsonb[]", "jsonb[]", "text[]", "jsonb[]", "bigint[]", "timestamptz[]"}
};

/* The consumptions of the chunk's consume lines, as consume_stmt writes one (balances apart); in line order. */
static SlStmt consume_many_stmt = {
	"WITH c AS (INSERT INTO shilian.consumption (batch_id, operator_id, qty, kind, consumed_at, note)"
	"  SELECT d.b, d.op, d.q, d.k, d.at, d.note"
	"  FROM unnest($1::bigint[], $2::bigint[], $3::shilian.qty[], $4::text[], $5::timestamptz[],"
	"   $6::text[]) WITH ORDINALITY AS d(b, op, q, k, at, note, o) ORDER BY d.o RETURNING *)"
	" SELECT id, to_jsonb(c.*) FROM c ORDER BY id",
	6, {"bigint[]", "bigint[]", "shilian.qty[]", "text[]", "timestamptz[]", "text[]"}
};

/*
 * n link ids, in the order drawn: the sales of ship lines and the links of
 * transform lines (one per input), in line order as one record function
 * call per line draws them; the sequence looked up once, as for inspections.
 */
static SlStmt link_ids_stmt = {
	"WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('shilian.link', 'id')::regclass AS seq)"
	" SELECT nextval(s.seq) AS id FROM s CROSS JOIN generate_series(1, $1) ORDER BY id",
	1, {"integer"}
};

/*
 * The sales of the chunk's ship lines, as ship_stmt writes one (balances
 * apart), ids drawn before: their rows, for their entries built in C
 * (RowBody), or by to_jsonb (ship_many_json_stmt) as for batches.
 */
#define SHIP_MANY_WRITE \
	"WITH l AS (INSERT INTO shilian.link (id, kind, from_batch, seller_id, buyer_id, qty_shipped," \
	"   shipped_on, seller_licence) OVERRIDING SYSTEM VALUE" \
	"  SELECT d.id, 'ship', d.b, d.s, d.u, d.q, d.d, d.l" \
	"  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::shilian.qty[], $5::date[]," \
	"   $6::shilian.licence_no[], $7::bigint[]) WITH ORDINALITY AS d(b, s, u, q, d, l, id, o)" \
	"  ORDER BY d.o"
static SlStmt ship_many_stmt = {
	SHIP_MANY_WRITE " RETURNING id, link AS r)"
	" SELECT id, r FROM l ORDER BY id",
	7, {"bigint[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "shilian.licence_no[]", "bigint[]"}
};
static SlStmt ship_many_json_stmt = {
	SHIP_MANY_WRITE " RETURNING *)"
	" SELECT id, to_jsonb(l.*) FROM l ORDER BY id",
	7, {"bigint[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "shilian.licence_no[]", "bigint[]"}
};

/*
 * The new batches and links of the chunk's transform lines, as
 * transform_stmt writes one (balances apart): batch ids and codes, link ids
 * drawn before; the links' time by SL_TRANSFORM_AT, over the receipts
 * written before (the chunk's too: an earlier statement). In line order.
 */
#define TRANSFORM_MANY_WRITE \
	"WITH d AS MATERIALIZED (SELECT u.*" \
	"  FROM unnest($1::bigint[], $2::shilian.trace_code[], $3::bigint[], $4::bigint[], $5::shilian.qty[]," \
	"   $6::date[], $7::date[], $8::text[]) WITH ORDINALITY AS u(nid, code, op, product, q, produced," \
	"   expires, lot, o))," \
	" x AS MATERIALIZED (SELECT u.* FROM unnest($9::bigint[], $10::bigint[], $11::bigint[], $12::shilian.qty[])" \
	"   AS u(lid, nid, f, q))," \
	" t AS MATERIALIZED (SELECT d.nid, (" SL_TRANSFORM_AT("d.produced", "i.ins", "$13") ") AS at" \
	"  FROM d JOIN (SELECT x.nid, array_agg(x.f) AS ins FROM x GROUP BY x.nid) i ON i.nid = d.nid)," \
	" nb AS (INSERT INTO shilian.batch (id, trace_code, owner_id, product_id, qty, qty_left," \
	"   produced_on, expires_on, lot, origin) OVERRIDING SYSTEM VALUE" \
	"  SELECT d.nid, d.code, d.op, d.product, d.q, d.q, d.produced, d.expires, d.lot, 'transformed'" \
	"  FROM d ORDER BY d.o RETURNING id, batch AS r)," \
	" li AS (INSERT INTO shilian.link (id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped," \
	"   qty_accepted, shipped_on, received_at, status) OVERRIDING SYSTEM VALUE" \
	"  SELECT x.lid, 'transform', x.f, x.nid, d.op, d.op, x.q, x.q, d.produced, t.at, 'received'" \
	"  FROM x JOIN d ON d.nid = x.nid JOIN t ON t.nid = x.nid ORDER BY x.lid RETURNING link AS r)," \
	" lg AS (SELECT (li.r).to_batch AS nid, array_agg(li.r ORDER BY (li.r).from_batch) AS inputs FROM li" \
	"  GROUP BY 1)"
/* the new batches' and their input links' rows, for the entries {batch, inputs} built in C (TransformBody) */
static SlStmt transform_many_stmt = {
	TRANSFORM_MANY_WRITE
	" SELECT nb.r, lg.inputs FROM d JOIN nb ON nb.id = d.nid JOIN lg ON lg.nid = d.nid ORDER BY d.o",
	13, {"bigint[]", "shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]",
		"text[]", "bigint[]", "bigint[]", "bigint[]", "shilian.qty[]", "timestamptz"}
};
/* the same, the entry {batch, inputs} by one to_jsonb of the rows (a column RowValue does not convert) */
static SlStmt transform_many_json_stmt = {
	TRANSFORM_MANY_WRITE
	" SELECT to_jsonb(e)"
	" FROM d JOIN nb ON nb.id = d.nid JOIN lg ON lg.nid = d.nid,"
	"  LATERAL (SELECT nb.r AS batch, lg.inputs AS inputs) e ORDER BY d.o",
	13, {"bigint[]", "shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]",
		"text[]", "bigint[]", "bigint[]", "bigint[]", "shilian.qty[]", "timestamptz"}
};

/*
 * The rejections of the chunk's reject lines, as reject_stmt writes one
 * (balances apart); in line order. The links probed by key, as for receipts.
 */
#define REJECT_MANY_WRITE \
	"WITH d AS MATERIALIZED (SELECT u.*" \
	"  FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) WITH ORDINALITY AS u(link, at, reason, o))," \
	" ul AS (UPDATE shilian.link l SET received_at = d.at, status = 'rejected', reject_reason = d.reason" \
	"  FROM d WHERE l.id = d.link AND l.id = ANY ($1)"
/* the rejected sales' rows, for their entries built in C (RowBody) */
static SlStmt reject_many_stmt = {
	REJECT_MANY_WRITE " RETURNING l.id, l AS r)"
	" SELECT ul.r FROM d JOIN ul ON ul.id = d.link ORDER BY d.o",
	3, {"bigint[]", "timestamptz[]", "text[]"}
};
/* the same, the entries by to_jsonb (a column RowValue does not convert) */
static SlStmt reject_many_json_stmt = {
	REJECT_MANY_WRITE " RETURNING l.id, to_jsonb(l.*) AS j)"
	" SELECT ul.j FROM d JOIN ul ON ul.id = d.link ORDER BY d.o",
	3, {"bigint[]", "timestamptz[]", "text[]"}
};

static SlStmt balance_stmt = {
	"UPDATE shilian.batch b SET qty_left = u.l FROM unnest($1::bigint[], $2::shilian.qty[]) AS u(id, l)"
	" WHERE b.id = u.id",
	2, {"bigint[]", "shilian.qty[]"}
};

/*
 * The receipts of the chunk, as receive_stmt writes one: the buyer's new
 * batch pre-filled from the seller's, the link received, the incoming
 * inspection when the line has one. The new batches' ids and trace codes are
 * drawn first (batch_ids_stmt, in line order), so every part is matched by
 * id, with plain joins the planner estimates well. The links are found by
 * their keys (l.id = ANY): joined to d alone, they were read by a merge join
 * over the whole primary key of link, every flush (22,500 index entries for
 * 2,500 receipts, growing with the table). A sale made by a ship line of
 * the same flush (new) is inserted here already received, not updated: its
 * row is written once, and its ship line's ledger entry is that row as
 * ship_many_stmt would have written it, pending.
 */
/* a sale of this flush (d.new) is written as ship_many_stmt writes it, with this receipt's columns */
#define RECEIVE_MANY_WRITE \
	"WITH d AS MATERIALIZED (SELECT u.*" \
	"  FROM unnest($1::shilian.trace_code[], $2::bigint[], $3::bigint[], $4::shilian.qty[]," \
	"   $5::date[], $6::date[], $7::text[], $8::shilian.licence_no[], $9::jsonb[], $10::bigint[]," \
	"   $11::timestamptz[], $12::text[], $13::text[], $14::jsonb[], $15::bigint[], $16::bigint[]," \
	"   $17::boolean[], $18::bigint[], $19::bigint[], $20::shilian.qty[], $21::date[])" \
	"   WITH ORDINALITY AS u(code, buyer, product, q, produced, expires, lot, lic, cert, link, at," \
	"   reason, res, insp, nid, iid, new, f, seller, shipped, shipped_on, o))," \
	" nb AS (INSERT INTO shilian.batch (id, trace_code, owner_id, product_id, qty, qty_left," \
	"   produced_on, expires_on, lot, origin, supplier_licence, certificate) OVERRIDING SYSTEM VALUE" \
	"  SELECT d.nid, d.code, d.buyer, d.product, d.q, d.q, d.produced, d.expires," \
	"   d.lot, 'received', d.lic, d.cert FROM d" \
	"  RETURNING id, trace_code, batch AS r)," \
	" ul AS (UPDATE shilian.link l SET to_batch = d.nid, qty_accepted = d.q, received_at = d.at," \
	"   status = 'received', reject_reason = d.reason FROM d" \
	"  WHERE l.id = d.link AND NOT d.new AND l.id = ANY ($10)" \
	"  RETURNING d.nid, l AS r)," \
	" li AS (INSERT INTO shilian.link (id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped," \
	"   qty_accepted, shipped_on, received_at, status, reject_reason, seller_licence) OVERRIDING SYSTEM VALUE" \
	"  SELECT d.link, 'ship', d.f, d.nid, d.seller, d.buyer, d.shipped, d.q, d.shipped_on, d.at," \
	"   'received', d.reason, d.lic FROM d WHERE d.new ORDER BY d.link" \
	"  RETURNING to_batch AS nid, link AS r)," \
	" lk AS (SELECT ul.nid, ul.r FROM ul UNION ALL SELECT li.nid, li.r FROM li)," \
	" ins AS (INSERT INTO shilian.inspection (id, batch_id, operator_id, kind, result, report, link_id," \
	"   inspected_at) OVERRIDING SYSTEM VALUE" \
	"  SELECT d.iid, d.nid, d.buyer, 'incoming', d.res, d.insp, d.link, d.at FROM d WHERE d.insp IS NOT NULL" \
	"  RETURNING id, batch_id)"

/*
 * The receipts' rows, for their entries {link, batch, inspection_id} built
 * from them in C (ReceiptBody): the link's and the new batch's rows whole.
 */
static SlStmt receive_many_stmt = {
	RECEIVE_MANY_WRITE
	" SELECT d.o, nb.trace_code, lk.r, nb.r, ins.id"
	" FROM d JOIN nb ON nb.id = d.nid JOIN lk ON lk.nid = d.nid LEFT JOIN ins ON ins.batch_id = d.nid"
	" ORDER BY d.o",
	21, {"shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]", "text[]",
		"shilian.licence_no[]", "jsonb[]", "bigint[]", "timestamptz[]", "text[]", "text[]", "jsonb[]",
		"bigint[]", "bigint[]", "boolean[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]"}
};

/*
 * The same, with the entries by one to_jsonb of the rows, when link or
 * batch has a column ReceiptBody does not convert (RowShape): to_jsonb
 * decides then.
 */
static SlStmt receive_many_json_stmt = {
	RECEIVE_MANY_WRITE
	" SELECT d.o, nb.trace_code, to_jsonb(e)"
	" FROM d JOIN nb ON nb.id = d.nid JOIN lk ON lk.nid = d.nid LEFT JOIN ins ON ins.batch_id = d.nid,"
	"  LATERAL (SELECT lk.r AS link, nb.r AS batch, ins.id AS inspection_id) e ORDER BY d.o",
	21, {"shilian.trace_code[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]", "date[]", "text[]",
		"shilian.licence_no[]", "jsonb[]", "bigint[]", "timestamptz[]", "text[]", "text[]", "jsonb[]",
		"bigint[]", "bigint[]", "boolean[]", "bigint[]", "bigint[]", "shilian.qty[]", "date[]"}
};

/*
 * The buyers (of these) with a subscription to receipt drafts: each pending
 * sale is an event for them (webhook_on_link, which names the same
 * subscriptions), so their sales are written pending even when received in
 * the same flush.
 */
static SlStmt draft_buyers_stmt = {
	"SELECT DISTINCT s.operator_id FROM shilian.receipt_draft_subscriptions() s"
	" WHERE s.operator_id = ANY ($1)",
	1, {"bigint[]"}
};

static Datum
ArrayOf(Datum *d, bool *nulls, int n, Oid typ)
{
	int16		len;
	bool		byval;
	char		align;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(typ, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, typ, len, byval, align));
}

/* A ship line's sale has its id: link_ref of later lines and chunks finds it; the line's result. */
static void
ShipRefSet(ILine *ln)
{
	int64		k = ln->line_no;
	IShipRef   *r = hash_search(ship_refs, &k, HASH_ENTER, NULL);

	r->link = ln->made->id;
	ln->result = psprintf("%lld", (long long) ln->made->id);
}

/*
 * ---- a receipt's ledger entry built from its rows --------------------------
 *
 * {link, batch, inspection_id}: the value to_jsonb gives for those rows
 * (receive_many_json_stmt), built here from the rows receive_many_stmt
 * returns, for the column types these tables have, each converted as
 * to_jsonb's datum_to_jsonb converts it: integers to numbers, booleans,
 * text and the extension's own types by their output function to strings,
 * dates and times as JSON encodes them, jsonb nested. to_jsonb looked up
 * each column's category in the catalogue (casts, base and element types)
 * per row and sorted every object's keys again: 7 % of a ship + receive
 * import. Here the columns' conversions and their key order are found once
 * per flush; a table with any other column type (a domain, an array, a type
 * with a cast to json) is left to to_jsonb. The same for the entries of
 * batch, ship and reject lines (a row: RowBody) and of transform lines
 * ({batch, inputs}: TransformBody), where to_jsonb was 13 % and 14 % of the
 * instructions of a batch and a transform + reject import (callgrind).
 */
typedef enum RowConv
{
	RC_INT2, RC_INT4, RC_INT8, RC_BOOL, RC_TEXT, RC_DATE, RC_TIMESTAMPTZ, RC_JSONB, RC_OUTPUT
} RowConv;

typedef struct RowCol
{
	int			att;			/* index into the row's values */
	char	   *key;
	int			keylen;
	RowConv		conv;
	FmgrInfo	out;			/* RC_OUTPUT: the type's output function */
	/* RC_DATE, RC_TIMESTAMPTZ: the last value converted, and its text (in the shape's context) */
	bool		has_last;
	Datum		last;
	char	   *last_text;
	int			last_len;
} RowCol;

typedef struct RowShape
{
	Oid			typid;
	int			natts;
	int			ncols;
	RowCol	   *cols;			/* in jsonb's key order (length, then bytes) */
	MemoryContext cxt;			/* where the shape lives (the dates' texts too) */
} RowShape;

static int
RowColOrder(const void *a, const void *b)
{
	const RowCol *x = a,
			   *y = b;

	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	return memcmp(x->key, y->key, x->keylen);
}

/* The conversions of table rel's columns, or false when one is not of a type converted here. */
static bool
RowShapeOf(const char *rel, RowShape *sh)
{
	Oid			relid = get_relname_relid(rel, get_namespace_oid("shilian", false));
	TupleDesc	desc;
	bool		ok = true;

	if (!OidIsValid(relid))
		elog(ERROR, "relation shilian.%s is missing", rel);
	sh->typid = get_rel_type_id(relid);
	desc = lookup_rowtype_tupdesc(sh->typid, -1);
	sh->natts = desc->natts;
	sh->ncols = 0;
	sh->cols = palloc0_array(RowCol, Max(desc->natts, 1));
	sh->cxt = CurrentMemoryContext;
	for (int i = 0; i < desc->natts && ok; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		RowCol	   *c = &sh->cols[sh->ncols];
		Oid			typ = att->atttypid;

		if (att->attisdropped)
			continue;
		c->att = i;
		c->key = pstrdup(NameStr(att->attname));
		c->keylen = strlen(c->key);
		switch (typ)
		{
			case INT2OID:
				c->conv = RC_INT2;
				break;
			case INT4OID:
				c->conv = RC_INT4;
				break;
			case INT8OID:
				c->conv = RC_INT8;
				break;
			case BOOLOID:
				c->conv = RC_BOOL;
				break;
			case TEXTOID:
				c->conv = RC_TEXT;
				break;
			case DATEOID:
				c->conv = RC_DATE;
				break;
			case TIMESTAMPTZOID:
				c->conv = RC_TIMESTAMPTZ;
				break;
			case JSONBOID:
				c->conv = RC_JSONB;
				break;
			default:
				/* to_jsonb's "other" category: a base type of our own without a cast to json */
				if (typ >= FirstNormalObjectId && get_typtype(typ) == TYPTYPE_BASE &&
					!OidIsValid(get_element_type(typ)))
				{
					Oid			castfunc = InvalidOid;
					Oid			outfn;
					bool		varlena;

					if (find_coercion_pathway(JSONOID, typ, COERCION_EXPLICIT, &castfunc) == COERCION_PATH_FUNC &&
						OidIsValid(castfunc))
						ok = false;
					else
					{
						getTypeOutputInfo(typ, &outfn, &varlena);
						fmgr_info(outfn, &c->out);
						c->conv = RC_OUTPUT;
					}
				}
				else
					ok = false;
		}
		sh->ncols++;
	}
	ReleaseTupleDesc(desc);
	if (ok)
		qsort(sh->cols, sh->ncols, sizeof(RowCol), RowColOrder);
	return ok;
}

/* A jsonb value as a JsonbValue tree to nest (a scalar as itself), as to_jsonb nests a jsonb column. */
static void
JsonbNested(Jsonb *j, JsonbValue *out)
{
	JsonbIterator *it = JsonbIteratorInit(&j->root);
	JsonbParseState *st = NULL;
	JsonbIteratorToken r;
	JsonbValue	v,
			   *res = NULL;

	if (JB_ROOT_IS_SCALAR(j))
	{
		(void) JsonbIteratorNext(&it, &v, true);
		(void) JsonbIteratorNext(&it, out, true);
		return;
	}
	while ((r = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		res = pushJsonbValue(&st, r, r < WJB_BEGIN_ARRAY ? &v : NULL);
	*out = *res;
}

/* Row (a composite of sh's type) as the object to_jsonb makes of it, into out. */
static void
RowValue(RowShape *sh, Datum row, JsonbValue *out)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(row);
	HeapTupleData tup;
	TupleDesc	desc;
	Datum	   *values = palloc_array(Datum, sh->natts);
	bool	   *nulls = palloc_array(bool, sh->natts);
	JsonbPair  *pairs = palloc_array(JsonbPair, Max(sh->ncols, 1));

	if (HeapTupleHeaderGetTypeId(th) != sh->typid)
		elog(ERROR, "a receipt's row is of type %u, not %u", HeapTupleHeaderGetTypeId(th), sh->typid);
	tup.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = th;
	desc = lookup_rowtype_tupdesc(sh->typid, -1);
	if (desc->natts != sh->natts)
		elog(ERROR, "the row type %u changed during the import", sh->typid);
	heap_deform_tuple(&tup, desc, values, nulls);
	ReleaseTupleDesc(desc);
	for (int k = 0; k < sh->ncols; k++)
	{
		RowCol	   *c = &sh->cols[k];
		JsonbValue *v = &pairs[k].value;
		Datum		d = values[c->att];

		pairs[k].key.type = jbvString;
		pairs[k].key.val.string.val = c->key;
		pairs[k].key.val.string.len = c->keylen;
		pairs[k].order = k;
		if (nulls[c->att])
		{
			v->type = jbvNull;
			continue;
		}
		switch (c->conv)
		{
			case RC_INT2:
			case RC_INT4:
			case RC_INT8:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(c->conv == RC_INT2 ? DatumGetInt16(d) :
												  c->conv == RC_INT4 ? DatumGetInt32(d) : DatumGetInt64(d));
				break;
			case RC_BOOL:
				v->type = jbvBool;
				v->val.boolean = DatumGetBool(d);
				break;
			case RC_TEXT:
				v->type = jbvString;
				v->val.string.val = TextDatumGetCString(d);
				v->val.string.len = strlen(v->val.string.val);
				break;
			case RC_DATE:
			case RC_TIMESTAMPTZ:

				/*
				 * A chunk's rows mostly share their dates and times (the
				 * transaction's, the day's): the text of the column's last
				 * value is used again for the same value. It stays in the
				 * shape's context, as long as the bodies built from it.
				 */
				if (!c->has_last || c->last != d)
				{
					MemoryContext old = MemoryContextSwitchTo(sh->cxt);

					c->last_text = JsonEncodeDateTime(NULL, d, c->conv == RC_DATE ? DATEOID : TIMESTAMPTZOID, NULL);
					MemoryContextSwitchTo(old);
					c->last_len = strlen(c->last_text);
					c->last = d;
					c->has_last = true;
				}
				v->type = jbvString;
				v->val.string.val = c->last_text;
				v->val.string.len = c->last_len;
				break;
			case RC_JSONB:
				JsonbNested(DatumGetJsonbP(d), v);
				break;
			case RC_OUTPUT:
				v->type = jbvString;
				v->val.string.val = OutputFunctionCall(&c->out, d);
				v->val.string.len = strlen(v->val.string.val);
				break;
		}
	}
	out->type = jbvObject;
	out->val.object.nPairs = sh->ncols;
	out->val.object.pairs = pairs;
}

/*
 * A receipt's entry {link, batch, inspection_id} from its rows (keys in
 * jsonb's order), in the caller's context; what it is built from, in tmp
 * (reset here).
 */
static Jsonb *
ReceiptBody(RowShape *link_sh, RowShape *batch_sh, Datum link, Datum batch, Datum insp_id, bool insp_null,
			MemoryContext tmp)
{
	JsonbPair	p[3];
	JsonbValue	o;
	MemoryContext caller = MemoryContextSwitchTo(tmp);
	Jsonb	   *body;

	p[0].key.type = p[1].key.type = p[2].key.type = jbvString;
	p[0].key.val.string.val = "link";
	p[0].key.val.string.len = 4;
	RowValue(link_sh, link, &p[0].value);
	p[1].key.val.string.val = "batch";
	p[1].key.val.string.len = 5;
	RowValue(batch_sh, batch, &p[1].value);
	p[2].key.val.string.val = "inspection_id";
	p[2].key.val.string.len = 13;
	if (insp_null)
		p[2].value.type = jbvNull;
	else
	{
		p[2].value.type = jbvNumeric;
		p[2].value.val.numeric = int64_to_numeric(DatumGetInt64(insp_id));
	}
	for (int k = 0; k < 3; k++)
		p[k].order = k;
	o.type = jbvObject;
	o.val.object.nPairs = 3;
	o.val.object.pairs = p;
	MemoryContextSwitchTo(caller);
	body = JsonbValueToJsonb(&o);
	MemoryContextReset(tmp);
	return body;
}

/*
 * A row's entry, the object to_jsonb makes of it (a batch line's new batch,
 * a ship line's sale, a reject line's rejected sale), in the caller's
 * context; what it is built from, in tmp (reset here).
 */
static Jsonb *
RowBody(RowShape *sh, Datum row, MemoryContext tmp)
{
	JsonbValue	o;
	MemoryContext caller = MemoryContextSwitchTo(tmp);
	Jsonb	   *body;

	RowValue(sh, row, &o);
	MemoryContextSwitchTo(caller);
	body = JsonbValueToJsonb(&o);
	MemoryContextReset(tmp);
	return body;
}

/*
 * A transform line's entry {batch, inputs}, as to_jsonb makes it of its new
 * batch's row and the array of its input links' rows (keys in jsonb's
 * order), in the caller's context; what it is built from, in tmp (reset
 * here).
 */
static Jsonb *
TransformBody(RowShape *batch_sh, RowShape *link_sh, Datum batch, Datum inputs, MemoryContext tmp)
{
	JsonbPair	p[2];
	JsonbValue	o;
	MemoryContext caller = MemoryContextSwitchTo(tmp);
	ArrayType  *arr = DatumGetArrayTypeP(inputs);
	Datum	   *elems;
	bool	   *enulls;
	int			nelems;
	int16		len;
	bool		byval;
	char		align;
	Jsonb	   *body;

	if (ARR_ELEMTYPE(arr) != link_sh->typid || ARR_NDIM(arr) != 1)
		elog(ERROR, "a transformation's inputs are not a list of links");
	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &len, &byval, &align);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), len, byval, align, &elems, &enulls, &nelems);
	p[0].key.type = p[1].key.type = jbvString;
	p[0].key.val.string.val = "batch";
	p[0].key.val.string.len = 5;
	RowValue(batch_sh, batch, &p[0].value);
	p[1].key.val.string.val = "inputs";
	p[1].key.val.string.len = 6;
	p[1].value.type = jbvArray;
	p[1].value.val.array.rawScalar = false;
	p[1].value.val.array.nElems = nelems;
	p[1].value.val.array.elems = palloc_array(JsonbValue, Max(nelems, 1));
	for (int k = 0; k < nelems; k++)
	{
		if (enulls[k])
			p[1].value.val.array.elems[k].type = jbvNull;
		else
			RowValue(link_sh, elems[k], &p[1].value.val.array.elems[k]);
	}
	p[0].order = 0;
	p[1].order = 1;
	o.type = jbvObject;
	o.val.object.nPairs = 2;
	o.val.object.pairs = p;
	MemoryContextSwitchTo(caller);
	body = JsonbValueToJsonb(&o);
	MemoryContextReset(tmp);
	return body;
}

/*
 * The row of a sale written with its receipt (receive_many_stmt), as its
 * ship line wrote it, pending: the receipt's entry's "link" with the
 * columns a receipt sets back to a pending sale's (what the JSON
 * concatenation link || {to_batch: null, qty_accepted: null, received_at:
 * null, status: "pending", reject_reason: null} gave, in one pass).
 */
static Jsonb *
SalePending(Jsonb *receipt)
{
	static const char *const unset[] = {"to_batch", "qty_accepted", "received_at", "reject_reason"};
	JsonbValue	link;
	JsonbIterator *it;
	JsonbParseState *st = NULL;
	JsonbValue	v,
				key = {0},
			   *res = NULL;
	JsonbIteratorToken r;
	int			set = 0;

	if (getKeyJsonValueFromContainer(&receipt->root, "link", strlen("link"), &link) == NULL ||
		link.type != jbvBinary)
		elog(ERROR, "the receipt's ledger entry has no link");
	it = JsonbIteratorInit(link.val.binary.data);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
			key = v;
		else if (r == WJB_VALUE)
		{
			bool		is_status = key.val.string.len == 6 && memcmp(key.val.string.val, "status", 6) == 0;

			for (int k = 0; k < (int) lengthof(unset) && !is_status; k++)
				if (key.val.string.len == (int) strlen(unset[k]) &&
					memcmp(key.val.string.val, unset[k], key.val.string.len) == 0)
				{
					v.type = jbvNull;
					set++;
				}
			if (is_status)
			{
				v.type = jbvString;
				v.val.string.val = "pending";
				v.val.string.len = 7;
				set++;
			}
		}
		res = pushJsonbValue(&st, r, r < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	if (set != (int) lengthof(unset) + 1)
		elog(ERROR, "the receipt's link lacks a column a receipt sets");
	return JsonbValueToJsonb(res);
}

/* Write the queued lines: batches, sales, balances, receipts, then the ledger in line order. */
static void
Flush(IChunk *c)
{
	int			ns = c->nship,
				nr = c->nrecv,
				nb = c->nbatch,
				nf = c->nfirst,
				nt = c->ntrans;
	ListCell   *lc;

	if (list_length(c->pending) == 0 && c->dirty == NIL)
		return;
	/* the new batches' ids and trace codes, in line order (the region: the holder's station) */
	if (nb + nr + nf + nt > 0)
	{
		Datum	   *regions = palloc_array(Datum, nb + nr + nf + nt);
		ILine	  **news = palloc_array(ILine *, nb + nr + nf + nt);
		Datum		v[1];
		int			i = 0;

		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			const char *station;

			if (ln->kind == LK_BATCH)
				station = ln->batch.owner_info.station;
			else if (ln->kind == LK_RECEIVE)
				station = ln->recv.sale.buyer_station;
			else if (ln->kind == LK_FIRST)
				station = ln->first.buyer_info.station;
			else if (ln->kind == LK_TRANSFORM)
				station = ln->tr.op_info.station;
			else
				continue;
			news[i] = ln;
			regions[i++] = PointerGetDatum(cstring_to_text_with_len(station, 6));
		}
		v[0] = ArrayOf(regions, NULL, i, TEXTOID);
		SlExec(&batch_ids_stmt, v, NULL, 0);
		if (SPI_processed != (uint64) i)
			elog(ERROR, "import drew %llu batch ids of %d", (unsigned long long) SPI_processed, i);
		for (int k = 0; k < i; k++)
		{
			news[k]->new_id = DatumGetInt64(SlGet(k, 1, NULL));
			news[k]->new_code = DatumGetTraceCode(SlGet(k, 2, NULL));
		}
	}
	/* the links' ids (sales, a transformation's inputs), in line order */
	if (ns + c->ntrans_in > 0)
	{
		Datum		v[1] = {Int32GetDatum(ns + c->ntrans_in)};
		int			k = 0;

		SlExec(&link_ids_stmt, v, NULL, 0);
		if (SPI_processed != (uint64) (ns + c->ntrans_in))
			elog(ERROR, "import drew %llu link ids of %d", (unsigned long long) SPI_processed,
				 ns + c->ntrans_in);
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);

			if (ln->kind == LK_SHIP)
				ln->new_id = DatumGetInt64(SlGet(k++, 1, NULL));
			else if (ln->kind == LK_TRANSFORM)
			{
				ln->link_ids = palloc_array(int64, ln->tr.ncodes);
				for (int j = 0; j < ln->tr.ncodes; j++)
					ln->link_ids[j] = DatumGetInt64(SlGet(k++, 1, NULL));
			}
		}
	}
	/* the inspections' ids (inspection lines, receipts with their incoming inspection), in line order */
	{
		int			ni = 0;
		Datum		v[1];

		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);

			if (DrawsInspection(ln))
				ni++;
		}
		if (ni > 0)
		{
			int			k = 0;

			v[0] = Int32GetDatum(ni);
			SlExec(&inspection_ids_stmt, v, NULL, 0);
			if (SPI_processed != (uint64) ni)
				elog(ERROR, "import drew %llu inspection ids of %d", (unsigned long long) SPI_processed, ni);
			foreach(lc, c->pending)
			{
				ILine	   *ln = lfirst(lc);

				if (DrawsInspection(ln))
				{
					ln->insp_id = DatumGetInt64(SlGet(k, 1, NULL));
					k++;
				}
			}
		}
	}
	if (nb > 0)
	{
		Datum	   *a[9];
		bool	   *n[9];
		Datum		v[9];
		Oid			typs[9] = {INT8OID, trace_code_typ, INT8OID, INT8OID, qty_typ, DATEOID, DATEOID, TEXTOID,
		JSONBOID};
		ILine	  **news = palloc_array(ILine *, nb);
		int			i = 0;
		RowShape	batch_sh;
		bool		built;
		MemoryContext tmp;

		for (int k = 0; k < 9; k++)
		{
			a[k] = palloc0_array(Datum, nb);
			n[k] = palloc0_array(bool, nb);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			SlBatchNew *b = &ln->batch;

			if (ln->kind != LK_BATCH)
				continue;
			news[i] = ln;
			a[0][i] = Int64GetDatum(ln->new_id);
			a[1][i] = TraceCodeGetDatum(ln->new_code);
			a[2][i] = Int64GetDatum(b->owner);
			a[3][i] = Int64GetDatum(b->product);
			a[4][i] = QtyGetDatum(b->q);
			a[5][i] = DateADTGetDatum(b->produced);
			a[6][i] = DateADTGetDatum(b->expires);
			n[6][i] = !b->has_expiry;
			a[7][i] = ln->lot;
			n[7][i] = ln->lot == (Datum) 0;
			a[8][i] = b->certificate ? JsonbPGetDatum(b->certificate) : (Datum) 0;
			n[8][i] = b->certificate == NULL;
			i++;
		}
		for (int k = 0; k < 9; k++)
			v[k] = ArrayOf(a[k], n[k], nb, typs[k]);
		built = RowShapeOf("batch", &batch_sh);
		{
			SlFkKeys	keys = {0};

			for (int k = 0; k < nb; k++)
			{
				SlFkKeysAdd(&keys, SL_FK_OPERATOR, DatumGetInt64(a[2][k]));
				SlFkKeysAdd(&keys, SL_FK_PRODUCT, DatumGetInt64(a[3][k]));
			}
			SlExecCovered(built ? &batch_many_stmt : &batch_many_json_stmt, v, NULL, 0,
						  sl_fk_new_batch, SlFkKeysLock(&keys) ? lengthof(sl_fk_new_batch) : 0);
		}
		if (SPI_processed != (uint64) nb)
			elog(ERROR, "import wrote %llu batches of %d", (unsigned long long) SPI_processed, nb);
		tmp = AllocSetContextCreate(CurrentMemoryContext, "import batch body", ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < nb; i++)
		{
			ILine	   *ln = news[i];

			if (DatumGetInt64(SlGet(i, 2, NULL)) != ln->new_id)
				elog(ERROR, "import: batch %lld came back in place of batch %lld",
					 (long long) DatumGetInt64(SlGet(i, 2, NULL)), (long long) ln->new_id);
			ln->result = TraceCodeToCString(ln->new_code);
			ln->ledger_body = built ? RowBody(&batch_sh, SlGet(i, 1, NULL), tmp) :
				DatumGetJsonbPCopy(SlGet(i, 1, NULL));
		}
		MemoryContextDelete(tmp);
		elog(DEBUG1, "import: %d batch lines written by one statement", nb);
	}
	if (nf > 0)
	{
		Datum	   *a[14];
		bool	   *n[14];
		Datum		v[14];
		Oid			typs[14] = {INT8OID, trace_code_typ, INT8OID, INT8OID, qty_typ, DATEOID, DATEOID, TEXTOID,
		JSONBOID, JSONBOID, TEXTOID, JSONBOID, INT8OID, TIMESTAMPTZOID};
		ILine	  **firsts = palloc_array(ILine *, nf);
		int			i = 0;

		for (int k = 0; k < 14; k++)
		{
			a[k] = palloc0_array(Datum, nf);
			n[k] = palloc0_array(bool, nf);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			SlFirstEntry *f = &ln->first;

			if (ln->kind != LK_FIRST)
				continue;
			firsts[i] = ln;
			a[0][i] = Int64GetDatum(ln->new_id);
			a[1][i] = TraceCodeGetDatum(ln->new_code);
			a[2][i] = Int64GetDatum(f->buyer);
			a[3][i] = Int64GetDatum(f->product);
			a[4][i] = QtyGetDatum(f->q);
			a[5][i] = DateADTGetDatum(f->produced);
			a[6][i] = DateADTGetDatum(f->expires);
			n[6][i] = !f->has_expiry;
			a[7][i] = ln->lot;
			n[7][i] = ln->lot == (Datum) 0;
			a[8][i] = JsonbPGetDatum(f->supplier);
			a[9][i] = f->certificate ? JsonbPGetDatum(f->certificate) : (Datum) 0;
			n[9][i] = f->certificate == NULL;
			if (f->inspection != NULL)
			{
				a[10][i] = PointerGetDatum(f->result);
				a[11][i] = JsonbPGetDatum(f->inspection);
				a[12][i] = Int64GetDatum(ln->insp_id);
			}
			else
				n[10][i] = n[11][i] = n[12][i] = true;
			a[13][i] = TimestampTzGetDatum(f->at);
			i++;
		}
		for (int k = 0; k < 14; k++)
			v[k] = ArrayOf(a[k], n[k], nf, typs[k]);
		{
			SlFkKeys	keys = {0};

			for (int k = 0; k < nf; k++)
			{
				SlFkKeysAdd(&keys, SL_FK_OPERATOR, DatumGetInt64(a[2][k]));
				SlFkKeysAdd(&keys, SL_FK_PRODUCT, DatumGetInt64(a[3][k]));
			}
			SlExecCovered(&first_entry_many_stmt, v, NULL, 0, sl_fk_new_batch,
						  SlFkKeysLock(&keys) ? lengthof(sl_fk_new_batch) : 0);
		}
		if (SPI_processed != (uint64) nf)
			elog(ERROR, "import wrote %llu first entries of %d", (unsigned long long) SPI_processed, nf);
		for (i = 0; i < nf; i++)
		{
			ILine	   *ln = firsts[i];

			ln->result = TraceCodeToCString(ln->new_code);
			ln->ledger_body = DatumGetJsonbPCopy(SlGet(i, 1, NULL));
		}
	}
	/*
	 * The sales a receive line of this flush receives are written with their
	 * receipt (receive_many_stmt), already received, unless the buyer
	 * subscribes to receipt drafts: the pending sale is its event
	 * (webhook_on_link), so that sale is written pending and then received.
	 */
	if (ns > 0)
	{
		Datum	   *buyers = palloc_array(Datum, ns);
		int			nbuy = 0;
		Datum		v[1];

		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);

			if (ln->kind == LK_SHIP && ln->made->settled != NULL)
				buyers[nbuy++] = Int64GetDatum(ln->made->buyer);
		}
		if (nbuy > 0)
		{
			v[0] = ArrayOf(buyers, NULL, nbuy, INT8OID);
			SlExec(&draft_buyers_stmt, v, NULL, 0);
			/* the subscribers by id: one probe per sale, not a pass over the lines per subscriber */
			if (SPI_processed > 0)
			{
				HTAB	   *drafts = NewHash("import draft buyers", sizeof(int64), sizeof(int64));

				for (uint64 r = 0; r < SPI_processed; r++)
				{
					int64		id = DatumGetInt64(SlGet(r, 1, NULL));

					(void) hash_search(drafts, &id, HASH_ENTER, NULL);
				}
				foreach(lc, c->pending)
				{
					ILine	   *ln = lfirst(lc);

					if (ln->kind == LK_SHIP && ln->made->settled != NULL &&
						hash_search(drafts, &ln->made->buyer, HASH_FIND, NULL) != NULL)
						ln->made->settled = NULL;
				}
				hash_destroy(drafts);
			}
			foreach(lc, c->pending)
			{
				ILine	   *ln = lfirst(lc);

				if (ln->kind == LK_SHIP && ln->made->settled != NULL)
				{
					ln->made->id = ln->new_id;
					ShipRefSet(ln);
					ns--;
				}
			}
		}
	}
	if (ns > 0)
	{
		Datum	   *a[7];
		bool	   *lnull = palloc0_array(bool, ns);
		Datum		v[7];
		int			i = 0;
		ILine	  **ships = palloc_array(ILine *, ns);
		RowShape	link_sh;
		bool		built;
		MemoryContext tmp;

		for (int k = 0; k < 7; k++)
			a[k] = palloc_array(Datum, ns);
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);

			if (ln->kind != LK_SHIP || ln->made->settled != NULL)
				continue;
			ships[i] = ln;
			a[0][i] = Int64GetDatum(ln->ship.batch->id);
			a[1][i] = Int64GetDatum(ln->ship.seller);
			a[2][i] = Int64GetDatum(ln->ship.buyer);
			a[3][i] = QtyGetDatum(ln->ship.q);
			a[4][i] = DateADTGetDatum(ln->ship.shipped);
			a[5][i] = LicenseNoGetDatum(ln->ship.licence);
			lnull[i] = !ln->ship.has_licence;
			a[6][i] = Int64GetDatum(ln->new_id);
			i++;
		}
		v[0] = ArrayOf(a[0], NULL, ns, INT8OID);
		v[1] = ArrayOf(a[1], NULL, ns, INT8OID);
		v[2] = ArrayOf(a[2], NULL, ns, INT8OID);
		v[3] = ArrayOf(a[3], NULL, ns, qty_typ);
		v[4] = ArrayOf(a[4], NULL, ns, DATEOID);
		v[5] = ArrayOf(a[5], lnull, ns, licence_typ);
		v[6] = ArrayOf(a[6], NULL, ns, INT8OID);
		built = RowShapeOf("link", &link_sh);
		{
			SlFkKeys	keys = {0};

			for (int k = 0; k < ns; k++)
			{
				SlFkKeysAdd(&keys, SL_FK_BATCH, DatumGetInt64(a[0][k]));
				SlFkKeysAdd(&keys, SL_FK_OPERATOR, DatumGetInt64(a[1][k]));
				SlFkKeysAdd(&keys, SL_FK_OPERATOR, DatumGetInt64(a[2][k]));
			}
			SlExecCovered(built ? &ship_many_stmt : &ship_many_json_stmt, v, NULL, 0,
						  sl_fk_sale, SlFkKeysLock(&keys) ? lengthof(sl_fk_sale) : 0);
		}
		if (SPI_processed != (uint64) ns)
			elog(ERROR, "import wrote %llu sales of %d", (unsigned long long) SPI_processed, ns);
		tmp = AllocSetContextCreate(CurrentMemoryContext, "import sale body", ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < ns; i++)
		{
			ILine	   *ln = ships[i];

			ln->made->id = DatumGetInt64(SlGet(i, 1, NULL));
			ShipRefSet(ln);
			ln->ledger_body = built ? RowBody(&link_sh, SlGet(i, 2, NULL), tmp) :
				DatumGetJsonbPCopy(SlGet(i, 2, NULL));
		}
		MemoryContextDelete(tmp);
	}
	if (c->dirty != NIL)
	{
		int			nd = list_length(c->dirty);
		Datum	   *ids = palloc_array(Datum, nd);
		Datum	   *lefts = palloc_array(Datum, nd);
		Datum		v[2];
		int			i = 0;

		foreach(lc, c->dirty)
		{
			IBatch	   *b = lfirst(lc);

			ids[i] = Int64GetDatum(b->b.id);
			lefts[i] = QtyGetDatum(b->b.left);
			b->dirty = false;
			i++;
		}
		v[0] = ArrayOf(ids, NULL, nd, INT8OID);
		v[1] = ArrayOf(lefts, NULL, nd, qty_typ);
		SlExec(&balance_stmt, v, NULL, 0);
		c->dirty = NIL;
	}
	if (nr > 0)
	{
		Datum	   *a[21];
		bool	   *n[21];
		Datum		v[21];
		Oid			typs[21] = {trace_code_typ, INT8OID, INT8OID, qty_typ, DATEOID, DATEOID, TEXTOID,
			licence_typ, JSONBOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID, INT8OID, INT8OID,
		BOOLOID, INT8OID, INT8OID, qty_typ, DATEOID};
		ILine	  **recvs = palloc_array(ILine *, nr);
		int			i = 0;
		RowShape	link_sh,
					batch_sh;
		bool		built;
		MemoryContext tmp;
		SlFkKeys	keys = {0};

		for (int k = 0; k < 21; k++)
		{
			a[k] = palloc0_array(Datum, nr);
			n[k] = palloc0_array(bool, nr);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			ILink	   *l;
			SlBatch    *s;

			if (ln->kind != LK_RECEIVE)
				continue;
			l = ln->link;
			s = &l->from->b;
			recvs[i] = ln;
			a[0][i] = TraceCodeGetDatum(ln->new_code);
			a[14][i] = Int64GetDatum(ln->new_id);
			a[1][i] = Int64GetDatum(l->buyer);
			a[2][i] = Int64GetDatum(s->product);
			a[3][i] = QtyGetDatum(ln->recv.q);
			a[4][i] = DateADTGetDatum(s->produced);
			a[5][i] = DateADTGetDatum(s->expires);
			n[5][i] = !s->has_expiry;
			a[6][i] = s->lot;
			n[6][i] = s->lot == (Datum) 0;
			a[7][i] = LicenseNoGetDatum(l->licence);
			n[7][i] = !l->has_licence;
			a[8][i] = s->certificate;
			n[8][i] = s->certificate == (Datum) 0;
			a[9][i] = Int64GetDatum(l->id);
			a[10][i] = TimestampTzGetDatum(ln->recv.at);
			a[11][i] = ln->reason;
			n[11][i] = ln->reason == (Datum) 0;
			/* a receipt without its incoming inspection writes none */
			if (ln->recv.inspection != NULL)
			{
				a[12][i] = PointerGetDatum(ln->recv.result);
				a[13][i] = JsonbPGetDatum(ln->recv.inspection);
				a[15][i] = Int64GetDatum(ln->insp_id);
			}
			else
				n[12][i] = n[13][i] = n[15][i] = true;
			/* the sale, when it is written with this receipt */
			a[16][i] = BoolGetDatum(l->settled == ln);
			if (l->settled == ln)
			{
				a[17][i] = Int64GetDatum(l->from_id);
				a[18][i] = Int64GetDatum(l->seller);
				a[19][i] = QtyGetDatum(l->shipped_qty);
				a[20][i] = DateADTGetDatum(l->shipped);
			}
			else
				n[17][i] = n[18][i] = n[19][i] = n[20][i] = true;
			/*
			 * the keys the receipt's rows name (a sale's own keys too when it
			 * was written by this transaction: its UPDATE is checked whole)
			 */
			SlFkKeysAdd(&keys, SL_FK_OPERATOR, l->buyer);
			SlFkKeysAdd(&keys, SL_FK_OPERATOR, l->seller);
			SlFkKeysAdd(&keys, SL_FK_PRODUCT, s->product);
			SlFkKeysAdd(&keys, SL_FK_BATCH, l->from_id);
			i++;
		}
		for (int k = 0; k < 21; k++)
			v[k] = ArrayOf(a[k], n[k], nr, typs[k]);
		built = RowShapeOf("link", &link_sh) && RowShapeOf("batch", &batch_sh);
		tmp = AllocSetContextCreate(CurrentMemoryContext, "import receipt body", ALLOCSET_DEFAULT_SIZES);
		SlExecCovered(built ? &receive_many_stmt : &receive_many_json_stmt, v, NULL, 0,
					  sl_fk_made, SlFkKeysLock(&keys) ? lengthof(sl_fk_made) : 0);
		if (SPI_processed != (uint64) nr)
			elog(ERROR, "import wrote %llu receipts of %d", (unsigned long long) SPI_processed, nr);
		for (i = 0; i < nr; i++)
		{
			ILine	   *ln = recvs[i];
			ILink	   *l = ln->link;

			ln->result = TraceCodeToCString(DatumGetTraceCode(SlGet(i, 2, NULL)));
			if (built)
			{
				bool		insp_null;
				Datum		insp = SlGet(i, 5, &insp_null);

				ln->ledger_body = ReceiptBody(&link_sh, &batch_sh, SlGet(i, 3, NULL), SlGet(i, 4, NULL),
											  insp, insp_null, tmp);
			}
			else
				ln->ledger_body = DatumGetJsonbPCopy(SlGet(i, 3, NULL));
			if (l->settled == ln)
			{
				/* the ship line's entry: its sale as that line wrote it */
				l->ship->ledger_body = SalePending(ln->ledger_body);
				l->settled = NULL;
			}
		}
		MemoryContextDelete(tmp);
	}
	/* inspections after the receipts: a receipt queued before an inspection copies the certificate before it */
	if (c->ninsp > 0)
	{
		int			ni = c->ninsp;
		Datum	   *a[8];
		bool	   *n[8];
		Datum		v[8];
		Oid			typs[8] = {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, BOOLOID};
		ILine	  **ins = palloc_array(ILine *, ni);
		int			i = 0;

		for (int k = 0; k < 8; k++)
		{
			a[k] = palloc0_array(Datum, ni);
			n[k] = palloc0_array(bool, ni);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			SlInspect  *in = &ln->insp;

			if (ln->kind != LK_INSPECT)
				continue;
			ins[i] = ln;
			a[0][i] = Int64GetDatum(ln->insp_id);
			a[1][i] = Int64GetDatum(in->batch->id);
			a[2][i] = Int64GetDatum(in->operator_id);
			a[3][i] = CStringGetTextDatum(in->kind);
			a[4][i] = CStringGetTextDatum(in->result);
			a[5][i] = JsonbPGetDatum(in->report);
			a[6][i] = TimestampTzGetDatum(in->at);
			a[7][i] = BoolGetDatum(ln->sets_cert);
			i++;
		}
		for (int k = 0; k < 8; k++)
			v[k] = ArrayOf(a[k], n[k], ni, typs[k]);
		SlExec(&inspect_many_stmt, v, NULL, 0);
		if (SPI_processed != (uint64) ni)
			elog(ERROR, "import wrote %llu inspections of %d", (unsigned long long) SPI_processed, ni);
		for (i = 0; i < ni; i++)
		{
			ILine	   *ln = ins[i];
			bool		isnull;
			Datum		cert;

			ln->result = psprintf(INT64_FORMAT, ln->insp_id);
			ln->ledger_body = DatumGetJsonbPCopy(SlGet(i, 1, NULL));
			cert = SlGet(i, 2, &isnull);
			if (ln->sets_cert)
			{
				IBatch	   *b = BatchGet(c, ln->insp.code);

				if (isnull)
					elog(ERROR, "the certificate of batch %s was not written", TraceCodeToCString(ln->insp.code));
				b->b.certificate = PointerGetDatum(DatumGetJsonbPCopy(cert));
				b->cert_pending = false;
			}
		}
	}
	if (c->ncons > 0)
	{
		int			nc = c->ncons;
		Datum	   *a[6];
		bool	   *n[6];
		Datum		v[6];
		Oid			typs[6] = {INT8OID, INT8OID, qty_typ, TEXTOID, TIMESTAMPTZOID, TEXTOID};
		ILine	  **cons = palloc_array(ILine *, nc);
		int			i = 0;

		for (int k = 0; k < 6; k++)
		{
			a[k] = palloc0_array(Datum, nc);
			n[k] = palloc0_array(bool, nc);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			SlConsume  *cn = &ln->cons;

			if (ln->kind != LK_CONSUME)
				continue;
			cons[i] = ln;
			a[0][i] = Int64GetDatum(cn->batch->id);
			a[1][i] = Int64GetDatum(cn->operator_id);
			a[2][i] = QtyGetDatum(cn->q);
			a[3][i] = CStringGetTextDatum(cn->kind);
			a[4][i] = TimestampTzGetDatum(cn->at);
			a[5][i] = ln->note;
			n[5][i] = ln->note == (Datum) 0;
			i++;
		}
		for (int k = 0; k < 6; k++)
			v[k] = ArrayOf(a[k], n[k], nc, typs[k]);
		SlExec(&consume_many_stmt, v, NULL, 0);
		if (SPI_processed != (uint64) nc)
			elog(ERROR, "import wrote %llu consumptions of %d", (unsigned long long) SPI_processed, nc);
		for (i = 0; i < nc; i++)
		{
			ILine	   *ln = cons[i];

			ln->result = psprintf(INT64_FORMAT, DatumGetInt64(SlGet(i, 1, NULL)));
			ln->ledger_body = DatumGetJsonbPCopy(SlGet(i, 2, NULL));
		}
	}
	if (c->nrej > 0)
	{
		int			nj = c->nrej;
		Datum	   *a[3];
		Datum		v[3];
		Oid			typs[3] = {INT8OID, TIMESTAMPTZOID, TEXTOID};
		ILine	  **rejs = palloc_array(ILine *, nj);
		int			i = 0;
		RowShape	link_sh;
		bool		built;
		MemoryContext tmp;

		for (int k = 0; k < 3; k++)
			a[k] = palloc0_array(Datum, nj);
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);

			if (ln->kind != LK_REJECT)
				continue;
			rejs[i] = ln;
			a[0][i] = Int64GetDatum(ln->link->id);
			a[1][i] = TimestampTzGetDatum(ln->rej.at);
			a[2][i] = ln->reason;
			i++;
		}
		for (int k = 0; k < 3; k++)
			v[k] = ArrayOf(a[k], NULL, nj, typs[k]);
		built = RowShapeOf("link", &link_sh);
		SlExec(built ? &reject_many_stmt : &reject_many_json_stmt, v, NULL, 0);
		if (SPI_processed != (uint64) nj)
			elog(ERROR, "import wrote %llu rejections of %d", (unsigned long long) SPI_processed, nj);
		tmp = AllocSetContextCreate(CurrentMemoryContext, "import rejection body", ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < nj; i++)
		{
			ILine	   *ln = rejs[i];

			/* reject() returns void: its text is empty */
			ln->result = pstrdup("");
			ln->ledger_body = built ? RowBody(&link_sh, SlGet(i, 1, NULL), tmp) :
				DatumGetJsonbPCopy(SlGet(i, 1, NULL));
		}
		MemoryContextDelete(tmp);
	}
	if (nt > 0)
	{
		int			nx = c->ntrans_in;
		Datum	   *a[12];
		bool	   *n[12];
		Datum		v[13];
		Oid			typs[12] = {INT8OID, trace_code_typ, INT8OID, INT8OID, qty_typ, DATEOID, DATEOID, TEXTOID,
		INT8OID, INT8OID, INT8OID, qty_typ};
		ILine	  **trs = palloc_array(ILine *, nt);
		int			i = 0,
					x = 0;
		RowShape	batch_sh,
					link_sh;
		bool		built;
		MemoryContext tmp;
		SlFkKeys	keys = {0};

		for (int k = 0; k < 12; k++)
		{
			a[k] = palloc0_array(Datum, k < 8 ? nt : nx);
			n[k] = palloc0_array(bool, k < 8 ? nt : nx);
		}
		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			SlTransform *t = &ln->tr;

			if (ln->kind != LK_TRANSFORM)
				continue;
			trs[i] = ln;
			a[0][i] = Int64GetDatum(ln->new_id);
			a[1][i] = TraceCodeGetDatum(ln->new_code);
			a[2][i] = Int64GetDatum(t->operator_id);
			a[3][i] = Int64GetDatum(t->product);
			a[4][i] = QtyGetDatum(t->q);
			a[5][i] = DateADTGetDatum(t->produced);
			a[6][i] = DateADTGetDatum(t->expires);
			n[6][i] = !t->has_expiry;
			a[7][i] = ln->lot;
			n[7][i] = ln->lot == (Datum) 0;
			SlFkKeysAdd(&keys, SL_FK_OPERATOR, t->operator_id);
			SlFkKeysAdd(&keys, SL_FK_PRODUCT, t->product);
			for (int j = 0; j < t->ncodes; j++)
			{
				SlFkKeysAdd(&keys, SL_FK_BATCH, t->in[j]->id);
				a[8][x] = Int64GetDatum(ln->link_ids[j]);
				a[9][x] = Int64GetDatum(ln->new_id);
				a[10][x] = Int64GetDatum(t->in[j]->id);
				a[11][x] = QtyGetDatum(t->qtys[j]);
				x++;
			}
			i++;
		}
		for (int k = 0; k < 12; k++)
			v[k] = ArrayOf(a[k], n[k], k < 8 ? nt : nx, typs[k]);
		v[12] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		built = RowShapeOf("batch", &batch_sh) && RowShapeOf("link", &link_sh);
		SlExecCovered(built ? &transform_many_stmt : &transform_many_json_stmt, v, NULL, 0,
					  sl_fk_made, SlFkKeysLock(&keys) ? lengthof(sl_fk_made) : 0);
		if (SPI_processed != (uint64) nt)
			elog(ERROR, "import wrote %llu transformations of %d", (unsigned long long) SPI_processed, nt);
		tmp = AllocSetContextCreate(CurrentMemoryContext, "import transformation body", ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < nt; i++)
		{
			ILine	   *ln = trs[i];

			ln->result = TraceCodeToCString(ln->new_code);
			ln->ledger_body = built ?
				TransformBody(&batch_sh, &link_sh, SlGet(i, 1, NULL), SlGet(i, 2, NULL), tmp) :
				DatumGetJsonbPCopy(SlGet(i, 1, NULL));
		}
		MemoryContextDelete(tmp);
		elog(DEBUG1, "import: %d transform lines written by one statement", nt);
	}
	/* the ledger, in line order: each operator's chain follows the upload */
	{
		LedgerNewEntry *es = palloc_array(LedgerNewEntry, list_length(c->pending));
		int			i = 0;

		foreach(lc, c->pending)
		{
			ILine	   *ln = lfirst(lc);
			LedgerNewEntry *e = &es[i++];

			e->operator_id = ln->ledger_op;
			e->body = ln->ledger_body;
			if (ln->kind == LK_SHIP)
			{
				e->kind = "ship";
				e->on_date = ln->ship.shipped;
			}
			else if (ln->kind == LK_BATCH)
			{
				e->kind = "batch_create";
				e->on_date = ln->batch.produced;
			}
			else if (ln->kind == LK_INSPECT)
			{
				e->kind = "inspect";
				e->on_date = TimestampDate(ln->insp.at);
			}
			else if (ln->kind == LK_CONSUME)
			{
				e->kind = "consume";
				e->on_date = ln->cons.day;
			}
			else if (ln->kind == LK_FIRST)
			{
				e->kind = "receive_first_entry";
				e->on_date = ln->first.day;
			}
			else if (ln->kind == LK_REJECT)
			{
				e->kind = "reject";
				e->on_date = ln->rej.day;
			}
			else if (ln->kind == LK_TRANSFORM)
			{
				e->kind = "transform";
				e->on_date = ln->tr.produced;
			}
			else
			{
				e->kind = "receive";
				e->on_date = ln->recv.day;
			}
		}
		RecordsToLedger(es, i);
	}
	c->pending = NIL;
	c->nship = c->nrecv = c->nbatch = c->ninsp = c->ncons = c->nfirst = c->nrej = c->ntrans = 0;
	c->ntrans_in = 0;
}

/* ---- the other kinds: the record function, in a subtransaction --------------- */

static SlStmt other_stmt = {
	"SELECT shilian.import_line_exec($1)",
	1, {"jsonb"}
};

static void
OtherLine(IChunk *c, ILine *ln, MemoryContext linecxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile e = NULL;

	Flush(c);
	/* a receipt's link_ref (a chunk applied line by line, ChunkTry): the sale's id, as ReceiveLine finds it */
	if (ln->kind == LK_RECEIVE && ln->has_ref)
	{
		int64		id = ShipRefLink(ln->ref);

		if (id == 0)
		{
			SlRefusal	r;

			Refuse(&r, SL_BAD_LINE_REF,
				   "link_ref names an earlier line of the same upload whose sale is received.", NULL,
				   "bad line reference: line %lld of this upload is not an accepted ship line",
				   (long long) ln->ref);
			Refused(ln, &r);
			return;
		}
		ln->rec = RefReplace(ln->rec, "link_ref", "link", psprintf(INT64_FORMAT, id));
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(linecxt);
	PG_TRY();
	{
		Datum		v[1] = {JsonbPGetDatum(ln->rec)};
		bool		isnull;
		Datum		r;

		SlExec(&other_stmt, v, NULL, 1);
		r = SlGet(0, 1, &isnull);
		MemoryContextSwitchTo(linecxt);
		ln->result = isnull ? NULL : TextDatumGetCString(r);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(linecxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	if (e != NULL)
	{
		/* rolled back: the line left nothing behind; only a refusal refuses it */
		if (!RecordIsRefusal(e->sqlerrcode))
			ReThrowError(e);
		RefuseLine(ln, e->sqlerrcode, e->message, e->detail);
	}
	else if (ln->kind == LK_SHIP && ln->result != NULL)
	{
		/* a ship line applied by ship() (ChunkTry): its sale, for link_ref */
		int64		k = ln->line_no;
		IShipRef   *r = hash_search(ship_refs, &k, HASH_ENTER, NULL);

		r->link = pg_strtoint64(ln->result);
	}
	/* the record function may have changed any batch, link or operator */
	CachesReset(c);
}

/* Check (ship, receive, batch) or apply (the other kinds) one parsed line; refusals are recorded. */
static void
Line(IChunk *c, ILine *ln, MemoryContext linecxt)
{
	if (ln->refused)
		return;
	if (ln->kind == LK_OTHER || c->single)
	{
		OtherLine(c, ln, linecxt);
		return;
	}
	if (ln->kind == LK_SHIP)
		ShipLine(c, ln);
	else if (ln->kind == LK_BATCH)
		BatchLine(c, ln);
	else if (ln->kind == LK_INSPECT)
		InspectLine(c, ln);
	else if (ln->kind == LK_CONSUME)
		ConsumeLine(c, ln);
	else if (ln->kind == LK_FIRST)
		FirstEntryLine(c, ln);
	else if (ln->kind == LK_REJECT)
		RejectLine(c, ln);
	else if (ln->kind == LK_TRANSFORM)
		TransformLine(c, ln);
	else
		ReceiveLine(c, ln);
	if (!ln->refused)
		c->pending = lappend(c->pending, ln);
}

/* ---- import_apply ------------------------------------------------------------------ */

static SlStmt job_stmt = {
	"SELECT mode, status FROM shilian.import_job WHERE id = $1 AND principal = concat_ws('|',"
	" CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END,"
	" shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction()) FOR UPDATE",
	1, {"bigint"}
};

/*
 * The generic plan: the index scan in line order, which stops at the
 * chunk's last line. Custom plans, made for the first five chunks of a
 * backend, saw the staged job (COPY just loaded, not analysed yet) as a few
 * rows and read and sorted every staged line of it for each chunk
 * (100,000 lines staged: 20-34 ms a chunk against 4-12 ms).
 */
static SlStmt stage_stmt = {
	"SELECT line_no, body, sqlstate, message FROM shilian.import_stage WHERE job_id = $1"
	" ORDER BY line_no LIMIT $2",
	2, {"bigint", "integer"}, NULL, 0, true
};

static SlStmt unstage_stmt = {
	"DELETE FROM shilian.import_stage WHERE job_id = $1 AND line_no <= $2",
	2, {"bigint", "integer"}
};

static SlStmt left_stmt = {
	"SELECT count(*)::integer FROM shilian.import_stage WHERE job_id = $1",
	1, {"bigint"}
};

/* The report rows of some lines; their counts are added to the job by report_count_stmt. */
static SlStmt report_stmt = {
	"INSERT INTO shilian.import_line (job_id, line_no, kind, status, result, sqlstate, message, detail)"
	" SELECT $1, u.n, u.k, CASE WHEN u.st IS NULL THEN 'accepted' ELSE 'refused' END, u.r, u.st, u.m,"
	"  nullif(u.d, '')"
	" FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])"
	"  AS u(n, k, r, st, m, d)",
	7, {"bigint", "integer[]", "text[]", "text[]", "text[]", "text[]", "text[]"}
};

/* The lines just reported, counted in C (accepted: no SQLSTATE), added to the job. */
static SlStmt report_count_stmt = {
	"UPDATE shilian.import_job SET done = done + $2, accepted = accepted + $3, refused = refused + $4"
	" WHERE id = $1",
	4, {"bigint", "integer", "integer", "integer"}
};

static SlStmt finish_stmt = {
	"UPDATE shilian.import_job SET status = $2, finished_at = clock_timestamp(),"
	" accepted = CASE WHEN $2 = 'rolled_back' THEN 0 ELSE accepted END WHERE id = $1",
	2, {"bigint", "text"}
};

static SlStmt rolled_stmt = {
	"UPDATE shilian.import_line SET status = 'rolled_back', result = NULL"
	" WHERE job_id = $1 AND status = 'accepted'",
	1, {"bigint"}
};

/* A line's report, kept past the chunk for an all_or_nothing job. */
typedef struct IReport
{
	int			line_no;
	char	   *kind;
	char	   *result;
	char	   *sqlstate;
	char	   *message;
	char	   *detail;
} IReport;

static void
ReportOf(ILine *ln, IReport *r)
{
	r->line_no = ln->line_no;
	r->kind = ln->kind_name ? pstrdup(ln->kind_name) : NULL;
	r->result = ln->refused || ln->result == NULL ? NULL : pstrdup(ln->result);
	r->sqlstate = ln->refused ? pstrdup(unpack_sql_state(ln->err.sqlerrcode)) : NULL;
	r->message = ln->refused ? pstrdup(ln->err.message ? ln->err.message : "") : NULL;
	r->detail = ln->refused && ln->err.detail ? pstrdup(ln->err.detail) : NULL;
}

/*
 * The report rows written directly, as COPY FROM writes rows: a thousand
 * at a time by table_multi_insert, each row's CHECK constraints, index
 * entries and AFTER ROW trigger events (the foreign key to import_job,
 * checked per row as the INSERT checks it) by the executor's own calls,
 * and the statement triggers (the webhook outbox's, reading the rows from
 * its transition table) around them. The INSERT through the executor cost
 * a projection, a slot and a plan node per row (the report was 9 % of a
 * ship + receive import). Only while import_line has its installed shape
 * (a plain table of these eight columns, no domain among them, no rule, no
 * BEFORE or INSTEAD ROW INSERT trigger, row-level security not applying to
 * the writer, no generated column): otherwise report_stmt inserts them.
 */
#define REPORT_MULTI_INSERT 1000

enum
{
	RP_JOB, RP_LINE, RP_KIND, RP_STATUS, RP_RESULT, RP_SQLSTATE, RP_MESSAGE, RP_DETAIL, RP_NCOLS
};
static const char *const rp_names[RP_NCOLS] = {
	"job_id", "line_no", "kind", "status", "result", "sqlstate", "message", "detail"
};

static bool
ReportShape(Relation rel, AttrNumber *attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;

	if (!SlDirectWriteShape(rel))
		return false;
	/* every column one of the eight: no default of another column to evaluate */
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != RP_NCOLS)
		return false;
	for (int c = 0; c < RP_NCOLS; c++)
	{
		AttrNumber	a = get_attnum(RelationGetRelid(rel), rp_names[c]);

		if (a == InvalidAttrNumber || get_typtype(TupleDescAttr(desc, a - 1)->atttypid) == TYPTYPE_DOMAIN)
			return false;
		attnum[c] = a;
	}
	if (TupleDescAttr(desc, attnum[RP_JOB] - 1)->atttypid != INT8OID ||
		TupleDescAttr(desc, attnum[RP_LINE] - 1)->atttypid != INT4OID)
		return false;
	for (int c = RP_KIND; c < RP_NCOLS; c++)
		if (TupleDescAttr(desc, attnum[c] - 1)->atttypid != TEXTOID)
			return false;
	return true;
}

/*
 * The report rows' triggers with the check of their foreign key to
 * import_job (job_id alone) disabled, for the rows after the first: NULL
 * when the table has no such check. Every row of a report write names the
 * same job, whose row import_apply holds locked FOR UPDATE from job_stmt to
 * the end of the transaction (no other can delete it or change its key), so
 * the first row's check, RI_FKey_check_ins as queued by the INSERT, decides
 * for all: the 9,999 others of a 10,000-line chunk ran the same query on the
 * same key (5 % of a ship + receive import's instructions). Not for a
 * deferrable constraint (its checks wait for the commit; kept as they are).
 * The triggers keep their places (tgenabled set in a copy), as TriggerEnabled
 * finds a trigger's WHEN condition by its place.
 */
static const SlFkCol report_job_fk[] = {{"import_line", "job_id", "import_job", true}};

static TriggerDesc *
ReportTriggersAfterFirst(ResultRelInfo *rri)
{
	return SlFkTriggersWithout(rri->ri_RelationDesc, rri->ri_TrigDesc, report_job_fk, lengthof(report_job_fk));
}

/*
 * The report rows of some lines written directly (see above), with the
 * columns report_stmt gives them; false, writing nothing, when import_line
 * is not in the shape that assumes.
 */
static bool
ReportWrite(int64 job, IReport *rs, int n)
{
	Oid			relid;
	Relation	rel;
	AttrNumber	attnum[RP_NCOLS];
	TupleDesc	desc;
	SlDirectWrite dw;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	int			nslot = Min(n, REPORT_MULTI_INSERT);
	int			nslots = 0;
	Datum		accepted = CStringGetTextDatum("accepted");
	Datum		refused = CStringGetTextDatum("refused");
	MemoryContext old;
	AclResult	acl;
	TriggerDesc *full;
	TriggerDesc *after_first;

	relid = get_relname_relid("import_line", get_namespace_oid("shilian", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation shilian.import_line is missing");
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_INSERT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "import_line");
	rel = table_open(relid, RowExclusiveLock);
	if (!ReportShape(rel, attnum))
	{
		table_close(rel, NoLock);
		return false;
	}
	desc = RelationGetDescr(rel);
	SlDirectWriteBegin(&dw, rel);
	estate = dw.estate;
	rri = dw.rri;
	slots = palloc(sizeof(TupleTableSlot *) * Max(nslot, 1));
	for (int k = 0; k < nslot; k++)
		slots[k] = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));
	full = rri->ri_TrigDesc;
	after_first = n > 1 ? ReportTriggersAfterFirst(rri) : NULL;
	for (int i = 0; i < n; i++)
	{
		IReport    *r = &rs[i];
		TupleTableSlot *slot = slots[nslots];
		char	   *f[RP_NCOLS];

		/* as report_stmt: status from the SQLSTATE, an empty detail is none */
		f[RP_KIND] = r->kind;
		f[RP_RESULT] = r->result;
		f[RP_SQLSTATE] = r->sqlstate;
		f[RP_MESSAGE] = r->message;
		f[RP_DETAIL] = r->detail != NULL && r->detail[0] != '\0' ? r->detail : NULL;
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
		slot->tts_values[attnum[RP_JOB] - 1] = Int64GetDatum(job);
		slot->tts_isnull[attnum[RP_JOB] - 1] = false;
		slot->tts_values[attnum[RP_LINE] - 1] = Int32GetDatum(r->line_no);
		slot->tts_isnull[attnum[RP_LINE] - 1] = false;
		slot->tts_values[attnum[RP_STATUS] - 1] = r->sqlstate == NULL ? accepted : refused;
		slot->tts_isnull[attnum[RP_STATUS] - 1] = false;
		/* the text values for the row's own copy only: gone with the per-row context */
		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		for (int c = RP_KIND; c < RP_NCOLS; c++)
		{
			if (c == RP_STATUS || f[c] == NULL)
				continue;
			slot->tts_values[attnum[c] - 1] = CStringGetTextDatum(f[c]);
			slot->tts_isnull[attnum[c] - 1] = false;
		}
		MemoryContextSwitchTo(old);
		ExecStoreVirtualTuple(slot);
		if (desc->constr != NULL)
			ExecConstraints(rri, slot, estate);
		ExecMaterializeSlot(slot);
		ResetPerTupleExprContext(estate);
		if (++nslots == REPORT_MULTI_INSERT || (i == 0 && after_first != NULL))
			SlDirectWriteFlush(&dw, NULL, slots, &nslots);
		/* the first row's events queued with every trigger: the job's check once (above) */
		if (i == 0 && after_first != NULL)
			rri->ri_TrigDesc = after_first;
	}
	SlDirectWriteFlush(&dw, NULL, slots, &nslots);
	/* the queued events fire by the triggers' places in the relation's own set */
	rri->ri_TrigDesc = full;
	for (int k = 0; k < nslot; k++)
		ExecDropSingleTupleTableSlot(slots[k]);
	pfree(slots);
	SlDirectWriteEnd(&dw);
	table_close(rel, NoLock);
	/* the statements after it (the counts, an all_or_nothing's rollback of the report) see the rows */
	CommandCounterIncrement();
	return true;
}

/* The report rows of some lines by report_stmt (import_line not in the shape ReportWrite assumes). */
static void
ReportViaInsert(int64 job, IReport *rs, int n)
{
	Datum	   *a[6];
	bool	   *nl[6];
	Datum		v[7];
	Oid			typs[6] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	for (int k = 0; k < 6; k++)
	{
		a[k] = palloc0_array(Datum, n);
		nl[k] = palloc0_array(bool, n);
	}
	for (int i = 0; i < n; i++)
	{
		IReport    *r = &rs[i];
		char	   *f[6] = {NULL, r->kind, r->result, r->sqlstate, r->message, r->detail};

		a[0][i] = Int32GetDatum(r->line_no);
		for (int k = 1; k < 6; k++)
		{
			nl[k][i] = f[k] == NULL;
			if (f[k])
				a[k][i] = CStringGetTextDatum(f[k]);
		}
	}
	v[0] = Int64GetDatum(job);
	for (int k = 0; k < 6; k++)
		v[k + 1] = ArrayOf(a[k], nl[k], n, typs[k]);
	SlExec(&report_stmt, v, NULL, 0);
	if (SPI_processed != (uint64) n)
		elog(ERROR, "import reported %llu lines of %d", (unsigned long long) SPI_processed, n);
}

/* The report of some lines; counts added to the job. */
static void
Report(int64 job, IReport *rs, int n)
{
	if (!ReportWrite(job, rs, n))
		ReportViaInsert(job, rs, n);
	{
		int			refused = 0;
		Datum		c[4];

		for (int i = 0; i < n; i++)
			if (rs[i].sqlstate != NULL)
				refused++;
		c[0] = Int64GetDatum(job);
		c[1] = Int32GetDatum(n);
		c[2] = Int32GetDatum(n - refused);
		c[3] = Int32GetDatum(refused);
		SlExec(&report_count_stmt, c, NULL, 0);
	}
}

/*
 * Before any line runs: parse the lines (ParseFrom) and read (and lock) at
 * once the sales the receipts name and the batches the sales and the ship
 * lines name, links first, then batches, each in id order, as one receive
 * takes its locks.
 */
static void
Prefetch(IChunk *c, char **bodies, MemoryContext cxt)
{
	Datum	   *codes;
	Datum	   *links = palloc_array(Datum, Max(c->n, 1));
	int			ncodes = 0,
				nlinks = 0,
				room = Max(c->n, 1);

	for (int from = 0; from < c->n;)
		from = ParseFrom(c, from, bodies, cxt);
	/* a code per line, every input of a transform line */
	for (int i = 0; i < c->n; i++)
		if (!c->lines[i].refused && c->lines[i].kind == LK_TRANSFORM)
			room += c->lines[i].tr.ncodes;
	codes = palloc_array(Datum, room);
	for (int i = 0; i < c->n; i++)
	{
		ILine	   *ln = &c->lines[i];

		if (ln->refused)
			continue;
		if (ln->kind == LK_SHIP)
			codes[ncodes++] = TraceCodeGetDatum(ln->ship.code);
		else if (ln->kind == LK_INSPECT)
			codes[ncodes++] = TraceCodeGetDatum(ln->insp.code);
		else if (ln->kind == LK_CONSUME)
			codes[ncodes++] = TraceCodeGetDatum(ln->cons.code);
		else if (ln->kind == LK_RECEIVE && !ln->has_ref)
			links[nlinks++] = Int64GetDatum(ln->recv.link);
		else if (ln->kind == LK_REJECT)
			links[nlinks++] = Int64GetDatum(ln->rej.link);
		else if (ln->kind == LK_TRANSFORM)
		{
			/* every input (the chunk reads them at once, locked in id order) */
			for (int k = 0; k < ln->tr.ncodes; k++)
				if (!ln->tr.code_null[k])
					codes[ncodes++] = TraceCodeGetDatum(ln->tr.codes[k]);
		}
	}
	if (!c->single)
		LinksLoad(c, links, nlinks, codes, ncodes);
}

/*
 * Apply one chunk of staged lines; returns the number of lines taken and
 * whether any was refused.
 */
static int
Chunk(int64 job, int limit, bool *any_refused, MemoryContext cxt, List **deferred,
	  MemoryContext keep, bool single)
{
	Datum		v[2] = {Int64GetDatum(job), Int32GetDatum(limit)};
	IChunk		c;
	SPITupleTable *tt;
	uint64		rows;
	int			last = 0;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	/*
	 * The chunk's own SPI connection, finished with it: every SPI call
	 * returns in the connection's procedure context, so what the chunk's
	 * lines allocate after their statements (and the statements' result
	 * tables) went to import_apply's connection and stayed there until the
	 * call ended, some 30 MB per 5,000 batch lines, each chunk in fresh
	 * memory. Now they go with the chunk.
	 */
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	memset(&c, 0, sizeof(c));
	c.lookup = chunk_lookup;
	c.single = single;
	CachesReset(&c);
	SlExec(&stage_stmt, v, NULL, 0);
	rows = SPI_processed;
	tt = SPI_tuptable;
	c.n = (int) rows;
	c.lines = palloc0_array(ILine, Max(c.n, 1));
	if (c.n > 0)
	{
		bool		isnull;

		chunk_first = DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	}
	/* the staged text, and the batches and links named, read before any line runs */
	{
		char	  **bodies = palloc_array(char *, c.n);
		char	  **states = palloc_array(char *, c.n);
		char	  **msgs = palloc_array(char *, c.n);

		for (int i = 0; i < c.n; i++)
		{
			bool		isnull;
			Datum		d;

			c.lines[i].line_no = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
			bodies[i] = isnull ? NULL : TextDatumGetCString(d);
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
			states[i] = isnull ? NULL : TextDatumGetCString(d);
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull);
			msgs[i] = isnull ? NULL : TextDatumGetCString(d);
			/*
			 * The platform's JSON limits (jsonlimit.h) before jsonb_in sees
			 * the line: a line nested too deeply is refused like an
			 * over-long one, and never fails the whole upload.
			 */
			if (states[i] == NULL && bodies[i] != NULL &&
				sl_json_check(bodies[i], strlen(bodies[i]), SL_JSON_MAX_DEPTH, 0) != SL_JSON_OK)
			{
				states[i] = "54000";
				msgs[i] = psprintf("line %d: JSON nested too deeply: more than %d levels of nested arrays and objects",
								   c.lines[i].line_no, SL_JSON_MAX_DEPTH);
			}
		}
		SPI_freetuptable(tt);
		/*
		 * h-history: a line that refers to an earlier line by code_ref (or a
		 * reject line by link_ref) starts the next chunk, so that the line it
		 * names is applied and its batch or sale known when it is parsed
		 */
		chunk_cut = false;
		for (int i = 1; i < c.n; i++)
			if (states[i] == NULL && HasParseRef(bodies[i]))
			{
				c.n = i;
				chunk_cut = true;
				break;
			}
		/* refused while loading (over-long line, bad encoding, truncated body, CSV shape) */
		for (int i = 0; i < c.n; i++)
			if (states[i] != NULL)
				RefuseLine(&c.lines[i],
						   MAKE_SQLSTATE(states[i][0], states[i][1], states[i][2], states[i][3], states[i][4]),
						   msgs[i] ? msgs[i] : "refused while loading", NULL);
		Prefetch(&c, bodies, cxt);
		for (int i = 0; i < c.n; i++)
		{
			Line(&c, &c.lines[i], cxt);
			if (c.lines[i].refused)
				*any_refused = true;
			last = c.lines[i].line_no;
		}
	}
	Flush(&c);
	/* h-history: the batches this chunk's lines made, for code_ref */
	for (int i = 0; i < c.n && batch_refs != NULL; i++)
	{
		ILine	   *ln = &c.lines[i];

		if (!ln->refused && ln->result != NULL && ln->kind_name != NULL &&
			strlen(ln->result) < sizeof(((IBatchRef *) NULL)->code) &&
			(strcmp(ln->kind_name, "batch") == 0 || strcmp(ln->kind_name, "receive") == 0 ||
			 strcmp(ln->kind_name, "first_entry") == 0 || strcmp(ln->kind_name, "transform") == 0))
		{
			int64		k = ln->line_no;
			IBatchRef  *r = hash_search(batch_refs, &k, HASH_ENTER, NULL);

			strlcpy(r->code, ln->result, sizeof(r->code));
		}
	}
	if (c.n > 0)
	{
		Datum		u[2] = {Int64GetDatum(job), Int32GetDatum(last)};

		if (deferred == NULL)
		{
			IReport    *rs = palloc_array(IReport, c.n);

			for (int i = 0; i < c.n; i++)
				ReportOf(&c.lines[i], &rs[i]);
			Report(job, rs, c.n);
		}
		else
		{
			MemoryContext o2 = MemoryContextSwitchTo(keep);

			for (int i = 0; i < c.n; i++)
			{
				IReport    *r = palloc(sizeof(IReport));

				ReportOf(&c.lines[i], r);
				*deferred = lappend(*deferred, r);
			}
			MemoryContextSwitchTo(o2);
		}
		SlExec(&unstage_stmt, u, NULL, 0);
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	return c.n;
}

/* Forget what the lines from chunk_first on left in a reference map. */
static void
RefsForget(HTAB *refs)
{
	HASH_SEQ_STATUS st;
	int64	   *k;

	if (refs == NULL)
		return;
	hash_seq_init(&st, refs);
	while ((k = hash_seq_search(&st)) != NULL)
		if (*k >= chunk_first)
			hash_search(refs, k, HASH_REMOVE, NULL);
}

/*
 * One chunk, in a subtransaction of its own. A refusal raised while the
 * chunk's set writes run (a constraint or trigger that refuses a row of one
 * line, after the rules passed it) cannot be put on that line alone: the
 * chunk is rolled back and applied again line by line, each line through its
 * record function in a subtransaction of its own (OtherLine), so the line is
 * refused as the single-record path refuses it and the others are applied.
 * Anything else fails the call.
 */
static int
ChunkTry(int64 job, int limit, bool *any_refused, MemoryContext cxt, List **deferred,
		 MemoryContext keep)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		was_refused = *any_refused;
	int			ndeferred = deferred ? list_length(*deferred) : 0;
	ErrorData  *volatile e = NULL;
	volatile int n = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		n = Chunk(job, limit, any_refused, cxt, deferred, keep, false);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	if (e == NULL)
		return n;
	if (!RecordIsRefusal(e->sqlerrcode))
		ReThrowError(e);
	elog(DEBUG1, "import: chunk from line %lld applied again line by line: %s",
		 (long long) chunk_first, e->message);
	*any_refused = was_refused;
	if (deferred)
		*deferred = list_truncate(*deferred, ndeferred);
	RefsForget(ship_refs);
	RefsForget(batch_refs);
	MemoryContextReset(cxt);
	return Chunk(job, limit, any_refused, cxt, deferred, keep, true);
}

/* Chunks until max_lines (-1: all) are taken or none is left. */
static void
Chunks(int64 job, int max_lines, bool all, bool *refused, MemoryContext cxt, List **deferred,
	   MemoryContext keep)
{
	int			taken = 0;

	for (;;)
	{
		int			want = IMPORT_CHUNK;
		int			n;

		if (!all && max_lines > 0)
			want = Min(want, max_lines - taken);
		if (want <= 0)
			break;
		n = ChunkTry(job, want, refused, cxt, deferred, keep);
		MemoryContextReset(cxt);
		taken += n;
		if (n == 0 || (n < want && !chunk_cut))
			break;
	}
}

/*
 * All chunks of an all_or_nothing job, inside its subtransaction. An error
 * that refuses no line fails the call: the subtransaction is rolled back
 * first, so a caller's own exception block (a savepoint) rolls back its own.
 */
static void
ChunksAll(int64 job, bool *refused, MemoryContext cxt, List **deferred, MemoryContext caller,
		  ResourceOwner owner)
{
	PG_TRY();
	{
		Chunks(job, -1, true, refused, cxt, deferred, caller);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(caller);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		ship_refs = NULL;
		batch_refs = NULL;
		ReThrowError(e);
	}
	PG_END_TRY();
}

/*
 * import_apply(job, max_lines) → lines still staged: applies up to max_lines
 * (all when NULL) staged lines of the job. An all_or_nothing job is applied
 * whole in one call and rolled back if any line is refused.
 */
static SlStmt unstage_all_stmt = {
	"DELETE FROM shilian.import_stage WHERE job_id = $1",
	1, {"bigint"}
};

PG_FUNCTION_INFO_V1(sl_import_apply);
Datum
sl_import_apply(PG_FUNCTION_ARGS)
{
	int64		job;
	int			max_lines = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	Datum		v[1];
	char	   *mode;
	char	   *status;
	bool		all;
	bool		refused = false;
	int			left = 0;
	List	   *deferred = NIL;
	int			nest;
	MemoryContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	RecordRequire(fcinfo, 0, "job");
	job = PG_GETARG_INT64(0);
	if (max_lines == 0 || max_lines < -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_lines must be positive or null")));
	v[0] = Int64GetDatum(job);
	SlSpiConnect();
	Types();
	SlExec(&job_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("import job %lld does not exist", (long long) job),
				 errdetail("A job is applied by the caller that uploaded it.")));
	mode = TextDatumGetCString(SlGet(0, 1, NULL));
	status = TextDatumGetCString(SlGet(0, 2, NULL));
	if (strcmp(status, "running") != 0)
	{
		SPI_finish();
		PG_RETURN_INT32(0);
	}
	all = strcmp(mode, "all_or_nothing") == 0;
	/*
	 * The import's work is stamped as such where the ledger reads a channel
	 * (shilian.channel), for this call only.
	 */
	nest = NewGUCNestLevel();
	if (GetConfigOption("shilian.channel", true, false) != NULL)
		ShilianSetOwnChannel("import");
	cxt = AllocSetContextCreate(caller, "import chunk", ALLOCSET_DEFAULT_SIZES);
	current_job = job;
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(IShipRef);
		ctl.hcxt = caller;
		ship_refs = hash_create("import ship lines", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		ctl.entrysize = sizeof(IBatchRef);
		batch_refs = hash_create("import batch lines", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (all)
	{
		/* every line's effects, undone together if one is refused; the report stays */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(caller);
	}
	if (all)
		ChunksAll(job, &refused, cxt, &deferred, caller, owner);
	else
		Chunks(job, max_lines, false, &refused, cxt, NULL, caller);
	if (all)
	{
		if (refused)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		if (refused)
			SlExec(&unstage_all_stmt, v, NULL, 0);
		/* the report, in chunks */
		{
			int			n = list_length(deferred);
			IReport    *rs = palloc_array(IReport, Max(n, 1));
			int			i = 0;
			ListCell   *lc;

			foreach(lc, deferred)
				rs[i++] = *(IReport *) lfirst(lc);
			for (i = 0; i < n; i += IMPORT_CHUNK)
				Report(job, rs + i, Min(IMPORT_CHUNK, n - i));
		}
		if (refused)
		{
			Datum		f[2] = {Int64GetDatum(job), CStringGetTextDatum("rolled_back")};

			SlExec(&rolled_stmt, v, NULL, 0);
			SlExec(&finish_stmt, f, NULL, 0);
			MemoryContextDelete(cxt);
			ship_refs = NULL;
		batch_refs = NULL;
			AtEOXact_GUC(true, nest);
			SPI_finish();
			PG_RETURN_INT32(0);
		}
	}
	else
	{
		SlExec(&left_stmt, v, NULL, 1);
		left = DatumGetInt32(SlGet(0, 1, NULL));
	}
	if (left == 0)
	{
		Datum		f[2] = {Int64GetDatum(job), CStringGetTextDatum("applied")};

		SlExec(&finish_stmt, f, NULL, 0);
	}
	MemoryContextDelete(cxt);
	ship_refs = NULL;
	batch_refs = NULL;
	AtEOXact_GUC(true, nest);
	SPI_finish();
	PG_RETURN_INT32(left);
}

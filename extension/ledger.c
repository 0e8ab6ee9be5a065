/*
 * ledger.c — appending to and verifying the per-operator hash chains.
 * The bytes that are hashed come from core/canon.c; this file walks jsonb
 * into that encoding, takes the locks that keep chains linear, and reads
 * chains back in big batches for chain_verify().
 */
#include "shilian.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "canon.h"
#include "ledger.h"
#include "ledger_internal.h"

/* Advisory lock space of per-operator chain locks (field4 of the lock tag). */
#define LEDGER_LOCK_SPACE 0x534C

static Oid	cached_ledger = InvalidOid;
static Oid	cached_seq = InvalidOid;
static Oid	cached_owner = InvalidOid;
static SPIPlanPtr plan_last = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_superseded = NULL;

static void *
PallocGrow(void *old, size_t newcap)
{
	if (old == NULL)
		return MemoryContextAlloc(TopMemoryContext, newcap);
	return repalloc(old, newcap);
}

static void *
PallocGrowLocal(void *old, size_t newcap)
{
	return old == NULL ? palloc(newcap) : repalloc(old, newcap);
}

void
LedgerBufInit(SlBuf *b)
{
	sl_buf_init(b, PallocGrowLocal);
}

Oid
LedgerRelid(const char *name)
{
	Oid			nsp = get_namespace_oid("shilian", false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation shilian.%s does not exist", name),
				 errhint("Is the shilian extension installed?")));
	return relid;
}

static SPIPlanPtr
Prepare(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/* (Re)build the cached plans when the extension was (re)created under us. */
static void
PreparePlans(void)
{
	Oid			ledger = LedgerRelid("ledger");

	if (ledger == cached_ledger && plan_insert != NULL)
		return;
	if (plan_last)
		SPI_freeplan(plan_last);
	if (plan_insert)
		SPI_freeplan(plan_insert);
	if (plan_superseded)
		SPI_freeplan(plan_superseded);
	plan_last = plan_insert = plan_superseded = NULL;
	{
		Oid			t1[1] = {INT8OID};
		Oid			t10[10] = {INT8OID, INT8OID, INT8OID, TEXTOID, BYTEAOID, INT2OID,
		BYTEAOID, BYTEAOID, INT8OID, TIMESTAMPTZOID};

		plan_last = Prepare("SELECT seq, hash FROM shilian.ledger WHERE operator_id = $1 "
							"ORDER BY seq DESC LIMIT 1", 1, t1);
		plan_insert = Prepare("INSERT INTO shilian.ledger (id, operator_id, seq, kind, body, alg, "
							  "prev_hash, hash, supersedes, recorded_at) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 10, t10);
		plan_superseded = Prepare("SELECT operator_id FROM shilian.ledger WHERE id = $1", 1, t1);
	}
	cached_seq = LedgerRelid("ledger_id_seq");
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(ledger));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", ledger);
		cached_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	cached_ledger = ledger;
}

SlDigestAlg
LedgerCurrentAlg(void)
{
	SlDigestAlg alg = sl_digest_from_name(shilian_hash_algorithm);

	if (alg == SL_DIGEST_INVALID)
		elog(ERROR, "invalid shilian.hash_algorithm \"%s\"", shilian_hash_algorithm);
	return alg;
}

/* ---- jsonb to the canonical body encoding ----------------------------------- */

typedef struct Member
{
	const char *key;
	int			keylen;
	size_t		off;			/* value bytes in the scratch buffer */
	size_t		len;
} Member;

static int
MemberCmp(const void *a, const void *b)
{
	const Member *x = a,
			   *y = b;

	return sl_canon_keycmp(x->key, x->keylen, y->key, y->keylen);
}

static void EncodeContainer(SlBuf *out, JsonbContainer *jc, int depth);

static void
EncodeValue(SlBuf *out, JsonbValue *v, int depth)
{
	switch (v->type)
	{
		case jbvNull:
			sl_canon_null(out);
			break;
		case jbvBool:
			sl_canon_bool(out, v->val.boolean);
			break;
		case jbvNumeric:
			{
				char	   *t = numeric_normalize(v->val.numeric);

				sl_canon_number(out, t, strlen(t));
				pfree(t);
				break;
			}
		case jbvString:
			{
				sl_canon_string(out, v->val.string.val, v->val.string.len);
				break;
			}
		case jbvBinary:
			EncodeContainer(out, v->val.binary.data, depth + 1);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

static void
EncodeContainer(SlBuf *out, JsonbContainer *jc, int depth)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken r;

	check_stack_depth();
	if (depth > SL_CANON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '1')),
				 errmsg("ledger body nests deeper than %d levels", SL_CANON_MAX_DEPTH)));
	r = JsonbIteratorNext(&it, &v, true);
	if (r == WJB_BEGIN_ARRAY)
	{
		if (v.val.array.rawScalar)
		{
			r = JsonbIteratorNext(&it, &v, true);
			EncodeValue(out, &v, depth);
			return;
		}
		sl_canon_array(out, (uint32) v.val.array.nElems);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_ELEM)
				EncodeValue(out, &v, depth);
	}
	else if (r == WJB_BEGIN_OBJECT)
	{
		int			n = v.val.object.nPairs;
		Member	   *m = palloc(sizeof(Member) * Max(n, 1));
		SlBuf		vals;
		int			i = 0;

		sl_buf_init(&vals, PallocGrowLocal);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r == WJB_KEY)
			{
				m[i].key = v.val.string.val;
				m[i].keylen = v.val.string.len;
			}
			else if (r == WJB_VALUE)
			{
				m[i].off = vals.len;
				EncodeValue(&vals, &v, depth);
				m[i].len = vals.len - m[i].off;
				i++;
			}
		}
		/* jsonb orders keys by length first; the encoding wants plain byte order */
		qsort(m, i, sizeof(Member), MemberCmp);
		sl_canon_object(out, (uint32) i);
		for (int k = 0; k < i; k++)
		{
			sl_canon_key(out, m[k].key, m[k].keylen);
			sl_buf_put(out, vals.data + m[k].off, m[k].len);
		}
		if (vals.data)
			pfree(vals.data);
		pfree(m);
	}
	else
		elog(ERROR, "unexpected jsonb iterator token %d", (int) r);
}

void
LedgerCanonicalBody(Jsonb *body, SlBuf *out)
{
	/* the documented encoding is UTF-8: no conversion step to get wrong */
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '5')),
				 errmsg("the shilian ledger needs a UTF8 database"),
				 errdetail("The database encoding is %s.", GetDatabaseEncodingName())));
	if (!JB_ROOT_IS_OBJECT(body))
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '1')),
				 errmsg("ledger body must be a jsonb object"),
				 errdetail("Every ledger entry records one object; arrays and scalars have no named fields.")));
	EncodeContainer(out, &body->root, 0);
}

/* ---- append ---------------------------------------------------------------- */

static void
LockOperatorChain(int64 operator_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) operator_id >> 32),
						 (uint32) operator_id, LEDGER_LOCK_SPACE);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

bytea *
LedgerBytea(const void *p, size_t n)
{
	bytea	   *b = palloc(VARHDRSZ + n);

	SET_VARSIZE(b, VARHDRSZ + n);
	memcpy(VARDATA(b), p, n);
	return b;
}

int64
LedgerAppend(int64 operator_id, const char *kind, Jsonb *body, int64 supersedes)
{
	static SlDigestCtx *ctx = NULL;
	static SlBuf scratch;
	Oid			save_user;
	int			save_sec;
	SlBuf		canon;
	SlEntry		e;
	uint8_t		prev[SL_DIGEST_LEN];
	uint8_t		hash[SL_DIGEST_LEN];
	int64		id;
	int64		seq;
	TimestampTz now;
	SlDigestAlg alg = LedgerCurrentAlg();

	if (kind == NULL || kind[0] == '\0')
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '2')),
				 errmsg("ledger entry kind must not be empty")));
	if (supersedes < 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '3')),
				 errmsg("superseded entry %lld does not exist", (long long) supersedes)));

	/* encode before taking any lock: the walk can be the longest part */
	LedgerBufInit(&canon);
	LedgerCanonicalBody(body, &canon);

	if (ctx == NULL)
	{
		ctx = sl_digest_new();
		if (ctx == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		sl_buf_init(&scratch, PallocGrow);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PreparePlans();

	/*
	 * The table lock first: checkpoint() takes a lock that conflicts with it,
	 * so no entry id can be allocated while a checkpoint assigns leaves. Then
	 * the operator's chain lock, then the id: within one chain ids grow with
	 * seq, and the lock is held to the end of the transaction.
	 */
	LockRelationOid(cached_ledger, RowExclusiveLock);
	LockOperatorChain(operator_id);

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(cached_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);

	if (supersedes > 0)
	{
		Datum		arg = Int64GetDatum(supersedes);
		bool		isnull;
		int64		owner_op;

		if (SPI_execute_plan(plan_superseded, &arg, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "ledger lookup failed");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(SL_ERRCODE('L', '0', '3')),
					 errmsg("superseded entry %lld does not exist", (long long) supersedes)));
		owner_op = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (owner_op != operator_id)
			ereport(ERROR,
					(errcode(SL_ERRCODE('L', '0', '4')),
					 errmsg("entry %lld belongs to another operator", (long long) supersedes),
					 errdetail("A correction must be appended to the chain of the entry it supersedes.")));
	}

	id = nextval_internal(cached_seq, false);

	/* the newest committed head, even under REPEATABLE READ */
	{
		Datum		arg = Int64GetDatum(operator_id);

		if (SPI_execute_snapshot(plan_last, &arg, NULL, GetLatestSnapshot(), InvalidSnapshot,
								 true, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "ledger head lookup failed");
		if (SPI_processed == 0)
		{
			seq = 1;
			memcpy(prev, sl_genesis_hash, SL_DIGEST_LEN);
		}
		else
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[0];
			bytea	   *h;

			seq = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull)) + 1;
			h = DatumGetByteaPP(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
			if (VARSIZE_ANY_EXHDR(h) != SL_DIGEST_LEN)
				ereport(ERROR,
						(errcode(SL_ERRCODE('L', '1', '0')),
						 errmsg("ledger chain of operator %lld is damaged", (long long) operator_id),
						 errdetail("The hash of entry seq %lld is not %d bytes long.",
								   (long long) (seq - 1), SL_DIGEST_LEN),
						 errhint("Run shilian.chain_verify(%lld).", (long long) operator_id)));
			memcpy(prev, VARDATA_ANY(h), SL_DIGEST_LEN);
		}
	}

	now = GetCurrentTimestamp();
	e.id = id;
	e.operator_id = operator_id;
	e.seq = seq;
	e.alg = (uint8_t) alg;
	e.kind = kind;
	e.kind_len = strlen(kind);
	e.recorded_at = now + UNIX_TO_PG_USECS;
	e.supersedes = supersedes;
	e.body = canon.data;
	e.body_len = canon.len;
	e.prev_hash = prev;
	if (sl_entry_hash(ctx, &scratch, &e, hash) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not compute %s digest", sl_digest_name(alg)),
				 errdetail("OpenSSL refused the operation; is the SM3 provider available?")));

	{
		Datum		v[10];
		char		n[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		v[0] = Int64GetDatum(id);
		v[1] = Int64GetDatum(operator_id);
		v[2] = Int64GetDatum(seq);
		v[3] = PointerGetDatum(cstring_to_text(kind));
		v[4] = PointerGetDatum(LedgerBytea(canon.data, canon.len));
		v[5] = Int16GetDatum((int16) alg);
		v[6] = PointerGetDatum(LedgerBytea(prev, SL_DIGEST_LEN));
		v[7] = PointerGetDatum(LedgerBytea(hash, SL_DIGEST_LEN));
		v[8] = Int64GetDatum(supersedes);
		if (supersedes == 0)
			n[8] = 'n';
		v[9] = TimestampTzGetDatum(now);
		if (SPI_execute_plan(plan_insert, v, n, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "ledger insert failed");
	}

	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	return id;
}

/* ledger_append(operator_id, kind, body, supersedes) → entry id */
PG_FUNCTION_INFO_V1(shilian_ledger_append);
Datum
shilian_ledger_append(PG_FUNCTION_ARGS)
{
	int64		supersedes = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("operator_id, kind and body of a ledger entry must not be null")));
	if (!PG_ARGISNULL(3) && supersedes == 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '3')),
				 errmsg("superseded entry 0 does not exist")));
	PG_RETURN_INT64(LedgerAppend(PG_GETARG_INT64(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
								 PG_GETARG_JSONB_P(2), supersedes));
}

/* ledger_canonical(jsonb) → the canonical body bytes */
PG_FUNCTION_INFO_V1(shilian_ledger_canonical);
Datum
shilian_ledger_canonical(PG_FUNCTION_ARGS)
{
	SlBuf		b;

	LedgerBufInit(&b);
	LedgerCanonicalBody(PG_GETARG_JSONB_P(0), &b);
	PG_RETURN_BYTEA_P(LedgerBytea(b.data, b.len));
}

/* ledger_body(bytea) → jsonb, refusing bytes that are not one canonical body */
PG_FUNCTION_INFO_V1(shilian_ledger_body);
Datum
shilian_ledger_body(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const uint8_t *p = (const uint8_t *) VARDATA_ANY(b);
	size_t		len = VARSIZE_ANY_EXHDR(b);
	const char *err = sl_canon_validate(p, len);
	SlBuf		json;

	if (err != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid canonical ledger body: %s", err)));
	LedgerBufInit(&json);
	if (sl_canon_to_json(p, len, &json) != 0)
		elog(ERROR, "could not render canonical ledger body");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum((char *) json.data)));
}

/* ---- chain_verify ---------------------------------------------------------- */

typedef struct TailEntry
{
	int64		operator_id;
	int64		max_seq;
	bool		seen;
} TailEntry;

typedef struct ChainState
{
	int64		op;
	int64		entries;
	int64		expect;
	bool		ok;
	int64		first_bad;
	char	   *reason;
	uint8_t		prev[SL_DIGEST_LEN];
} ChainState;

static void
ChainBad(ChainState *s, int64 seq, char *reason)
{
	if (!s->ok)
		return;
	s->ok = false;
	s->first_bad = seq;
	s->reason = reason;
}

static void
ChainEmit(ReturnSetInfo *rsinfo, ChainState *s, HTAB *tails)
{
	Datum		v[5];
	bool		n[5] = {false, false, false, false, false};

	if (tails != NULL)
	{
		TailEntry  *t = hash_search(tails, &s->op, HASH_FIND, NULL);

		if (t != NULL)
		{
			t->seen = true;
			if (t->max_seq > s->expect - 1)
				ChainBad(s, s->expect,
						 psprintf("chain ends at seq %lld but seq %lld was checkpointed",
								  (long long) (s->expect - 1), (long long) t->max_seq));
		}
	}
	v[0] = Int64GetDatum(s->op);
	v[1] = Int64GetDatum(s->entries);
	v[2] = BoolGetDatum(s->ok);
	v[3] = Int64GetDatum(s->first_bad);
	n[3] = s->ok;
	v[4] = s->ok ? (Datum) 0 : CStringGetTextDatum(s->reason);
	n[4] = s->ok;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
}

static void
ChainReset(ChainState *s, int64 op)
{
	s->op = op;
	s->entries = 0;
	s->expect = 1;
	s->ok = true;
	s->first_bad = 0;
	s->reason = NULL;
	memcpy(s->prev, sl_genesis_hash, SL_DIGEST_LEN);
}

/* chain_verify(operator_id) → (operator, entries, ok, first_bad_seq, reason) */
PG_FUNCTION_INFO_V1(shilian_chain_verify);
Datum
shilian_chain_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = PG_ARGISNULL(0);
	int64		only = all ? 0 : PG_GETARG_INT64(0);
	HTAB	   *tails;
	HASHCTL		hctl;
	SlDigestCtx *ctx;
	SlBuf		scratch;
	SPIPlanPtr	plan;
	Portal		portal;
	ChainState	s;
	bool		have = false;
	Datum		arg = Int64GetDatum(only);
	MemoryContext batchcxt,
				oldcxt;

	InitMaterializedSRF(fcinfo, 0);

	ctx = sl_digest_new();
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	LedgerBufInit(&scratch);

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(int64);
	hctl.entrysize = sizeof(TailEntry);
	hctl.hcxt = CurrentMemoryContext;
	tails = hash_create("shilian checkpointed tails", 1024, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the last checkpointed seq of each chain: a chain may not end before it */
	{
		Oid			t1[1] = {INT8OID};
		SPIPlanPtr	p = SPI_prepare(all ? "SELECT operator_id, max(seq) FROM shilian.ledger_leaf GROUP BY 1"
									: "SELECT operator_id, max(seq) FROM shilian.ledger_leaf WHERE operator_id = $1 GROUP BY 1",
									all ? 0 : 1, t1);

		if (p == NULL || SPI_execute_plan(p, all ? NULL : &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "ledger_leaf lookup failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int64		op = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			TailEntry  *t = hash_search(tails, &op, HASH_ENTER, NULL);

			t->max_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
			t->seen = false;
		}
		SPI_freetuptable(SPI_tuptable);
	}

	{
		Oid			t1[1] = {INT8OID};
		const char *cols = "SELECT id, operator_id, seq, alg, kind, recorded_at, supersedes, body, prev_hash, hash "
			"FROM shilian.ledger ";

		plan = SPI_prepare(psprintf("%s%s", cols, all ? "ORDER BY operator_id, seq"
									: "WHERE operator_id = $1 ORDER BY seq"),
						   all ? 0 : 1, t1);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		portal = SPI_cursor_open(NULL, plan, all ? NULL : &arg, NULL, true);
	}

	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "chain_verify batch", ALLOCSET_DEFAULT_SIZES);
	ChainReset(&s, only);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 20000);
		tt = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	t = tt->vals[i];
			TupleDesc	d = tt->tupdesc;
			bool		nulls[10];
			Datum		v[10];
			SlEntry		e;
			uint8_t		h[SL_DIGEST_LEN];
			bytea	   *kind,
					   *body,
					   *prevb,
					   *hashb;

			heap_deform_tuple(t, d, v, nulls);
			e.operator_id = DatumGetInt64(v[1]);
			if (!have || e.operator_id != s.op)
			{
				if (have)
					ChainEmit(rsinfo, &s, tails);
				ChainReset(&s, e.operator_id);
				have = true;
			}
			s.entries++;
			if (!s.ok)
				continue;
			e.id = DatumGetInt64(v[0]);
			e.seq = DatumGetInt64(v[2]);
			e.alg = (uint8_t) DatumGetInt16(v[3]);
			kind = DatumGetByteaPP(v[4]);
			e.kind = VARDATA_ANY(kind);
			e.kind_len = VARSIZE_ANY_EXHDR(kind);
			e.recorded_at = DatumGetTimestampTz(v[5]) + UNIX_TO_PG_USECS;
			e.supersedes = nulls[6] ? 0 : DatumGetInt64(v[6]);
			body = DatumGetByteaPP(v[7]);
			e.body = (const uint8_t *) VARDATA_ANY(body);
			e.body_len = VARSIZE_ANY_EXHDR(body);
			prevb = DatumGetByteaPP(v[8]);
			hashb = DatumGetByteaPP(v[9]);
			e.prev_hash = (const uint8_t *) VARDATA_ANY(prevb);

			if (e.seq != s.expect)
			{
				if (e.seq > s.expect)
					ChainBad(&s, s.expect, psprintf("sequence gap: seq %lld is missing, next is seq %lld",
													(long long) s.expect, (long long) e.seq));
				else
					ChainBad(&s, e.seq, psprintf("seq %lld appears more than once", (long long) e.seq));
				continue;
			}
			s.expect++;
			if (VARSIZE_ANY_EXHDR(prevb) != SL_DIGEST_LEN || VARSIZE_ANY_EXHDR(hashb) != SL_DIGEST_LEN)
			{
				ChainBad(&s, e.seq, pstrdup("prev_hash or hash is not 32 bytes long"));
				continue;
			}
			if (memcmp(e.prev_hash, s.prev, SL_DIGEST_LEN) != 0)
			{
				ChainBad(&s, e.seq, e.seq == 1 ? pstrdup("prev_hash of seq 1 is not the genesis value")
						 : psprintf("prev_hash does not match the hash of seq %lld", (long long) (e.seq - 1)));
				continue;
			}
			if (e.alg != SL_DIGEST_SHA256 && e.alg != SL_DIGEST_SM3)
			{
				ChainBad(&s, e.seq, psprintf("unknown hash algorithm id %d", (int) e.alg));
				continue;
			}
			if (sl_entry_hash(ctx, &scratch, &e, h) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("could not compute %s digest", sl_digest_name((SlDigestAlg) e.alg))));
			if (memcmp(h, VARDATA_ANY(hashb), SL_DIGEST_LEN) != 0)
			{
				ChainBad(&s, e.seq, pstrdup("hash does not match the entry's recomputed hash"));
				continue;
			}
			memcpy(s.prev, h, SL_DIGEST_LEN);
		}
		MemoryContextSwitchTo(oldcxt);
		/* reasons live in the function's context, batch values do not */
		if (!s.ok && s.reason != NULL)
			s.reason = MemoryContextStrdup(CurrentMemoryContext, s.reason);
		MemoryContextReset(batchcxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);

	if (have)
		ChainEmit(rsinfo, &s, tails);
	else if (!all)
	{
		ChainReset(&s, only);
		ChainEmit(rsinfo, &s, tails);
	}
	/* chains that were checkpointed but have no entry left at all */
	{
		HASH_SEQ_STATUS hs;
		TailEntry  *t;

		hash_seq_init(&hs, tails);
		while ((t = hash_seq_search(&hs)) != NULL)
		{
			if (t->seen)
				continue;
			ChainReset(&s, t->operator_id);
			ChainEmit(rsinfo, &s, tails);
		}
	}
	SPI_finish();
	sl_digest_free(ctx);
	return (Datum) 0;
}

/*
 * activity.c — the per-operator, per-day record counters (shilian.operator_day).
 * Every record is counted here by RecordToLedger; the counts wait in a
 * transaction-local log and reach the table in one INSERT ... ON CONFLICT DO
 * UPDATE per (operator, day) just before the transaction commits, so a record
 * costs a few memory writes, and a bulk import of thousands of records for one
 * operator updates its row once rather than thousands of times.
 *
 * Subtransactions: each log entry carries the id of the subtransaction that
 * made it. Subtransaction ids grow in start order, so when a subtransaction
 * aborts, the entries it and its children made are exactly the tail of the
 * log with ids at or above its own; they are dropped. A released (committed)
 * subtransaction's entries simply stay.
 */
#include "shilian.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "activity.h"
#include "records.h"

typedef struct ActEntry
{
	int64		operator_id;
	DateADT		day;
	SubTransactionId subid;
	int16		kind;
	bool		via_client;
	int32		n;
	int64		incoming;		/* a receipt's incoming inspection, else 0 */
} ActEntry;

static ActEntry *act_log = NULL;	/* in TopTransactionContext */
static int	act_len = 0;
static int	act_cap = 0;
static bool act_registered = false;

ActivityKind
ActivityKindOf(const char *kind)
{
	if (strcmp(kind, "batch_create") == 0)
		return ACT_BATCHES;
	if (strcmp(kind, "inspect") == 0)
		return ACT_INSPECTIONS;
	if (strcmp(kind, "ship") == 0)
		return ACT_SHIPMENTS;
	if (strcmp(kind, "receive") == 0 || strcmp(kind, "receive_first_entry") == 0)
		return ACT_RECEIPTS;
	if (strcmp(kind, "reject") == 0)
		return ACT_REJECTIONS;
	if (strcmp(kind, "transform") == 0)
		return ACT_TRANSFORMS;
	if (strcmp(kind, "consume") == 0)
		return ACT_CONSUMPTIONS;
	return ACT_NONE;
}

/* ---- the flush ------------------------------------------------------------ */

/*
 * The counts of one (operator, day): records, one per kind, via_client, and
 * receipts_complete (filled at flush).
 */
#define ACT_NCOUNTS 10
#define ACT_VIA (1 + ACT_NONE)
#define ACT_COMPLETE (2 + ACT_NONE)

/*
 * The writes of one (operator, day), in one statement with scalar
 * parameters, prepared once per backend (stmt.c): the upsert of its
 * operator_day row, and of its operator_month row from the same parameters
 * (a data-modifying CTE: one executor start, one SPI call per (operator, day)
 * rather than one per table). A transaction of one record (the gateway's
 * case) costs this one statement; a bulk import of one operator's records on
 * one day the same one. A further table kept from the same counts is one
 * more CTE here, taking its values from these parameters.
 *   $1 operator, $2 day, $3 records, $4..$10 the kinds (ActivityKind order),
 *   $11 via_client, $12 receipts_complete.
 */
static SlStmt counts_stmt = {
	"WITH d AS ("
	" INSERT INTO shilian.operator_day AS d (operator_id, day, records, batches, inspections, shipments,"
	"  receipts, rejections, transforms, consumptions, via_client, receipts_complete)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
	" ON CONFLICT (operator_id, day) DO UPDATE SET records = d.records + excluded.records,"
	"  batches = d.batches + excluded.batches, inspections = d.inspections + excluded.inspections,"
	"  shipments = d.shipments + excluded.shipments, receipts = d.receipts + excluded.receipts,"
	"  rejections = d.rejections + excluded.rejections, transforms = d.transforms + excluded.transforms,"
	"  consumptions = d.consumptions + excluded.consumptions, via_client = d.via_client + excluded.via_client,"
	"  receipts_complete = d.receipts_complete + excluded.receipts_complete)"
	" INSERT INTO shilian.operator_month AS m (operator_id, month, records, receipts, receipts_complete, via_client)"
	" VALUES ($1, date_trunc('month', $2)::date, $3, $7, $12, $11)"
	" ON CONFLICT (operator_id, month) DO UPDATE SET records = m.records + excluded.records,"
	"  receipts = m.receipts + excluded.receipts, receipts_complete = m.receipts_complete + excluded.receipts_complete,"
	"  via_client = m.via_client + excluded.via_client",
	12, {"bigint", "date", "integer", "integer", "integer", "integer", "integer", "integer", "integer",
		"integer", "integer", "integer"}
};

/*
 * The transaction's receipts that are complete, per (operator, day): the
 * rule of record_completeness('incoming', id) (incoming_fields_complete,
 * inlined), run only when the transaction made receipts.
 */
static SlStmt complete_stmt = {
	"SELECT i.operator_id, i.inspected_at::date, count(*)::integer"
	" FROM shilian.inspection i"
	" JOIN shilian.batch b ON b.id = i.batch_id"
	" JOIN shilian.product p ON p.id = b.product_id"
	" LEFT JOIN shilian.link l ON l.id = i.link_id"
	" LEFT JOIN shilian.operator o ON o.id = l.seller_id"
	" WHERE i.id = ANY ($1) AND i.kind = 'incoming'"
	"  AND shilian.incoming_fields_complete(p.edible_agricultural, p.spec,"
	"   coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address'),"
	"   coalesce(o.contact, b.supplier->>'contact'),"
	"   coalesce(b.supplier_licence::text, b.supplier->>'licence'),"
	"   coalesce(b.certificate, i.report->'certificate'))"
	" GROUP BY 1, 2",
	1, {"bigint[]"}
};

typedef struct ActKey
{
	int64		operator_id;
	DateADT		day;
} ActKey;

typedef struct ActSum
{
	ActKey		key;
	int32		c[ACT_NCOUNTS];
} ActSum;

/* The owner of shilian.operator_day: the flush writes as it (operators may not). */
static Oid
CountersOwner(void)
{
	Oid			nsp = get_namespace_oid("shilian", false);
	Oid			relid = get_relname_relid("operator_day", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation shilian.operator_day does not exist"),
				 errhint("Is the shilian extension installed?")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

static void
ActivityFlush(void)
{
	ActEntry   *log = act_log;
	int			len = act_len;
	HASHCTL		ctl;
	HTAB	   *sums;
	HASH_SEQ_STATUS it;
	ActSum	   *s;
	Datum	   *incoming;
	int			nincoming = 0;
	Oid			save_user;
	int			save_sec;

	/* taken first: nothing below may count twice */
	act_log = NULL;
	act_len = act_cap = 0;

	ctl.keysize = sizeof(ActKey);
	ctl.entrysize = sizeof(ActSum);
	ctl.hcxt = CurrentMemoryContext;
	sums = hash_create("shilian operator_day flush", Max(len, 8), &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	incoming = palloc_array(Datum, len);
	for (int i = 0; i < len; i++)
	{
		ActKey		k;
		bool		found;

		memset(&k, 0, sizeof(k));
		k.operator_id = log[i].operator_id;
		k.day = log[i].day;
		s = hash_search(sums, &k, HASH_ENTER, &found);
		if (!found)
			memset(s->c, 0, sizeof(s->c));
		s->c[0] += log[i].n;
		s->c[1 + log[i].kind] += log[i].n;
		if (log[i].via_client)
			s->c[ACT_VIA] += log[i].n;
		if (log[i].incoming != 0)
			incoming[nincoming++] = Int64GetDatum(log[i].incoming);
	}

	/* as the table's owner: operators and systems hold no privilege on it */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(CountersOwner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());

	if (nincoming > 0)
	{
		Datum		ids = PointerGetDatum(construct_array(incoming, nincoming, INT8OID, 8,
														  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

		SlExec(&complete_stmt, &ids, NULL, 0);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			ActKey		k;

			memset(&k, 0, sizeof(k));
			k.operator_id = DatumGetInt64(SlGet(r, 1, NULL));
			k.day = DatumGetDateADT(SlGet(r, 2, NULL));
			s = hash_search(sums, &k, HASH_FIND, NULL);
			if (s != NULL)
				s->c[ACT_COMPLETE] += DatumGetInt32(SlGet(r, 3, NULL));
		}
	}

	hash_seq_init(&it, sums);
	while ((s = hash_seq_search(&it)) != NULL)
	{
		Datum		v[12];

		v[0] = Int64GetDatum(s->key.operator_id);
		v[1] = DateADTGetDatum(s->key.day);
		for (int c = 0; c < ACT_NCOUNTS; c++)
			v[2 + c] = Int32GetDatum(s->c[c]);
		SlExec(&counts_stmt, v, NULL, 0);
	}

	PopActiveSnapshot();
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
	hash_destroy(sums);
}

/* ---- transaction events ------------------------------------------------- */

static void
ActivityXact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (act_len > 0)
				ActivityFlush();
			break;
		default:
			/* committed (flushed above), aborted or prepared: the log's memory is gone */
			act_log = NULL;
			act_len = act_cap = 0;
			break;
	}
}

static void
ActivitySubXact(SubXactEvent event, SubTransactionId mySubid,
				SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (act_len > 0 && act_log[act_len - 1].subid >= mySubid)
		act_len--;
}

void
ActivityCount(int64 operator_id, DateADT day, ActivityKind kind, bool via_client, int64 incoming)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	ActEntry   *last;

	if (!shilian_activity_counters || kind == ACT_NONE)
		return;
	if (!act_registered)
	{
		RegisterXactCallback(ActivityXact, NULL);
		RegisterSubXactCallback(ActivitySubXact, NULL);
		act_registered = true;
	}
	last = act_len > 0 ? &act_log[act_len - 1] : NULL;
	if (last != NULL && incoming == 0 && last->incoming == 0 && last->operator_id == operator_id && last->day == day &&
		last->kind == (int16) kind && last->via_client == via_client && last->subid == subid)
	{
		last->n++;
		return;
	}
	if (act_len == act_cap)
	{
		int			cap = act_cap == 0 ? 16 : act_cap * 2;

		act_log = act_log == NULL
			? MemoryContextAlloc(TopTransactionContext, sizeof(ActEntry) * cap)
			: repalloc(act_log, sizeof(ActEntry) * cap);
		act_cap = cap;
	}
	last = &act_log[act_len++];
	last->operator_id = operator_id;
	last->day = day;
	last->subid = subid;
	last->kind = (int16) kind;
	last->via_client = via_client;
	last->n = 1;
	last->incoming = incoming;
}

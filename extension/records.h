/*
 * records.h — what the registry and trace-record C files share: the acting
 * operator check, the one call point into the ledger, cached SPI statements,
 * the validation rules (validate.c) and their SQLSTATEs (class SL, area R;
 * docs/errors.md lists every one).
 */
#ifndef SHILIAN_RECORDS_H
#define SHILIAN_RECORDS_H

#include "shilian.h"

#include "executor/spi.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#include "ledger.h"
#include "platform_date.h"
#include "types.h"

/* Business-rule refusals of the registry and the trace records. */
#define SL_UNKNOWN_OPERATOR			SL_ERRCODE('R', '0', '1')
#define SL_OPERATOR_NOT_ACTIVE		SL_ERRCODE('R', '0', '2')
#define SL_UNKNOWN_BATCH			SL_ERRCODE('R', '0', '3')
#define SL_FOREIGN_BATCH			SL_ERRCODE('R', '0', '4')
#define SL_OVER_BALANCE				SL_ERRCODE('R', '0', '5')
#define SL_DIMENSION_MISMATCH		SL_ERRCODE('R', '0', '6')
#define SL_DATES_OUT_OF_ORDER		SL_ERRCODE('R', '0', '7')
#define SL_BATCH_EXPIRED			SL_ERRCODE('R', '0', '8')
#define SL_NO_VALID_LICENCE			SL_ERRCODE('R', '0', '9')
#define SL_LICENCE_SCOPE			SL_ERRCODE('R', '1', '0')
#define SL_SELF_LINK				SL_ERRCODE('R', '1', '1')
#define SL_CYCLE					SL_ERRCODE('R', '1', '2')
#define SL_LINK_NOT_PENDING			SL_ERRCODE('R', '1', '3')
#define SL_UNKNOWN_LINK				SL_ERRCODE('R', '1', '4')
#define SL_DOCUMENT_INCOMPLETE		SL_ERRCODE('R', '1', '5')
#define SL_QTY_NOT_POSITIVE			SL_ERRCODE('R', '1', '6')
#define SL_ACCEPTED_OVER_SHIPPED	SL_ERRCODE('R', '1', '7')
#define SL_UNKNOWN_PRODUCT			SL_ERRCODE('R', '1', '8')
#define SL_UNKNOWN_JURISDICTION		SL_ERRCODE('R', '1', '9')
#define SL_STATUS_TRANSITION		SL_ERRCODE('R', '2', '0')
#define SL_PRODUCT_MISMATCH			SL_ERRCODE('R', '2', '1')

/*
 * A statement prepared once per backend (SPI_keepplan) on first use. Argument
 * types are written as SQL type names ("bigint", "shilian.qty", ...).
 */
typedef struct SlStmt
{
	const char *sql;
	int			nargs;
	const char *argtypes[24];	/* receive_many_stmt has 21 */
	SPIPlanPtr	plan;
	uint64		generation;		/* of the type catalog it was prepared against */
	/*
	 * Always the generic plan (CURSOR_OPT_GENERIC_PLAN): for a statement over
	 * array parameters whose generic plan is the index probe meant, and whose
	 * custom plan the plan cache would otherwise make again at every call
	 * (a custom plan with the array's length known is always estimated
	 * cheaper than the generic one, so the cache never switches).
	 */
	bool		generic;
} SlStmt;

/* Run a cached statement; nulls as for SPI_execute_plan (NULL: none null). */
extern int	SlExec(SlStmt *stmt, Datum *values, const char *nulls, long count);
extern int	SlPlanSettingsBegin(void);
extern void SlPlanSettingsEnd(int nest);
/* Column col (1-based) of row row of the last result; isnull may be NULL. */
extern Datum SlGet(int row, int col, bool *isnull);
extern Oid	SlTypeOid(const char *name);

/*
 * The acting operator: 0 when the setting shilian.operator_id is empty.
 * RecordCheckActor refuses (42501) when it is set and differs from the
 * operator the action is for; every write function calls it.
 */
extern int64 RecordActingOperator(void);
extern void RecordCheckActor(int64 operator_id, const char *action);

/*
 * The one call point into the ledger for every record function: appends the
 * entry and counts the record for operator_id on day, the date of the event
 * it records (shilian.operator_day; registry entries are not counted).
 */
extern int64 RecordToLedger(int64 operator_id, const char *kind, DateADT day, Jsonb *body);
/*
 * The same for n records at once, in array order (the bulk import): the
 * entries, ids, seqs and counts of n RecordToLedger calls in that order.
 */
extern void RecordsToLedger(LedgerNewEntry *records, int n);
/* Where the record came from (shilian.channel, shilian.client); NULL: typed in. */
extern const char *RecordSource(void);

/* Refuse a NULL argument (22004) naming it. */
extern void RecordRequire(FunctionCallInfo fcinfo, int argno, const char *name);

/* Text for messages. */
extern char *DateText(DateADT d);

/* ---- validation rules (validate.c) ------------------------------------- */

/*
 * A refusal of a rule, reported without throwing: the record functions raise
 * it (RecordRaise), the bulk import records it against the line. Each Check*
 * function returns true when the rule holds, else false with *r filled: the
 * SQLSTATE (class SL, area R, or 42501) and the message the rule gives.
 */
typedef struct SlRefusal
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;			/* or NULL */
	char	   *hint;			/* or NULL */
} SlRefusal;

/* Fill *r (detail and hint may be NULL); returns false, for "return Refuse(...)". */
extern bool Refuse(SlRefusal *r, int sqlerrcode, const char *detail, const char *hint,
				   const char *fmt,...) pg_attribute_printf(5, 6);
/* ereport(ERROR) the refusal, exactly as the rule used to raise it. */
extern void RecordRaise(const SlRefusal *r) pg_attribute_noreturn();
/*
 * Whether an error caught while applying one line of an upload refuses that
 * line (business rules SLR*, the upload's own SLI*, data exceptions 22*,
 * integrity constraints 23*, 42501): anything else (cancel, out of memory,
 * serialization failure, deadlock, a damaged ledger, an internal error)
 * fails the whole call.
 */
extern bool RecordIsRefusal(int sqlerrcode);

typedef struct SlOperatorInfo
{
	int64		id;
	bool		farm;			/* primary producer: sells without a licence */
	char	   *station;
} SlOperatorInfo;

/* Registered (SL R01) and active (SL R02); role names it in the message. */
extern void ValidateOperatorActive(int64 id, const char *role, SlOperatorInfo *info);
/* The same with the status already read (joined to a locked row). */
extern void ValidateStatusActive(int64 id, const char *role, const char *status);
extern bool CheckStatusActive(int64 id, const char *role, const char *status, SlRefusal *r);
/* Registered (SL R01), any status. */
extern void ValidateOperatorExists(int64 id, const char *role);
extern void ValidateOwner(TraceCode code, int64 owner, int64 actor, const char *role);
extern bool CheckOwner(TraceCode code, int64 owner, int64 actor, const char *role, SlRefusal *r);
extern void ValidatePositive(Qty q, const char *what);
extern bool CheckPositive(Qty q, const char *what, SlRefusal *r);
extern void ValidateDimension(TraceCode code, Qty batch_qty, Qty q);
extern bool CheckDimension(TraceCode code, Qty batch_qty, Qty q, SlRefusal *r);
extern void ValidateBalance(TraceCode code, Qty left, Qty want);
extern bool CheckBalance(TraceCode code, Qty left, Qty want, SlRefusal *r);
extern void ValidateDateOrder(const char *earlier_name, DateADT earlier,
							  const char *later_name, DateADT later);
extern bool CheckDateOrder(const char *earlier_name, DateADT earlier,
						   const char *later_name, DateADT later, SlRefusal *r);
/* A batch is not produced after today (SL R07). */
extern void ValidateNotFuture(DateADT produced);
extern bool CheckNotFuture(DateADT produced, SlRefusal *r);
extern void ValidateNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
							   const char *when_name, DateADT when);
extern bool CheckNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
							const char *when_name, DateADT when, SlRefusal *r);
/* Seller's licence valid on the date and covering the category; *lic its number. */
extern bool CheckLicence(int64 seller, const char *category, DateADT on, LicenseNo *lic,
						 SlRefusal *r);
/* Adding from_batch -> to_batch keeps the batch graph acyclic (SL R11, R12). */
extern void ValidateAcyclic(int64 from_batch, TraceCode from_code,
							int64 to_batch, TraceCode to_code);
/* The operator row (status, farm, station); false if not registered. */
extern bool ValidateLookupOperator(int64 id, char **status, SlOperatorInfo *info);
/* found: the operator is registered (else SL R01). */
extern bool CheckKnownOperator(bool found, int64 id, const char *role, SlRefusal *r);
/* A sale not yet received or rejected (SL R13). */
extern void ValidateLinkPending(int64 link, const char *status);
extern bool CheckLinkPending(int64 link, const char *status, SlRefusal *r);
/* A sale to the seller itself (SL R11). */
extern bool CheckNotSelfShip(TraceCode code, int64 seller, int64 buyer, SlRefusal *r);
/*
 * Accepted quantity against shipped (SL R17), and less than shipped only
 * with a reject_reason (SL R15); *cmp is the comparison (-1, 0).
 */
extern bool CheckAccepted(int64 link, Qty shipped, Qty accepted, bool has_reason, int *cmp,
						  SlRefusal *r);
/* The incoming inspection document's keys. */
extern const char *const record_incoming_keys[];
/* Its result: *res "pass" unless it says "fail"; false (SL R15) when it says anything else. */
extern bool CheckInspectionResult(Jsonb *doc, text **res, SlRefusal *r);

/* A JSON object (SL R15) with every listed key present and not null. */
extern void ValidateDocument(Jsonb *doc, const char *docname, const char *const *keys);
extern bool CheckDocument(Jsonb *doc, const char *docname, const char *const *keys,
						  SlRefusal *r);
/* RecordCheckActor without throwing (42501). */
extern bool RecordMayAct(int64 operator_id, const char *action, SlRefusal *r);

/* ---- the rules of ship and receive, over a row-lookup interface ----------- */

/*
 * A batch as the rules read it, with its owner's row (usually the operator
 * acting) and what a receipt copies from it (lot, certificate).
 */
typedef struct SlBatch
{
	int64		id;
	TraceCode	code;
	int64		owner;
	int64		product;
	Qty			qty;
	Qty			left;
	DateADT		produced;
	bool		has_expiry;
	DateADT		expires;
	char	   *category;
	bool		agricultural;	/* an edible agricultural product (食用农产品) */
	char	   *owner_status;
	SlOperatorInfo owner_info;
	Datum		lot;			/* text, or 0 when null */
	Datum		certificate;	/* jsonb, or 0 when null */
} SlBatch;

/*
 * The select list and joins RecordBatchFill reads (columns 1-14), for every
 * statement that reads batches: "SELECT " SL_BATCH_COLS [", more"] SL_BATCH_FROM ...
 */
#define SL_BATCH_COLS \
	"b.id, b.owner_id, b.product_id, b.qty, b.qty_left, b.produced_on, b.expires_on, p.category," \
	" o.status, 'farm' = ANY (o.kinds), o.station, p.edible_agricultural, b.lot, b.certificate"
#define SL_BATCH_FROM \
	" FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id" \
	" JOIN shilian.operator o ON o.id = b.owner_id"
/* Fill *b from row row of the last SPI result (SL_BATCH_COLS), copied into the current context. */
extern void RecordBatchFill(SlBatch *b, TraceCode code, int row);

/* A sale (a pending link or not) as a receipt's rules read it. */
typedef struct SlSale
{
	int64		id;				/* 0: a sale of the same upload not written yet */
	int64		from_batch;
	TraceCode	from_code;
	int64		seller;
	int64		buyer;
	Qty			shipped_qty;
	DateADT		shipped;
	const char *status;
	bool		has_expiry;
	DateADT		expires;
	int64		product;
	bool		has_licence;
	LicenseNo	licence;
	const char *seller_status;
	const char *buyer_status;
	const char *buyer_station;
} SlSale;

/*
 * Where the rules read rows: the record functions read (and lock) them with
 * one statement each (records.c); the bulk import from its chunk's caches,
 * which also hold what earlier lines of the upload changed (import.c).
 */
typedef struct SlLookup SlLookup;
struct SlLookup
{
	/* The batch with this trace code, locked; NULL when there is none. */
	SlBatch    *(*batch) (SlLookup *self, TraceCode code);
	/* The operator's row; false when not registered. */
	bool		(*operator_row) (SlLookup *self, int64 id, char **status, SlOperatorInfo *info);
	/* CheckLicence. */
	bool		(*licence) (SlLookup *self, int64 seller, const char *category, DateADT on,
							LicenseNo *lic, SlRefusal *r);
	/* RecordMayAct. */
	bool		(*may_act) (SlLookup *self, int64 operator_id, const char *action, SlRefusal *r);
	/* The sale (link of kind ship) named by key, locked; false when there is none. */
	bool		(*sale) (SlLookup *self, int64 key, SlSale *sale);
	/* The product's shelf life (has_shelf false: none); false when not registered. */
	bool		(*product) (SlLookup *self, int64 id, bool *has_shelf, int32 *shelf);
};

/* batch_create(): the line's values, and what the rules found. */
typedef struct SlBatchNew
{
	int64		owner;
	int64		product;
	Qty			q;
	DateADT		produced;
	bool		has_expiry;		/* in: expires_on given; out: the batch has an expiry date */
	DateADT		expires;		/* in: as given; out: as given, or produced + shelf life */
	Jsonb	   *certificate;	/* or NULL */
	/* out, when accepted */
	SlOperatorInfo owner_info;	/* its station gives the trace code's region */
} SlBatchNew;

/* ship(): the line's values, and what the rules found. */
typedef struct SlShip
{
	TraceCode	code;
	int64		buyer;
	Qty			q;
	DateADT		shipped;
	bool		has_seller;		/* else the acting operator, else the batch's owner */
	int64		seller;			/* set to the seller the rules found */
	/* out, when accepted */
	SlBatch    *batch;
	bool		has_licence;	/* false: a farm selling its own produce */
	LicenseNo	licence;
} SlShip;

/* receive() into a new batch: the line's values, and what the rules found. */
typedef struct SlReceive
{
	int64		link;			/* the key the lookup's sale() takes */
	Qty			q;
	Jsonb	   *inspection;	/* NULL: received without one */
	TimestampTz at;
	bool		has_reason;
	/* out, when accepted */
	SlSale		sale;
	DateADT		day;
	int			cmp;			/* accepted against shipped: -1 or 0 */
	text	   *result;			/* the inspection's result (NULL without one) */
} SlReceive;

/* reject(): the line's values, and what the rules found. */
typedef struct SlReject
{
	int64		link;			/* the key the lookup's sale() takes */
	TimestampTz at;
	/* out */
	SlSale		sale;			/* when found */
	DateADT		day;
} SlReject;

/* The product's shelf life (has_shelf false: none); false when not registered. */
extern bool RecordLookupProduct(int64 id, bool *has_shelf, int32 *shelf);
/* inspect(): the line's values, and what the rules found. */
typedef struct SlInspect
{
	TraceCode	code;
	const char *kind;			/* release, incoming or sampling */
	const char *result;			/* pass or fail */
	Jsonb	   *report;
	TimestampTz at;
	bool		has_operator;	/* else the acting operator, else the batch's owner */
	int64		operator_id;	/* set to the operator the rules found */
	/* out, when accepted */
	SlBatch    *batch;
} SlInspect;

/* consume(): the line's values, and what the rules found. */
typedef struct SlConsume
{
	TraceCode	code;
	Qty			q;
	const char *kind;			/* served, retail_sold, destroyed or sample_kept */
	TimestampTz at;
	bool		has_operator;	/* else the acting operator, else the batch's owner */
	int64		operator_id;	/* set to the operator the rules found */
	/* out */
	DateADT		day;
	SlBatch    *batch;			/* when accepted */
} SlConsume;

/* receive_first_entry(): the line's values, and what the rules found. */
typedef struct SlFirstEntry
{
	int64		buyer;
	int64		product;
	Qty			q;
	Jsonb	   *supplier;
	Jsonb	   *inspection;		/* NULL: received without one */
	DateADT		produced;
	TimestampTz at;
	Jsonb	   *certificate;	/* or NULL */
	/* out, when accepted */
	DateADT		day;
	SlOperatorInfo buyer_info;	/* its station gives the trace code's region */
	bool		has_expiry;
	DateADT		expires;		/* produced + the product's shelf life */
	text	   *result;			/* the inspection's result (NULL without one) */
} SlFirstEntry;

/* transform(): the line's values, and what the rules found. */
typedef struct SlTransform
{
	int			ncodes;			/* the inputs (trace codes; code_null[i]: a null element) */
	TraceCode  *codes;
	bool	   *code_null;
	int			nqtys;			/* the quantity taken of each input */
	Qty		   *qtys;
	bool	   *qty_null;
	int64		product;
	Qty			q;
	DateADT		produced;
	bool		has_expiry;		/* in: expires_on given; out: the batch has an expiry date */
	DateADT		expires;		/* in: as given; out: as given, or produced + shelf life */
	bool		has_operator;	/* else the acting operator, else the first input's holder */
	int64		operator_id;	/* set to the operator the rules found */
	/* out, when accepted */
	SlBatch   **in;				/* the input batches, in input order */
	SlOperatorInfo op_info;		/* its station gives the trace code's region */
} SlTransform;

/*
 * The time a transform's links carry, the event's own (docs/trace.md): the
 * start of its production day in the platform time zone, or when the last
 * of its inputs arrived (received) if later, never after now. So a
 * back-dated transform is in trace_forward(..., as_of) from its day on.
 * sql/update/0.2.0--0.3.0/30_sqlnames.sql backfills 0.2.0 links by this rule;
 * transform() and the bulk import's transform lines write them by it.
 */
#define SL_TRANSFORM_AT(produced_on, input_ids, now) \
	"SELECT LEAST(" now ", GREATEST((" produced_on "::date::timestamp AT TIME ZONE" \
	" pg_catalog.current_setting('shilian.timezone')), (SELECT max(il.received_at)" \
	" FROM shilian.link il WHERE il.to_batch = ANY (" input_ids "::bigint[]) AND il.status = 'received')))"

/* Every rule of transform() in its order; true when the batch may be written. */
extern bool RecordTransformCheck(SlLookup *lk, SlTransform *s, SlRefusal *r);
/* Every rule of consume() in its order; true when the consumption may be written. */
extern bool RecordConsumeCheck(SlLookup *lk, SlConsume *s, SlRefusal *r);
/* Every rule of receive_first_entry() in its order; true when the batch may be written. */
extern bool RecordFirstEntryCheck(SlLookup *lk, SlFirstEntry *s, SlRefusal *r);
/* Every rule of inspect() in its order; true when the inspection may be written. */
extern bool RecordInspectCheck(SlLookup *lk, SlInspect *s, SlRefusal *r);
/* Every rule of batch_create() in its order; true when the batch may be written. */
extern bool RecordBatchCheck(SlLookup *lk, SlBatchNew *s, SlRefusal *r);
/* Every rule of ship() in its order; true when the sale may be written. */
extern bool RecordShipCheck(SlLookup *lk, SlShip *s, SlRefusal *r);
/* Every rule of receive() (into a new batch) in its order. */
extern bool RecordReceiveCheck(SlLookup *lk, SlReceive *s, SlRefusal *r);
/* Every rule of reject() in its order; true when the sale may be rejected. */
extern bool RecordRejectCheck(SlLookup *lk, SlReject *s, SlRefusal *r);

#endif

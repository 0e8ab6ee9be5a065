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
	const char *argtypes[16];
	SPIPlanPtr	plan;
	uint64		generation;		/* of the type catalog it was prepared against */
} SlStmt;

/* Run a cached statement; nulls as for SPI_execute_plan (NULL: none null). */
extern int	SlExec(SlStmt *stmt, Datum *values, const char *nulls, long count);
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

/* ---- validation rules (validate.c); each ereports its own SQLSTATE ------ */

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
/* Registered (SL R01), any status. */
extern void ValidateOperatorExists(int64 id, const char *role);
extern void ValidateOwner(TraceCode code, int64 owner, int64 actor, const char *role);
extern void ValidatePositive(Qty q, const char *what);
extern void ValidateDimension(TraceCode code, Qty batch_qty, Qty q);
extern void ValidateBalance(TraceCode code, Qty left, Qty want);
extern void ValidateDateOrder(const char *earlier_name, DateADT earlier,
							  const char *later_name, DateADT later);
/* A batch is not produced after today (SL R07). */
extern void ValidateNotFuture(DateADT produced);
extern void ValidateNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
							   const char *when_name, DateADT when);
/* Seller's licence valid on the date and covering the category; returns its number. */
extern LicenseNo ValidateLicence(int64 seller, const char *category, DateADT on);
/* Adding from_batch -> to_batch keeps the batch graph acyclic (SL R11, R12). */
extern void ValidateAcyclic(int64 from_batch, TraceCode from_code,
							int64 to_batch, TraceCode to_code);
/* The operator row (status, farm, station); false if not registered. */
extern bool ValidateLookupOperator(int64 id, char **status, SlOperatorInfo *info);
/* Refuse an operator id that is not registered (SL R01). */
extern void RefuseUnknownOperator(int64 id, const char *role);
/* A sale not yet received or rejected (SL R13). */
extern void ValidateLinkPending(int64 link, const char *status);
/* A sale to the seller itself (SL R11). */
extern void ValidateNotSelfShip(TraceCode code, int64 seller, int64 buyer);
/*
 * Accepted quantity against shipped (SL R17), and less than shipped only
 * with a reject_reason (SL R15); returns the comparison (-1, 0).
 */
extern int	ValidateAccepted(int64 link, Qty shipped, Qty accepted, bool has_reason);
/* The incoming inspection document's keys, and its result ("pass" unless "fail"). */
extern const char *const record_incoming_keys[];
extern text *RecordInspectionResult(Jsonb *doc);

/* A JSON object (SL R15) with every listed key present and not null. */
extern void ValidateDocument(Jsonb *doc, const char *docname, const char *const *keys);

#endif

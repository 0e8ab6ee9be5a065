/*
 * ledger.h — the append interface of the tamper-evident ledger, for the
 * record functions (docs/ledger-format.md). One call appends one entry to the
 * operator's hash chain inside the caller's transaction.
 */
#ifndef SHILIAN_LEDGER_H
#define SHILIAN_LEDGER_H

#include "postgres.h"

#include "utils/date.h"
#include "utils/jsonb.h"

/*
 * Append one entry (kind, body: a jsonb object) to operator_id's chain;
 * supersedes is the id of the entry this one corrects, 0 for none. Returns
 * the new entry id. Serializes with other appends for the same operator only,
 * until the caller's transaction ends.
 */
extern int64 LedgerAppend(int64 operator_id, const char *kind, Jsonb *body, int64 supersedes);

/*
 * The same for a record function's entry: source (NULL: typed in directly)
 * and on_date (the date of the event recorded) are stored beside the entry,
 * outside what is hashed.
 */
extern int64 LedgerAppendRecord(int64 operator_id, const char *kind, Jsonb *body,
								const char *source, DateADT on_date);

/* One record entry of a batch append; id is set by the append. */
typedef struct LedgerNewEntry
{
	int64		operator_id;
	const char *kind;
	Jsonb	   *body;
	DateADT		on_date;
	int64		id;
} LedgerNewEntry;

/*
 * Append n record entries (all from source) in array order: exactly what n
 * calls of LedgerAppendRecord in that order append (ids, seqs, bodies,
 * hashes, locks), with each chain head read once and the rows written in
 * multi-row inserts.
 */
extern void LedgerAppendRecords(LedgerNewEntry *entries, int n, const char *source);

#endif

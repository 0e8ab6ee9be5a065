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

#endif

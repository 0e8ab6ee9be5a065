/*
 * activity.h — the per-operator, per-day record counters (shilian.operator_day,
 * docs/regulator.md) that the regulator figures read instead of the records.
 */
#ifndef SHILIAN_ACTIVITY_H
#define SHILIAN_ACTIVITY_H

#include "postgres.h"

#include "utils/date.h"

/* Which counter a record kind adds to, besides records (and via_client). */
typedef enum ActivityKind
{
	ACT_BATCHES, ACT_INSPECTIONS, ACT_SHIPMENTS, ACT_RECEIPTS, ACT_REJECTIONS,
	ACT_TRANSFORMS, ACT_CONSUMPTIONS, ACT_NONE
} ActivityKind;

/*
 * The counter of a ledger entry kind ("ship", "receive", ...); ACT_NONE for
 * the registry's entries (operator_register, licence_add, ...), which are
 * not records of food and are not counted.
 */
extern ActivityKind ActivityKindOf(const char *kind);

/*
 * Count one record of operator_id dated day, in the current (sub)transaction:
 * it reaches shilian.operator_day when the transaction commits, and is
 * forgotten if the subtransaction or transaction it was made in aborts.
 * incoming is the id of a receipt's incoming inspection (0 for other
 * records): at commit it is checked for completeness (receipts_complete).
 * A no-op while shilian.activity_counters is off.
 */
extern void ActivityCount(int64 operator_id, DateADT day, ActivityKind kind, bool via_client,
						  int64 incoming);

#endif

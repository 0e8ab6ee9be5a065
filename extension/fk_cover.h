/*
 * fk_cover.h — a set write's foreign keys checked once per distinct key
 * instead of once per row (fk_cover.c).
 */
#ifndef SHILIAN_FK_COVER_H
#define SHILIAN_FK_COVER_H

#include "records.h"

#include "utils/reltrigger.h"
#include "utils/relcache.h"

/* The tables a covered foreign key may reference (by their key id). */
typedef enum SlFkTable
{
	SL_FK_OPERATOR,
	SL_FK_PRODUCT,
	SL_FK_BATCH,
	SL_FK_NTABLES
} SlFkTable;

/* The keys a set write references, per table; zeroed to start. */
typedef struct SlFkKeys
{
	int64	   *ids[SL_FK_NTABLES];
	int			n[SL_FK_NTABLES];
	int			cap[SL_FK_NTABLES];
} SlFkKeys;

/*
 * One foreign key of a written table: table.column REFERENCES references
 * (id); inserts_only: the check of inserted rows only (a statement that
 * also updates other rows of the table leaves their checks alone).
 */
typedef struct SlFkCol
{
	const char *table;
	const char *column;
	const char *references;
	bool		inserts_only;
} SlFkCol;

/* The foreign keys the set writes and record functions cover (fk_cover.c lists them). */
extern const SlFkCol sl_fk_new_batch[2];	/* a new batch's owner and product */
extern const SlFkCol sl_fk_sale[3];	/* a sale's lot and parties */
extern const SlFkCol sl_fk_made[6];	/* new batches with the links that name them */
extern const SlFkCol sl_fk_receipt[1];	/* receive(): the sale's new batch */

extern void SlFkKeysAdd(SlFkKeys *k, SlFkTable table, int64 id);

/*
 * Lock each distinct key FOR KEY SHARE, as the foreign key's check of a row
 * locks it, in id order; true when every one exists. SPI connected.
 */
extern bool SlFkKeysLock(SlFkKeys *k);

/*
 * SlExec, with the row checks of the foreign keys cols (of the statement's
 * result tables) not queued: the caller has locked every key the statement
 * writes into them (SlFkKeysLock), or the statement inserts the row the key
 * names. ncols 0 is SlExec.
 */
extern int	SlExecCovered(SlStmt *stmt, Datum *values, const char *nulls, long count,
						  const SlFkCol *cols, int ncols);

/*
 * A copy of rel's triggers td (in the current memory context) with the row
 * checks of the foreign keys cols disabled, in their places; NULL when td
 * has none of them.
 */
extern TriggerDesc *SlFkTriggersWithout(Relation rel, TriggerDesc *td, const SlFkCol *cols, int ncols);

/* Installs the executor hook (_PG_init). */
extern void FkCoverInit(void);

#endif

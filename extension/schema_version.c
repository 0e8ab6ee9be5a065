/*
 * schema_version.c — the library serves one version of the SQL schema (the
 * one its install script creates). On first use in a backend it compares that
 * version with the installed extension's and refuses to run over another, so a
 * newer library installed over an older schema says what to run instead of
 * failing later on a missing column.
 */
#include "shilian.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

static bool schema_served = false;

/* The installed version of extension shilian, or NULL if none (palloc'd). */
static char *
InstalledVersion(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("shilian"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Refuse to serve a schema of another version. Called before the first
 * statement of every SQL-callable function that reads or writes the schema
 * (SlSpiConnect, SlExec); cheap after the first success in a backend. The
 * install and upgrade scripts themselves run with creating_extension set.
 */
void
SlCheckSchemaVersion(void)
{
	char	   *installed;

	if (likely(schema_served) || creating_extension)
		return;
	installed = InstalledVersion();
	if (installed == NULL)
		return;					/* called without the extension: nothing to serve */
	if (strcmp(installed, SHILIAN_VERSION) != 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('X', '1', '0')),
				 errmsg("shilian library %s cannot serve the installed extension version %s",
						SHILIAN_VERSION, installed),
				 errdetail("The library was upgraded; the schema of this database was not."),
				 errhint("Run ALTER EXTENSION shilian UPDATE in this database.")));
	pfree(installed);
	schema_served = true;
}

/* SPI_connect for the extension's functions: the schema check first. */
int
SlSpiConnect(void)
{
	SlCheckSchemaVersion();
	return SPI_connect();
}

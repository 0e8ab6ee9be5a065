/*
 * ledger_guard.c — the part of the ledger's DDL guard that looks at a command
 * before it runs (ddl_command_start). DROP EXTENSION shilian, DROP SCHEMA
 * shilian and DROP OWNED BY the extension's owner would drop the event
 * triggers that guard the ledger together with the ledger, leaving nothing
 * to refuse them at sql_drop. Their targets are read from the parse tree and
 * resolved to objects (the extension, its schema, its owner), never matched in
 * the query text: a DO block's dynamic SQL hides the name from the text, and
 * an unrelated statement may mention it. The rest of the guard (DROP and
 * ALTER of single ledger objects, at sql_drop and ddl_command_end, where the
 * objects' identities are known) is ledger_guard_ddl() in sql/src/50_ledger.sql.
 * A month partition leaves the ledger only by DETACH in ledger_archive()
 * (sql/src/54_ledger_archive.sql), which ledger_archive_allow() lets through
 * for its own transaction; any other DETACH of a month holding entries is
 * refused here, in maintenance mode too (SLL66). A month still in
 * ledger_default (entries recorded before the month had a partition, every
 * entry of a ledger upgraded from 0.2.0) gets a partition of its own only by
 * ledger_month_split(), which ledger_split_allow() lets move its rows.
 */
#include "shilian.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"

/* The schema and owner of an extension (pg_extension has no syscache in PG15). */
static void
ExtensionRow(Oid ext, Oid *nsp, Oid *owner)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	t;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	t = systable_getnext(scan);
	if (!HeapTupleIsValid(t))
		elog(ERROR, "extension %u has no pg_extension row", ext);
	*nsp = ((Form_pg_extension) GETSTRUCT(t))->extnamespace;
	*owner = ((Form_pg_extension) GETSTRUCT(t))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * shilian.allow_drop counts only in the transaction that set it. A value set
 * in this transaction has an entry on the setting's GUC stack, which COMMIT
 * and ROLLBACK pop; a session SET of an earlier transaction has none, also
 * when the library was loaded after it (the placeholder's stack is replayed
 * onto the new variable, its plain value is not stacked).
 */
static bool
DropAllowed(void)
{
	struct config_generic **vars;
	int			n;
	bool		here = false;

	if (!shilian_allow_drop || !superuser())
		return false;
#if PG_VERSION_NUM >= 160000
	vars = get_guc_variables(&n);
#else
	vars = get_guc_variables();
	n = GetNumConfigOptions();
#endif
	for (int i = 0; i < n; i++)
		if (strcmp(vars[i]->name, "shilian.allow_drop") == 0)
		{
			here = vars[i]->stack != NULL;
			break;
		}
	return here;
}

/*
 * The schema goes with the extension: CREATE EXTENSION made it (the control
 * file names it) before the extension existed, so it is no member and DROP
 * EXTENSION alone would leave it behind. Made a member here, in the dropping
 * transaction only (ALTER EXTENSION ADD SCHEMA refuses the extension's own
 * schema because of the dependency loop it makes, which the drop that
 * follows removes); if the drop fails, the rollback takes this back too.
 * Objects that others put in the schema still stop a DROP EXTENSION without
 * CASCADE, as they would a DROP SCHEMA.
 */
static void
AdoptSchema(Oid ext, Oid nsp)
{
	ObjectAddress schema,
				extension;

	if (getExtensionOfObject(NamespaceRelationId, nsp) == ext)
		return;
	ObjectAddressSet(schema, NamespaceRelationId, nsp);
	ObjectAddressSet(extension, ExtensionRelationId, ext);
	recordDependencyOn(&schema, &extension, DEPENDENCY_EXTENSION);
	CommandCounterIncrement();
}

/* ledger_guard_drop(): event trigger at ddl_command_start of DROP EXTENSION, DROP SCHEMA, DROP OWNED */
PG_FUNCTION_INFO_V1(shilian_ledger_guard_drop);
Datum
shilian_ledger_guard_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *tree;
	Oid			ext = get_extension_oid("shilian", true);
	Oid			nsp,
				owner;
	StringInfoData hits;
	ListCell   *lc;
	bool		drops_extension = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "ledger_guard_drop() must be fired as an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	tree = trigdata->parsetree;
	if (!OidIsValid(ext))
		PG_RETURN_VOID();
	ExtensionRow(ext, &nsp, &owner);
	initStringInfo(&hits);

	if (IsA(tree, DropStmt) && ((DropStmt *) tree)->removeType == OBJECT_EXTENSION)
	{
		foreach(lc, ((DropStmt *) tree)->objects)
			if (get_extension_oid(strVal(lfirst(lc)), true) == ext)
			{
				appendStringInfoString(&hits, "extension shilian");
				drops_extension = true;
			}
	}
	else if (IsA(tree, DropStmt) && ((DropStmt *) tree)->removeType == OBJECT_SCHEMA)
	{
		foreach(lc, ((DropStmt *) tree)->objects)
		{
			Oid			s = get_namespace_oid(strVal(lfirst(lc)), true);

			if (OidIsValid(s) && (s == nsp || getExtensionOfObject(NamespaceRelationId, s) == ext))
				appendStringInfo(&hits, "%sschema %s", hits.len > 0 ? ", " : "",
								 quote_identifier(strVal(lfirst(lc))));
		}
	}
	else if (IsA(tree, DropOwnedStmt))
	{
		foreach(lc, ((DropOwnedStmt *) tree)->roles)
			if (get_rolespec_oid(lfirst(lc), true) == owner)
				appendStringInfo(&hits, "%sthe objects of role %s, owner of extension shilian",
								 hits.len > 0 ? ", " : "",
								 quote_identifier(GetUserNameFromId(owner, false)));
	}
	if (hits.len == 0)
		PG_RETURN_VOID();

	if (!DropAllowed())
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '3', '1')),
				 errmsg("%s would drop the ledger", GetCommandTagName(trigdata->tag)),
				 errdetail("The command drops %s, with the ledger tables and the event triggers that guard them.",
						   hits.data),
				 errhint("To remove shilian with its ledger, a superuser runs in one transaction: "
						 "BEGIN; SET LOCAL shilian.allow_drop = on; DROP EXTENSION shilian; COMMIT; "
						 "(export the chains with ledger_export() first if they must be kept).")));
	if (drops_extension)
		AdoptSchema(ext, nsp);
	PG_RETURN_VOID();
}

/*
 * ALTER TABLE commands on the partitioned ledger that take nothing away,
 * which a restore of a dump runs for every month partition made after
 * CREATE EXTENSION (pg_dump writes a partition as CREATE TABLE, then these):
 * ATTACH PARTITION of an empty table named ledger_pYYYYMM to shilian.ledger
 * (rows in it would not have passed the ledger's insert trigger; another name
 * would not be known to the sql_drop guard), and, on a partition of
 * shilian.ledger, OWNER TO the ledger's owner, ENABLE ROW LEVEL SECURITY and
 * ADD of a PRIMARY KEY or UNIQUE constraint. Decided here, at ddl_command_start, from the parse tree;
 * the ddl_command_end guard (ledger_guard_ddl) asks ledger_guard_harmless()
 * for the verdict on the command it sees. Every ALTER TABLE resets it.
 */
static bool harmless = false;

static Oid
RelOwner(Oid relid)
{
	HeapTuple	t = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(t))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(t))->relowner;
	ReleaseSysCache(t);
	return owner;
}

/* ledger_pYYYYMM */
static bool
MonthPartitionName(const char *name)
{
	if (strlen(name) != 14 || strncmp(name, "ledger_p", 8) != 0)
		return false;
	for (int i = 8; i < 14; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

static bool
IsLedgerPartition(Oid relid, Oid ledger)
{
	return OidIsValid(relid) && get_rel_relispartition(relid) &&
		get_partition_parent(relid, true) == ledger;
}

/*
 * The one month partition ledger_archive() may detach, in the transaction
 * that called ledger_archive_allow() (its local transaction id): no other
 * way detaches a month partition that holds entries, not even maintenance
 * mode (SLL66).
 */
static Oid	archive_relid = InvalidOid;
static LocalTransactionId archive_lxid = InvalidLocalTransactionId;

PG_FUNCTION_INFO_V1(shilian_ledger_archive_allow);
Datum
shilian_ledger_archive_allow(PG_FUNCTION_ARGS)
{
	archive_relid = PG_GETARG_OID(0);
	archive_lxid = MyProc->lxid;
	PG_RETURN_VOID();
}

static bool
ArchiveAllowed(Oid part)
{
	return OidIsValid(part) && part == archive_relid && archive_lxid == MyProc->lxid;
}

/*
 * The one month ledger_month_split() moves out of ledger_default, in the
 * transaction that called ledger_split_allow(): the DELETE of that month's
 * rows from ledger_default (ledger_refuse_change() asks
 * ledger_split_allowed() for each row) and the ATTACH of the table they went
 * to, which holds them (any other ATTACH must bring an empty table).
 */
static Oid	split_relid = InvalidOid;
static TimestampTz split_lo;
static TimestampTz split_hi;
static LocalTransactionId split_lxid = InvalidLocalTransactionId;

PG_FUNCTION_INFO_V1(shilian_ledger_split_allow);
Datum
shilian_ledger_split_allow(PG_FUNCTION_ARGS)
{
	split_relid = PG_GETARG_OID(0);
	split_lo = PG_GETARG_TIMESTAMPTZ(1);
	split_hi = PG_GETARG_TIMESTAMPTZ(2);
	split_lxid = MyProc->lxid;
	PG_RETURN_VOID();
}

static bool
SplitAllowed(Oid part)
{
	return OidIsValid(part) && part == split_relid && split_lxid == MyProc->lxid;
}

/* Whether this transaction may remove from ledger_default an entry recorded at t. */
PG_FUNCTION_INFO_V1(shilian_ledger_split_allowed);
Datum
shilian_ledger_split_allowed(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(0);

	PG_RETURN_BOOL(OidIsValid(split_relid) && split_lxid == MyProc->lxid &&
				   t >= split_lo && t < split_hi);
}

static bool
AlterHarmless(AlterTableStmt *stmt, Oid ledger, Oid owner)
{
	Oid			target;
	ListCell   *lc;

	if (stmt->cmds == NIL || stmt->relation == NULL)
		return false;
	target = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(target))
		return false;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AttachPartition && target == ledger)
		{
			PartitionCmd *pc = (PartitionCmd *) cmd->def;
			Oid			part = RangeVarGetRelid(pc->name, NoLock, true);
			Relation	r;
			bool		empty;

			/* a month partition's name, which the sql_drop guard knows */
			if (!OidIsValid(part) || get_rel_relkind(part) != RELKIND_RELATION ||
				get_rel_namespace(part) != get_rel_namespace(ledger) || !MonthPartitionName(get_rel_name(part)))
				return false;
			r = table_open(part, AccessShareLock);
			empty = RelationGetNumberOfBlocks(r) == 0;
			table_close(r, AccessShareLock);
			if (!empty && !SplitAllowed(part))
				return false;
		}
		else if (cmd->subtype == AT_DetachPartition && target == ledger)
		{
			PartitionCmd *pc = (PartitionCmd *) cmd->def;

			if (pc->concurrent || !ArchiveAllowed(RangeVarGetRelid(pc->name, NoLock, true)))
				return false;
		}
		else if (cmd->subtype == AT_ChangeOwner && IsLedgerPartition(target, ledger))
		{
			if (get_rolespec_oid(cmd->newowner, true) != owner)
				return false;
		}
		else if (cmd->subtype == AT_EnableRowSecurity && IsLedgerPartition(target, ledger))
			continue;
		else if (cmd->subtype == AT_AddConstraint && IsLedgerPartition(target, ledger) &&
				 IsA(cmd->def, Constraint) &&
				 (((Constraint *) cmd->def)->contype == CONSTR_PRIMARY ||
				  ((Constraint *) cmd->def)->contype == CONSTR_UNIQUE))
			continue;
		else
			return false;
	}
	return true;
}

PG_FUNCTION_INFO_V1(shilian_ledger_guard_alter_start);
Datum
shilian_ledger_guard_alter_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp;
	Oid			ledger;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "ledger_guard_alter_start() must be fired as an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	harmless = false;
	nsp = get_namespace_oid("shilian", true);
	ledger = OidIsValid(nsp) ? get_relname_relid("ledger", nsp) : InvalidOid;
	if (OidIsValid(ledger) && IsA(trigdata->parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) trigdata->parsetree;
		ListCell   *lc;

		harmless = AlterHarmless(stmt, ledger, RelOwner(ledger));
		/*
		 * A month that holds entries leaves the ledger only through
		 * ledger_archive() (retention, docs/operations.md): also in
		 * maintenance mode, where the guard at command end would let a
		 * DETACH through.
		 */
		if (!harmless && stmt->relation != NULL &&
			RangeVarGetRelid(stmt->relation, NoLock, true) == ledger)
			foreach(lc, stmt->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
				Oid			part;
				const char *maint = GetConfigOption("shilian.ledger_maintenance", true, false);
				bool		on = false;

				if (cmd->subtype != AT_DetachPartition)
					continue;
				part = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
				if (OidIsValid(part) && get_rel_relkind(part) == RELKIND_RELATION && !ArchiveAllowed(part))
				{
					Relation	r = table_open(part, AccessShareLock);
					bool		empty = RelationGetNumberOfBlocks(r) == 0;

					table_close(r, AccessShareLock);
					if (!empty && maint != NULL && parse_bool(maint, &on) && on)
						ereport(ERROR,
								(errcode(SL_ERRCODE('L', '6', '6')),
								 errmsg("a month partition of the ledger that holds entries is detached only by shilian.ledger_archive()"),
								 errdetail("Partition %s holds entries; maintenance mode does not detach them.",
										   get_rel_name(part)),
								 errhint("Once every entry of the month is past its retention date: export it with ledger_archive_export(), check the file with shilian-verify archive, then call ledger_archive().")));
				}
			}
	}
	PG_RETURN_VOID();
}

/* Whether the ALTER TABLE now ending was found harmless at its start; once. */
PG_FUNCTION_INFO_V1(shilian_ledger_guard_harmless);
Datum
shilian_ledger_guard_harmless(PG_FUNCTION_ARGS)
{
	bool		r = harmless;

	harmless = false;
	PG_RETURN_BOOL(r);
}

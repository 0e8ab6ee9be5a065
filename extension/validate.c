/*
 * validate.c — the rules a record must pass before anything is written, each
 * refusing with its own SQLSTATE (class SL, area R) and a message that names
 * the rule and the values. Lookups are cached SPI statements that probe one
 * index each; the caller has already locked the rows whose balance it checks.
 */
#include "records.h"
#include "security.h"

#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/hsearch.h"

static SlStmt operator_stmt = {
	"SELECT status, 'farm' = ANY (kinds), station FROM shilian.operator WHERE id = $1",
	1, {"bigint"}
};

bool
ValidateLookupOperator(int64 id, char **status, SlOperatorInfo *info)
{
	Datum		v[1] = {Int64GetDatum(id)};
	bool		isnull;

	SlExec(&operator_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		return false;
	*status = TextDatumGetCString(SlGet(0, 1, NULL));
	if (info)
	{
		info->id = id;
		info->farm = DatumGetBool(SlGet(0, 2, &isnull));
		info->station = TextDatumGetCString(SlGet(0, 3, NULL));
	}
	return true;
}

void
RefuseUnknownOperator(int64 id, const char *role)
{
	ereport(ERROR,
			(errcode(SL_UNKNOWN_OPERATOR),
			 errmsg("unknown operator: %s %lld is not registered", role, (long long) id),
			 errhint("Register the operator with operator_register first.")));
}

void
ValidateOperatorExists(int64 id, const char *role)
{
	char	   *status;

	if (!ValidateLookupOperator(id, &status, NULL))
		RefuseUnknownOperator(id, role);
}

void
ValidateOperatorActive(int64 id, const char *role, SlOperatorInfo *info)
{
	char	   *status;

	if (!ValidateLookupOperator(id, &status, info))
		RefuseUnknownOperator(id, role);
	ValidateStatusActive(id, role, status);
}

void
ValidateStatusActive(int64 id, const char *role, const char *status)
{
	if (strcmp(status, "active") != 0)
		ereport(ERROR,
				(errcode(SL_OPERATOR_NOT_ACTIVE),
				 errmsg("operator not active: %s %lld is %s", role, (long long) id, status),
				 errdetail("Only active operators record sales, receipts, processing and consumption."),
				 errhint("A registered operator is activated with operator_activate.")));
}

void
ValidateOwner(TraceCode code, int64 owner, int64 actor, const char *role)
{
	/* only an admin learns who holds it: the holder may be someone's customer */
	if (owner != actor && SecurityCaller() != SL_CALLER_ADMIN)
		ereport(ERROR,
				(errcode(SL_FOREIGN_BATCH),
				 errmsg("foreign batch: batch %s is not held by %s %lld",
						TraceCodeToCString(code), role, (long long) actor),
				 errdetail("Only the holder of a batch records what happens to it.")));
	if (owner != actor)
		ereport(ERROR,
				(errcode(SL_FOREIGN_BATCH),
				 errmsg("foreign batch: batch %s belongs to operator %lld, not to %s %lld",
						TraceCodeToCString(code), (long long) owner, role, (long long) actor),
				 errdetail("Only the holder of a batch records what happens to it.")));
}

void
ValidatePositive(Qty q, const char *what)
{
	if (QtyMilli(q) <= 0)
		ereport(ERROR,
				(errcode(SL_QTY_NOT_POSITIVE),
				 errmsg("quantity not positive: %s is %s", what, QtyToCString(q))));
}

void
ValidateDimension(TraceCode code, Qty batch_qty, Qty q)
{
	if (!QtySameDimension(batch_qty, q))
		ereport(ERROR,
				(errcode(SL_DIMENSION_MISMATCH),
				 errmsg("unit dimension mismatch: batch %s is measured in %s (%s), %s is a %s",
						TraceCodeToCString(code),
						QtyDimensionName(QtyGetDimension(batch_qty)), QtyToCString(batch_qty),
						QtyToCString(q), QtyDimensionName(QtyGetDimension(q))),
				 errhint("Give the quantity in a unit of the batch's dimension (g/kg/t, mL/L or pcs).")));
}

void
ValidateBalance(TraceCode code, Qty left, Qty want)
{
	if (QtyCompare(want, left) > 0)
		ereport(ERROR,
				(errcode(SL_OVER_BALANCE),
				 errmsg("quantity over balance: batch %s has %s left, %s requested",
						TraceCodeToCString(code), QtyToCString(left), QtyToCString(want)),
				 errdetail("What is left is the batch's quantity less earlier shipments, processing and consumption.")));
}

void
ValidateDateOrder(const char *earlier_name, DateADT earlier,
				  const char *later_name, DateADT later)
{
	if (later < earlier)
		ereport(ERROR,
				(errcode(SL_DATES_OUT_OF_ORDER),
				 errmsg("dates out of order: %s %s is before %s %s",
						later_name, DateText(later), earlier_name, DateText(earlier))));
}

void
ValidateNotFuture(DateADT produced)
{
	if (produced > PlatformToday())
		ereport(ERROR,
				(errcode(SL_DATES_OUT_OF_ORDER),
				 errmsg("dates out of order: production date %s is in the future", DateText(produced))));
}

void
ValidateNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
				   const char *when_name, DateADT when)
{
	if (has_expiry && when > expires_on)
		ereport(ERROR,
				(errcode(SL_BATCH_EXPIRED),
				 errmsg("batch expired: batch %s expired on %s, %s is %s",
						TraceCodeToCString(code), DateText(expires_on), when_name, DateText(when)),
				 errdetail("Food past its expiry date may not be received, shipped, processed or served (Food Safety Law art. 34).")));
}

static SlStmt licence_ok_stmt = {
	"SELECT licence_no FROM shilian.licence"
	" WHERE operator_id = $1 AND valid_from <= $2 AND valid_to >= $2 AND $3 = ANY (scope)"
	" ORDER BY valid_to DESC LIMIT 1",
	3, {"bigint", "date", "text"}
};

/* Only on refusal: the licence that comes closest, to say what is wrong. */
static SlStmt licence_why_stmt = {
	"SELECT licence_no, valid_from, valid_to, array_to_string(scope, ', ') FROM shilian.licence"
	" WHERE operator_id = $1"
	" ORDER BY (valid_from <= $2 AND valid_to >= $2) DESC, valid_to DESC LIMIT 1",
	2, {"bigint", "date"}
};

LicenseNo
ValidateLicence(int64 seller, const char *category, DateADT on)
{
	Datum		v[3] = {Int64GetDatum(seller), DateADTGetDatum(on), CStringGetTextDatum(category)};
	LicenseNo	l;
	DateADT		from,
				to;

	SlExec(&licence_ok_stmt, v, NULL, 1);
	if (SPI_processed == 1)
		return DatumGetLicenseNo(SlGet(0, 1, NULL));

	SlExec(&licence_why_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(SL_NO_VALID_LICENCE),
				 errmsg("no valid licence: seller %lld holds no licence", (long long) seller),
				 errhint("Add the seller's food production or business licence with licence_add.")));
	l = DatumGetLicenseNo(SlGet(0, 1, NULL));
	from = DatumGetDateADT(SlGet(0, 2, NULL));
	to = DatumGetDateADT(SlGet(0, 3, NULL));
	if (on < from || on > to)
		ereport(ERROR,
				(errcode(SL_NO_VALID_LICENCE),
				 errmsg("no valid licence: licence %s of seller %lld is valid from %s to %s, not on %s",
						LicenseNoToCString(l), (long long) seller, DateText(from), DateText(to), DateText(on)),
				 errhint("Renew the licence and add the new one with licence_add.")));
	ereport(ERROR,
			(errcode(SL_LICENCE_SCOPE),
			 errmsg("licence scope mismatch: licence %s of seller %lld covers %s, not %s",
					LicenseNoToCString(l), (long long) seller,
					TextDatumGetCString(SlGet(0, 4, NULL)), category)));
	pg_unreachable();
}

static SlStmt successors_stmt = {
	"SELECT to_batch FROM shilian.link WHERE from_batch = $1 AND to_batch IS NOT NULL",
	1, {"bigint"}
};

/*
 * Breadth-first walk downstream from to_batch over the from_batch index; the
 * new link closes a cycle when it reaches from_batch. Each batch is expanded
 * once however many paths lead to it.
 */
void
ValidateAcyclic(int64 from_batch, TraceCode from_code, int64 to_batch, TraceCode to_code)
{
	HASHCTL		ctl;
	HTAB	   *seen;
	List	   *queue;
	bool		found;

	if (from_batch == to_batch)
		ereport(ERROR,
				(errcode(SL_SELF_LINK),
				 errmsg("self-link: batch %s cannot be linked to itself", TraceCodeToCString(from_code))));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("shilian acyclic check", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hash_search(seen, &to_batch, HASH_ENTER, NULL);
	queue = list_make1(palloc_object(int64));
	*(int64 *) linitial(queue) = to_batch;

	while (queue != NIL)
	{
		int64		id = *(int64 *) linitial(queue);
		Datum		v[1] = {Int64GetDatum(id)};
		uint64		n;

		queue = list_delete_first(queue);
		CHECK_FOR_INTERRUPTS();
		SlExec(&successors_stmt, v, NULL, 0);
		n = SPI_processed;
		for (uint64 i = 0; i < n; i++)
		{
			int64		next = DatumGetInt64(SlGet(i, 1, NULL));
			int64	   *p;

			if (next == from_batch)
				ereport(ERROR,
						(errcode(SL_CYCLE),
						 errmsg("cycle: batch %s already flows into batch %s, so %s cannot flow into %s",
								TraceCodeToCString(to_code), TraceCodeToCString(from_code),
								TraceCodeToCString(from_code), TraceCodeToCString(to_code)),
						 errdetail("The batch graph must stay acyclic: a batch cannot be its own source.")));
			hash_search(seen, &next, HASH_ENTER, &found);
			if (found)
				continue;
			p = palloc_object(int64);
			*p = next;
			queue = lappend(queue, p);
		}
	}
	hash_destroy(seen);
}

void
ValidateDocument(Jsonb *doc, const char *docname, const char *const *keys)
{
	StringInfoData missing;

	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		ereport(ERROR,
				(errcode(SL_DOCUMENT_INCOMPLETE),
				 errmsg("document incomplete: %s must be a JSON object", docname)));
	initStringInfo(&missing);
	for (int i = 0; keys[i] != NULL; i++)
	{
		JsonbValue	k;
		JsonbValue *v;

		k.type = jbvString;
		k.val.string.val = (char *) keys[i];
		k.val.string.len = strlen(keys[i]);
		v = findJsonbValueFromContainer(&doc->root, JB_FOBJECT, &k);
		if (v == NULL || v->type == jbvNull ||
			(v->type == jbvString && v->val.string.len == 0))
			appendStringInfo(&missing, "%s%s", missing.len ? ", " : "", keys[i]);
	}
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(SL_DOCUMENT_INCOMPLETE),
				 errmsg("document incomplete: %s lacks %s", docname, missing.data),
				 errdetail("Required keys must be present and not null or empty.")));
}

void
ValidateLinkPending(int64 link, const char *status)
{
	if (strcmp(status, "pending") != 0)
		ereport(ERROR,
				(errcode(SL_LINK_NOT_PENDING),
				 errmsg("link not pending: link %lld is already %s", (long long) link, status),
				 errdetail("A sale is received or rejected once.")));
}

void
ValidateNotSelfShip(TraceCode code, int64 seller, int64 buyer)
{
	if (buyer == seller)
		ereport(ERROR,
				(errcode(SL_SELF_LINK),
				 errmsg("self-link: seller %lld cannot ship batch %s to itself",
						(long long) seller, TraceCodeToCString(code)),
				 errhint("Record processing or repacking with transform.")));
}

int
ValidateAccepted(int64 link, Qty shipped, Qty accepted, bool has_reason)
{
	int			cmp = QtyCompare(accepted, shipped);

	if (cmp > 0)
		ereport(ERROR,
				(errcode(SL_ACCEPTED_OVER_SHIPPED),
				 errmsg("accepted over shipped: link %lld shipped %s, %s accepted",
						(long long) link, QtyToCString(shipped), QtyToCString(accepted))));
	if (cmp < 0 && !has_reason)
		ereport(ERROR,
				(errcode(SL_DOCUMENT_INCOMPLETE),
				 errmsg("document incomplete: accepting %s of %s shipped needs a reject_reason",
						QtyToCString(accepted), QtyToCString(shipped))));
	return cmp;
}

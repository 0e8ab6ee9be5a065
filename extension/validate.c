/*
 * validate.c — the rules a record must pass before anything is written, each
 * refusing with its own SQLSTATE (class SL, area R) and a message that names
 * the rule and the values. A rule reports its refusal without throwing
 * (Check*, an SlRefusal), so the bulk import records it against the line and
 * goes on with nothing to undo; the record functions raise it (Validate*).
 * Lookups are cached SPI statements that probe one index each; the caller
 * has already locked the rows whose balance it checks.
 */
#include "records.h"
#include "security.h"

#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/hsearch.h"

bool
Refuse(SlRefusal *r, int sqlerrcode, const char *detail, const char *hint, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	r->sqlerrcode = sqlerrcode;
	r->message = buf.data;
	r->detail = detail ? pstrdup(detail) : NULL;
	r->hint = hint ? pstrdup(hint) : NULL;
	return false;
}

void
RecordRaise(const SlRefusal *r)
{
	ereport(ERROR,
			(errcode(r->sqlerrcode),
			 errmsg_internal("%s", r->message),
			 r->detail ? errdetail_internal("%s", r->detail) : 0,
			 r->hint ? errhint("%s", r->hint) : 0));
	pg_unreachable();
}

/* The first three characters of a SQLSTATE: class and area ("SLR"). */
#define SQLSTATE_AREA(code) ((code) & ((1 << 18) - 1))

bool
RecordIsRefusal(int sqlerrcode)
{
	int			cls = ERRCODE_TO_CATEGORY(sqlerrcode);

	/* not the ledger's (a damaged chain) or the install's (SLL, SLX) */
	return SQLSTATE_AREA(sqlerrcode) == SQLSTATE_AREA(SL_ERRCODE('R', '0', '0')) ||
		SQLSTATE_AREA(sqlerrcode) == SQLSTATE_AREA(SL_ERRCODE('I', '0', '0')) ||
		SQLSTATE_AREA(sqlerrcode) == SQLSTATE_AREA(SL_ERRCODE('D', '0', '0')) ||	/* a date or timestamp */
		cls == ERRCODE_DATA_EXCEPTION ||
		cls == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;
}

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

bool
CheckKnownOperator(bool found, int64 id, const char *role, SlRefusal *r)
{
	if (found)
		return true;
	return Refuse(r, SL_UNKNOWN_OPERATOR, NULL, "Register the operator with operator_register first.",
				  "unknown operator: %s %lld is not registered", role, (long long) id);
}

void
ValidateOperatorExists(int64 id, const char *role)
{
	char	   *status;

	SlRefusal	r;

	if (!CheckKnownOperator(ValidateLookupOperator(id, &status, NULL), id, role, &r))
		RecordRaise(&r);
}

void
ValidateOperatorActive(int64 id, const char *role, SlOperatorInfo *info)
{
	char	   *status;

	SlRefusal	r;

	if (!CheckKnownOperator(ValidateLookupOperator(id, &status, info), id, role, &r))
		RecordRaise(&r);
	ValidateStatusActive(id, role, status);
}

bool
CheckStatusActive(int64 id, const char *role, const char *status, SlRefusal *r)
{
	if (strcmp(status, "active") == 0)
		return true;
	return Refuse(r, SL_OPERATOR_NOT_ACTIVE,
				  "Only active operators record sales, receipts, processing and consumption.",
				  "A registered operator is activated with operator_activate.",
				  "operator not active: %s %lld is %s", role, (long long) id, status);
}

void
ValidateStatusActive(int64 id, const char *role, const char *status)
{
	SlRefusal	r;

	if (!CheckStatusActive(id, role, status, &r))
		RecordRaise(&r);
}

bool
CheckOwner(TraceCode code, int64 owner, int64 actor, const char *role, SlRefusal *r)
{
	if (owner == actor)
		return true;
	/* only an admin learns who holds it: the holder may be someone's customer */
	if (SecurityCaller() != SL_CALLER_ADMIN)
		return Refuse(r, SL_FOREIGN_BATCH, "Only the holder of a batch records what happens to it.", NULL,
					  "foreign batch: batch %s is not held by %s %lld",
					  TraceCodeToCString(code), role, (long long) actor);
	return Refuse(r, SL_FOREIGN_BATCH, "Only the holder of a batch records what happens to it.", NULL,
				  "foreign batch: batch %s belongs to operator %lld, not to %s %lld",
				  TraceCodeToCString(code), (long long) owner, role, (long long) actor);
}

void
ValidateOwner(TraceCode code, int64 owner, int64 actor, const char *role)
{
	SlRefusal	r;

	if (!CheckOwner(code, owner, actor, role, &r))
		RecordRaise(&r);
}

bool
CheckPositive(Qty q, const char *what, SlRefusal *r)
{
	if (QtyMilli(q) > 0)
		return true;
	return Refuse(r, SL_QTY_NOT_POSITIVE, NULL, NULL,
				  "quantity not positive: %s is %s", what, QtyToCString(q));
}

void
ValidatePositive(Qty q, const char *what)
{
	SlRefusal	r;

	if (!CheckPositive(q, what, &r))
		RecordRaise(&r);
}

bool
CheckDimension(TraceCode code, Qty batch_qty, Qty q, SlRefusal *r)
{
	if (QtySameDimension(batch_qty, q))
		return true;
	return Refuse(r, SL_DIMENSION_MISMATCH, NULL,
				  "Give the quantity in a unit of the batch's dimension (g/kg/t, mL/L or pcs).",
				  "unit dimension mismatch: batch %s is measured in %s (%s), %s is a %s",
				  TraceCodeToCString(code),
				  QtyDimensionName(QtyGetDimension(batch_qty)), QtyToCString(batch_qty),
				  QtyToCString(q), QtyDimensionName(QtyGetDimension(q)));
}

void
ValidateDimension(TraceCode code, Qty batch_qty, Qty q)
{
	SlRefusal	r;

	if (!CheckDimension(code, batch_qty, q, &r))
		RecordRaise(&r);
}

bool
CheckBalance(TraceCode code, Qty left, Qty want, SlRefusal *r)
{
	if (QtyCompare(want, left) <= 0)
		return true;
	return Refuse(r, SL_OVER_BALANCE,
				  "What is left is the batch's quantity less earlier shipments, processing and consumption.",
				  NULL,
				  "quantity over balance: batch %s has %s left, %s requested",
				  TraceCodeToCString(code), QtyToCString(left), QtyToCString(want));
}

void
ValidateBalance(TraceCode code, Qty left, Qty want)
{
	SlRefusal	r;

	if (!CheckBalance(code, left, want, &r))
		RecordRaise(&r);
}

bool
CheckDateOrder(const char *earlier_name, DateADT earlier,
			   const char *later_name, DateADT later, SlRefusal *r)
{
	if (later >= earlier)
		return true;
	return Refuse(r, SL_DATES_OUT_OF_ORDER, NULL, NULL,
				  "dates out of order: %s %s is before %s %s",
				  later_name, DateText(later), earlier_name, DateText(earlier));
}

void
ValidateDateOrder(const char *earlier_name, DateADT earlier,
				  const char *later_name, DateADT later)
{
	SlRefusal	r;

	if (!CheckDateOrder(earlier_name, earlier, later_name, later, &r))
		RecordRaise(&r);
}

bool
CheckNotFuture(DateADT produced, SlRefusal *r)
{
	if (produced <= PlatformToday())
		return true;
	return Refuse(r, SL_DATES_OUT_OF_ORDER, NULL, NULL,
				  "dates out of order: production date %s is in the future", DateText(produced));
}

void
ValidateNotFuture(DateADT produced)
{
	SlRefusal	r;

	if (!CheckNotFuture(produced, &r))
		RecordRaise(&r);
}

bool
CheckNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
				const char *when_name, DateADT when, SlRefusal *r)
{
	if (!has_expiry || when <= expires_on)
		return true;
	return Refuse(r, SL_BATCH_EXPIRED,
				  "Food past its expiry date may not be received, shipped, processed or served (Food Safety Law art. 34).",
				  NULL,
				  "batch expired: batch %s expired on %s, %s is %s",
				  TraceCodeToCString(code), DateText(expires_on), when_name, DateText(when));
}

void
ValidateNotExpired(TraceCode code, bool has_expiry, DateADT expires_on,
				   const char *when_name, DateADT when)
{
	SlRefusal	r;

	if (!CheckNotExpired(code, has_expiry, expires_on, when_name, when, &r))
		RecordRaise(&r);
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

bool
CheckLicence(int64 seller, const char *category, DateADT on, LicenseNo *lic, SlRefusal *r)
{
	Datum		v[3] = {Int64GetDatum(seller), DateADTGetDatum(on), CStringGetTextDatum(category)};
	LicenseNo	l;
	DateADT		from,
				to;

	SlExec(&licence_ok_stmt, v, NULL, 1);
	if (SPI_processed == 1)
	{
		*lic = DatumGetLicenseNo(SlGet(0, 1, NULL));
		return true;
	}

	SlExec(&licence_why_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		return Refuse(r, SL_NO_VALID_LICENCE, NULL,
					  "Add the seller's food production or business licence with licence_add.",
					  "no valid licence: seller %lld holds no licence", (long long) seller);
	l = DatumGetLicenseNo(SlGet(0, 1, NULL));
	from = DatumGetDateADT(SlGet(0, 2, NULL));
	to = DatumGetDateADT(SlGet(0, 3, NULL));
	if (on < from || on > to)
		return Refuse(r, SL_NO_VALID_LICENCE, NULL,
					  "Renew the licence and add the new one with licence_add.",
					  "no valid licence: licence %s of seller %lld is valid from %s to %s, not on %s",
					  LicenseNoToCString(l), (long long) seller, DateText(from), DateText(to), DateText(on));
	return Refuse(r, SL_LICENCE_SCOPE, NULL, NULL,
				  "licence scope mismatch: licence %s of seller %lld covers %s, not %s",
				  LicenseNoToCString(l), (long long) seller,
				  TextDatumGetCString(SlGet(0, 4, NULL)), category);
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
		/* each probe's rows are read: SPI would otherwise keep every result to SPI_finish */
		SPI_freetuptable(SPI_tuptable);
	}
	hash_destroy(seen);
}

bool
CheckDocument(Jsonb *doc, const char *docname, const char *const *keys, SlRefusal *r)
{
	StringInfoData missing;

	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		return Refuse(r, SL_DOCUMENT_INCOMPLETE, NULL, NULL,
					  "document incomplete: %s must be a JSON object", docname);
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
		return Refuse(r, SL_DOCUMENT_INCOMPLETE, "Required keys must be present and not null or empty.", NULL,
					  "document incomplete: %s lacks %s", docname, missing.data);
	return true;
}

void
ValidateDocument(Jsonb *doc, const char *docname, const char *const *keys)
{
	SlRefusal	r;

	if (!CheckDocument(doc, docname, keys, &r))
		RecordRaise(&r);
}

bool
CheckLinkPending(int64 link, const char *status, SlRefusal *r)
{
	if (strcmp(status, "pending") == 0)
		return true;
	return Refuse(r, SL_LINK_NOT_PENDING, "A sale is received or rejected once.", NULL,
				  "link not pending: link %lld is already %s", (long long) link, status);
}

void
ValidateLinkPending(int64 link, const char *status)
{
	SlRefusal	r;

	if (!CheckLinkPending(link, status, &r))
		RecordRaise(&r);
}

bool
CheckNotSelfShip(TraceCode code, int64 seller, int64 buyer, SlRefusal *r)
{
	if (buyer != seller)
		return true;
	return Refuse(r, SL_SELF_LINK, NULL, "Record processing or repacking with transform.",
				  "self-link: seller %lld cannot ship batch %s to itself",
				  (long long) seller, TraceCodeToCString(code));
}

bool
CheckAccepted(int64 link, Qty shipped, Qty accepted, bool has_reason, int *cmp, SlRefusal *r)
{
	*cmp = QtyCompare(accepted, shipped);
	if (*cmp > 0)
		return Refuse(r, SL_ACCEPTED_OVER_SHIPPED, NULL, NULL,
					  "accepted over shipped: link %lld shipped %s, %s accepted",
					  (long long) link, QtyToCString(shipped), QtyToCString(accepted));
	if (*cmp < 0 && !has_reason)
		return Refuse(r, SL_DOCUMENT_INCOMPLETE, NULL, NULL,
					  "document incomplete: accepting %s of %s shipped needs a reject_reason",
					  QtyToCString(accepted), QtyToCString(shipped));
	return true;
}

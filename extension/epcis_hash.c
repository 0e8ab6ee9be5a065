/*
 * epcis_hash.c — SQL access to the EPCIS event hash ID (extension/core/
 * eventhash.c): epcis_event_hash(event, context) gives the
 * ni:///sha-256;<hex>?ver=CBV2.0 URI that epcis_capture assigns as the
 * eventID of an event captured without one, epcis_event_prehash the
 * canonical string it hashes (to explain a hash).
 */
#include "shilian.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "digest.h"
#include "eventhash.h"
#include "ledger_internal.h"

/* The JSON tree of the core from a jsonb container; depth is bounded by jsonb's own input limits. */
static void JsonbToSl(JsonbContainer *jc, SlJson *out, int depth);

static void
ValueToSl(JsonbValue *v, SlJson *out, int depth)
{
	switch (v->type)
	{
		case jbvNull:
			out->type = SL_JSON_NULL;
			break;
		case jbvBool:
			out->type = v->val.boolean ? SL_JSON_TRUE : SL_JSON_FALSE;
			break;
		case jbvNumeric:
			out->type = SL_JSON_NUMBER;
			out->str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			break;
		case jbvString:
			out->type = SL_JSON_STRING;
			out->str = pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			JsonbToSl(v->val.binary.data, out, depth + 1);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

static void
JsonbToSl(JsonbContainer *jc, SlJson *out, int depth)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken r;
	SlJson	   *items;
	int			i = 0;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	r = JsonbIteratorNext(&it, &v, true);
	if (r == WJB_BEGIN_ARRAY)
	{
		if (v.val.array.rawScalar)
		{
			(void) JsonbIteratorNext(&it, &v, true);
			ValueToSl(&v, out, depth);
			return;
		}
		out->type = SL_JSON_ARRAY;
		items = palloc0(sizeof(SlJson) * Max(v.val.array.nElems, 1));
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_ELEM)
				ValueToSl(&v, &items[i++], depth);
	}
	else if (r == WJB_BEGIN_OBJECT)
	{
		char	   *key = NULL;

		out->type = SL_JSON_OBJECT;
		items = palloc0(sizeof(SlJson) * Max(v.val.object.nPairs, 1));
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (r == WJB_VALUE)
			{
				ValueToSl(&v, &items[i], depth);
				items[i++].key = key;
			}
		}
	}
	else
		elog(ERROR, "unexpected jsonb iterator token %d", (int) r);
	out->items = items;
	out->n = i;
}

static void *
PallocArena(void *arg, size_t size)
{
	return palloc(size);
}

static char *
EventPrehash(FunctionCallInfo fcinfo)
{
	Jsonb	   *event = PG_GETARG_JSONB_P(0);
	SlJson		ev = {0},
				ctx = {0};
	char	   *pre;

	JsonbToSl(&event->root, &ev, 0);
	if (!PG_ARGISNULL(1))
		JsonbToSl(&PG_GETARG_JSONB_P(1)->root, &ctx, 0);
	if (ev.type != SL_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an EPCIS event must be a JSON object")));
	pre = sl_eventhash_prehash(PG_ARGISNULL(1) ? NULL : &ctx, &ev, PallocArena, NULL);
	if (pre == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return pre;
}

/* shilian.epcis_event_prehash(event jsonb, context jsonb) → the canonical pre-hash string. */
PG_FUNCTION_INFO_V1(shilian_epcis_event_prehash);
Datum
shilian_epcis_event_prehash(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(EventPrehash(fcinfo)));
}

/* shilian.epcis_event_hash(event jsonb, context jsonb) → ni:///sha-256;<hex>?ver=CBV2.0 */
PG_FUNCTION_INFO_V1(shilian_epcis_event_hash);
Datum
shilian_epcis_event_hash(PG_FUNCTION_ARGS)
{
	char	   *pre;
	uint8_t		d[SL_DIGEST_LEN];
	char		ni[SL_EVENTHASH_NI_LEN];
	SlDigestCtx *dc = LedgerDigestCtx();

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	pre = EventPrehash(fcinfo);
	if (sl_digest_init(dc, SL_DIGEST_SHA256) != 0 || sl_digest_update(dc, pre, strlen(pre)) != 0
		|| sl_digest_final(dc, d) != 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SHA-256 failed")));
	sl_eventhash_ni(d, ni);
	PG_RETURN_TEXT_P(cstring_to_text(ni));
}

/* shilian.epcis_gs1_uri(uri text) → its constrained canonical GS1 Digital Link URI, NULL when it names no GS1 key. */
PG_FUNCTION_INFO_V1(shilian_epcis_gs1_uri);
Datum
shilian_epcis_gs1_uri(PG_FUNCTION_ARGS)
{
	char	   *uri = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		out[1024];

	if (!sl_eventhash_dl(uri, out, sizeof out))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

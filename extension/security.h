/*
 * security.h — who the caller is (the role the transaction runs as, set by
 * the gateway with set_config('role', ...)) and what it may do for which
 * operator. The write functions ask through RecordCheckActor; the
 * definer-rights read functions through shilian.may_see (docs/security.md).
 */
#ifndef SHILIAN_SECURITY_H
#define SHILIAN_SECURITY_H

#include "shilian.h"

typedef enum SlCaller
{
	SL_CALLER_NONE,				/* no shilian role: public, the gateway itself */
	SL_CALLER_OPERATOR,			/* shilian_operator: shilian.operator_id */
	SL_CALLER_SYSTEM,			/* shilian_system: shilian.client */
	SL_CALLER_REGULATOR,		/* shilian_regulator: shilian.jurisdiction */
	SL_CALLER_ADMIN				/* shilian_admin or a superuser: every row */
} SlCaller;

/* The caller's kind, from the outer role (not a SECURITY DEFINER owner). */
extern SlCaller SecurityCaller(void);

/*
 * Refuse (42501) unless the caller may record for operator_id: an operator
 * only for itself, a system client for the operators bound to it, a
 * regulator only the oversight actions (activate, suspend, add a licence)
 * for operators in its subtree, an admin for anyone. action names the
 * action in the message.
 */
extern void SecurityCheckWrite(int64 operator_id, const char *action);
struct SlRefusal;
/* The same without throwing: false with the refusal in *r (records.h). */
extern bool SecurityMayWrite(int64 operator_id, const char *action, struct SlRefusal *r);

/* Refuse (42501) unless the caller may register an operator at station. */
extern void SecurityCheckStation(const char *station, const char *action);

/* Whether the caller may see the records of operator_id. */
extern bool SecurityMaySee(int64 operator_id);

#endif

/*
 * strict_input.h — dates and timestamps read from user text, through the one
 * strict check of extension/core/strictdate.c (YYYY-MM-DD; RFC 3339 with an
 * offset). Errors SLD01-SLD05 name the field (docs/errors.md).
 */
#ifndef SHILIAN_STRICT_INPUT_H
#define SHILIAN_STRICT_INPUT_H

#include "postgres.h"

#include "utils/date.h"
#include "utils/timestamp.h"

/* field may be NULL (the message then names no field). */
DateADT		SlStrictDate(const char *text, const char *field);
TimestampTz SlStrictTimestamptz(const char *text, const char *field);

#endif

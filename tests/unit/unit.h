/*
 * unit.h — a tiny TAP producer for the C unit tests of extension/core/.
 */
#ifndef SHILIAN_UNIT_H
#define SHILIAN_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_n = 0, unit_failed = 0;

#define CHECK(cond, ...) \
	do { \
		unit_n++; \
		if (cond) printf("ok %d - ", unit_n); \
		else { printf("not ok %d - ", unit_n); unit_failed++; } \
		printf(__VA_ARGS__); printf("\n"); \
	} while (0)

#define UNIT_DONE() \
	(printf("1..%d\n# %d passed, %d failed\n", unit_n, unit_n - unit_failed, unit_failed), \
	 unit_failed ? 1 : 0)

#endif

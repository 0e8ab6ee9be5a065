/*
 * jsonlimit_test.c — the nesting/size scan of extension/core/jsonlimit.c:
 * depth counted outside strings only, escapes honoured, bounds exact.
 */
#include <string.h>

#include "jsonlimit.h"
#include "unit.h"

static SlJsonLimit
Check(const char *s, int depth)
{
	return sl_json_check(s, strlen(s), depth, 0);
}

static char *
Nested(int n, char open, char close)
{
	char	   *s = malloc(2 * (size_t) n + 1);
	int			i;

	for (i = 0; i < n; i++)
	{
		s[i] = open;
		s[2 * n - 1 - i] = close;
	}
	s[2 * n] = '\0';
	return s;
}

int
main(void)
{
	char	   *s;

	CHECK(Check("{}", 1) == SL_JSON_OK, "an empty object is depth 1");
	CHECK(Check("[]", 0) == SL_JSON_TOO_DEEP, "depth 0 refuses any container");
	CHECK(Check("42", 0) == SL_JSON_OK, "a scalar has depth 0");
	CHECK(Check("{\"a\":[1,{\"b\":2}]}", 3) == SL_JSON_OK, "depth 3 within 3");
	CHECK(Check("{\"a\":[1,{\"b\":2}]}", 2) == SL_JSON_TOO_DEEP, "depth 3 over 2");
	CHECK(Check("\"[[[[[[[[\"", 1) == SL_JSON_OK, "brackets inside a string do not count");
	CHECK(Check("[\"\\\"[[[[\"]", 1) == SL_JSON_OK, "an escaped quote does not end the string");
	CHECK(Check("[\"\\\\\",[[]]]", 2) == SL_JSON_TOO_DEEP, "an escaped backslash does end the escape");
	CHECK(Check("]]]]]][", 1) == SL_JSON_OK, "unbalanced closers never go below zero");
	s = Nested(SL_JSON_MAX_DEPTH, '[', ']');
	CHECK(Check(s, SL_JSON_MAX_DEPTH) == SL_JSON_OK, "exactly the platform limit passes");
	free(s);
	s = Nested(SL_JSON_MAX_DEPTH + 1, '[', ']');
	CHECK(Check(s, SL_JSON_MAX_DEPTH) == SL_JSON_TOO_DEEP, "one more level is refused");
	free(s);
	s = Nested(100000, '{', '}');
	CHECK(Check(s, SL_JSON_MAX_DEPTH) == SL_JSON_TOO_DEEP, "100,000 levels refused without recursion");
	free(s);
	CHECK(sl_json_check("[1,2]", 5, 8, 4) == SL_JSON_TOO_LARGE, "size bound is exact (5 > 4)");
	CHECK(sl_json_check("[1,2]", 5, 8, 5) == SL_JSON_OK, "size bound is exact (5 = 5)");
	CHECK(sl_json_check("[\"\\", 3, 8, 0) == SL_JSON_OK, "a trailing backslash does not read past the end");
	CHECK(strcmp(sl_json_limit_message(SL_JSON_TOO_DEEP), "JSON nested too deeply") == 0, "message");
	return UNIT_DONE();
}

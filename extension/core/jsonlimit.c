/*
 * jsonlimit.c — nesting and size bounds on JSON text, checked by a single
 * forward scan before parsing (see jsonlimit.h).
 */
#include "jsonlimit.h"

SlJsonLimit
sl_json_check(const char *text, size_t len, int max_depth, size_t max_size)
{
	int			depth = 0;
	int			in_string = 0;
	size_t		i;

	if (max_size > 0 && len > max_size)
		return SL_JSON_TOO_LARGE;
	for (i = 0; i < len; i++)
	{
		char		c = text[i];

		if (in_string)
		{
			/* a backslash escapes the next byte, whatever it is */
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c)
		{
			case '"':
				in_string = 1;
				break;
			case '[':
			case '{':
				if (++depth > max_depth)
					return SL_JSON_TOO_DEEP;
				break;
			case ']':
			case '}':
				/* unbalanced closers are the parser's to refuse */
				if (depth > 0)
					depth--;
				break;
			default:
				break;
		}
	}
	return SL_JSON_OK;
}

const char *
sl_json_limit_message(SlJsonLimit r)
{
	switch (r)
	{
		case SL_JSON_OK:
			return "within limits";
		case SL_JSON_TOO_DEEP:
			return "JSON nested too deeply";
		case SL_JSON_TOO_LARGE:
			return "JSON document too large";
	}
	return "JSON limit exceeded";
}

# The EPCIS event hash examples (tests/data/epcis-hash/NAME.jsonld with
# NAME.hashes and NAME.prehashes, one line per event) as a C include: each
# event's @context and event as SlJson initializers, and what it must give.
# Called with --arg name NAME --rawfile hashes NAME.hashes --rawfile pre NAME.prehashes.
def c(k):
  (if k == null then "NULL" else (k | tojson) end) as $k
  | if type == "object" then
      "{SL_JSON_OBJECT, \($k), NULL, \(length), (const SlJson[]){" + ([to_entries[] | .value as $v | .key as $kk | ($v | c($kk))] | join(",")) + "}}"
    elif type == "array" then
      "{SL_JSON_ARRAY, \($k), NULL, \(length), (const SlJson[]){" + ([.[] | c(null)] | join(",")) + "}}"
    elif type == "string" then "{SL_JSON_STRING, \($k), \(tojson), 0, NULL}"
    elif type == "number" then "{SL_JSON_NUMBER, \($k), \(tostring | tojson), 0, NULL}"
    elif . == true then "{SL_JSON_TRUE, \($k), NULL, 0, NULL}"
    elif . == false then "{SL_JSON_FALSE, \($k), NULL, 0, NULL}"
    else "{SL_JSON_NULL, \($k), NULL, 0, NULL}" end;
(.["@context"] | c(null)) as $ctx
| ($hashes | split("\n") | map(select(length > 0))) as $h
| ($pre | split("\n")) as $p
| (.epcisBody.eventList // .epcisBody.queryResults.resultsBody.eventList // [.epcisBody.event])
| to_entries[]
| "{\($name | tojson), \(.key), &(const SlJson)\($ctx), &(const SlJson)\(.value | c(null)), \($h[.key] | tojson), \(if ($p[.key] // "") == "" then "NULL" else ($p[.key] | tojson) end)},"

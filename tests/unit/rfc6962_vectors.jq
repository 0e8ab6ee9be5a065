# Turns tests/data/rfc6962-vectors.json into a C include for merkle_test.c
# (run by the Makefile; the generated file lives in .tmp/unit/).
def cstr: "\"" + . + "\"";
def arr: if length == 0 then "{0}" else "{" + (map(cstr) | join(", ")) + "}" end;
"/* generated from tests/data/rfc6962-vectors.json by tests/unit/rfc6962_vectors.jq */",
"static const char *const V_LEAVES[] = " + (.leaves_hex | arr) + ";",
"static const char *const V_ROOTS[] = " + ([.roots | to_entries | sort_by(.key | tonumber) | .[].value] | arr) + ";",
"static const char *const V_LEAF_CHECK = " + (.hasher_checks["leaf('L123456')"] | cstr) + ";",
"static const char *const V_NODE_CHECK = " + (.hasher_checks["node('N123','N456')"] | cstr) + ";",
"typedef struct { unsigned long long index, size; const char *leaf, *root; int n; const char *path[8]; } VIncl;",
"static const VIncl V_INCL[] = {",
(.inclusion[] | "\t{\(.leaf_index), \(.tree_size), \(.leaf_hash | cstr), \(.root | cstr), \(.path | length), \(.path | arr)},"),
"};",
"typedef struct { unsigned long long m, n; const char *old_root, *new_root; int count; const char *proof[8]; } VCons;",
"static const VCons V_CONS[] = {",
(.consistency[] | "\t{\(.old_size), \(.new_size), \(.old_root | cstr), \(.new_root | cstr), \(.proof | length), \(.proof | arr)},"),
"};"

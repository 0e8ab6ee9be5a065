#!/bin/sh
# sign-checkpoint.sh — the platform's signing job (docs/ledger-format.md#the-signing-job):
# sign the latest checkpoint if it is not signed yet and store the signed note.
# The key stays outside the database: a PEM file or an OpenSSL store URI (HSM).
#
#   sign-checkpoint.sh --key platform.pem --name trace.example.gov.cn/ledger [psql options]
#
# Runs as a shilian_admin login (PG* variables or psql options); SHILIAN_VERIFY
# names the verifier binary (default: shilian-verify on PATH). Prints the tree
# size it signed, nothing when there was nothing to sign.
set -eu
key=
name=
while [ $# -gt 0 ]; do
	case $1 in
	--key) key=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	*) break ;;
	esac
done
[ -n "$key" ] && [ -n "$name" ] || { echo "usage: $0 --key KEY --name KEY-NAME [psql options]" >&2; exit 2; }
body=$(psql -qAtX -v ON_ERROR_STOP=1 "$@" -c 'SELECT shilian.checkpoint_to_sign()')
[ -n "$body" ] || exit 0
note=$(printf '%s\n' "$body" | "${SHILIAN_VERIFY:-shilian-verify}" sign --key "$key" --name "$name")
# $(...) drops the final newline; the note is stored with it
printf "SELECT shilian.checkpoint_note_store(:'note');\n" |
	psql -qAtX -v ON_ERROR_STOP=1 -v note="$note
" "$@"

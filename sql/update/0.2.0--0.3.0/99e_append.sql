-- shilian upgrade script 0.2.0 -> 0.3.0, part 99e: the ledger's insert
-- trigger in C (issue 19, the append's cost). ledger_chain_link() was
-- PL/pgSQL running an INSERT into ledger_chain per entry; it is now the C
-- function of sql/src/50_ledger.sql, which writes the row directly (heap and
-- index insertion, the keys of ledger_chain checked as before). Replaced in
-- place (CREATE OR REPLACE keeps the function's oid), so the trigger
-- ledger_chain_link of the ledger and its clones on every existing
-- partition now run the C function without being made again; the SET
-- search_path of the PL/pgSQL version goes (C resolves no names).
CREATE OR REPLACE FUNCTION ledger_chain_link() RETURNS trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_chain_link'
	LANGUAGE C;
COMMENT ON FUNCTION ledger_chain_link() IS
	'Insert trigger of the ledger (every partition): records (operator, seq, entry id, hash) in ledger_chain, whose keys refuse a forked chain or a reused id.';

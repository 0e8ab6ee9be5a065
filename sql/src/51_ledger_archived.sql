-- shilian install script, part 51: the record of archived ledger months
-- (issue 22; the archive itself is part 54). Here, before part 52, because
-- ledger_export() reads the archived stretches of a chain.

-- (ledger_chain's rows of archived months are dumped: part 99.)

-- One row per archived month.
CREATE TABLE ledger_archived (
	month			date PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
	partition		text NOT NULL,
	detached_as		text NOT NULL,
	entries			bigint NOT NULL,
	first_entry_id	bigint,
	last_entry_id	bigint,
	tree_size		bigint NOT NULL,
	root			bytea NOT NULL,
	archive_sha256	bytea NOT NULL CHECK (length(archive_sha256) = 32),
	archived_by		name NOT NULL DEFAULT session_user,
	archived_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ledger_archived IS
	'Ledger months archived by ledger_archive(): the partition, its entries, the checkpoint its archive file proves them against, the file''s SHA-256, who and when.';

-- Per archived month and operator, the seqs it held (contiguous: checked
-- when archived) and the hash of the last one (as ledger_chain keeps it):
-- chain_verify links the entries after an archived stretch to that hash.
CREATE TABLE ledger_archived_range (
	month		date NOT NULL REFERENCES ledger_archived (month),
	operator_id	bigint NOT NULL,
	first_seq	bigint NOT NULL,
	last_seq	bigint NOT NULL,
	last_hash	bytea NOT NULL,
	PRIMARY KEY (operator_id, first_seq),
	CHECK (first_seq >= 1 AND last_seq >= first_seq)
);
COMMENT ON TABLE ledger_archived_range IS
	'The stretch of each operator''s chain an archived month held (first and last seq, hash of the last): chain_verify goes on from there.';

SELECT pg_catalog.pg_extension_config_dump('ledger_archived', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_archived_range', '');
REVOKE ALL ON ledger_archived, ledger_archived_range FROM PUBLIC;
ALTER TABLE ledger_archived ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_archived_range ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON ledger_archived TO shilian_admin, shilian_regulator;
CREATE POLICY ledger_archived_read ON ledger_archived FOR SELECT USING (true);
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_archived
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_archived_range
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();


-- shilian install script, part 99: what pg_dump keeps of ledger_chain.
-- ledger_chain is refilled by a restore as it loads the ledger's entries,
-- except for the entries of archived months (part 54), which are no longer
-- in the ledger: those rows are dumped (the chain heads, the entry ids of
-- the proofs and log_verify need them). Last of the install script, as the
-- upgrade part that adds it is last (part 99l moves it there again): the extension's list of dumped tables
-- with their conditions is then the same after an upgrade.
SELECT pg_catalog.pg_extension_config_dump('ledger_chain',
	'WHERE EXISTS (SELECT 1 FROM shilian.ledger_archived_range r WHERE r.operator_id = ledger_chain.operator_id'
	' AND ledger_chain.seq BETWEEN r.first_seq AND r.last_seq)');

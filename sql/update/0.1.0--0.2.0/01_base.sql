-- part 01 (sql/src/00_base.sql): the version comment's example.
COMMENT ON FUNCTION shilian.version() IS
	'Version of the loaded shilian library (for example 0.2.0).';

-- shilian install script, part 01: refuse a database that is not UTF8.
-- Names, addresses and report documents are Chinese text, and the ledger's
-- canonical encoding is UTF-8 (docs/ledger-format.md): in a SQL_ASCII or
-- LATIN1 database the first record would fail (SLL05), so the install does.
DO $encoding$
BEGIN
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX01',
			MESSAGE = format('shilian needs a UTF8 database: database %I is encoded %s',
				pg_catalog.current_database(), pg_catalog.getdatabaseencoding()),
			DETAIL = 'Names, addresses and reports are Chinese text, and ledger entries are hashed over their UTF-8 bytes.',
			HINT = 'Create the database with createdb -E UTF8 -T template0 --locale=C.UTF-8 (or LC_COLLATE/LC_CTYPE of a UTF-8 locale) and install the extension there.';
	END IF;
END
$encoding$;

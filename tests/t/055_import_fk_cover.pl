# The bulk import checks the foreign keys of its set writes once per
# distinct key (extension/fk_cover.c) instead of once per row: before each
# write it locks every operator, product and lot its rows name FOR KEY SHARE,
# the lock PostgreSQL's row check takes, and only then skips those row
# checks; ship() and receive() do the same for their one sale. This proves,
# for ship, receive, batch and transform lines and for ship() and receive():
#   - while the import's transaction is open, every operator, product and
#     lot its rows name is locked FOR KEY SHARE (pgrowlocks), so another
#     session cannot delete one or change its key (FOR UPDATE NOWAIT fails),
#     but can still update it otherwise (FOR NO KEY UPDATE NOWAIT succeeds):
#     the same as the row checks allowed, and no stronger;
#   - a foreign key the import does not cover (a DBA's own, onto another
#     table, on a covered column) is still checked per row: the lines naming
#     a buyer it does not allow are refused with 23503, the others applied;
#   - a DBA's AFTER ROW triggers on link and batch (one with a WHEN
#     condition) fire for every row the import writes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('import_fk_cover');

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION pgrowlocks;
	SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	-- operators 1 and 2 process, 3 to 5 trade; 6 is never named
	SELECT shilian.operator_register('operator ' || i, CASE WHEN i <= 2 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i <= 2 THEN '{processor}'::text[] ELSE '{wholesaler}' END, '370102001',
		'address ' || i, 'contact ' || i, reg_card => 'CARD-' || i) FROM generate_series(1, 6) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(i, ('JY1370102' || lpad(i::text, 6, '0') || '0')::shilian.licence_no,
		'{vegetables}', '2020-01-01', '2099-12-31') FROM generate_series(1, 2) i;
	SELECT shilian.product_register('大白菜', 'vegetables', 30);
	SELECT shilian.product_register('菠菜', 'vegetables', 10);
	SELECT shilian.product_register('never named', 'vegetables', 10);
	CREATE TABLE b AS SELECT i, shilian.batch_create(i, 1, '1 t', current_date - 2)::text AS code
		FROM generate_series(1, 2) i;
	CREATE TABLE spare AS SELECT shilian.batch_create(1, 1, '1 t', current_date - 2)::text AS code;
	-- a DBA's AFTER ROW triggers on the tables the import writes, one with a WHEN condition
	CREATE TABLE public.fired (tab text, id bigint);
	CREATE FUNCTION public.note_row() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.fired VALUES (TG_TABLE_NAME || ':' || TG_NAME, NEW.id);
		RETURN NULL;
	END $$;
	CREATE TRIGGER a_every AFTER INSERT ON shilian.link FOR EACH ROW EXECUTE FUNCTION public.note_row();
	CREATE TRIGGER a_received AFTER INSERT OR UPDATE ON shilian.link
		FOR EACH ROW WHEN (NEW.status = 'received') EXECUTE FUNCTION public.note_row();
	CREATE TRIGGER z_every AFTER INSERT ON shilian.batch FOR EACH ROW EXECUTE FUNCTION public.note_row();
});

# 12 lines: 4 sales from operator 1's lot to buyers 3 and 4, each received;
# 2 batches of operator 2 (product 2); 2 transformations by operator 1 of its lot
my $lines = q{
	SELECT string_agg(line, E'\n' ORDER BY n) FROM (
		SELECT 2 * g - 1 AS n, json_build_object('kind', 'ship', 'code', (SELECT code FROM b WHERE i = 1),
			'buyer', 3 + g % 2, 'qty', '1 kg')::text AS line FROM generate_series(1, 4) g
		UNION ALL
		SELECT 2 * g, json_build_object('kind', 'receive', 'link_ref', 2 * g - 1, 'qty', '1 kg',
			'inspection', json_build_object('inspector', 'tap'))::text FROM generate_series(1, 4) g
		UNION ALL
		SELECT 8 + g, json_build_object('kind', 'batch', 'owner', 2, 'product', 2, 'qty', '5 kg',
			'produced_on', current_date - 1)::text FROM generate_series(1, 2) g
		UNION ALL
		SELECT 10 + g, json_build_object('kind', 'transform', 'inputs', ARRAY[(SELECT code FROM b WHERE i = 1)],
			'qtys', ARRAY['2 kg'], 'product', 1, 'qty', '2 kg', 'produced_on', current_date - 1)::text
		  FROM generate_series(1, 2) g) l
};
my $body = $node->safe_psql('postgres', $lines);

# The import's transaction held open: what it has locked, and what another session can do.
my $a = $node->background_psql('postgres');
$a->query_safe('BEGIN');
$a->query_safe("CREATE TEMP TABLE body AS SELECT \$b\$$body\$b\$::text AS t");
$a->query_safe(q{SELECT shilian.import_ndjson(t) FROM body});
is($a->query_safe(q{SELECT j.accepted || ' ' || j.refused FROM shilian.import_job j ORDER BY j.id DESC LIMIT 1}),
	'12 0', 'the 12 lines applied, the transaction still open');

my $locks = sub {
	my ($rel) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(t.id || ':' || array_to_string(l.modes, '+'), ' ' ORDER BY t.id), '')
		  FROM pgrowlocks('$rel') l JOIN $rel t ON t.ctid = l.locked_row});
};
is($locks->('shilian.operator'), '1:For Key Share 2:For Key Share 3:For Key Share 4:For Key Share',
	'every operator the rows name is locked FOR KEY SHARE (the parties, the owners), no other');
is($locks->('shilian.product'), '1:For Key Share 2:For Key Share',
	'every product the rows name is locked FOR KEY SHARE, no other');
is($locks->('shilian.batch'), '1:Update',
	'the lot sold from and transformed is held by the update of its balance (stronger than FOR KEY SHARE), '
	. 'the other lots not at all');

my $try = sub {
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return $rc == 0 ? 'ok' : ($err =~ /could not obtain lock on row/ ? 'locked' : "error: $err");
};
for my $op (1 .. 4)
{
	is($try->("SELECT 1 FROM shilian.operator WHERE id = $op FOR UPDATE NOWAIT"), 'locked',
		"operator $op cannot be deleted or rekeyed while the import is open");
	is($try->("SELECT 1 FROM shilian.operator WHERE id = $op FOR NO KEY UPDATE NOWAIT"), 'ok',
		"operator $op can still be updated otherwise (no stronger lock than the row checks')");
}
is($try->('SELECT 1 FROM shilian.operator WHERE id = 6 FOR UPDATE NOWAIT'), 'ok', 'an operator not named is free');
for my $p (1, 2)
{
	is($try->("SELECT 1 FROM shilian.product WHERE id = $p FOR UPDATE NOWAIT"), 'locked',
		"product $p cannot be deleted or rekeyed while the import is open");
}
is($try->('SELECT 1 FROM shilian.product WHERE id = 3 FOR UPDATE NOWAIT'), 'ok', 'a product not named is free');
$a->query_safe('COMMIT');
$a->quit;

is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM shilian.link WHERE kind = 'ship' AND status = 'received' AND to_batch IS NOT NULL)
		|| ' ' || (SELECT count(*) FROM shilian.link WHERE kind = 'transform')
		|| ' ' || (SELECT count(*) FROM shilian.batch WHERE owner_id = 2 AND product_id = 2)
		|| ' ' || (SELECT count(*) FROM shilian.inspection WHERE kind = 'incoming')}),
	'4 2 2 4', 'the sales received into new batches, the transformations, the batches and the inspections written');
is($node->safe_psql('postgres', q{SELECT tab, count(*) FROM public.fired GROUP BY 1 ORDER BY 1}),
	"batch:z_every|8\nlink:a_every|6\nlink:a_received|6",
	"a DBA's AFTER ROW triggers fired for every row: 4 receipts', 2 batch lines' and 2 transformations' batches; "
	. '4 sales and 2 transformation links, each written received');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.chain_verify(NULL) WHERE NOT ok}), '0',
	'every chain verifies');

# A DBA's own foreign key on a covered column, onto another table: still checked per row.
$node->safe_psql('postgres', q{
	CREATE TABLE public.approved_buyer (id bigint PRIMARY KEY);
	INSERT INTO public.approved_buyer VALUES (3);
	ALTER TABLE shilian.link ADD CONSTRAINT dba_approved_buyer FOREIGN KEY (buyer_id)
		REFERENCES public.approved_buyer (id) NOT VALID;
});
my $body2 = $node->safe_psql('postgres', q{
	SELECT string_agg(json_build_object('kind', 'ship', 'code', (SELECT code FROM b WHERE i = 2),
		'buyer', 3 + g % 2, 'qty', '1 kg')::text, E'\n' ORDER BY g) FROM generate_series(1, 4) g});
$node->safe_psql('postgres', qq{SELECT shilian.import_ndjson(\$b\$$body2\$b\$)});
is($node->safe_psql('postgres', q{SELECT j.accepted || ' ' || j.refused FROM shilian.import_job j ORDER BY j.id DESC LIMIT 1}),
	'2 2',
	'the sales to the buyer the DBA does not approve refused, the others applied');
is($node->safe_psql('postgres', q{
	SELECT string_agg(l.line_no || ':' || l.status || ':' || coalesce(l.sqlstate, ''), ' ' ORDER BY l.line_no)
	  FROM shilian.import_line l WHERE l.job_id = (SELECT max(id) FROM shilian.import_job)}),
	'1:refused:23503 2:accepted: 3:refused:23503 4:accepted:',
	'the lines naming buyer 4 refused by the foreign key, 23503');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.link l
	WHERE NOT EXISTS (SELECT 1 FROM public.approved_buyer a WHERE a.id = l.buyer_id) AND l.id > 6}), '0',
	'no sale to a buyer the DBA does not approve was written');

# The record functions take the same locks, once per statement: ship() the
# sale's lot and parties, receive() the buyer, the seller and the lot (the
# sale written in the same transaction, its keys are checked again).
$node->safe_psql('postgres', q{ALTER TABLE shilian.link DROP CONSTRAINT dba_approved_buyer});
my $r = $node->background_psql('postgres');
$r->query_safe('BEGIN');
my $link = $r->query_safe(q{SELECT shilian.ship((SELECT code FROM spare)::shilian.trace_code, 5, '1 kg')});
is($locks->('shilian.operator'), '1:For Key Share 5:For Key Share',
	'ship() holds the seller and the buyer FOR KEY SHARE');
is($try->('SELECT 1 FROM shilian.operator WHERE id = 5 FOR UPDATE NOWAIT'), 'locked',
	'the buyer of an open sale cannot be deleted or rekeyed');
like($r->query_safe(qq{SELECT shilian.receive($link, '1 kg', '{"inspector": "tap"}')}), qr/^\d{18}$/,
	'receive() of the sale in the same transaction');
is($locks->('shilian.operator'), '1:For Key Share 5:For Key Share', 'the parties still held, no other operator');
is($try->('SELECT 1 FROM shilian.operator WHERE id = 1 FOR UPDATE NOWAIT'), 'locked',
	'the seller of an open receipt cannot be deleted or rekeyed');
is($try->('SELECT 1 FROM shilian.operator WHERE id = 5 FOR NO KEY UPDATE NOWAIT'), 'ok',
	'but the buyer can be updated otherwise');
$r->query_safe('COMMIT');
$r->quit;
is($node->safe_psql('postgres', qq{
	SELECT l.status || ' ' || b.owner_id || ' ' || (SELECT count(*) FROM shilian.inspection i WHERE i.link_id = l.id)
	  FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch WHERE l.id = $link}),
	'received 5 1', 'the sale received into a batch of the buyer, with its inspection');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.chain_verify(NULL) WHERE NOT ok}), '0',
	'every chain still verifies');

$node->stop;
done_testing();

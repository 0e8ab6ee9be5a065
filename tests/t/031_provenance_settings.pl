# Provenance settings (issue 14): shilian.channel and shilian.client become
# the source of ledger entries, so only the gateway's login (or a member of
# shilian_gateway), the extension's own functions and superusers may set
# them. A session of any other login gets SLS01 for SET or set_config; a
# value from the connection's options is ignored with a warning; records made
# after a refused attempt carry no source; the import still stamps its own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('provenance');
my ($farm, $product) = split /\|/, (split /\n/, $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'P-FARM');
	select shilian.operator_activate(1);
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
	select shilian.api_client_add('erp-a', 'A''s ERP');
	select shilian.api_client_bind('erp-a', 1);
	create role op_login login in role shilian_operator;
	create role sys_login login in role shilian_system;
	create role gw_login login in role shilian_gateway;
	select 1 || '|' || min(id) from shilian.product;
}))[-1];

# psql as $user; returns (stdout, stderr) with SQLSTATEs in the messages.
# The library is loaded first (any shilian function does it), as it is in
# any session that has recorded anything; before that, see below.
sub as_user
{
	my ($user, $sql, %opt) = @_;
	my $load = $opt{cold} ? '' : "select shilian.version() \\g /dev/null\n";
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$load$sql",
		extra_params => [ '-U', $user ], on_error_stop => 0);
	return ($out, $err);
}

sub refused
{
	my ($user, $sql, $name) = @_;
	my ($out, $err) = as_user($user, $sql);
	like($err, qr/ERROR:\s+SLS01: shilian\.(channel|client|identity) is set only by the gateway/, "$name: SLS01") or diag $err;
}

# The source of the one ledger entry of the farm recording on $date
# (each case below records on a date of its own).
sub source_on
{
	my ($date) = @_;
	return $node->safe_psql('postgres',
		"select coalesce(string_agg(coalesce(source, 'NULL'), ','), 'no entry') from shilian.ledger where operator_id = $farm and on_date = '$date'");
}

# ---- sessions that may not claim a source ---------------------------------
refused('op_login', q{set shilian.channel = 'epcis'}, 'operator login: SET shilian.channel');
refused('op_login', q{begin; set local shilian.channel = 'import'}, 'operator login: SET LOCAL shilian.channel');
refused('op_login', q{select set_config('shilian.client', 'x', true)}, 'operator login: set_config shilian.client');
refused('sys_login', q{set shilian.client = 'erp-a'}, 'system login: SET shilian.client');
refused('op_login', q{set shilian.identity = 'sub:idp|someone'}, 'operator login: SET shilian.identity (a login, which activates on first use)');
refused('op_login', q{select set_config('shilian.identity', 'sub:x', true)}, 'operator login: set_config shilian.identity');
refused('sys_login', q{set role shilian_system; set shilian.client = 'erp-a'}, 'system login after SET ROLE: SET shilian.client');
refused('op_login', q{alter role op_login set shilian.client = 'x'}, 'operator login: ALTER ROLE itself SET shilian.client');
{
	my ($out, $err) = as_user('op_login', q{set shilian.channel = 'fax'});
	like($err, qr/ERROR:\s+22023/, 'an invalid channel is still 22023 first');
	($out, $err) = as_user('op_login', q{set shilian.channel = ''; set shilian.client = ''; select 'ok'});
	is($out, 'ok', 'clearing them is allowed') or diag $err;
}

# the attempts fail and the record made next carries no source
{
	my ($out, $err) = as_user('op_login', qq{
		set shilian.operator_id = '$farm';
		set shilian.channel = 'epcis';
		select set_config('shilian.client', 'x', false);
		select shilian.batch_create($farm, $product, '1 kg', '2020-01-02') is not null;
	});
	is($out, 't', 'the operator still records') or diag $err;
	is(source_on('2020-01-02'), 'NULL', 'its ledger entry has no source (no epcis, no api:x)');
}

# Set before the library is loaded, a value is only a placeholder: it is
# dropped, with a warning, when the library loads (as one from the
# connection's options is), so a record made next still carries no source.
{
	my ($out, $err) = as_user('op_login', qq{
		set shilian.channel = 'epcis';
		set shilian.client = 'x';
		set shilian.operator_id = '$farm';
		select shilian.batch_create($farm, $product, '1 kg', '2020-01-05') is not null;
		select current_setting('shilian.client') || '|' || current_setting('shilian.channel');
	}, cold => 1);
	is($out, "t\n|", 'set before the library loads: the record is made, both settings are empty') or diag $err;
	like($err, qr/WARNING:.*shilian.channel is set only by the gateway/, 'with a warning');
	is(source_on('2020-01-05'), 'NULL', 'and its ledger entry has no source');
}
{
	local $ENV{PGOPTIONS} = '-c shilian.client=x -c shilian.channel=epcis';
	my ($out, $err) = as_user('op_login',
		"select shilian.version() is not null; select current_setting('shilian.client') || '|' || current_setting('shilian.channel')",
		cold => 1);
	is($out, "t\n|", 'connection options: both settings left empty');
	like($err, qr/WARNING:.*is set only by the gateway/, 'with a warning');
}

# ---- the import stamps its own channel, whoever calls it -----------------
{
	my ($out, $err) = as_user('op_login', qq{
		set role shilian_operator;
		set shilian.operator_id = '$farm';
		select shilian.import_upload('{"kind": "batch", "owner": $farm, "product": $product, "qty": "2 kg", "produced_on": "2020-01-03"}') is not null;
	});
	is("$out/$err", 't/', 'an operator imports') or diag "$out / $err";
	is(source_on('2020-01-03'), 'import', 'its entry is stamped import');
	($out, $err) = as_user('op_login', q{select current_setting('shilian.channel') = ''});
	is($out, 't', 'and the channel is empty again after the import');
}

# ---- who may: the gateway's login and its members, superusers ----------------
for my $login ('shilian_gateway', 'gw_login')
{
	my ($out, $err) = as_user($login, q{
		begin;
		select set_config('role', 'shilian_system', true), set_config('shilian.client', 'erp-a', true) \g /dev/null
		select current_user || '|' || current_setting('shilian.client');
		commit;
	});
	is($out, 'shilian_system|erp-a', "$login sets shilian.client after switching role") or diag $err;
}
{
	my ($out, $err) = as_user('gw_login', qq{
		begin;
		select set_config('role', 'shilian_system', true), set_config('shilian.client', 'erp-a', true) \\g /dev/null
		select shilian.batch_create($farm, $product, '3 kg', '2020-01-04') is not null;
		commit;
	});
	is($out, 't', 'a system client records through the gateway login') or diag $err;
	is(source_on('2020-01-04'), 'api:erp-a', 'stamped api:erp-a');
}
is($node->safe_psql('postgres', q{set role shilian_operator; set shilian.channel = 'epcis'; select current_setting('shilian.channel')}),
	'epcis', 'a superuser session may set it (after SET ROLE too)');

$node->stop;
done_testing();

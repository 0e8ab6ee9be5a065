-- registration: self-service registration (注册) and activation (激活) of
-- operators (docs/registration.md) on a small province of its own (45xxxx,
-- so that it does not depend on what other regress files left): a match
-- against the roll, a pending request and its decision by the right
-- station, a conflict, an activation with a one-time code, the follow-up.
-- Ids are not printed (other files register operators before this one), and
-- the whole file is one transaction rolled back at its end, so that the
-- files after it (regulator, rollup) find the roll and the registry's
-- history as they left them; the roles are switched with SET ROLE, and an
-- expected error is caught by a savepoint.

SET client_min_messages = warning;
SET search_path = public, shilian;
\set VERBOSITY terse
BEGIN;

SELECT shilian.jurisdiction_add('450000', '广西壮族自治区');
SELECT shilian.jurisdiction_add('450100', '南宁市');
SELECT shilian.jurisdiction_add('450102', '兴宁区');
SELECT shilian.jurisdiction_add('450102001', '兴宁区民生市场监管所');
SELECT shilian.jurisdiction_add('450103', '青秀区');
SELECT shilian.jurisdiction_add('450103001', '青秀区中山市场监管所');

-- the roll: three licences at 兴宁, one at 青秀
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('JY14501020000010', '民生路韦记米粉', '450102001', 'catering', '{restaurant}'),
	('JY14501020000028', '民生路黄姐水果', '450102001', 'circulation', '{market_vendor}'),
	('JY14501020000036', '民生路陆家菜摊', '450102001', 'circulation', '{market_vendor}'),
	('JY14501030000013', '中山路蒙记卤味', '450103001', 'circulation', '{market_vendor}');

-- a vendor on the roll, from the public registration page
SELECT set_config('shilian.client_addr', '203.0.113.45', true);
SET ROLE shilian_public;
CREATE TEMP TABLE r1 AS SELECT shilian.operator_register_request('民生路韦记米粉', 'catering', '{restaurant}', '450102001',
	'南宁市民生路1号', '13900000001', 'JY14501020000010', '{grain,meat}', '2025-01-01', '2029-12-31',
	reg_card => 'XN-0001', identity => 'phone:13900000001') AS r;
SELECT r->>'status' AS status, r ? 'operator' AS has_operator FROM r1;
-- the name differs from the roll: it waits for the station
SELECT shilian.operator_register_request('黄姐水果店', 'circulation', '{market_vendor}', '450102001',
	'南宁市民生路2号', '13900000002', 'JY14501020000028', '{fruit}', '2025-01-01', '2029-12-31',
	reg_card => 'XN-0002')->>'status' AS status;
-- the licence just registered, asked for again: a conflict
SELECT shilian.operator_register_request('民生路韦记米粉', 'catering', '{restaurant}', '450102001',
	'南宁市民生路9号', '13900000009', 'JY14501020000010', '{grain}', '2025-01-01', '2029-12-31',
	reg_card => 'XN-0009')->'error'->>'code' AS code;
RESET ROLE;

SELECT o.status, o.station, l.licence_no
  FROM r1 JOIN shilian.operator o ON o.id = (r1.r->>'operator')::bigint
  JOIN shilian.licence l ON l.operator_id = o.id;

-- the station's queue: the pending request with its closest roll row
SELECT set_config('shilian.jurisdiction', '450102', true);
SET ROLE shilian_regulator;
SELECT name, licence_no, req_status, closest_roll->0->>'name' AS closest
  FROM shilian.registration_requests('450102');
SELECT name, req_status, reason LIKE 'licence JY14501020000010 is held by registered operator %' AS names_holder,
       operator_id IS NOT NULL AS holder_shown
  FROM shilian.registration_requests('450102', 'conflict');
RESET ROLE;

-- 青秀 may not decide it; 兴宁 approves (the request's id read as the
-- table's owner: a regulator reads requests only through the queue)
SELECT q.id AS pending FROM shilian.registration_request q WHERE q.reg_card = 'XN-0002' \gset
SELECT set_config('shilian.jurisdiction', '450103', true);
SAVEPOINT outside;
SET ROLE shilian_regulator;
SELECT shilian.registration_decide(:pending, 'approve', '核对无误');
ROLLBACK TO outside;
SELECT set_config('shilian.jurisdiction', '450102', true);
SET ROLE shilian_regulator;
SELECT r->>'status' AS status FROM shilian.registration_decide(:pending, 'approve', '营业执照与许可证一致') r;
RESET ROLE;

-- the activation code of the first operator, and its activation
SELECT (r->>'operator')::bigint AS op FROM r1 \gset
SELECT set_config('shilian.jurisdiction', '450102', true);
SET ROLE shilian_regulator;
SELECT shilian.activation_code_issue(:op)->>'code' AS code \gset
RESET ROLE;
SELECT length(:'code') AS digits, count(*) AS hashed
  FROM shilian.activation_code WHERE code_hash = sha256(salt || convert_to(:'code', 'UTF8'));
SELECT set_config('shilian.client_addr', '203.0.113.46', true);
SET ROLE shilian_public;
SELECT shilian.operator_activate_with_code('JY14501020000010', :'code', 'phone:13900000001') - 'operator' AS activated;
SELECT shilian.operator_activate_with_code('JY14501020000010', :'code', 'phone:13900000001')->'error'->>'code' AS again;
RESET ROLE;
SELECT status FROM shilian.operator WHERE id = :op;

-- the follow-up of 兴宁: one licence not registered, one registered not active
SELECT set_config('shilian.jurisdiction', '450102', true);
SET ROLE shilian_regulator;
SELECT licence_no, name, state, contact FROM shilian.registration_followup('450102');
SAVEPOINT outside;
SELECT shilian.registration_followup('450103');
ROLLBACK TO outside;
RESET ROLE;

-- the public reads no request, nor the queue
SAVEPOINT public;
SET ROLE shilian_public;
SELECT count(*) FROM shilian.registration_request;
ROLLBACK TO public;
SET ROLE shilian_public;
SELECT * FROM shilian.registration_requests('450102');
ROLLBACK TO public;

ROLLBACK;

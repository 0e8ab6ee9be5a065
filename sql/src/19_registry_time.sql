-- shilian install script, part 19: the registry's time (docs/regulator.md,
-- "The registry's history"). Every registry change (an operator registered,
-- activated, suspended or updated, a licence recorded, a roll import) takes
-- effect at registry_now(): now(), or the time the platform admin set in
-- shilian.registry_time to enter changes that took effect earlier (a
-- migration from the paper register). The history (part 63) is dated by it,
-- so the figures of a period read the registry as it stood at the period's
-- end. Two rules keep a past period fixed: an operator's, licence's or
-- roll row's history only grows at its end (a change before its latest
-- version is refused, SLH04, by the history triggers of part 63), and no
-- change may take effect inside or before a month whose report has been
-- issued (monthly_report_issue, part 92).

-- The first instant of a platform day (00:00 in shilian.timezone).
CREATE FUNCTION platform_start(day date) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- shilian.timezone is defined when the library is loaded: load it first
	-- (a session that has called no C function of shilian yet)
	PERFORM shilian.platform_today();
	RETURN (day::timestamp) AT TIME ZONE current_setting('shilian.timezone');
END
$$;
COMMENT ON FUNCTION platform_start(date) IS
	'The first instant of the platform day (00:00 in shilian.timezone): where a period of days begins and ends.';

CREATE FUNCTION registry_now() RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	setting text := current_setting('shilian.registry_time', true);
	t timestamptz;
	closed date;
BEGIN
	IF setting IS NULL OR setting = '' THEN
		RETURN now();
	END IF;
	BEGIN
		t := setting::timestamptz;
	EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_parameter_value THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH01',
			MESSAGE = format('invalid registry time: %s', setting),
			HINT = 'Set shilian.registry_time to an RFC 3339 timestamp with its offset (2026-01-05 09:00+08), or to empty for now().';
	END;
	IF NOT (current_setting('role') = 'shilian_admin'
			OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper)) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH02',
			MESSAGE = 'only the platform admin dates registry changes (shilian.registry_time)',
			HINT = 'Leave shilian.registry_time empty: a change takes effect now.';
	END IF;
	IF t > now() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH03',
			MESSAGE = format('registry time %s is in the future', t),
			HINT = 'A registry change takes effect now or earlier.';
	END IF;
	closed := (SELECT max(r.month) FROM shilian.monthly_report_issue r);
	IF closed IS NOT NULL AND t < shilian.platform_start((closed + interval '1 month')::date) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH06',
			MESSAGE = format('registry time %s falls in or before %s, whose report has been issued', t, to_char(closed, 'YYYY-MM')),
			DETAIL = 'An issued month''s figures never change.',
			HINT = 'Date the change on or after the first day of the month after the last issued report.';
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION registry_now() IS
	'The effective time of a registry change: now(), or shilian.registry_time when the platform admin set it (SLH01 malformed, SLH02 not the admin, SLH03 in the future, SLH06 in or before an issued month; the history triggers refuse a change before the object''s latest version, SLH04).';

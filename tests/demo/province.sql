-- The demo province loaded by `make run` (idempotent). Each area of the
-- platform adds its part here so that a newcomer sees it working.
SELECT 'demo: shilian ' || shilian.version() AS loaded;

-- The demo province loaded by `make run` (idempotent). Each area of the
-- platform adds its part here so that a newcomer sees it working.
SELECT 'demo: shilian ' || shilian.version() AS loaded;

-- Identifier and quantity types (docs/types.md): checked literals.
SELECT '91350100M000100Y43'::shilian.uscc AS uscc,
       'SC11834020305037'::shilian.license_no AS licence,
       '370102000000000012'::shilian.trace_code AS trace_code,
       '2 斤'::shilian.qty AS qty;

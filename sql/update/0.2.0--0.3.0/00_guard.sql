-- shilian upgrade script 0.2.0 -> 0.3.0, part 00: guard.
-- sql/shilian--0.2.0--0.3.0.sql is built by concatenating the files of
-- sql/update/0.2.0--0.3.0/ in file-name order, one file per area, so every
-- change of sql/src/ comes with its step here (docs/development.md).

\echo Use "ALTER EXTENSION shilian UPDATE TO '0.3.0'" to load this file. \quit

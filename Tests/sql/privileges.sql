-- The whole privilege matrix, from the catalogs: each role (loader, analyst,
-- PII admin, and a role with no grants, i.e. PUBLIC) against every table,
-- view, sequence, column, function, procedure and schema of `public` and
-- `loginvault` (and pgcrypto's `loginvault_crypto`). New objects are covered automatically: an object nobody
-- listed below may use must be denied to every role.
--
--   1. the privileges the catalogs report (has_*_privilege, with role
--      inheritance, so the PII admin includes the analyst) are exactly the
--      allowed set below (issue 3, docs/database.md "Roles");
--   2. each privilege is also TRIED, as the role: an allowed one must not
--      fail with 42501, every other one must fail with exactly 42501
--      (permission denied). Every attempt runs in a subtransaction that is
--      rolled back, so nothing it does stays. REFERENCES and TRIGGER (and
--      UPDATE on sequences: setval is not transactional) are checked in the
--      catalogs only.
--
-- Objects of other extensions (pgTAP lives in `public` here) are not
-- loginvault's and are left out; pgcrypto (in `loginvault_crypto` here) is in.
-- Semantic checks per role (reveal audited, loader cannot read bodies, ...)
-- stay in roles.sql. Rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE ROLE t91_nobody NOLOGIN;

CREATE TEMP TABLE roles (role name PRIMARY KEY);
INSERT INTO roles VALUES ('loginvault_loader'), ('loginvault_analyst'), ('loginvault_pii_admin'), ('t91_nobody');

-- Every object of the two schemas: kind, identity, and what to run to try a privilege.
CREATE TEMP TABLE objects AS
WITH foreign_extension_members AS (
  SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
   WHERE d.deptype = 'e' AND e.extname <> 'pgcrypto'
)
SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' ELSE 'table' END AS kind,
       format('%I.%I', n.nspname, c.relname) AS object, c.oid AS relid, NULL::oid AS procid, NULL::name AS nspname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'loginvault', 'loginvault_crypto') AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND (c.oid) NOT IN (SELECT objid FROM foreign_extension_members WHERE classid = 'pg_class'::regclass)
UNION ALL
SELECT CASE WHEN p.prokind = 'p' THEN 'procedure' WHEN p.prorettype = 'trigger'::regtype THEN 'trigger function' ELSE 'function' END,
       format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)), NULL, p.oid, NULL
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('public', 'loginvault', 'loginvault_crypto') AND p.prokind IN ('f', 'p')
   AND p.oid NOT IN (SELECT objid FROM foreign_extension_members WHERE classid = 'pg_proc'::regclass)
UNION ALL
SELECT 'schema', quote_ident(nspname), NULL, NULL, nspname FROM pg_namespace WHERE nspname IN ('public', 'loginvault', 'loginvault_crypto');

-- Columns, for column-level privileges (only reported where the table-level one is absent).
CREATE TEMP TABLE columns AS
SELECT o.object AS table_object, o.relid, a.attname, o.object || '.' || quote_ident(a.attname) AS object
  FROM objects o JOIN pg_attribute a ON a.attrelid = o.relid
 WHERE o.kind IN ('table', 'view') AND a.attnum > 0 AND NOT a.attisdropped;

CREATE TEMP TABLE privilege_kinds (kind text, privilege text, tried boolean);
INSERT INTO privilege_kinds VALUES
  ('table', 'SELECT', true), ('table', 'INSERT', true), ('table', 'UPDATE', true), ('table', 'DELETE', true),
  ('table', 'TRUNCATE', true), ('table', 'REFERENCES', false), ('table', 'TRIGGER', false),
  ('view', 'SELECT', true), ('view', 'INSERT', true), ('view', 'UPDATE', true), ('view', 'DELETE', true),
  ('view', 'TRUNCATE', false), ('view', 'REFERENCES', false), ('view', 'TRIGGER', false),
  ('column', 'SELECT', true), ('column', 'INSERT', true), ('column', 'UPDATE', true), ('column', 'REFERENCES', false),
  ('sequence', 'USAGE', true), ('sequence', 'SELECT', true), ('sequence', 'UPDATE', false),
  ('function', 'EXECUTE', true), ('procedure', 'EXECUTE', true), ('trigger function', 'EXECUTE', false),
  ('schema', 'USAGE', true), ('schema', 'CREATE', true);

-- What the catalogs say each role may do. A privilege on an object counts
-- only with USAGE on its schema: pgcrypto's functions in loginvault_crypto
-- are executable by PUBLIC where a non-superuser owner installed them (they
-- belong to the bootstrap superuser, so the owner cannot revoke that), and
-- unreachable all the same, because no other role has USAGE on the schema.
-- So the answers are the same whoever migrated.
CREATE TEMP TABLE granted AS
SELECT r.role, o.object, k.privilege
  FROM roles r CROSS JOIN objects o JOIN privilege_kinds k ON k.kind = o.kind
 WHERE (o.kind = 'schema'
        OR has_schema_privilege(r.role, coalesce((SELECT relnamespace FROM pg_class WHERE oid = o.relid),
                                                 (SELECT pronamespace FROM pg_proc WHERE oid = o.procid)), 'USAGE'))
   AND CASE o.kind
         WHEN 'sequence' THEN has_sequence_privilege(r.role, o.relid, k.privilege)
         WHEN 'schema' THEN has_schema_privilege(r.role, o.nspname, k.privilege)
         WHEN 'table' THEN has_table_privilege(r.role, o.relid, k.privilege)
         WHEN 'view' THEN has_table_privilege(r.role, o.relid, k.privilege)
         ELSE has_function_privilege(r.role, o.procid, k.privilege)
       END
UNION ALL
SELECT r.role, c.object, k.privilege
  FROM roles r CROSS JOIN columns c JOIN privilege_kinds k ON k.kind = 'column'
 WHERE has_schema_privilege(r.role, (SELECT relnamespace FROM pg_class WHERE oid = c.relid), 'USAGE')
   AND has_column_privilege(r.role, c.relid, c.attname, k.privilege)
   AND NOT has_table_privilege(r.role, c.relid, k.privilege);

-- The allowed set: issue 3 and docs/database.md, "Roles".
CREATE TEMP TABLE allowed (role name, object text, privilege text);
INSERT INTO allowed
SELECT 'loginvault_loader', o, p FROM (VALUES
  ('public', 'USAGE'), ('loginvault', 'USAGE'),
  ('public.raw_logins', 'INSERT'),
  ('public.raw_logins.message_id', 'SELECT'),    -- needed by INSERT ... ON CONFLICT (message_id)
  ('public.stage_incoming_logins(integer)', 'EXECUTE'),
  ('loginvault.stage_incoming_login(text, bytea, timestamp with time zone, integer, integer)', 'EXECUTE'),
  ('loginvault.invalid_message_id_key(text, text)', 'EXECUTE'),   -- a pure function: the id check
  ('public.stage_raw_login(text, text, timestamp with time zone, integer)', 'EXECUTE'),
  ('public.quarantine_raw_login(text, text, text, timestamp with time zone, integer)', 'EXECUTE'),
  ('public.process_raw_logins(integer)', 'EXECUTE'),
  -- what the (SECURITY INVOKER, because it COMMITs) procedure is made of
  ('loginvault.begin_process_run(integer)', 'EXECUTE'),
  ('loginvault.process_login_batch(bigint, integer)', 'EXECUTE'),
  ('loginvault.end_process_run(bigint)', 'EXECUTE'),
  ('loginvault.last_process_run()', 'EXECUTE'),     -- the counts of its own runs
  ('loginvault.staging_backlog()', 'EXECUTE'),    -- rows and oldest age, for its metrics
  ('loginvault.supply_mask_keys()', 'EXECUTE'),   -- a mask key held outside the database, from its own temp table
  ('loginvault.mask_key_version(text)', 'EXECUTE')) v(o, p)
UNION ALL
SELECT a, o, p FROM (VALUES ('loginvault_analyst'), ('loginvault_pii_admin')) r(a), (VALUES
  ('public', 'USAGE'), ('loginvault', 'USAGE'),
  ('public.user_logins', 'SELECT'),
  ('loginvault.process_runs', 'SELECT'),
  ('loginvault.quarantine_reasons()', 'EXECUTE'),
  ('loginvault.status(interval)', 'EXECUTE'),
  ('loginvault.staging_backlog()', 'EXECUTE')) v(o, p)
UNION ALL
SELECT 'loginvault_pii_admin', o, p FROM (VALUES
  ('public.rejected_logins', 'SELECT'),           -- the quarantine (bodies are ciphertext)
  ('loginvault.user_login_originals', 'SELECT'),  -- ciphertext only
  -- the audited reveals (70_reveal.sql): the procedures and what they are made of
  ('public.reveal_login(bigint, text)', 'EXECUTE'),
  ('public.reveal_rejected(text, text)', 'EXECUTE'),
  ('loginvault.record_reveal(text, bigint, text, text)', 'EXECUTE'),
  ('loginvault.revealed_login(bigint, bigint, text, text)', 'EXECUTE'),
  ('loginvault.revealed_rejected(bigint, text, text, text)', 'EXECUTE'),
  ('loginvault.verify_reveal_audit()', 'EXECUTE'),
  ('loginvault.session_private_key()', 'EXECUTE'),  -- reads only the caller's own temporary tables
  ('public.forget_user(text, text)', 'EXECUTE'),
  ('loginvault.supply_mask_keys()', 'EXECUTE'),   -- requeue_rejected runs processing batches
  ('loginvault.mask_key_version(text)', 'EXECUTE'),
  ('public.requeue_rejected(text, text[], integer, bigint, integer, integer, integer, integer)', 'EXECUTE')) v(o, p)
UNION ALL
SELECT 't91_nobody', 'public', 'USAGE';           -- PostgreSQL 15's default for PUBLIC

-- as_role(role, sql): run sql as role, roll it back whatever it did; 'ok' or the SQLSTATE.
CREATE FUNCTION pg_temp.as_role(role_name name, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text;
BEGIN
  BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role_name);
    EXECUTE stmt;
    RAISE EXCEPTION USING ERRCODE = 'LV091';  -- undo whatever it did
  EXCEPTION WHEN OTHERS THEN
    state := SQLSTATE;
  END;
  RESET ROLE;
  RETURN CASE WHEN state = 'LV091' THEN 'ok' ELSE state END;
END $$;

-- The statement that exercises a privilege (NULL: checked in the catalogs only).
CREATE TEMP TABLE attempts AS
SELECT o.kind, o.object, k.privilege,
       CASE o.kind || ' ' || k.privilege
         WHEN 'table SELECT' THEN format('SELECT * FROM %s LIMIT 0', o.object)
         WHEN 'view SELECT' THEN format('SELECT * FROM %s LIMIT 0', o.object)
         WHEN 'table INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', o.object)
         WHEN 'view INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', o.object)
         WHEN 'table UPDATE' THEN format('UPDATE %s SET %I = DEFAULT WHERE false', o.object,
                                         (SELECT attname FROM columns c WHERE c.relid = o.relid LIMIT 1))
         WHEN 'view UPDATE' THEN format('UPDATE %s SET %I = DEFAULT WHERE false', o.object,
                                        (SELECT attname FROM columns c WHERE c.relid = o.relid LIMIT 1))
         WHEN 'table DELETE' THEN format('DELETE FROM %s WHERE false', o.object)
         WHEN 'view DELETE' THEN format('DELETE FROM %s WHERE false', o.object)
         WHEN 'table TRUNCATE' THEN format('TRUNCATE %s', o.object)
         WHEN 'sequence USAGE' THEN format('SELECT nextval(%L)', o.object)
         WHEN 'sequence SELECT' THEN format('SELECT last_value FROM %s', o.object)
         -- The NULL arguments come from a subquery the planner cannot flatten: a
         -- STRICT function of constant NULLs would be folded to NULL at plan
         -- time, before any permission check.
         WHEN 'function EXECUTE' THEN format('SELECT %s(%s) FROM (SELECT %s OFFSET 0) a',
                                             (SELECT format('%I.%I', pronamespace::regnamespace, proname) FROM pg_proc WHERE oid = o.procid),
                                             (SELECT string_agg(format('a.a%s', i), ', ' ORDER BY i)
                                                FROM pg_proc p, unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) WHERE p.oid = o.procid),
                                             coalesce((SELECT string_agg(format('NULL::%s AS a%s', t::regtype, i), ', ' ORDER BY i)
                                                FROM pg_proc p, unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) WHERE p.oid = o.procid), '1'))
         -- (a procedure's OUT arguments take a NULL too: proallargtypes lists them)
         WHEN 'procedure EXECUTE' THEN format('CALL %s(%s)', (SELECT format('%I.%I', pronamespace::regnamespace, proname) FROM pg_proc WHERE oid = o.procid),
                                              (SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY i)
                                                 FROM pg_proc p, unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(t, i) WHERE p.oid = o.procid))
         -- a composite type of the schema, else (pgcrypto's) a function without arguments
         WHEN 'schema USAGE' THEN coalesce(
                                    'SELECT NULL::' || o.object || '.'
                                      || (SELECT quote_ident(typname) FROM pg_type WHERE typnamespace = o.nspname::regnamespace AND typtype = 'c' LIMIT 1),
                                    'SELECT ' || o.object || '.'
                                      || (SELECT quote_ident(proname) FROM pg_proc WHERE pronamespace = o.nspname::regnamespace AND pronargs = 0 AND prokind = 'f' LIMIT 1) || '()')
         WHEN 'schema CREATE' THEN format('CREATE TABLE %s.t91_probe ()', o.object)
       END AS stmt
  FROM objects o JOIN privilege_kinds k ON k.kind = o.kind AND k.tried
UNION ALL
SELECT 'column', c.object, k.privilege,
       CASE k.privilege
         WHEN 'SELECT' THEN format('SELECT %I FROM %s LIMIT 0', c.attname, c.table_object)
         WHEN 'INSERT' THEN format('INSERT INTO %s (%I) OVERRIDING SYSTEM VALUE SELECT NULL WHERE false', c.table_object, c.attname)
         WHEN 'UPDATE' THEN format('UPDATE %s SET %I = DEFAULT WHERE false', c.table_object, c.attname)
       END
  FROM columns c JOIN privilege_kinds k ON k.kind = 'column' AND k.tried;

CREATE TEMP TABLE tried AS
SELECT r.role, a.object, a.privilege, a.stmt, pg_temp.as_role(r.role, a.stmt) AS outcome,
       EXISTS (SELECT FROM allowed al WHERE al.role = r.role AND al.object = a.object AND al.privilege = a.privilege)
       -- a column is allowed when its table is
       OR (a.kind = 'column' AND EXISTS (SELECT FROM allowed al JOIN columns c ON c.table_object = al.object
                                          WHERE c.object = a.object AND al.role = r.role AND al.privilege = a.privilege)) AS is_allowed
  FROM roles r CROSS JOIN attempts a
 WHERE a.stmt IS NOT NULL;

SELECT plan(12);

SELECT cmp_ok((SELECT count(*)::int FROM objects WHERE kind IN ('table', 'view', 'sequence')), '>=', 9, 'the catalogs list the relations (tables, views, sequences) of public and loginvault');
SELECT cmp_ok((SELECT count(*)::int FROM objects WHERE kind IN ('function', 'procedure', 'trigger function')), '>=', 60, 'the catalogs list the routines (loginvault''s and pgcrypto''s)');

SELECT set_eq('SELECT role, object, privilege FROM granted', 'SELECT role, object, privilege FROM allowed',
              'the privileges each role has (per the catalogs) are exactly the allowed set');

SELECT is_empty($$SELECT object || ' ' || privilege || ': ' || outcome || ' -- ' || stmt FROM tried
                  WHERE role = 'loginvault_loader' AND is_allowed <> (outcome <> '42501') ORDER BY 1$$,
                'loader: allowed actions work, every other one is permission denied (42501)');
SELECT is_empty($$SELECT object || ' ' || privilege || ': ' || outcome || ' -- ' || stmt FROM tried
                  WHERE role = 'loginvault_analyst' AND is_allowed <> (outcome <> '42501') ORDER BY 1$$,
                'analyst: allowed actions work, every other one is permission denied (42501)');
SELECT is_empty($$SELECT object || ' ' || privilege || ': ' || outcome || ' -- ' || stmt FROM tried
                  WHERE role = 'loginvault_pii_admin' AND is_allowed <> (outcome <> '42501') ORDER BY 1$$,
                'PII admin: allowed actions work, every other one is permission denied (42501)');
SELECT is_empty($$SELECT object || ' ' || privilege || ': ' || outcome || ' -- ' || stmt FROM tried
                  WHERE role = 't91_nobody' AND is_allowed <> (outcome <> '42501') ORDER BY 1$$,
                'a role with no grants (PUBLIC): everything is permission denied (42501)');
SELECT cmp_ok((SELECT count(*)::int FROM tried WHERE outcome = '42501'), '>=', 900, '(hundreds of denied attempts)');

-- The group roles themselves, and how SECURITY DEFINER code is set up.
SELECT is_empty($$SELECT rolname FROM pg_roles WHERE rolname IN ('loginvault_loader', 'loginvault_analyst', 'loginvault_pii_admin')
                   AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)$$,
                'the group roles are NOLOGIN and hold no role attributes');
SELECT is_empty($$SELECT o.object FROM objects o
                   LEFT JOIN pg_class c ON c.oid = o.relid LEFT JOIN pg_proc p ON p.oid = o.procid
                   LEFT JOIN pg_namespace n ON n.nspname = o.nspname
                  WHERE coalesce(c.relowner, p.proowner, n.nspowner) IN
                        (SELECT oid FROM pg_roles WHERE rolname IN ('loginvault_loader', 'loginvault_analyst', 'loginvault_pii_admin'))$$,
                'no group role owns anything (an owner could grant itself everything)');
SELECT is_empty($$SELECT format('%s.%s', pronamespace::regnamespace, proname) FROM pg_proc
                  WHERE prosecdef AND pronamespace IN ('public'::regnamespace, 'loginvault'::regnamespace)
                    AND NOT EXISTS (SELECT FROM unnest(proconfig) s WHERE s ~ '^search_path=pg_catalog, .*pg_temp$')$$,
                'every SECURITY DEFINER routine pins search_path (pg_catalog first, pg_temp last)');
SELECT is_empty($$SELECT format('%s.%s', pronamespace::regnamespace, proname) FROM pg_proc
                  WHERE prosecdef AND pronamespace IN ('public'::regnamespace, 'loginvault'::regnamespace)
                    AND EXISTS (SELECT FROM unnest(proconfig) s WHERE s ~ '\mpublic\M')$$,
                'no SECURITY DEFINER routine searches public (where others may create objects in older setups)');

-- For the figures table of `make chaos` (scripts/security-suite.sh reads this line).
SELECT diag(format('privilege matrix: %s attempts tried by %s roles, %s denied', count(*), count(DISTINCT role),
                   count(*) FILTER (WHERE outcome = '42501')))
  FROM tried;

SELECT * FROM finish();
ROLLBACK;

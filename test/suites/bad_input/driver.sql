-- test/suites/bad_input/driver.sql -- generates the calls of the bad input
-- sweep from the catalog and defines the procedure that runs them.
--
-- Run after setup.sql, as a superuser, with psql variable app_role (the
-- non-superuser role of the second and third passes).
--
--   bad_input.calls    one row per (pass, function, argument, bad value):
--                      the SQL of a call with that argument bad and every
--                      other argument valid; argpos 0 is the all-valid call
--   bad_input.results  one row per call run: SQLSTATE, message, the error
--                      fields (schema, table, column, constraint), counts of
--                      every cmp table before and after, the actor before
--                      and after; 'pending' while the call runs, so a call
--                      that kills the server is known
--   bad_input.problem  gaps of the sweep itself (an argument type with no
--                      bad values, an argument with no valid default, a
--                      value expression that does not evaluate)
--   bad_input.run(pass) runs the calls of a pass that have no result yet,
--                      each in its own subtransaction, committing its
--                      result row before and after
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE bad_input.problem (what text NOT NULL);

-- The input arguments of a function, in order: (pos, name, typ, has_default).
CREATE FUNCTION bad_input.input_args(f oid)
RETURNS TABLE (pos int, name text, typ regtype, has_default boolean)
LANGUAGE sql STABLE AS $$
	SELECT (row_number() OVER (ORDER BY u.o))::int,
		   nullif(u.n, ''), u.t::regtype,
		   row_number() OVER (ORDER BY u.o) > p.pronargs - p.pronargdefaults
	  FROM pg_catalog.pg_proc AS p,
		   unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
				  coalesce(p.proargnames, '{}'::text[]),
				  coalesce(p.proargmodes, '{}'::"char"[])) WITH ORDINALITY AS u(t, n, m, o)
	 WHERE p.oid = f AND u.t IS NOT NULL AND coalesce(u.m, 'i') IN ('i', 'b', 'v')
$$;

-- The SQL of a call of f with argument sub_pos given by sub_expr and every
-- other argument at its valid default (an optional argument with no valid
-- default is left to the function's own default). NULL when an argument
-- has no value.
CREATE FUNCTION bad_input.build_call(f oid, sub_pos int, sub_expr text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	a record;
	parts text[] := '{}';
	v_named boolean;
	v_fn text;
	v_kind "char";
	v_expr text;
BEGIN
	SELECT p.proname, p.prokind INTO v_fn, v_kind FROM pg_catalog.pg_proc AS p WHERE p.oid = f;
	v_named := NOT EXISTS (SELECT 1 FROM bad_input.input_args(f) AS x WHERE x.name IS NULL);
	FOR a IN SELECT * FROM bad_input.input_args(f) ORDER BY pos LOOP
		IF a.pos = sub_pos THEN
			v_expr := sub_expr;
		ELSE
			SELECT d.expr INTO v_expr FROM bad_input.valid_default AS d
			 WHERE d.fn = v_fn AND d.arg = a.name;
			IF v_expr IS NULL THEN
				IF v_named AND a.has_default THEN
					CONTINUE;
				END IF;
				RETURN NULL;
			END IF;
		END IF;
		parts := parts || CASE WHEN v_named
			THEN format('%I => (%s)::%s', a.name, v_expr, a.typ)
			ELSE format('(%s)::%s', v_expr, a.typ) END;
	END LOOP;
	IF v_kind = 'p' THEN
		RETURN format('CALL cmp.%I(%s)', v_fn, array_to_string(parts, ', '));
	END IF;
	RETURN format('SELECT (cmp.%I(%s))::text', v_fn, array_to_string(parts, ', '));
END $$;

CREATE TABLE bad_input.calls (
	call_id serial PRIMARY KEY,
	pass text NOT NULL,
	fn text NOT NULL,
	sig text NOT NULL,
	argpos int NOT NULL,		-- 0: every argument valid (or no arguments)
	arg text,
	argtype text,
	label text NOT NULL,
	expr text,
	heavy boolean NOT NULL DEFAULT false,
	sql text NOT NULL
);

CREATE TABLE bad_input.results (
	call_id int PRIMARY KEY REFERENCES bad_input.calls,
	outcome text NOT NULL,		-- pending, ok, error (SQLSTATE), crash, hang, died
	sqlstate text,
	message text,
	detail text,
	hint text,
	context text,
	-- the error fields of SPEC §8 (NULL when not set)
	schema_name text,
	table_name text,
	column_name text,
	constraint_name text,
	message_length int,
	result text,
	elapsed_ms numeric,
	counts_before jsonb,
	counts_after jsonb,
	actor_before text,
	actor_after text,
	user_before text,
	user_after text,
	backend_pid int,
	started_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Rows in every table of schema cmp, whatever the caller may see.
CREATE FUNCTION bad_input.counts() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	r record;
	n bigint;
	res jsonb := '{}';
BEGIN
	FOR r IN SELECT c.oid::regclass AS t FROM pg_catalog.pg_class AS c
			  WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'p')
			  ORDER BY c.relname LOOP
		EXECUTE format('SELECT count(*) FROM %s', r.t) INTO n;
		res := res || jsonb_build_object(r.t::text, n);
	END LOOP;
	RETURN res;
END $$;

-- ---------------------------------------------------------------------------
-- Hand-written extra calls: combinations the one-argument-at-a-time rule
-- cannot reach. Each is run by both passes like the generated calls.
-- ---------------------------------------------------------------------------
CREATE TABLE bad_input.extra_call (fn text NOT NULL, label text NOT NULL, sql text NOT NULL, heavy boolean NOT NULL DEFAULT false);
INSERT INTO bad_input.extra_call (fn, label, sql, heavy)
SELECT 'provision_sims', 'extra: 1,000,000 unknown ICCIDs, no IMSIs or MSISDNs',
	format('SELECT (cmp.provision_sims(account_id => %s, iccids => (SELECT t FROM bad_input.big WHERE k = ''iccids'')))::text', a1), true
  FROM (SELECT id AS a1 FROM bad_input.fx WHERE key = 'a1') AS s
UNION ALL
SELECT 'create_customer', 'extra: only the required arguments',
	format('SELECT (cmp.create_customer(account_id => %s, name => ''Minimal''))::text', a1), false
  FROM (SELECT id AS a1 FROM bad_input.fx WHERE key = 'a1') AS s
UNION ALL
SELECT 'create_customer', 'extra: ACTIVE without an admin user',
	format('SELECT (cmp.create_customer(account_id => %s, name => ''No Admin'', status => ''ACTIVE''))::text', a1), false
  FROM (SELECT id AS a1 FROM bad_input.fx WHERE key = 'a1') AS s
UNION ALL
SELECT 'create_customer', 'extra: billable ACTIVE without an address',
	format('SELECT (cmp.create_customer(account_id => %s, name => ''No Address'', billable => true, status => ''ACTIVE'', admin_login => ''bi_x_admin'', admin_email => ''bi.x@example.com''))::text', a1), false
  FROM (SELECT id AS a1 FROM bad_input.fx WHERE key = 'a1') AS s
UNION ALL
SELECT 'create_customer', 'extra: billable on a STANDARD account',
	format('SELECT (cmp.create_customer(account_id => %s, name => ''Billable Std'', billable => true))::text', b1), false
  FROM (SELECT id AS b1 FROM bad_input.fx WHERE key = 'b1') AS s
UNION ALL
SELECT 'create_customer', 'extra: admin_login without admin_email',
	format('SELECT (cmp.create_customer(account_id => %s, name => ''Half Admin'', admin_login => ''bi_half''))::text', a1), false
  FROM (SELECT id AS a1 FROM bad_input.fx WHERE key = 'a1') AS s
UNION ALL
SELECT 'set_customer_status', 'extra: terminate a customer holding SIMs',
	format('SELECT (cmp.set_customer_status(customer_id => %s, status => ''TERMINATED''))::text', cd), false
  FROM (SELECT id AS cd FROM bad_input.fx WHERE key = 'cd') AS s
UNION ALL
SELECT 'set_customer_status', 'extra: terminate a customer holding SIMs, release_sims',
	format('SELECT (cmp.set_customer_status(customer_id => %s, status => ''TERMINATED'', release_sims => true))::text', cd), false
  FROM (SELECT id AS cd FROM bad_input.fx WHERE key = 'cd') AS s
UNION ALL
SELECT 'set_customer_status', 'extra: reactivate a TERMINATED customer',
	format('SELECT (cmp.set_customer_status(customer_id => %s, status => ''ACTIVE''))::text', ct), false
  FROM (SELECT id AS ct FROM bad_input.fx WHERE key = 'ct') AS s
UNION ALL
SELECT 'unassign_user_from_customers', 'extra: a user''s last customer',
	format('SELECT (cmp.unassign_user_from_customers(user_id => %s, customer_ids => ARRAY[%s]::bigint[]))::text', cu2, ca), false
  FROM (SELECT max(id) FILTER (WHERE key = 'cu2') AS cu2, max(id) FILTER (WHERE key = 'ca') AS ca FROM bad_input.fx) AS s
UNION ALL
SELECT 'update_customer', 'extra: billable on an ACTIVE customer',
	format('SELECT (cmp.update_customer(customer_id => %s, changes => ''{"billable": false}''))::text', ca), false
  FROM (SELECT id AS ca FROM bad_input.fx WHERE key = 'ca') AS s
UNION ALL
SELECT 'update_customer', 'extra: clear the address of a billable ACTIVE customer',
	format('SELECT (cmp.update_customer(customer_id => %s, changes => ''{"country": null}''))::text', ca), false
  FROM (SELECT id AS ca FROM bad_input.fx WHERE key = 'ca') AS s
UNION ALL
SELECT 'update_customer', 'extra: change a TERMINATED customer',
	format('SELECT (cmp.update_customer(customer_id => %s, changes => ''{"description": "x"}''))::text', ct), false
  FROM (SELECT id AS ct FROM bad_input.fx WHERE key = 'ct') AS s
UNION ALL
SELECT 'set_actor', 'extra: session actor, then a call',
	format('SELECT (cmp.set_actor(user_id => %s, is_local => false))::text || (cmp.whoami())::text', cu1), false
  FROM (SELECT id AS cu1 FROM bad_input.fx WHERE key = 'cu1') AS s;

-- ---------------------------------------------------------------------------
-- Generation: every function of schema cmp, every input argument, every bad
-- value of its type (and of its name), for each pass.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE gen AS
WITH fns AS (
	SELECT p.oid, p.proname::text AS fn, p.oid::regprocedure::text AS sig
	  FROM pg_catalog.pg_proc AS p
	 WHERE p.pronamespace = 'cmp'::regnamespace AND p.prokind IN ('f', 'p')
	   -- a planner support function takes internal: not callable from SQL
	   AND NOT 'internal'::regtype::oid = ANY (p.proargtypes::oid[])
	   -- nor is a PL/pgSQL trigger function (PostgreSQL refuses the call, 0A000)
	   AND NOT (p.prorettype = 'trigger'::regtype
	            AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'plpgsql'))
	   -- CALL cmp.maintain_partitions commits after each table, which the
	   -- sweep's transactions cannot (2D000); it passes its arguments to
	   -- cmp.maintain_partition, swept here (test/suites/retention.sh calls it)
	   AND p.oid <> 'cmp.maintain_partitions(integer, interval, interval, interval)'::regprocedure
), args AS (
	SELECT f.oid, f.fn, f.sig, a.pos, a.name, a.typ::text AS typ,
		   (SELECT d.expr FROM bad_input.valid_default AS d WHERE d.fn = f.fn AND d.arg = a.name) AS vdef
	  FROM fns AS f, bad_input.input_args(f.oid) AS a
), vals AS (
	SELECT a.*, b.label, b.heavy,
		   replace(b.expr, '%V', format('((%s)::%s)', a.vdef, a.typ)) AS expr
	  FROM args AS a
	  JOIN bad_input.bad_value AS b ON b.typ::text = a.typ
	 WHERE (b.fn IS NULL OR b.fn = a.fn)
	   AND (b.arg IS NULL OR b.arg = a.name
			OR (b.arg = '*other*' AND NOT EXISTS (
				SELECT 1 FROM bad_input.bad_value AS h
				 WHERE h.heavy AND h.typ = b.typ AND h.arg = a.name)))
	   AND (strpos(b.expr, '%V') = 0 OR a.vdef IS NOT NULL)
)
SELECT f.fn, f.sig, 0 AS argpos, NULL::text AS arg, NULL::text AS argtype,
	   CASE WHEN EXISTS (SELECT 1 FROM args WHERE args.oid = f.oid)
			THEN 'all arguments valid' ELSE 'no arguments' END AS label,
	   NULL::text AS expr, false AS heavy, bad_input.build_call(f.oid, 0, NULL) AS sql, 0 AS ord
  FROM fns AS f
UNION ALL
SELECT v.fn, v.sig, v.pos, v.name, v.typ, v.label, v.expr, v.heavy,
	   bad_input.build_call(v.oid, v.pos, v.expr), 1
  FROM vals AS v
UNION ALL
SELECT e.fn, (SELECT min(f.sig) FROM fns AS f WHERE f.fn = e.fn), 0, NULL, NULL, e.label, NULL, e.heavy, e.sql, 2
  FROM bad_input.extra_call AS e;

-- gaps of the sweep
INSERT INTO bad_input.problem (what)
SELECT format('%s: argument %s (%s) has no bad values for its type', f.oid::regprocedure, a.name, a.typ)
  FROM pg_catalog.pg_proc AS f, bad_input.input_args(f.oid) AS a
 WHERE f.pronamespace = 'cmp'::regnamespace AND f.prokind IN ('f', 'p')
   AND NOT 'internal'::regtype::oid = ANY (f.proargtypes::oid[])
   AND NOT (f.prorettype = 'trigger'::regtype
            AND f.prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'plpgsql'))
   AND f.oid <> 'cmp.maintain_partitions(integer, interval, interval, interval)'::regprocedure
   AND NOT EXISTS (SELECT 1 FROM bad_input.bad_value AS b WHERE b.typ = a.typ)
UNION ALL
SELECT format('%s: no call could be built for %s (an argument without a valid default)',
			  sig, coalesce(arg || ' = ' || label, label))
  FROM gen WHERE sql IS NULL;

-- every value expression must evaluate on its own; otherwise a refusal
-- would be the harness's, not the function's
DO $$
DECLARE
	r record;
	msg text;
BEGIN
	FOR r IN SELECT DISTINCT expr, argtype FROM gen WHERE expr IS NOT NULL LOOP
		BEGIN
			EXECUTE format('SELECT (%s)::%s IS NULL', r.expr, r.argtype);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			INSERT INTO bad_input.problem (what)
			VALUES (format('value expression %s::%s does not evaluate: %s', r.expr, r.argtype, msg));
		END;
	END LOOP;
END $$;

INSERT INTO bad_input.calls (pass, fn, sig, argpos, arg, argtype, label, expr, heavy, sql)
SELECT p.pass, g.fn, g.sig, g.argpos, g.arg, g.argtype, g.label, g.expr, g.heavy, g.sql
  FROM gen AS g, (VALUES (1, 'system'), (2, 'account'), (3, 'customer')) AS p(n, pass)
 WHERE g.sql IS NOT NULL
   -- the million-element arrays exercise the same code for every actor;
   -- the third pass is about permission paths only
   AND NOT (p.pass = 'customer' AND g.heavy)
 ORDER BY p.n, g.fn, g.ord, g.argpos, g.label;

-- ---------------------------------------------------------------------------
-- The driver
-- ---------------------------------------------------------------------------
CREATE PROCEDURE bad_input.run(p_pass text)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	v_state text;
	v_msg text;
	v_detail text;
	v_hint text;
	v_context text;
	v_schema text;
	v_table text;
	v_column text;
	v_constraint text;
	v_result text;
	v_counts_before jsonb;
	v_counts_after jsonb;
	v_actor_before text;
	v_actor_after text;
	v_user_before text;
	v_user_after text;
	t0 timestamptz;
BEGIN
	FOR c IN SELECT k.call_id, k.sql FROM bad_input.calls AS k
			  WHERE k.pass = p_pass
				AND NOT EXISTS (SELECT 1 FROM bad_input.results AS r WHERE r.call_id = k.call_id)
			  ORDER BY k.call_id LOOP
		-- committed before the call: if the call takes the server down,
		-- this row names it
		INSERT INTO bad_input.results (call_id, outcome, backend_pid)
		VALUES (c.call_id, 'pending', pg_backend_pid());
		COMMIT;

		v_counts_before := bad_input.counts();
		v_actor_before := cmp.actor_id()::text;
		v_user_before := current_user;
		v_result := NULL;
		t0 := clock_timestamp();
		BEGIN
			EXECUTE c.sql INTO v_result;
			-- a success is rolled back too, so that every call meets the
			-- same fixture
			RAISE EXCEPTION USING ERRCODE = 'BI000', MESSAGE = 'bad_input: success, rolled back';
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
				v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT,
				v_context = PG_EXCEPTION_CONTEXT, v_schema = SCHEMA_NAME,
				v_table = TABLE_NAME, v_column = COLUMN_NAME, v_constraint = CONSTRAINT_NAME;
		END;
		v_counts_after := bad_input.counts();
		v_actor_after := cmp.actor_id()::text;
		v_user_after := current_user;

		UPDATE bad_input.results SET
			outcome = CASE WHEN v_state = 'BI000' THEN 'ok' ELSE 'error' END,
			sqlstate = CASE WHEN v_state = 'BI000' THEN NULL ELSE v_state END,
			message = CASE WHEN v_state = 'BI000' THEN NULL ELSE left(v_msg, 500) END,
			message_length = CASE WHEN v_state = 'BI000' THEN NULL
				ELSE octet_length(v_msg) + coalesce(octet_length(v_detail), 0) + coalesce(octet_length(v_hint), 0) END,
			detail = left(v_detail, 500),
			hint = left(v_hint, 500),
			context = left(v_context, 500),
			schema_name = CASE WHEN v_state = 'BI000' THEN NULL ELSE nullif(v_schema, '') END,
			table_name = CASE WHEN v_state = 'BI000' THEN NULL ELSE nullif(v_table, '') END,
			column_name = CASE WHEN v_state = 'BI000' THEN NULL ELSE nullif(v_column, '') END,
			constraint_name = CASE WHEN v_state = 'BI000' THEN NULL ELSE nullif(v_constraint, '') END,
			result = left(v_result, 200),
			elapsed_ms = round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1),
			counts_before = v_counts_before,
			counts_after = v_counts_after,
			actor_before = v_actor_before,
			actor_after = v_actor_after,
			user_before = v_user_before,
			user_after = v_user_after
		 WHERE call_id = c.call_id;
		COMMIT;
	END LOOP;
END $$;

GRANT USAGE ON SCHEMA bad_input TO :"app_role";
GRANT SELECT ON bad_input.calls, bad_input.big, bad_input.fx TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON bad_input.results TO :"app_role";
GRANT EXECUTE ON FUNCTION bad_input.counts() TO :"app_role";
GRANT EXECUTE ON PROCEDURE bad_input.run(text) TO :"app_role";
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"app_role";

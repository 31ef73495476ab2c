-- Database roles and sealed contacts.
--
-- Three roles with fixed names, shared by every Muster database of a server
-- (roles are cluster-wide; the grants below are per database):
--   muster_owner    owns the schema and runs migrations;
--   muster_app      the worker, the CLI and the API: reads and writes records,
--                   no DDL, no read of residents' contacts;
--   muster_callback reads contacts only through muster_read_contacts, which
--                   logs who read what, when and why.
-- The roles cannot log in; a deployment grants them to its own logins
-- (GRANT muster_app TO worker_login) or gives them a password.
--
-- Many databases may migrate at once on one server, so a role another
-- migration has just created is not an error.
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['muster_owner', 'muster_app', 'muster_callback'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the migrating user % cannot create the roles muster_owner, muster_app and muster_callback: migrate as a user with CREATEROLE (or a superuser), or have an administrator create the three roles and GRANT muster_owner TO %', current_user, current_user;
END
$roles$;

-- pgcrypto seals the contacts. It is a trusted extension: the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;

-- The key that seals this database's contacts. Only muster_owner (and so
-- the functions below, which run as muster_owner) reads it: the application
-- role and a copy of resident_contacts alone hold nothing in clear.
CREATE TABLE contact_key (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret text NOT NULL
);
INSERT INTO contact_key (secret) VALUES (encode(gen_random_bytes(32), 'base64'));

-- Contacts are sealed: one pgp_sym_encrypt'ed blob of the name, ID number
-- and phone, and a keyed digest so a reload sees what changed without
-- decrypting.
ALTER TABLE resident_contacts ADD COLUMN sealed bytea, ADD COLUMN digest bytea;

CREATE FUNCTION muster_contact_digest(name text, id_number text, phone text) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT hmac(convert_to(json_build_array(name, id_number, phone)::text, 'UTF8'), decode(k.secret, 'base64'), 'sha256')
    FROM contact_key k
$$;

CREATE FUNCTION muster_seal_contact(name text, id_number text, phone text) RETURNS bytea
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT pgp_sym_encrypt(json_build_array(name, id_number, phone)::text, k.secret, 'cipher-algo=aes256, s2k-mode=1')
    FROM contact_key k
$$;

UPDATE resident_contacts SET sealed = muster_seal_contact(name, id_number, phone),
    digest = muster_contact_digest(name, id_number, phone);
ALTER TABLE resident_contacts DROP COLUMN name, DROP COLUMN id_number, DROP COLUMN phone,
    ALTER COLUMN sealed SET NOT NULL, ALTER COLUMN digest SET NOT NULL;

-- Every read of contacts: who (the login), which resident, when and why.
CREATE TABLE contact_reads (
    id          bigserial PRIMARY KEY,
    reader      text NOT NULL,
    resident_id bigint NOT NULL,
    reason      text NOT NULL CHECK (reason <> ''),
    read_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_reads_resident ON contact_reads (resident_id);

-- muster_read_contacts returns the contacts of the given residents and logs
-- one read per resident returned, under the login that asked.
CREATE FUNCTION muster_read_contacts(resident_ids bigint[], reason text)
RETURNS TABLE (resident_id bigint, name text, id_number text, phone text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF coalesce(btrim(reason), '') = '' THEN
        RAISE EXCEPTION 'reason is required to read contacts' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH opened AS (
        SELECT c.resident_id, pgp_sym_decrypt(c.sealed, k.secret)::json AS v
        FROM resident_contacts c, contact_key k
        WHERE c.resident_id = ANY (resident_ids)
    ), logged AS (
        INSERT INTO contact_reads (reader, resident_id, reason)
        SELECT session_user, o.resident_id, reason FROM opened o
    )
    SELECT o.resident_id, o.v->>0, o.v->>1, o.v->>2 FROM opened o ORDER BY o.resident_id;
END
$$;

-- ANALYZE needs the table's owner (before PostgreSQL 17), and a large
-- resident load by the application role refreshes the statistics its
-- round and ingestion plans depend on.
CREATE FUNCTION muster_analyze_residents() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    ANALYZE residents;
    ANALYZE resident_contacts;
END
$$;

-- Ownership goes to muster_owner, so the functions above run as it and later
-- migrations (run under SET ROLE muster_owner) own what they create.
DO $owner$
BEGIN
    BEGIN
        EXECUTE 'GRANT muster_owner TO ' || quote_ident(current_user);
    EXCEPTION WHEN OTHERS THEN
        -- A login without the right to grant may have been granted the
        -- role by an administrator; checked below.
        NULL;
    END;
    IF NOT pg_has_role(current_user, 'muster_owner', 'MEMBER') THEN
        RAISE EXCEPTION 'the migrating user % may not act as muster_owner: as a superuser or a user with CREATEROLE, GRANT muster_owner TO %, then run starter migrate again', current_user, current_user
            USING ERRCODE = '42501';
    END IF;
END
$owner$;
DO $owner$
DECLARE
    o record;
BEGIN
    EXECUTE 'ALTER SCHEMA public OWNER TO muster_owner';
    FOR o IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
    LOOP
        EXECUTE format('ALTER %s public.%I OWNER TO muster_owner',
            CASE o.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, o.relname);
    END LOOP;
    FOR o IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO muster_owner', o.sig);
    END LOOP;
END
$owner$;

-- The application role: records yes, DDL no (the schema is muster_owner's
-- and nobody else may CREATE in it), contacts write-only.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO muster_app, muster_callback;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO muster_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO muster_app;
ALTER DEFAULT PRIVILEGES FOR ROLE muster_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO muster_app;
ALTER DEFAULT PRIVILEGES FOR ROLE muster_owner IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO muster_app;
REVOKE ALL ON contact_key, contact_reads, resident_contacts FROM PUBLIC, muster_app, muster_callback;
-- Loading residents inserts and updates sealed contacts and compares
-- digests; it never reads the sealed column.
GRANT INSERT ON resident_contacts TO muster_app;
GRANT SELECT (resident_id, digest), UPDATE (sealed, digest) ON resident_contacts TO muster_app;
GRANT SELECT ON contact_reads TO muster_app;
REVOKE ALL ON FUNCTION muster_read_contacts(bigint[], text), muster_seal_contact(text, text, text),
    muster_contact_digest(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION muster_analyze_residents() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION muster_seal_contact(text, text, text), muster_contact_digest(text, text, text),
    muster_analyze_residents() TO muster_app;
GRANT EXECUTE ON FUNCTION muster_read_contacts(bigint[], text) TO muster_callback;
-- The call-back list names missing residents: it reads the records the
-- missing list is built from, never writes.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO muster_callback;
REVOKE ALL ON contact_key, resident_contacts FROM muster_callback;
ALTER DEFAULT PRIVILEGES FOR ROLE muster_owner IN SCHEMA public GRANT SELECT ON TABLES TO muster_callback;

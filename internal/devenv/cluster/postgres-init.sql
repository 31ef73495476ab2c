-- Roles and databases of docker-compose.yml's PostgreSQL, run once when its
-- volume is new. Temporal and Muster each own their databases under a role
-- of their own; no login is a superuser or may create roles.
-- The passwords are for local use: change them (and the URLs in
-- docker-compose.yml) anywhere else.
CREATE ROLE temporal LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'temporal';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

-- Muster's group roles (internal/store/migrations/0017_database_roles.sql):
-- muster_owner owns the schema, muster_app reads and writes records without
-- DDL or contacts, muster_callback reads contacts through the audited
-- function. Created here because the migrating login may not create roles.
CREATE ROLE muster_owner NOLOGIN;
CREATE ROLE muster_app NOLOGIN;
CREATE ROLE muster_callback NOLOGIN;

-- muster migrates (the one-shot migrate service, `muster migrate`): it owns
-- the database and acts as muster_owner. `muster cluster up` creates the
-- same login natively (internal/devenv.GrantSchemaOwner).
CREATE ROLE muster LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'muster';
GRANT muster_owner TO muster;
CREATE DATABASE muster OWNER muster;

-- muster_worker is the workers' and the CLI's login: records only.
-- `muster cluster up` creates it too, with a random password
-- (internal/devenv.GrantSchemaApp).
CREATE ROLE muster_worker LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'muster_worker';
GRANT muster_app TO muster_worker;

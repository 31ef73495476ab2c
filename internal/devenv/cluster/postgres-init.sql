-- Roles and databases of docker-compose.yml's PostgreSQL, run once when its
-- volume is new. Temporal and Muster each own their databases under a role
-- of their own; neither role is a superuser. `starter cluster up` creates
-- the same roles and databases natively (internal/devenv/cluster.go).
-- The passwords are for local use: change them (and the URLs in
-- docker-compose.yml) anywhere else.
CREATE ROLE temporal LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'temporal';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE ROLE muster LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'muster';
CREATE DATABASE muster OWNER muster;

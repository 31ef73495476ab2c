-- A station's or inspector's credential may belong to one district: its
-- scope names sampling points and sites by code, and codes are unique only
-- within a district, so the district says whose points they are. A
-- credential of a district acts only on incidents whose response lies in
-- it. NULL: any district (as before districts were namespaces).
ALTER TABLE api_credentials ADD COLUMN district text;

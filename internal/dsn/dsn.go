// Package dsn describes PostgreSQL connection strings for people without
// revealing their secrets. Both forms libpq reads are understood: URLs
// (postgres://user:password@host:port/db?sslmode=...&password=...) and
// key=value strings (host=... dbname=... password=...). What is shown is
// only where the database is, host:port/database, never a user name,
// password or parameter: every message and log line that names a database
// goes through Describe.
package dsn

import (
	"net"
	"net/url"
	"strings"
)

// Describe returns "host:port/database" for a connection string, or a
// placeholder when it cannot be read (the raw text is never returned, since
// an unreadable string may still hold a password).
func Describe(raw string) string {
	raw = strings.TrimSpace(raw)
	var host, port, db string
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "(an unreadable database URL)"
		}
		host, port = u.Hostname(), u.Port()
		db = strings.TrimPrefix(u.Path, "/")
		q := u.Query()
		if host == "" {
			host = q.Get("host")
		}
		if port == "" {
			port = q.Get("port")
		}
		if db == "" {
			db = q.Get("dbname")
		}
	} else {
		kv, ok := parseKeyValue(raw)
		if !ok {
			return "(an unreadable database connection string)"
		}
		host, port, db = kv["host"], kv["port"], kv["dbname"]
	}
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5432"
	}
	if db == "" {
		db = "(default database)"
	}
	if strings.HasPrefix(host, "/") {
		// A Unix socket directory.
		return host + "/" + db
	}
	return net.JoinHostPort(host, port) + "/" + db
}

// parseKeyValue reads a libpq key=value string; values may be quoted with
// single quotes and escape with backslashes.
func parseKeyValue(s string) (map[string]string, bool) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out, true
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, false
			}
		} else {
			end := strings.IndexAny(s, " \t\n\r")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out[key] = val.String()
	}
}

// Scrub returns msg with the connection string and any password it holds
// replaced by "***": a driver's error may quote either.
func Scrub(msg, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, "***")
	for _, pw := range passwords(raw) {
		if len(pw) >= 3 {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}

// passwords finds the passwords a connection string may hold, even when
// the string does not parse: the user info of a URL, password= parameters
// and password= pairs.
func passwords(raw string) []string {
	var out []string
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, pw)
				if u, err := url.PathUnescape(pw); err == nil {
					out = append(out, u)
				}
			}
		}
	}
	for s := raw; ; {
		i := strings.Index(s, "password=")
		if i < 0 {
			break
		}
		s = s[i+len("password="):]
		end := strings.IndexAny(s, " \t&")
		if end < 0 {
			end = len(s)
		}
		pw := strings.Trim(s[:end], "'")
		out = append(out, pw)
		if u, err := url.QueryUnescape(pw); err == nil {
			out = append(out, u)
		}
	}
	return out
}

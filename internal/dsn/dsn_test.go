package dsn

import (
	"strings"
	"testing"
)

func TestDescribeShowsNoSecret(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"postgres://muster:S3cretPW@db.example:6543/muster?sslmode=require", "db.example:6543/muster"},
		{"postgresql://muster@10.0.0.5/records?password=S3cretPW&sslmode=disable", "10.0.0.5:5432/records"},
		{"postgres://muster:S3cretPW@/muster?host=/var/run/postgresql", "/var/run/postgresql/muster"},
		{"host=127.0.0.1 port=5433 user=muster password=S3cretPW dbname=muster sslmode=disable", "127.0.0.1:5433/muster"},
		{"host=db dbname='my db' password='S3cret PW\\'x'", "db:5432/my db"},
		{"password=S3cretPW", "localhost:5432/(default database)"},
		{"host=db password='S3cretPW", "(an unreadable database connection string)"},
		{"postgres://u:S3cretPW@host:port:x/db", "(an unreadable database URL)"},
		{"S3cretPW", "(an unreadable database connection string)"},
	} {
		got := Describe(tc.raw)
		if got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.raw, got, tc.want)
		}
		if strings.Contains(got, "S3cret") || strings.Contains(got, "muster:") {
			t.Errorf("Describe(%q) = %q shows a secret", tc.raw, got)
		}
	}
}

func TestScrub(t *testing.T) {
	for _, raw := range []string{
		"postgres://muster:S3cretPW@h:port/db",
		"postgres://muster:S3cret%50W@h/db",
		"postgres://muster@h/db?password=S3cretPW&sslmode=disable",
		"host=h password='S3cretPW",
		"host=h password=S3cretPW dbname=x",
	} {
		msg := `parse "` + raw + `": invalid; password S3cretPW S3cretPW`
		if got := Scrub(msg, raw); strings.Contains(got, "S3cret") {
			t.Errorf("Scrub(.., %q) = %q: shows the password", raw, got)
		}
	}
}

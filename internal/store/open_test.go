package store

import (
	"context"
	"strings"
	"testing"
)

// TestOpenErrorsShowNoPassword: whatever form DATABASE_URL takes, an error
// opening it names where the database is and never its password.
func TestOpenErrorsShowNoPassword(t *testing.T) {
	for _, raw := range []string{
		"postgres://muster:S3cretPW@127.0.0.1:1/muster?sslmode=disable",
		"postgres://muster@127.0.0.1:1/muster?sslmode=disable&password=S3cretPW",
		"host=127.0.0.1 port=1 user=muster password=S3cretPW dbname=muster sslmode=disable",
		"host=127.0.0.1 port=1 password='S3cretPW sslmode=disable",
		"postgres://muster:S3cretPW@127.0.0.1:port/muster",
	} {
		_, err := Open(context.Background(), raw)
		if err == nil {
			t.Fatalf("Open(%q) = nil error, want one", raw)
		}
		if strings.Contains(err.Error(), "S3cretPW") {
			t.Errorf("Open(%q) = %v: shows the password", raw, err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// runSplit runs the CLI and returns its output and its error output
// apart.
func runSplit(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestTokenLifecycle: a credential is made with a 256-bit token stored
// only as its digest, listed without it, refused once revoked, and both
// changes are in the event log with who made them.
func TestTokenLifecycle(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}

	out, _, err := runSplit(t, "token", "create", "--name", "duty-officer", "--role", "command", "--by", "ops-lead")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(out)
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 {
		t.Fatalf("token create printed %q, want 64 hex digits (256 bits)", out)
	}
	c, err := st.CredentialByToken(ctx, api.TokenDigest(tok))
	if err != nil || c.Name != "duty-officer" || c.Role != "command" || c.CreatedBy != "ops-lead" {
		t.Fatalf("credential of the new token = %+v, %v", c, err)
	}
	var stored int
	if err := st.DB().GetContext(ctx, &stored, `SELECT count(*) FROM api_credentials WHERE token_sha256::text LIKE '%' || $1 || '%'`, tok); err != nil || stored != 0 {
		t.Errorf("the token itself is stored (%d rows, %v)", stored, err)
	}

	for _, tt := range []struct {
		args  []string
		words string
	}{
		{[]string{"token", "create", "--name", "built-in", "--role", "admin"}, "reserved"},
		{[]string{"token", "create", "--name", "x", "--role", "root"}, "--role"},
		{[]string{"token", "create", "--name", "s1", "--role", "station"}, "--scope is required"},
		{[]string{"token", "create", "--name", "s1", "--role", "station", "--scope", "longbao"}, "not a sampling point"},
		{[]string{"token", "create", "--name", "w1", "--role", "supervisor", "--scope", "longbao-sampling-01"}, "has no scope"},
		{[]string{"token", "create", "--name", "duty-officer", "--role", "command"}, "already exists"},
		{[]string{"token", "create", "--name", "Bad Name!", "--role", "command"}, "lower-case"},
		{[]string{"token", "revoke", "nobody"}, "no live credential"},
	} {
		if _, _, err := runSplit(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.words) {
			t.Errorf("muster %s = %v, want an error mentioning %q", strings.Join(tt.args, " "), err, tt.words)
		}
	}
	if _, _, err := runSplit(t, "token", "create", "--name", "longbao-station", "--role", "station", "--scope", "longbao-sampling-01"); err != nil {
		t.Errorf("station token: %v", err)
	}

	list, _, err := runSplit(t, "token", "list")
	if err != nil || !strings.Contains(list, "duty-officer") || !strings.Contains(list, "longbao-sampling-01") || strings.Contains(list, tok) {
		t.Errorf("token list = %q, %v; want both credentials, no token", list, err)
	}
	if _, _, err := runSplit(t, "token", "revoke", "duty-officer", "--by", "ops-lead"); err != nil {
		t.Fatalf("token revoke: %v", err)
	}
	if _, err := st.CredentialByToken(ctx, api.TokenDigest(tok)); err == nil {
		t.Error("a revoked token is still found")
	}
	if list, _, _ := runSplit(t, "token", "list"); strings.Contains(list, "duty-officer") {
		t.Errorf("token list after revoke = %q, want duty-officer gone", list)
	}
	if list, _, _ := runSplit(t, "token", "list", "--all"); !strings.Contains(list, "by ops-lead") {
		t.Errorf("token list --all = %q, want the revoked credential and who revoked it", list)
	}
	evs, err := st.Events(ctx, "credentials", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Step+" "+e.State+" by "+e.Actor)
	}
	want := "credential/duty-officer created by ops-lead|credential/longbao-station created by"
	if s := strings.Join(got, "|"); !strings.HasPrefix(s, want) || !strings.Contains(s, "credential/duty-officer revoked by ops-lead") {
		t.Errorf("credential events = %v, want creation and revocation with their actors", got)
	}
}

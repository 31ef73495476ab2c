package config

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/musterhq/muster/internal/codec"
)

func TestMetricsAddr(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{env: nil, want: DefaultMetricsAddr},
		{env: map[string]string{EnvMetricsAddr: " 0.0.0.0:9464 "}, want: "0.0.0.0:9464"},
		{env: map[string]string{EnvMetricsAddr: "off"}, want: ""},
		{env: map[string]string{EnvMetricsAddr: "OFF"}, want: ""},
		{env: map[string]string{EnvMetricsAddr: ""}, want: DefaultMetricsAddr},
	}
	for _, tt := range tests {
		c, err := fromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if err != nil {
			t.Fatalf("fromLookup(%v) = %v", tt.env, err)
		}
		if c.MetricsAddr != tt.want {
			t.Errorf("fromLookup(%v).MetricsAddr = %q, want %q", tt.env, c.MetricsAddr, tt.want)
		}
	}
}

func TestCodecSettings(t *testing.T) {
	k1, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := codec.NewKey("k2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		env         map[string]string
		wantCurrent string
		wantOrigins string
		wantErr     string
	}{
		{name: "no keys", wantOrigins: codec.DefaultOrigin},
		{name: "rotated keys", env: map[string]string{codec.EnvKeys: k2.String() + "," + k1.String()}, wantCurrent: "k2", wantOrigins: codec.DefaultOrigin},
		{name: "origins", env: map[string]string{codec.EnvOrigins: "https://ui.example:8443, http://localhost:8233/"}, wantOrigins: "https://ui.example:8443,http://localhost:8233"},
		{name: "bad key", env: map[string]string{codec.EnvKeys: "k1:short"}, wantErr: codec.EnvKeys},
		{name: "bad origin", env: map[string]string{codec.EnvOrigins: "localhost:8233"}, wantErr: codec.EnvOrigins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("fromLookup() = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Codec.CurrentKeyID() != tt.wantCurrent {
				t.Errorf("Codec.CurrentKeyID() = %q, want %q", c.Codec.CurrentKeyID(), tt.wantCurrent)
			}
			if strings.Join(c.CodecOrigins, ",") != tt.wantOrigins {
				t.Errorf("CodecOrigins = %v, want %s", c.CodecOrigins, tt.wantOrigins)
			}
			// Every client made from the settings goes through the codec.
			if _, ok := c.Temporal.DataConverter.(*converter.CodecDataConverter); !ok || (c.Temporal.FailureConverter != nil) != (tt.wantCurrent != "") {
				t.Errorf("Temporal options: data converter %T, failure converter %T; want the codec's", c.Temporal.DataConverter, c.Temporal.FailureConverter)
			}
		})
	}
}

// TestMigrateSetting: the worker migrates at start unless MUSTER_MIGRATE
// turns it off; a value that is not a boolean names the variable.
func TestMigrateSetting(t *testing.T) {
	tests := []struct {
		env     string
		want    bool
		wantErr bool
	}{
		{env: "", want: true},
		{env: "false", want: false},
		{env: " 0 ", want: false},
		{env: "true", want: true},
		{env: "sometimes", wantErr: true},
	}
	for _, tt := range tests {
		c, err := fromLookup(func(k string) (string, bool) {
			if k == EnvMigrate && tt.env != "" {
				return tt.env, true
			}
			return "", false
		})
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), EnvMigrate) {
				t.Errorf("fromLookup(%s=%q) = %v, want an error naming %s", EnvMigrate, tt.env, err, EnvMigrate)
			}
			continue
		}
		if err != nil || c.Migrate != tt.want {
			t.Errorf("fromLookup(%s=%q).Migrate = %v, %v, want %v", EnvMigrate, tt.env, c.Migrate, err, tt.want)
		}
	}
}

package config

import (
	"testing"
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

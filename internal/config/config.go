// Package config reads Muster's settings from the environment. Temporal's own
// connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TLS variables and profiles) are read by the SDK's envconfig package, so the
// same binaries point at a dev server, a cluster or Temporal Cloud unchanged.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/dsn"
)

// Defaults shared by the worker, the CLI, the demo and docker-compose.yml
// (a test checks that the compose file agrees with them).
const (
	// DatabaseName is the PostgreSQL database Muster keeps its records in.
	DatabaseName = "muster"
	// DefaultDatabaseURL points at a local PostgreSQL with trust auth.
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/" + DatabaseName + "?sslmode=disable"
	// DefaultTemporalAddress is where the SDK looks when TEMPORAL_ADDRESS is unset.
	DefaultTemporalAddress = "localhost:7233"
	// DefaultNamespace is the Temporal namespace used when TEMPORAL_NAMESPACE is unset.
	DefaultNamespace = "default"
	// DefaultTaskQueue is the task queue the worker polls.
	DefaultTaskQueue = "muster"
	// DefaultUIPort is the port of the Temporal Web UI in the demo and in docker-compose.yml.
	DefaultUIPort = 8233
	// DefaultMetricsAddr is where the worker serves /metrics for Prometheus.
	DefaultMetricsAddr = "127.0.0.1:9464"
)

// Environment variable names read by Muster itself.
const (
	EnvDatabaseURL = "DATABASE_URL"
	EnvTaskQueue   = "MUSTER_TASK_QUEUE"
	EnvLogLevel    = "MUSTER_LOG_LEVEL"
	// EnvMetricsAddr is the worker's metrics address; "off" turns it off.
	EnvMetricsAddr = "MUSTER_METRICS_ADDR"
	// EnvMigrate turns the worker's migrations at start off ("false"), for
	// deployments whose worker logs in as the application role and migrate
	// with `muster migrate` as the owner.
	EnvMigrate = "MUSTER_MIGRATE"
	// EnvNoticeRoutes is the routes file the worker delivers notices by;
	// unset, notices stay in the outbox undelivered.
	EnvNoticeRoutes = "MUSTER_NOTICE_ROUTES"
)

// Config is what a Muster process needs to reach its dependencies.
type Config struct {
	DatabaseURL string
	TaskQueue   string
	LogLevel    slog.Level
	// MetricsAddr is where the worker serves /metrics; empty means none.
	MetricsAddr string
	// Migrate says whether the worker applies pending migrations at start
	// (on unless MUSTER_MIGRATE=false). No other process migrates.
	Migrate bool
	// NoticeRoutes is the routes file of notice delivery; empty means the
	// worker delivers none.
	NoticeRoutes string
	// Temporal's options carry the payload codec (Codec) as their data
	// and failure converters.
	Temporal client.Options
	// Codec encrypts payloads with CodecKeys (codec.EnvKeys or
	// codec.EnvKeyFile). Without keys it encrypts nothing but still
	// refuses, with a clear error, payloads it cannot decrypt.
	Codec     *codec.Codec
	CodecKeys codec.Keys
	// CodecOrigins are the Web UI origins the codec server answers.
	CodecOrigins []string
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) {
	return fromLookup(os.LookupEnv)
}

func fromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := Config{
		DatabaseURL: DefaultDatabaseURL,
		TaskQueue:   DefaultTaskQueue,
		LogLevel:    slog.LevelInfo,
		MetricsAddr: DefaultMetricsAddr,
		Migrate:     true,
	}
	if v, ok := lookup(EnvDatabaseURL); ok && strings.TrimSpace(v) != "" {
		c.DatabaseURL = strings.TrimSpace(v)
	}
	if v, ok := lookup(EnvTaskQueue); ok && strings.TrimSpace(v) != "" {
		c.TaskQueue = strings.TrimSpace(v)
	}
	if v, ok := lookup(EnvLogLevel); ok && strings.TrimSpace(v) != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
			return Config{}, fmt.Errorf("%s=%q: want debug, info, warn or error", EnvLogLevel, v)
		}
	}
	if v, ok := lookup(EnvMetricsAddr); ok && strings.TrimSpace(v) != "" {
		c.MetricsAddr = strings.TrimSpace(v)
		if strings.EqualFold(c.MetricsAddr, "off") {
			c.MetricsAddr = ""
		}
	}
	if v, ok := lookup(EnvMigrate); ok && strings.TrimSpace(v) != "" {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: want true or false", EnvMigrate, v)
		}
		c.Migrate = on
	}
	if v, ok := lookup(EnvNoticeRoutes); ok {
		c.NoticeRoutes = strings.TrimSpace(v)
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return Config{}, fmt.Errorf("read Temporal client settings (TEMPORAL_* variables or profile): %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = DefaultTemporalAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if c.CodecKeys, err = codec.KeysFromEnv(lookup); err != nil {
		return Config{}, err
	}
	if c.Codec, err = codec.New(c.CodecKeys); err != nil {
		return Config{}, err
	}
	if c.CodecOrigins, err = codec.OriginsFromEnv(lookup); err != nil {
		return Config{}, err
	}
	codec.Apply(&opts, c.Codec)
	c.Temporal = opts
	return c, nil
}

// RedactedDatabaseURL describes the database URL for logs and error
// messages: host:port/database only, never a user, password or parameter,
// in both the URL and the key=value forms.
func RedactedDatabaseURL(raw string) string { return dsn.Describe(raw) }

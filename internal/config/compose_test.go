package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The compose file checked against this package's defaults, and the names and
// ports its checks rely on.
const (
	composeFilePath = "../../docker-compose.yml"

	postgresService   = "postgres"
	temporalService   = "temporal-frontend"
	temporalUIService = "temporal-ui"
	workerService     = "worker"
	migrateService    = "migrate"

	// postgresContainerPort is the port PostgreSQL listens on inside its container.
	postgresContainerPort = "5432"
	// temporalUIDefaultPort is the port the temporalio/ui image listens on
	// unless TEMPORAL_UI_PORT says otherwise.
	temporalUIDefaultPort = "8080"
)

// composeFile is the part of a Compose file the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string              `yaml:"image"`
	Build       *composeBuild       `yaml:"build"`
	Environment composeEnvironment  `yaml:"environment"`
	Ports       []composePort       `yaml:"ports"`
	Command     composeCommand      `yaml:"command"`
	DependsOn   composeDependsOn    `yaml:"depends_on"`
	Healthcheck *composeHealthcheck `yaml:"healthcheck"`
}

// composeEnvironment holds the variables a service sets. Compose accepts a
// map (KEY: value) or a list (- KEY=value); a key without a value is taken
// from the host's environment at run time and is left out here.
type composeEnvironment map[string]string

func (e *composeEnvironment) UnmarshalYAML(n *yaml.Node) error {
	env := composeEnvironment{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && v.Kind == yaml.AliasNode {
				// A merge key (<<: *anchor): the anchored map's variables,
				// which the service's own may override.
				var merged composeEnvironment
				if err := merged.UnmarshalYAML(v.Alias); err != nil {
					return err
				}
				for mk, mv := range merged {
					if _, ok := env[mk]; !ok {
						env[mk] = mv
					}
				}
				continue
			}
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: environment %s: want a scalar value", v.Line, k.Value)
			}
			if v.Tag == "!!null" {
				continue
			}
			s, err := interpolate(v.Value)
			if err != nil {
				return fmt.Errorf("line %d: environment %s: %w", v.Line, k.Value, err)
			}
			env[k.Value] = s
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: environment: want KEY=VALUE", item.Line)
			}
			k, v, ok := strings.Cut(item.Value, "=")
			if !ok {
				continue
			}
			s, err := interpolate(v)
			if err != nil {
				return fmt.Errorf("line %d: environment %s: %w", item.Line, k, err)
			}
			env[k] = s
		}
	default:
		return fmt.Errorf("line %d: environment: want a map or a list", n.Line)
	}
	*e = env
	return nil
}

// lookup returns the first of keys that is set.
func (e composeEnvironment) lookup(keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := e[k]; ok {
			return v, true
		}
	}
	return "", false
}

// or returns the first of keys that is set, or def.
func (e composeEnvironment) or(def string, keys ...string) string {
	if v, ok := e.lookup(keys...); ok {
		return v
	}
	return def
}

// composeBuild is a build section, in its short (context only) or long form.
type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	}
	switch n.Kind {
	case yaml.ScalarNode:
		raw.Context = n.Value
	case yaml.MappingNode:
		if err := n.Decode(&raw); err != nil {
			return err
		}
	default:
		return fmt.Errorf("line %d: build: want a path or a map", n.Line)
	}
	var err error
	if b.Context, err = interpolate(raw.Context); err != nil {
		return fmt.Errorf("line %d: build context: %w", n.Line, err)
	}
	if b.Dockerfile, err = interpolate(raw.Dockerfile); err != nil {
		return fmt.Errorf("line %d: build dockerfile: %w", n.Line, err)
	}
	return nil
}

// composePort is one published port, from the short syntax
// ([HOST_IP:][HOST:]CONTAINER[/PROTOCOL]) or the long one.
type composePort struct {
	HostIP    string
	Published string // host port; empty when Docker picks one
	Target    string // container port
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		s, err := interpolate(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: port: %w", n.Line, err)
		}
		s, _, _ = strings.Cut(s, "/")
		parts := strings.Split(s, ":")
		last := len(parts) - 1
		p.Target = parts[last]
		if last >= 1 {
			p.Published = parts[last-1]
		}
		if last >= 2 {
			p.HostIP = strings.Join(parts[:last-1], ":")
		}
	case yaml.MappingNode:
		var raw struct {
			Target    string `yaml:"target"`
			Published string `yaml:"published"`
			HostIP    string `yaml:"host_ip"`
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for _, f := range []*string{&raw.Target, &raw.Published, &raw.HostIP} {
			s, err := interpolate(*f)
			if err != nil {
				return fmt.Errorf("line %d: port: %w", n.Line, err)
			}
			*f = s
		}
		*p = composePort{HostIP: raw.HostIP, Published: raw.Published, Target: raw.Target}
	default:
		return fmt.Errorf("line %d: port: want a string or a map", n.Line)
	}
	return nil
}

func (p composePort) String() string {
	if p.Published == "" {
		return p.Target
	}
	return p.Published + "->" + p.Target
}

// composeDependsOn maps each service depended on to the condition waited for.
type composeDependsOn map[string]string

func (d *composeDependsOn) UnmarshalYAML(n *yaml.Node) error {
	deps := composeDependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			deps[name] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for name, dep := range m {
			deps[name] = dep.Condition
			if dep.Condition == "" {
				deps[name] = "service_started"
			}
		}
	default:
		return fmt.Errorf("line %d: depends_on: want a list or a map", n.Line)
	}
	*d = deps
	return nil
}

type composeHealthcheck struct {
	Test    composeCommand `yaml:"test"`
	Disable bool           `yaml:"disable"`
}

// composeCommand is a command given as a string or as a list.
type composeCommand []string

func (c *composeCommand) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = composeCommand{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		err := n.Decode(&s)
		*c = s
		return err
	default:
		return fmt.Errorf("line %d: want a string or a list", n.Line)
	}
}

// enabled reports whether the health check runs a test.
func (h *composeHealthcheck) enabled() bool {
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

var composeVariable = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate resolves Compose's ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR:+alt} and $$ as a plain `docker compose up` does with
// none of the variables set, so the checks see the values used by default.
func interpolate(s string) (string, error) {
	var err error
	out := composeVariable.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := composeVariable.FindStringSubmatch(m)
		switch op := strings.TrimPrefix(sub[2], ":"); op {
		case "-":
			return sub[3]
		case "?":
			err = errors.Join(err, fmt.Errorf("${%s} is required: %s", sub[1], sub[3]))
		}
		return ""
	})
	return out, err
}

func parseCompose(data []byte) (composeFile, error) {
	var c composeFile
	err := yaml.Unmarshal(data, &c)
	return c, err
}

// composeProblems lists every way the compose file c disagrees with the
// defaults of this package, one message per problem. dir is the directory of
// the compose file, against which build contexts are resolved, and exists
// reports whether a file exists.
func composeProblems(c composeFile, dir string, exists func(path string) bool, roles map[string]string) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	for _, name := range []string{postgresService, temporalService, temporalUIService, migrateService, workerService} {
		if _, ok := c.Services[name]; !ok {
			add("service %q = missing, want present", name)
		}
	}
	if len(problems) > 0 {
		return problems
	}
	pg := c.Services[postgresService]
	temporal := c.Services[temporalService]
	ui := c.Services[temporalUIService]
	worker := c.Services[workerService]
	migrate := c.Services[migrateService]

	// What the postgres image does with its variables: the user defaults to
	// postgres and the database to the user's name.
	pgUser := pg.Environment.or("postgres", "POSTGRES_USER")
	if _, ok := pg.Environment.lookup("POSTGRES_PASSWORD"); !ok {
		add("%s POSTGRES_PASSWORD = unset, want a password", postgresService)
	}
	if !pg.Healthcheck.enabled() {
		add("%s healthcheck = none, want a test such as pg_isready", postgresService)
	}

	// Each row compares one value with what it must be.
	type row struct {
		thing string
		got   string
		set   bool
		want  string
	}
	rows := []row{}
	env := func(s composeService, service, key string, want string) row {
		v, ok := s.Environment[key]
		return row{thing: service + " " + key, got: v, set: ok, want: want}
	}
	derived := func(thing, got, want string) row {
		return row{thing: thing, got: got, set: true, want: want}
	}

	// The databases of the worker and of the migrate service: Muster's
	// database under a login of their own each, never the superuser. The
	// migrate service migrates as the login granted muster_owner; the
	// worker logs in as the one granted muster_app and does not migrate.
	databaseURL := func(service string, s composeService, login string) {
		raw, ok := s.Environment[EnvDatabaseURL]
		if !ok {
			add("%s %s = unset, want a postgres:// URL", service, EnvDatabaseURL)
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			add("%s %s = %q, want a URL: %v", service, EnvDatabaseURL, raw, err)
			return
		}
		thing := service + " " + EnvDatabaseURL
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			add("%s scheme = %q, want \"postgres\"", thing, u.Scheme)
		}
		password, _ := u.User.Password()
		port := u.Port()
		if port == "" {
			port = "5432" // lib/pq's default
		}
		rows = append(rows,
			derived(thing+" database", strings.TrimPrefix(u.Path, "/"), DatabaseName),
			derived(thing+" user", u.User.Username(), login),
			derived(thing+" host", u.Hostname(), postgresService),
			derived(thing+" port", port, postgresContainerPort),
			// The postgres image serves no TLS; lib/pq requires it unless told otherwise.
			derived(thing+" sslmode", u.Query().Get("sslmode"), "disable"),
		)
		if u.User.Username() == pgUser {
			add("%s user = %q, the superuser, want Muster's own login %q", thing, pgUser, login)
		}
		if want, ok := roles[login]; !ok {
			add("role %s = not created by the init script, want created with a password", login)
		} else {
			rows = append(rows, derived(thing+" password", password, want))
		}
	}
	databaseURL(workerService, worker, musterAppLogin)
	databaseURL(migrateService, migrate, musterRole)
	rows = append(rows, env(worker, workerService, EnvMigrate, "false"))
	if got := strings.Join(migrate.Command, " "); !strings.HasSuffix(got, "muster migrate") {
		add("%s command = %q, want muster migrate", migrateService, got)
	}
	if migrate.Build == nil {
		add("%s build = none, want the workers' image, which holds the muster CLI", migrateService)
	}
	condition, ok := migrate.DependsOn[postgresService]
	rows = append(rows, row{thing: migrateService + " depends_on " + postgresService + " condition", got: condition, set: ok, want: "service_healthy"})
	condition, ok = worker.DependsOn[migrateService]
	rows = append(rows, row{thing: workerService + " depends_on " + migrateService + " condition", got: condition, set: ok, want: "service_completed_successfully"})

	// The worker's Temporal settings.
	_, defaultTemporalPort, err := net.SplitHostPort(DefaultTemporalAddress)
	if err != nil {
		add("DefaultTemporalAddress = %q, want host:port: %v", DefaultTemporalAddress, err)
	}
	workerTemporal, workerTemporalSet := worker.Environment["TEMPORAL_ADDRESS"]
	if !workerTemporalSet {
		add("%s TEMPORAL_ADDRESS = unset, want %s:%s", workerService, temporalService, defaultTemporalPort)
	} else if host, port, err := net.SplitHostPort(workerTemporal); err != nil {
		add("%s TEMPORAL_ADDRESS = %q, want host:port: %v", workerService, workerTemporal, err)
	} else {
		rows = append(rows,
			derived(workerService+" TEMPORAL_ADDRESS host", host, temporalService),
			derived(workerService+" TEMPORAL_ADDRESS port", port, defaultTemporalPort),
		)
	}
	rows = append(rows,
		env(worker, workerService, "TEMPORAL_NAMESPACE", DefaultNamespace),
		env(worker, workerService, EnvTaskQueue, DefaultTaskQueue),
	)

	// The Web UI, at the same address as in the demo and talking to the same server.
	uiHostPort := strconv.Itoa(DefaultUIPort)
	i := slices.IndexFunc(ui.Ports, func(p composePort) bool { return p.Published == uiHostPort })
	if i < 0 {
		add("%s published ports = %v, want host port %s", temporalUIService, ui.Ports, uiHostPort)
	} else {
		rows = append(rows, derived(
			fmt.Sprintf("%s host port %s container port", temporalUIService, uiHostPort),
			ui.Ports[i].Target, ui.Environment.or(temporalUIDefaultPort, "TEMPORAL_UI_PORT")))
	}
	if workerTemporalSet {
		rows = append(rows, env(ui, temporalUIService, "TEMPORAL_ADDRESS", workerTemporal))
	}

	// The worker's metrics: served on every interface in the container (a
	// loopback address would be unreachable from outside it) and published
	// on the port the worker uses outside containers.
	_, metricsPort, _ := net.SplitHostPort(DefaultMetricsAddr)
	if addr, ok := worker.Environment[EnvMetricsAddr]; !ok {
		add("%s %s = unset, want 0.0.0.0:%s", workerService, EnvMetricsAddr, metricsPort)
	} else if host, port, err := net.SplitHostPort(addr); err != nil || (host != "" && host != "0.0.0.0") {
		add("%s %s = %q, want 0.0.0.0:%s (reachable from outside the container)", workerService, EnvMetricsAddr, addr, metricsPort)
	} else if j := slices.IndexFunc(worker.Ports, func(p composePort) bool { return p.Target == port }); j < 0 {
		add("%s published ports = %v, want container port %s published", workerService, worker.Ports, port)
	} else {
		rows = append(rows, derived(workerService+" metrics host port", worker.Ports[j].Published, metricsPort))
	}

	// How the worker starts.
	condition, ok = worker.DependsOn[postgresService]
	rows = append(rows, row{thing: workerService + " depends_on " + postgresService + " condition", got: condition, set: ok, want: "service_healthy"})
	if _, ok := worker.DependsOn[temporalService]; !ok {
		add("%s depends_on %s = absent, want present", workerService, temporalService)
	}
	if worker.Build == nil {
		add("%s build = none, want a build from the repository's Dockerfile", workerService)
	} else {
		dockerfile := worker.Build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		path := filepath.Join(dir, worker.Build.Context, dockerfile)
		if filepath.IsAbs(dockerfile) {
			path = dockerfile
		}
		if !exists(path) {
			add("%s Dockerfile %s = missing, want an existing file", workerService, path)
		}
	}

	// Temporal's persistence: the postgres service, with its own databases.
	// DB, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER and POSTGRES_PWD are read by
	// the auto-setup image; SQL_* are their names in newer server images.
	plugin, _ := temporal.Environment.lookup("DB", "SQL_PLUGIN")
	if plugin != "postgres12" && plugin != "postgres12_pgx" {
		add("%s DB = %q, want \"postgres12\" or \"postgres12_pgx\"", temporalService, plugin)
	}
	seeds, seedsSet := temporal.Environment.lookup("POSTGRES_SEEDS", "SQL_HOST")
	seed, _, _ := strings.Cut(seeds, ",")
	dbPort, dbPortSet := temporal.Environment.lookup("DB_PORT", "SQL_PORT")
	dbUser, dbUserSet := temporal.Environment.lookup("POSTGRES_USER", "SQL_USER")
	dbPassword, dbPasswordSet := temporal.Environment.lookup("POSTGRES_PWD", "SQL_PASSWORD")
	rows = append(rows,
		row{thing: temporalService + " POSTGRES_SEEDS", got: strings.TrimSpace(seed), set: seedsSet, want: postgresService},
		row{thing: temporalService + " DB_PORT", got: dbPort, set: dbPortSet, want: postgresContainerPort},
		row{thing: temporalService + " POSTGRES_USER", got: dbUser, set: dbUserSet, want: temporalRole},
		derived(temporalService+" DEFAULT_NAMESPACE", temporal.Environment.or("default", "DEFAULT_NAMESPACE"), DefaultNamespace),
	)
	if want, ok := roles[temporalRole]; !ok {
		add("role %s = not created by the init script, want created with a password", temporalRole)
	} else {
		rows = append(rows, row{thing: temporalService + " POSTGRES_PWD", got: dbPassword, set: dbPasswordSet, want: want})
	}
	for _, db := range []struct{ def, key, newKey string }{
		{"temporal", "DBNAME", "SQL_DATABASE"},
		{"temporal_visibility", "VISIBILITY_DBNAME", "SQL_VISIBILITY_DATABASE"},
	} {
		if got := temporal.Environment.or(db.def, db.key, db.newKey); got == DatabaseName {
			add("%s %s = %q, want a database other than Muster's", temporalService, db.key, got)
		}
	}

	for _, r := range rows {
		switch {
		case !r.set:
			add("%s = unset, want %q", r.thing, r.want)
		case r.got != r.want:
			add("%s = %q, want %q", r.thing, r.got, r.want)
		}
	}
	return problems
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

func TestComposeMatchesDefaults(t *testing.T) {
	data, err := os.ReadFile(composeFilePath)
	if err != nil {
		t.Fatalf("read compose file: %v", err)
	}
	c, err := parseCompose(data)
	if err != nil {
		t.Fatalf("parse %s: %v", composeFilePath, err)
	}
	roles, err := initRoles(initSQLPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range composeProblems(c, filepath.Dir(composeFilePath), fileExists, roles) {
		t.Errorf("docker-compose.yml: %s", p)
	}
}

// composeFixture agrees with the defaults. It writes environments both as
// lists and as maps, and ports and depends_on in both syntaxes.
const composeFixture = `
services:
  postgres:
    image: postgres:15
    environment:
      - POSTGRES_USER=postgres
      - POSTGRES_PASSWORD=postgres
    healthcheck:
      test: pg_isready -U postgres
    ports:
      - "5432:5432"
  temporal-frontend:
    image: temporalio/server:1.29.7
    depends_on: [postgres]
    environment:
      - DB=postgres12
      - DB_PORT=5432
      - POSTGRES_SEEDS=postgres
      - POSTGRES_USER=temporal
      - POSTGRES_PWD=temporal
  temporal-ui:
    image: temporalio/ui:2.42.1
    depends_on: [temporal-frontend]
    environment:
      TEMPORAL_ADDRESS: "temporal-frontend:7233"
    ports:
      - target: 8080
        published: 8233
        host_ip: 127.0.0.1
  migrate:
    build:
      context: .
    command: ["/usr/local/bin/muster", "migrate"]
    environment:
      DATABASE_URL: postgresql://muster:muster@postgres/muster?connect_timeout=10&sslmode=disable
    depends_on:
      postgres:
        condition: "service_healthy"
  worker:
    build: .
    environment:
      - DATABASE_URL=postgres://muster_worker:muster_worker@postgres:5432/muster?sslmode=disable
      - MUSTER_MIGRATE=false
      - TEMPORAL_ADDRESS=temporal-frontend:7233
      - TEMPORAL_NAMESPACE=default
      - MUSTER_TASK_QUEUE=muster
      - MUSTER_METRICS_ADDR=0.0.0.0:9464
    ports:
      - "9464:9464"
    depends_on:
      postgres:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
      temporal-frontend:
        condition: service_started
`

func TestComposeChecksReportMismatches(t *testing.T) {
	const dir = "/repo"
	exists := func(path string) bool { return path == filepath.Join(dir, "Dockerfile") }

	tests := []struct {
		name     string
		old, new string // replacement in composeFixture; old must occur once
		want     string // part of the expected problem; empty for none
	}{
		{name: "fixture as is", want: ""},
		{name: "SQL_* persistence settings", old: "DB=postgres12", new: "SQL_PLUGIN=postgres12_pgx", want: ""},
		{name: "interpolated default", old: "POSTGRES_PWD=temporal", new: "POSTGRES_PWD=${PW:-temporal}", want: ""},
		{name: "interpolated default differs", old: "POSTGRES_PWD=temporal", new: "POSTGRES_PWD=${PW:-secret}", want: `temporal-frontend POSTGRES_PWD = "secret", want "temporal"`},
		{name: "service missing", old: "  worker:", new: "  runner:", want: `service "worker" = missing`},
		{name: "postgres healthcheck missing", old: "    healthcheck:\n      test: pg_isready -U postgres\n", new: "", want: "postgres healthcheck = none"},
		{name: "postgres healthcheck disabled", old: "test: pg_isready -U postgres", new: "disable: true", want: "postgres healthcheck = none"},
		{name: "Muster as the superuser", old: "//muster_worker:muster_worker@", new: "//postgres:postgres@", want: `worker DATABASE_URL user = "postgres", the superuser`},
		{name: "DATABASE_URL unparsable", old: "postgres://muster_worker:muster_worker@postgres:5432", new: "postgres://muster_worker:muster_worker@postgres:54x32", want: "worker DATABASE_URL = "},
		{name: "DATABASE_URL database", old: "5432/muster?", new: "5432/runbooks?", want: `worker DATABASE_URL database = "runbooks", want "muster"`},
		{name: "DATABASE_URL user", old: "//muster_worker:muster_worker@", new: "//admin:muster_worker@", want: `worker DATABASE_URL user = "admin", want "muster_worker"`},
		{name: "worker as the migrating login", old: "//muster_worker:muster_worker@", new: "//muster:muster@", want: `worker DATABASE_URL user = "muster", want "muster_worker"`},
		{name: "DATABASE_URL password", old: "//muster_worker:muster_worker@", new: "//muster_worker:hunter2@", want: `worker DATABASE_URL password = "hunter2", want "muster_worker"`},
		{name: "DATABASE_URL host", old: "@postgres:5432", new: "@localhost:5432", want: `worker DATABASE_URL host = "localhost", want "postgres"`},
		{name: "DATABASE_URL port", old: "@postgres:5432", new: "@postgres:15432", want: `worker DATABASE_URL port = "15432", want "5432"`},
		{name: "DATABASE_URL without sslmode", old: "?sslmode=disable", new: "", want: `worker DATABASE_URL sslmode = "", want "disable"`},
		{name: "DATABASE_URL unset", old: "      - DATABASE_URL=postgres://muster_worker:muster_worker@postgres:5432/muster?sslmode=disable\n", new: "", want: "worker DATABASE_URL = unset"},
		{name: "worker migrates", old: "MUSTER_MIGRATE=false", new: "MUSTER_MIGRATE=true", want: `worker MUSTER_MIGRATE = "true", want "false"`},
		{name: "worker MUSTER_MIGRATE unset", old: "      - MUSTER_MIGRATE=false\n", new: "", want: `worker MUSTER_MIGRATE = unset, want "false"`},
		{name: "migrate service missing", old: "\n  migrate:\n", new: "\n  setup:\n", want: `service "migrate" = missing`},
		{name: "migrate as the worker login", old: "//muster:muster@", new: "//muster_worker:muster_worker@", want: `migrate DATABASE_URL user = "muster_worker", want "muster"`},
		{name: "migrate as the superuser", old: "//muster:muster@", new: "//postgres:postgres@", want: `migrate DATABASE_URL user = "postgres", the superuser`},
		{name: "migrate password", old: "//muster:muster@", new: "//muster:hunter2@", want: `migrate DATABASE_URL password = "hunter2", want "muster"`},
		{name: "migrate database", old: "@postgres/muster?", new: "@postgres/runbooks?", want: `migrate DATABASE_URL database = "runbooks", want "muster"`},
		{name: "migrate command", old: `"/usr/local/bin/muster", "migrate"`, new: `"/usr/local/bin/muster", "status"`, want: `migrate command = "/usr/local/bin/muster status", want muster migrate`},
		{name: "migrate not built", old: "    build:\n      context: .\n", new: "    image: muster:dev\n", want: "migrate build = none"},
		{name: "migrate does not wait for postgres", old: `condition: "service_healthy"`, new: `condition: "service_started"`, want: `migrate depends_on postgres condition = "service_started", want "service_healthy"`},
		{name: "worker does not wait for migrate", old: "      migrate:\n        condition: service_completed_successfully\n", new: "", want: `worker depends_on migrate condition = unset, want "service_completed_successfully"`},
		{name: "worker waits for migrate to start only", old: "condition: service_completed_successfully", new: "condition: service_started", want: `worker depends_on migrate condition = "service_started", want "service_completed_successfully"`},
		{name: "metrics on loopback", old: "MUSTER_METRICS_ADDR=0.0.0.0:9464", new: "MUSTER_METRICS_ADDR=127.0.0.1:9464", want: `worker MUSTER_METRICS_ADDR = "127.0.0.1:9464", want 0.0.0.0:9464`},
		{name: "metrics unset", old: "      - MUSTER_METRICS_ADDR=0.0.0.0:9464\n", new: "", want: "worker MUSTER_METRICS_ADDR = unset"},
		{name: "metrics port not published", old: `      - "9464:9464"`, new: `      - "9465:9465"`, want: "worker published ports"},
		{name: "metrics published elsewhere", old: `      - "9464:9464"`, new: `      - "19464:9464"`, want: `worker metrics host port = "19464", want "9464"`},
		{name: "TEMPORAL_ADDRESS host", old: "- TEMPORAL_ADDRESS=temporal-frontend:7233", new: "- TEMPORAL_ADDRESS=localhost:7233", want: `worker TEMPORAL_ADDRESS host = "localhost", want "temporal-frontend"`},
		{name: "TEMPORAL_ADDRESS port", old: "- TEMPORAL_ADDRESS=temporal-frontend:7233", new: "- TEMPORAL_ADDRESS=temporal-frontend:7234", want: `worker TEMPORAL_ADDRESS port = "7234", want "7233"`},
		{name: "TEMPORAL_ADDRESS without port", old: "- TEMPORAL_ADDRESS=temporal-frontend:7233", new: "- TEMPORAL_ADDRESS=temporal", want: "worker TEMPORAL_ADDRESS = \"temporal\", want host:port"},
		{name: "TEMPORAL_NAMESPACE", old: "TEMPORAL_NAMESPACE=default", new: "TEMPORAL_NAMESPACE=prod", want: `worker TEMPORAL_NAMESPACE = "prod", want "default"`},
		{name: "MUSTER_TASK_QUEUE", old: "MUSTER_TASK_QUEUE=muster", new: "MUSTER_TASK_QUEUE=other", want: `worker MUSTER_TASK_QUEUE = "other", want "muster"`},
		{name: "MUSTER_TASK_QUEUE unset", old: "      - MUSTER_TASK_QUEUE=muster\n", new: "", want: `worker MUSTER_TASK_QUEUE = unset, want "muster"`},
		{name: "UI host port", old: "published: 8233", new: "published: 8080", want: "temporal-ui published ports = [8080->8080], want host port 8233"},
		{name: "UI container port", old: "target: 8080", new: "target: 8233", want: `temporal-ui host port 8233 container port = "8233", want "8080"`},
		{name: "UI TEMPORAL_ADDRESS", old: `TEMPORAL_ADDRESS: "temporal-frontend:7233"`, new: `TEMPORAL_ADDRESS: "temporal-frontend:7000"`, want: `temporal-ui TEMPORAL_ADDRESS = "temporal-frontend:7000", want "temporal-frontend:7233"`},
		{name: "worker waits for postgres to start only", old: "condition: service_healthy", new: "condition: service_started", want: `worker depends_on postgres condition = "service_started", want "service_healthy"`},
		{name: "worker does not wait for postgres", old: "      postgres:\n        condition: service_healthy\n", new: "", want: `worker depends_on postgres condition = unset, want "service_healthy"`},
		{name: "worker does not wait for temporal", old: "      temporal-frontend:\n        condition: service_started\n", new: "", want: "worker depends_on temporal-frontend = absent"},
		{name: "worker not built", old: "build: .", new: "image: muster:dev", want: "worker build = none"},
		{name: "worker Dockerfile missing", old: "build: .", new: "build: {context: ., dockerfile: Containerfile}", want: "worker Dockerfile /repo/Containerfile = missing"},
		{name: "temporal persistence", old: "DB=postgres12", new: "DB=mysql8", want: `temporal-frontend DB = "mysql8", want "postgres12" or "postgres12_pgx"`},
		{name: "temporal seeds", old: "POSTGRES_SEEDS=postgres", new: "POSTGRES_SEEDS=db", want: `temporal-frontend POSTGRES_SEEDS = "db", want "postgres"`},
		{name: "temporal DB_PORT", old: "DB_PORT=5432", new: "DB_PORT=3306", want: `temporal-frontend DB_PORT = "3306", want "5432"`},
		{name: "temporal DB_PORT unset", old: "      - DB_PORT=5432\n", new: "", want: `temporal-frontend DB_PORT = unset, want "5432"`},
		{name: "temporal password", old: "POSTGRES_PWD=temporal", new: "POSTGRES_PWD=muster", want: `temporal-frontend POSTGRES_PWD = "muster", want "temporal"`},
		{name: "temporal in Muster's database", old: "      - DB_PORT=5432\n", new: "      - DB_PORT=5432\n      - DBNAME=muster\n", want: `temporal-frontend DBNAME = "muster", want a database other than Muster's`},
		{name: "temporal namespace", old: "      - DB_PORT=5432\n", new: "      - DB_PORT=5432\n      - DEFAULT_NAMESPACE=prod\n", want: `temporal-frontend DEFAULT_NAMESPACE = "prod", want "default"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := composeFixture
			if tt.old != "" {
				if n := strings.Count(doc, tt.old); n != 1 {
					t.Fatalf("fixture contains %q %d times, want 1", tt.old, n)
				}
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			c, err := parseCompose([]byte(doc))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			problems := composeProblems(c, dir, exists, map[string]string{musterRole: "muster", musterAppLogin: "muster_worker", temporalRole: "temporal"})
			if tt.want == "" {
				for _, p := range problems {
					t.Errorf("unexpected problem: %s", p)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems = %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestComposeEnvironmentForms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want composeEnvironment
	}{
		{
			name: "map",
			yaml: "A: one\nB: 2\nC: true\nD:\nE: ''\n",
			want: composeEnvironment{"A": "one", "B": "2", "C": "true", "E": ""},
		},
		{
			name: "list",
			yaml: "- A=one\n- B=2=3\n- D\n- E=\n",
			want: composeEnvironment{"A": "one", "B": "2=3", "E": ""},
		},
		{
			name: "interpolation",
			yaml: "- A=${X:-x}\n- B=${X-y}/${Y}\n- C=$$HOME\n- D=${X:+z}\n",
			want: composeEnvironment{"A": "x", "B": "y/", "C": "$HOME", "D": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got composeEnvironment
			if err := yaml.Unmarshal([]byte(tt.yaml), &got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("environment = %v, want %v", got, tt.want)
			}
		})
	}

	var env composeEnvironment
	if err := yaml.Unmarshal([]byte("- A=${X:?set X}\n"), &env); err == nil {
		t.Errorf("environment with a required variable: error = nil, want one")
	}
}

// TestDockerfileHoldsCLI checks that the image the migrate service runs
// builds the command-center CLI (./starter, as muster) and installs it
// where the service's command looks.
func TestDockerfileHoldsCLI(t *testing.T) {
	data, err := os.ReadFile(composeFilePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCompose(data)
	if err != nil {
		t.Fatal(err)
	}
	migrate := c.Services[migrateService]
	if len(migrate.Command) == 0 || migrate.Build == nil {
		t.Fatalf("%s command = %q, build = %v; want muster migrate, built", migrateService, migrate.Command, migrate.Build)
	}
	dockerfile := migrate.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	df, err := os.ReadFile(filepath.Join(filepath.Dir(composeFilePath), migrate.Build.Context, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	bin := migrate.Command[0]
	built := regexp.MustCompile(`go build [^\n]*-o (\S+)/` + regexp.QuoteMeta(filepath.Base(bin)) + ` \./starter\b`).FindSubmatch(df)
	if built == nil {
		t.Fatalf("Dockerfile builds ./starter as %s = no", filepath.Base(bin))
	}
	copied := regexp.MustCompile(`(?m)^COPY --from=\S+ [^\n]*` + regexp.QuoteMeta(string(built[1])+"/"+filepath.Base(bin)) + `[^\n]* ` + regexp.QuoteMeta(filepath.Dir(bin)) + `/?$`)
	if !copied.Match(df) {
		t.Errorf("Dockerfile copies %s/%s to %s = no, want it where the %s command runs it", built[1], filepath.Base(bin), filepath.Dir(bin), migrateService)
	}
}

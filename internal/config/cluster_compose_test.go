package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/workflows"
)

// docker-compose.yml and `make cluster` (internal/devenv/cluster.go, the
// Makefile) describe one topology; these checks keep them in step.
const (
	initSQLPath  = "../../internal/devenv/cluster/postgres-init.sql"
	makefilePath = "../../Makefile"
	musterRole   = devenv.MusterRole
	temporalRole = devenv.TemporalRole
	// musterAppLogin is the workers' and the CLI's login in both, granted
	// muster_app.
	musterAppLogin = devenv.MusterAppLogin
)

// makeVariable matches a simple Makefile assignment: NAME := value.
var makeVariable = regexp.MustCompile(`(?m)^([A-Z_]+)\s*:?=\s*(\S+)\s*$`)

var createRole = regexp.MustCompile(`(?is)CREATE ROLE\s+(\w+)\s+([^;]*?)PASSWORD\s+'([^']*)'`)

// initRoles returns the roles the compose file's init script creates, with
// their passwords; a role created as a superuser is an error.
func initRoles(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	roles := map[string]string{}
	for _, m := range createRole.FindAllStringSubmatch(string(data), -1) {
		attrs := strings.ToUpper(m[2])
		if strings.Contains(strings.ReplaceAll(attrs, "NOSUPERUSER", ""), "SUPERUSER") || !strings.Contains(attrs, "NOSUPERUSER") {
			return nil, fmt.Errorf("%s: role %s must be created NOSUPERUSER", path, m[1])
		}
		roles[m[1]] = m[3]
	}
	return roles, nil
}

// clusterService is what the cluster checks read of a service.
type clusterService struct {
	Image       string             `yaml:"image"`
	Build       *composeBuild      `yaml:"build"`
	Volumes     []string           `yaml:"volumes"`
	Command     composeCommand     `yaml:"command"`
	Environment composeEnvironment `yaml:"environment"`
}

// saTypes names the search attribute types as the temporal CLI and the
// Makefile spell them.
var saTypes = map[enums.IndexedValueType]string{
	enums.INDEXED_VALUE_TYPE_KEYWORD:      "Keyword",
	enums.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
	enums.INDEXED_VALUE_TYPE_INT:          "Int",
	enums.INDEXED_VALUE_TYPE_TEXT:         "Text",
	enums.INDEXED_VALUE_TYPE_BOOL:         "Bool",
	enums.INDEXED_VALUE_TYPE_DOUBLE:       "Double",
	enums.INDEXED_VALUE_TYPE_DATETIME:     "Datetime",
}

// clusterProblems lists every way the compose file, its init script and
// the Makefile disagree with the native cluster.
func clusterProblems(compose, makefile []byte, repo string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var c struct {
		Services map[string]clusterService `yaml:"services"`
	}
	if err := yaml.Unmarshal(compose, &c); err != nil {
		return []string{err.Error()}
	}
	server := "temporalio/server:" + strings.TrimPrefix(devenv.TemporalServerVersion, "v")
	tools := "temporalio/admin-tools:" + strings.TrimPrefix(devenv.TemporalServerVersion, "v")
	ui := "temporalio/ui:" + strings.TrimPrefix(devenv.TemporalUIVersion, "v")

	// The four Temporal services, each its own, at the pinned release, on
	// the same dynamic configuration as the native cluster.
	for _, svc := range devenv.TemporalServices {
		name := "temporal-" + svc
		s, ok := c.Services[name]
		if !ok {
			add("service %s = missing, want one per Temporal service", name)
			continue
		}
		if s.Image != server {
			add("%s image = %q, want %q", name, s.Image, server)
		}
		if got := s.Environment["SERVICES"]; got != svc {
			add("%s SERVICES = %q, want %q", name, got, svc)
		}
		if got := s.Environment["POSTGRES_USER"]; got != temporalRole {
			add("%s POSTGRES_USER = %q, want Temporal's role %q", name, got, temporalRole)
		}
		path := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]
		mounted := ""
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == path {
				mounted = parts[0]
			}
		}
		if mounted == "" {
			add("%s DYNAMIC_CONFIG_FILE_PATH = %q, want a file mounted from the repository", name, path)
			continue
		}
		data, err := os.ReadFile(filepath.Join(repo, mounted))
		if err != nil {
			add("%s dynamic config %s: %v", name, mounted, err)
		} else if !bytes.Equal(data, devenv.DynamicConfig) {
			add("%s dynamic config %s = not the native cluster's, want internal/devenv/cluster/dynamicconfig.yaml", name, mounted)
		}
	}
	for _, name := range []string{"temporal-schema", "temporal-setup"} {
		if s, ok := c.Services[name]; !ok || s.Image != tools {
			add("%s image = %q, want %q", name, s.Image, tools)
		}
	}
	if s := c.Services[temporalUIService]; s.Image != ui {
		add("%s image = %q, want %q (the native cluster's UI server)", temporalUIService, s.Image, ui)
	}

	// Muster's search attributes: registered by the setup service and
	// by the Makefile's dev server, with the types the workflows use.
	setup := strings.Join(c.Services["temporal-setup"].Command, "\n")
	var names []string
	for n := range workflows.SearchAttributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		typ := saTypes[workflows.SearchAttributes[n]]
		if !strings.Contains(setup, "--name "+n+" --type "+typ+" ") {
			add("temporal-setup registers %s = no, want --name %s --type %s", n, n, typ)
		}
		if !bytes.Contains(makefile, []byte("--search-attribute "+n+"="+typ+" ")) && !bytes.HasSuffix(bytes.TrimSpace(makefile), []byte(n+"="+typ)) &&
			!bytes.Contains(makefile, []byte("--search-attribute "+n+"="+typ+"\n")) {
			add("Makefile SEARCH_ATTRS %s = missing, want %s=%s", n, n, typ)
		}
	}

	// Muster's migrations run as the login the native cluster migrates
	// with (the owner's); in both, the workers then log in as the
	// application login and do not migrate (MUSTER_MIGRATE=false).
	if u := c.Services[migrateService].Environment[EnvDatabaseURL]; !strings.Contains(u, "://"+musterRole+":") {
		add("%s %s = %q, want Muster's migrating role %q as in `make cluster`", migrateService, EnvDatabaseURL, RedactedDatabaseURL(u), musterRole)
	}

	// The Muster workers: as many as the native cluster runs, as its
	// application login, none migrating.
	workers := 0
	for name, s := range c.Services {
		if s.Build == nil || !strings.Contains(strings.Join(s.Command, " "), "muster-worker") {
			continue
		}
		workers++
		if u := s.Environment[EnvDatabaseURL]; !strings.Contains(u, "://"+musterAppLogin+":") {
			add("%s %s = %q, want the application login %q as in `make cluster`", name, EnvDatabaseURL, RedactedDatabaseURL(u), musterAppLogin)
		}
		if got := s.Environment[EnvMigrate]; got != "false" {
			add("%s %s = %q, want \"false\" as in `make cluster`: the migrate service migrates", name, EnvMigrate, got)
		}
	}
	if workers != devenv.ClusterWorkers {
		add("Muster workers = %d, want %d as in `make cluster`", workers, devenv.ClusterWorkers)
	}

	// The Makefile builds the same releases.
	expanded := makefile
	for _, m := range makeVariable.FindAllSubmatch(makefile, -1) {
		expanded = bytes.ReplaceAll(expanded, []byte("$("+string(m[1])+")"), m[2])
	}
	for _, pin := range []string{
		devenv.TemporalServerModule + "/cmd/server@" + devenv.TemporalServerVersion,
		devenv.TemporalServerModule + "/cmd/tools/sql@" + devenv.TemporalServerVersion,
		devenv.TemporalUIModule + "/cmd/server@" + devenv.TemporalUIVersion,
	} {
		if !bytes.Contains(expanded, []byte(pin+"\n")) {
			add("Makefile builds %s = no, want it pinned", pin)
		}
	}
	return problems
}

func TestComposeMatchesCluster(t *testing.T) {
	compose, err := os.ReadFile(composeFilePath)
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range clusterProblems(compose, makefile, "../..") {
		t.Errorf("docker-compose.yml vs make cluster: %s", p)
	}
	roles, err := initRoles(initSQLPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{musterRole, musterAppLogin, temporalRole} {
		if _, ok := roles[r]; !ok {
			t.Errorf("%s creates role %s = no, want it created", initSQLPath, r)
		}
	}
}

// The cluster checks catch what drifts.
func TestClusterChecksReportMismatches(t *testing.T) {
	compose, err := os.ReadFile(composeFilePath)
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		makefile bool
		want     string
	}{
		{name: "server version", old: "image: temporalio/server:1.29.7", new: "image: temporalio/server:1.29.1", want: `image = "temporalio/server:1.29.1"`},
		{name: "ui version", old: "image: temporalio/ui:2.42.1", new: "image: temporalio/ui:2.41.0", want: `temporal-ui image = "temporalio/ui:2.41.0"`},
		{name: "one service short", old: "SERVICES: matching", new: "SERVICES: history", want: `temporal-matching SERVICES = "history", want "matching"`},
		{name: "dynamic config elsewhere", old: "./internal/devenv/cluster/dynamicconfig.yaml:", new: "./Dockerfile:", want: "not the native cluster's"},
		{name: "search attribute missing", old: "--name MusterLevel --type Int ", new: "--name MusterLevel --type Keyword ", want: "temporal-setup registers MusterLevel = no"},
		{name: "one worker", old: "  worker-2:\n    <<: *muster-worker\n", new: "  worker-2:\n    image: busybox\n", want: "Muster workers = 1, want 2"},
		{name: "worker as superuser", old: "postgres://muster_worker:muster_worker@postgres:5432/muster?sslmode=disable\n      # The migrate service has migrated; this login could not anyway.\n      MUSTER_MIGRATE: \"false\"\n      TEMPORAL_ADDRESS: temporal-frontend:7233\n      TEMPORAL_NAMESPACE: default\n      MUSTER_TASK_QUEUE: muster\n      MUSTER_LOG_LEVEL: info\n      MUSTER_METRICS_ADDR: 0.0.0.0:9464\n    ports:\n      - \"127.0.0.1:9465", new: "postgres://postgres:postgres@postgres:5432/muster?sslmode=disable\n      TEMPORAL_ADDRESS: temporal-frontend:7233\n      TEMPORAL_NAMESPACE: default\n      MUSTER_TASK_QUEUE: muster\n      MUSTER_LOG_LEVEL: info\n      MUSTER_METRICS_ADDR: 0.0.0.0:9464\n    ports:\n      - \"127.0.0.1:9465", want: "worker-2 DATABASE_URL"},
		{name: "worker migrates", old: "      # The migrate service has migrated; this login could not anyway.\n      MUSTER_MIGRATE: \"false\"\n", new: "", want: "MUSTER_MIGRATE = \"\", want \"false\""},
		{name: "migrate as another login", old: "      DATABASE_URL: postgres://muster:muster@postgres:5432/muster?sslmode=disable\n    restart", new: "      DATABASE_URL: postgres://muster_worker:muster_worker@postgres:5432/muster?sslmode=disable\n    restart", want: "migrate DATABASE_URL"},
		{name: "makefile version", makefile: true, old: "TEMPORAL_SERVER_VERSION := v1.29.7", new: "TEMPORAL_SERVER_VERSION := v1.29.1", want: "Makefile builds go.temporal.io/server/cmd/server@v1.29.7 = no"},
		{name: "makefile attribute", makefile: true, old: "MusterStepState=Keyword", new: "MusterStepState=Text", want: "Makefile SEARCH_ATTRS MusterStepState = missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, mk := string(compose), string(makefile)
			target := &doc
			if tt.makefile {
				target = &mk
			}
			if !strings.Contains(*target, tt.old) {
				t.Fatalf("%q not found", tt.old)
			}
			*target = strings.Replace(*target, tt.old, tt.new, 1)
			problems := clusterProblems([]byte(doc), []byte(mk), "../..")
			found := false
			for _, p := range problems {
				found = found || strings.Contains(p, tt.want)
			}
			if !found {
				t.Errorf("problems = %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

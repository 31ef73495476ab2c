package layers

// Imports run one way: domain types at the bottom; the store, runbooks and
// scenarios above them; activities, then workflows; the services, the API
// and the binaries on top. A package may import only from layers below its
// own.

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/musterhq/muster/"

// layer places a package of the module: the higher the number, the higher
// the layer. Every package of the module must have one.
func layer(pkg string) (int, bool) {
	p := strings.TrimPrefix(pkg, module)
	switch {
	case p == "internal/domain":
		return 0, true
	case strings.HasPrefix(p, "internal/"):
		return 1, true
	case p == "activities":
		return 2, true
	case p == "workflows":
		return 3, true
	case strings.HasPrefix(p, "app/"):
		return 4, true
	case p == "starter" || p == "worker":
		return 5, true
	}
	return 0, false
}

// drivers are the packages only the store and the database test helpers
// may import: everything else reaches PostgreSQL through the store.
var drivers = []string{"database/sql", "github.com/jmoiron/sqlx", "github.com/lib/pq"}

var driverUsers = map[string]bool{
	module + "internal/store":  true,
	module + "internal/pgtest": true,
	module + "internal/devenv": true,
}

func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, imports := fields[0], fields[1:]
		from, ok := layer(pkg)
		if !ok {
			t.Errorf("%s has no layer: place it under internal/ (below workflows) or app/ (above them)", pkg)
			continue
		}
		for _, imp := range imports {
			for _, d := range drivers {
				if imp == d && !driverUsers[pkg] {
					t.Errorf("%s imports %s: only the store talks to the database", pkg, imp)
				}
			}
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to, _ := layer(imp)
			if to > from || (to == from && from >= 2 && from != 4 && imp != pkg) {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports run downwards only", pkg, from, imp, to)
			}
			if from == 0 {
				t.Errorf("%s imports %s: the domain package imports nothing of the module", pkg, imp)
			}
		}
	}
}

// TestOnlyTestsBypassTheStore fails for production code outside the store
// that calls the store's DB(): commands, services and the API read and
// write through the store's methods. Tests may check rows directly.
func TestOnlyTestsBypassTheStore(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	for _, path := range productionFiles(t, root) {
		rel, _ := filepath.Rel(root, path)
		if filepath.Dir(rel) == filepath.Join("internal", "store") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 0 {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "DB" {
					t.Errorf("%s calls %s.DB(): go through the store's methods", rel, exprString(sel.X))
				}
			}
			return true
		})
	}
}

// exprString names a receiver for a failure message.
func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "…"
}

// Package layers holds tests about the shape of the module as a whole: how
// large its units are and which way its imports run. It has no production
// code.
package layers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Limits a newcomer can read in one sitting. A unit may exceed them only if
// it says why, in a marker comment: "// long file: <reason>" near the top of
// a file, "// long: <reason>" on the line just above a func declaration.
const (
	maxFileLines = 600
	maxFuncLines = 80

	fileMarker = "// long file:"
	funcMarker = "// long:"

	// fileMarkerWindow is how many lines at the top of a file may hold the
	// file marker: enough for a package doc comment above the package
	// clause, or the file's own comment just below it.
	fileMarkerWindow = 30
)

// TestUnitSize fails for every production file longer than maxFileLines and
// every function longer than maxFuncLines that carries no marker with a reason.
func TestUnitSize(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	files := productionFiles(t, root)
	if len(files) == 0 {
		t.Fatalf("no Go files found under %s", root)
	}
	for _, path := range files {
		for _, problem := range sizeProblems(t, root, path) {
			t.Error(problem)
		}
	}
}

// moduleRoot walks up from the test's directory to the one holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// productionFiles lists the module's non-test Go files. It skips bin/ (built
// tools), testdata, vendor, hidden and underscore directories, and nested
// modules.
func productionFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				path == filepath.Join(root, "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sizeProblems parses one file and describes each unit in it that is too
// long and gives no reason.
func sizeProblems(t *testing.T, root, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if ast.IsGenerated(file) {
		// A generator's output is as long as its input makes it.
		return nil
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	lines := strings.Split(string(src), "\n")
	if strings.HasSuffix(string(src), "\n") {
		lines = lines[:len(lines)-1]
	}

	var problems []string
	if len(lines) > maxFileLines && !hasFileMarker(lines) {
		problems = append(problems, fmt.Sprintf(
			"%s:1: file has %d lines, limit %d (split it by concern, or give a reason with %q near its top)",
			rel, len(lines), maxFileLines, fileMarker+" <reason>"))
	}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start := fset.Position(fn.Pos()).Line
		end := fset.Position(fn.End()).Line
		length := end - start + 1
		if length <= maxFuncLines || hasFuncMarker(lines, start) {
			continue
		}
		problems = append(problems, fmt.Sprintf(
			"%s:%d: func %s has %d lines, limit %d (split it, or give a reason with %q on the line above)",
			rel, start, funcName(fn), length, maxFuncLines, funcMarker+" <reason>"))
	}
	return problems
}

// hasFileMarker reports whether one of the first lines of a file carries the
// file marker with a reason after it.
func hasFileMarker(lines []string) bool {
	for i := 0; i < len(lines) && i < fileMarkerWindow; i++ {
		if hasReason(lines[i], fileMarker) {
			return true
		}
	}
	return false
}

// hasFuncMarker reports whether the line just above the func declaration at
// line start (1-based) carries the function marker with a reason.
func hasFuncMarker(lines []string, start int) bool {
	above := start - 2
	return above >= 0 && hasReason(lines[above], funcMarker)
}

// hasReason reports whether line is the marker comment followed by some text.
func hasReason(line, marker string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), marker)
	return ok && strings.TrimSpace(rest) != ""
}

// funcName is "Name" for a function and "Recv.Name" for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	recv := fn.Recv.List[0].Type
	if star, ok := recv.(*ast.StarExpr); ok {
		recv = star.X
	}
	switch r := recv.(type) {
	case *ast.IndexExpr:
		recv = r.X
	case *ast.IndexListExpr:
		recv = r.X
	}
	if id, ok := recv.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// TestSizeProblems checks the checker: a unit one line over its limit is
// reported unless a marker with a reason stands where it belongs.
func TestSizeProblems(t *testing.T) {
	t.Parallel()
	longFunc := func(name string) string {
		return "func " + name + "() {\n" + strings.Repeat("\t_ = 0\n", maxFuncLines-1) + "}\n"
	}
	padding := func(lines int) string { return strings.Repeat("// padding\n", lines) }
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"short", "package p\n\n" + "func f() {}\n", nil},
		{"function too long", "package p\n\n" + longFunc("f"), []string{"x.go:3: func f has 81 lines, limit 80"}},
		{"function with reason", "package p\n\n// f does it all.\n// long: one table.\n" + longFunc("f"), nil},
		{"marker without reason", "package p\n\n// long:\n" + longFunc("f"), []string{"x.go:4: func f has 81 lines"}},
		{"marker not just above", "package p\n\n// long: one table.\n\n" + longFunc("f"), []string{"x.go:5: func f has 81 lines"}},
		{"method", "package p\n\ntype T struct{}\n\n" + strings.Replace(longFunc("f"), "func ", "func (T) ", 1), []string{"x.go:5: func T.f has 81 lines"}},
		{"file too long", "package p\n" + padding(maxFileLines), []string{"x.go:1: file has 601 lines, limit 600"}},
		{"file with reason", "package p\n\n// long file: one table of codes.\n" + padding(maxFileLines), nil},
		{"generated", "// Code generated by hand. DO NOT EDIT.\n\npackage p\n" + padding(maxFileLines), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.go")
			if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got := sizeProblems(t, dir, path)
			if len(got) != len(tc.want) {
				t.Fatalf("sizeProblems() = %q, want %d problems like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("sizeProblems()[%d] = %q, want it to start %q", i, got[i], w)
				}
			}
		})
	}
}

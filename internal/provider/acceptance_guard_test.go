package provider

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryAcceptanceTestIsGuarded: each TestAcc function begins with
// acctest.Acceptance(t), so `go test` without TF_ACC skips it by name
// (as resource.Test would) instead of starting Caddy, Git servers or
// image builds that a unit run has no use for.
func TestEveryAcceptanceTestIsGuarded(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "TestAcc") {
				continue
			}
			seen++
			if !guarded(fn) {
				t.Errorf("%s: %s does not begin with acctest.Acceptance(t)", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no TestAcc function found: the guard checks nothing")
	}
}

func guarded(fn *ast.FuncDecl) bool {
	if fn.Body == nil || len(fn.Body.List) == 0 {
		return false
	}
	stmt, ok := fn.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := stmt.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Acceptance" {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "acctest"
}

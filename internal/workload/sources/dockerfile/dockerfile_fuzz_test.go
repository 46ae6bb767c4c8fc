package dockerfile

import (
	"path"
	"strings"
	"testing"
	"unicode"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
)

// The fuzz targets of the plan-time rules of the dockerfile source's
// attributes. Each checks, for any input, that the rule does not panic,
// that a refusal names the attribute and quotes the value, and that an
// accepted value has the property the rule exists for, stated here without
// the rule's own code.

// insideRepo reports whether p, relative to the repository root, is a clean
// path that names the root or something below it.
func insideRepo(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}

func FuzzValidateContextPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateContextPath(p)
		if err != nil {
			refusal.Check(t, err, "context_path", p)
			return
		}
		if p != "" && !insideRepo(p) {
			t.Fatalf("accepted context_path %q leaves the repository", p)
		}
	})
}

func FuzzValidateDockerfilePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateDockerfilePath(p)
		if err != nil {
			refusal.Check(t, err, "dockerfile_path", p)
			return
		}
		if p == "" {
			return
		}
		// A file below the context, whatever the context.
		if !insideRepo(p) || p == "." || !strings.HasPrefix(path.Join("ctx", p), "ctx/") {
			t.Fatalf("accepted dockerfile_path %q is not a file inside the build context", p)
		}
	})
}

func FuzzValidateBuildArgName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateBuildArgName(name)
		if err != nil {
			refusal.Check(t, err, "build_args key", name)
			return
		}
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r == '=' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
			t.Fatalf("accepted build_args key %q cannot be one ARG name", name)
		}
	})
}

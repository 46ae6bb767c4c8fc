package git

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateRelPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p       string
		wantErr string
	}{
		{".", ""},
		{"Dockerfile", ""},
		{"services/web/Dockerfile.prod", ""},
		{"..foo/bar", ""}, // a name that starts with dots is not ".."
		{"", `context_path must not be empty (use "." for the repository root)`},
		{"../x", `context_path must be a relative path inside the repository (got "../x")`},
		{"..", `context_path must be a relative path inside the repository (got "..")`},
		{"a/../../x", `(got "a/../../x")`},
		{"a/../b", `(got "a/../b")`},
		{"/etc", `context_path must be a relative path inside the repository (got "/etc")`},
		{"./Dockerfile", `context_path must be a clean relative path (got "./Dockerfile", write "Dockerfile")`},
		{"a//b", `(got "a//b", write "a/b")`},
		{"web/", `(got "web/", write "web")`},
	} {
		err := ValidateRelPath("context_path", tc.p)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateRelPath(%q) = %v; want nil", tc.p, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ValidateRelPath(%q) = %v; want error containing %q", tc.p, err, tc.wantErr)
		}
	}
}

// TestWithinRefusesSymlinksOutOfTheRoot builds the symlinks a hostile
// repository could hold by hand (go-git's checkout re-roots absolute ones,
// so this is the only way to get a real link to /etc into a tree).
func TestWithinRefusesSymlinksOutOfTheRoot(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "clone")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "app"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "app", "Dockerfile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"etc":       "/etc",
		"up":        "../..",
		"sibling":   "../outside",
		"absinside": filepath.Join(root, "app"), // absolute, but inside
		"docker":    "app",
		"app/self":  "..",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// The root itself reached through a symlink must still work.
	rootLink := filepath.Join(base, "root-link")
	if err := os.Symlink(root, rootLink); err != nil {
		t.Fatal(err)
	}

	for _, rel := range []string{"etc", "etc/passwd", "up", "up/etc", "sibling", "app/self/sibling"} {
		if got, err := Within(rootLink, rel); err == nil {
			t.Errorf("Within(%q) = %q; want it refused", rel, got)
		} else if !strings.Contains(err.Error(), `"`+rel+`"`) {
			t.Errorf("Within(%q): error does not name the path: %v", rel, err)
		}
	}
	for rel, link := range map[string][2]string{
		"etc":              {"etc", "/etc"},
		"up":               {"up", "../.."},
		"up/etc":           {"up", "../.."},
		"sibling":          {"sibling", "../outside"},
		"app/self/sibling": {"sibling", "../outside"},
	} {
		want := fmt.Sprintf("path %q leads out of the clone: %q is a symlink to %q", rel, link[0], link[1])
		if _, err := Within(root, rel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Within(%q): %v; want %s", rel, err, want)
		}
	}
	for rel, want := range map[string]string{
		".":                       root,
		"app/Dockerfile":          filepath.Join(root, "app", "Dockerfile"),
		"docker/Dockerfile":       filepath.Join(root, "app", "Dockerfile"),
		"absinside":               filepath.Join(root, "app"),
		"app/self":                root,
		"app/self/app/Dockerfile": filepath.Join(root, "app", "Dockerfile"),
	} {
		realWant, _ := filepath.EvalSymlinks(want)
		if got, err := Within(rootLink, rel); err != nil || got != realWant {
			t.Errorf("Within(%q) = %q, %v; want %q", rel, got, err, realWant)
		}
	}
}

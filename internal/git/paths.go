package git

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// ValidateRelPath is the plan-time rule for a path into the repository
// (context_path, dockerfile_path): relative, clean, and without a ".."
// element. attr names the attribute in the error. It cannot see symlinks;
// Within checks those after the clone.
func ValidateRelPath(attr, p string) error {
	if p == "" {
		return fmt.Errorf("%s must not be empty (use \".\" for the repository root)", attr)
	}
	if strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
		return fmt.Errorf("%s must be a relative path inside the repository (got %q)", attr, p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return fmt.Errorf("%s must be a relative path inside the repository (got %q)", attr, p)
		}
	}
	if clean := path.Clean(p); clean != p {
		return fmt.Errorf("%s must be a clean relative path (got %q, write %q)", attr, p, clean)
	}
	return nil
}

// Within resolves rel inside root, following symlinks in both, and returns
// the absolute resolved path. It refuses a path that ends up outside root,
// such as a symlink in the repository pointing at /etc or at ../.., so that
// a repository cannot make the build read the host's files. The path must
// exist.
func Within(root, rel string) (string, error) {
	if err := ValidateRelPath("path", rel); err != nil {
		return "", err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolve repository root %s: %w", root, err)
	}
	realRoot, err := filepath.EvalSymlinks(absRoot)
	if err != nil {
		return "", fmt.Errorf("resolve repository root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realRoot, filepath.FromSlash(rel)))
	if err != nil {
		// The message of a failed lookup may name a symlink's target
		// outside the clone; name only rel.
		return "", fmt.Errorf("path %q does not exist in the repository (or is a broken symlink)", rel)
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q resolves outside the repository (through a symlink); refused", rel)
	}
	return real, nil
}

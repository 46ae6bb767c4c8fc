package git

import (
	"fmt"
	"os"
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
// the absolute resolved path. It refuses a path that leads out of root,
// such as a symlink in the repository pointing at /etc or at ../.., so that
// a repository cannot make the build read the host's files, and says which
// symlink does it. The path must exist.
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
	if err == nil && inside(realRoot, real) {
		return real, nil
	}
	if link, target, out := linkOut(realRoot, []string{absRoot, realRoot}, rel); out {
		return "", fmt.Errorf("path %q leads out of the clone: %q is a symlink to %q, outside the repository; refused", rel, link, target)
	}
	if err != nil {
		// The message of a failed lookup may name a symlink's target
		// outside the clone; name only rel.
		return "", fmt.Errorf("path %q does not exist in the repository (or is a broken symlink)", rel)
	}
	return "", fmt.Errorf("path %q resolves outside the repository (through a symlink); refused", rel)
}

// inside reports whether the absolute path p is root or under it.
func inside(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// maxLinks bounds the symlinks linkOut follows, as the kernel bounds a
// lookup (40 on Linux): more is a loop.
const maxLinks = 40

// linkOut walks rel inside root (resolved) one element at a time, following
// symlinks, and finds the one that leads out of root: a relative target
// that climbs above it, or an absolute target that does not resolve inside
// it. go-git checks an absolute target "/etc" out as "<clone>/etc" (clones
// are the paths the clone is known by), where it rarely exists: the
// repository meant the host's /etc. It returns the link's path in the
// repository and its target as the repository has it.
func linkOut(root string, clones []string, rel string) (link, target string, out bool) {
	pending := strings.Split(rel, "/")
	cur := "" // resolved so far, slash-separated, relative to root
	var via, viaTarget string
	for links := 0; len(pending) > 0; {
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return via, viaTarget, via != ""
			}
			cur = strings.TrimSuffix(path.Dir(cur), ".")
			continue
		}
		next := path.Join(cur, elem)
		full := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(full)
		if err != nil {
			return "", "", false
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", "", false
		}
		t, err := os.Readlink(full)
		if err != nil {
			return "", "", false
		}
		via, viaTarget = next, filepath.ToSlash(t)
		if !filepath.IsAbs(t) {
			cur = strings.TrimSuffix(path.Dir(next), ".")
			pending = append(strings.Split(viaTarget, "/"), pending...)
			continue
		}
		inClone, found := "", false
		for _, c := range clones {
			if inside(c, t) {
				inClone, found = filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(t, c), string(filepath.Separator))), true
				break
			}
		}
		if !found {
			return via, viaTarget, true
		}
		viaTarget = "/" + inClone
		if r, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(inClone))); err != nil || !inside(root, r) {
			return via, viaTarget, true
		}
		cur = ""
		pending = append(strings.Split(inClone, "/"), pending...)
	}
	return "", "", false
}

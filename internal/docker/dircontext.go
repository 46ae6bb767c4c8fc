package docker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// DirContext is a build context read from a directory, the way the docker
// CLI sends one: .dockerignore at the context root excludes paths
// (patterns relative to the root, "!" for exceptions, later patterns win),
// except that the Dockerfile and .dockerignore itself are always sent,
// since the builder reads them. Symlinks are stored as links, never
// followed: the builder resolves them inside the context. Files keep only
// whether they are executable (0755, else 0644), owned by root, as the CLI
// sends them.
//
// That is also what keeps the engine's layer cache working across fresh
// clones: both builders key a COPY on each file's content and header
// (name, mode, owner, size, link) but not its time, so a clone's new times
// reuse the cache while a mode or owner that varied with the umask of the
// process that checked it out would not. The times are the files' own, to
// the nanosecond: BuildKit sends again only the files whose size or time
// changed since the copy it holds.
type DirContext struct {
	// Dir is the context directory.
	Dir string
	// Dockerfile is the Dockerfile's path in Dir, slash-separated; "" when
	// the Dockerfile is not Dir's.
	Dockerfile string
	// Exclude are .dockerignore patterns (relative to Dir) added to those
	// of Dir's own .dockerignore, e.g. ".git" for files that are published.
	Exclude []string
	// Prefix, when set, puts Dir's entries under this directory of the
	// context ("site").
	Prefix string
	// Skip leaves out the entries it names (their context names): the
	// caller puts files of its own there.
	Skip func(name string) bool
	// Root, when set, is a go-git checkout holding Dir: go-git checks an
	// absolute symlink target "/etc" out as "<Root>/etc", and the link is
	// listed as the repository has it, "/etc", so that the image holds
	// the repository's link and no path of this host.
	Root string
}

// Files lists the context's entries, Dir's walk order; contents are read
// when a build sends them.
func (d DirContext) Files() ([]ContextFile, error) {
	excludes, err := readDockerignore(d.Dir)
	if err != nil {
		return nil, err
	}
	excludes = append(excludes, d.Exclude...)
	pm, err := alwaysSend(excludes, d.Dockerfile)
	if err != nil {
		return nil, err
	}
	var files []ContextFile
	if d.Prefix != "" {
		files = append(files, ContextFile{Name: d.Prefix, Mode: fs.ModeDir | 0o755, ModTime: time.Unix(0, 0)})
	}
	root := ""
	if d.Root != "" {
		root = filepath.Clean(d.Root)
	}
	parents := map[string]patternmatcher.MatchInfo{}
	err = filepath.WalkDir(d.Dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.Dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		name := path.Join(d.Prefix, rel)
		if d.Skip != nil && d.Skip(name) {
			return nil
		}
		skip, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf(".dockerignore: match %s: %w", rel, err)
		}
		if de.IsDir() {
			parents[rel] = info
		}
		if skip {
			if de.IsDir() && !exceptionInside(pm, rel) {
				return filepath.SkipDir
			}
			// An excluded directory with an exception inside is walked,
			// but only the excepted entries are sent, as the CLI does.
			return nil
		}
		f, ok, err := contextEntry(p, de, root)
		if err != nil || !ok {
			return err
		}
		f.Name = name
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return files, nil
}

// within resolves rel inside dir, following symlinks; a path that leads out
// of dir is an error.
func within(dir, rel string) (string, error) {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realDir, rel))
	if err != nil {
		return "", err
	}
	if real != realDir && !strings.HasPrefix(real, realDir+string(filepath.Separator)) {
		return "", fmt.Errorf("%s leads out of %s", rel, dir)
	}
	return real, nil
}

// readDockerignore reads the patterns of dir/.dockerignore; none when there
// is none. A .dockerignore that is a symlink out of the context is refused,
// so that a repository cannot make the build read a file of the host.
func readDockerignore(dir string) ([]string, error) {
	if _, err := os.Lstat(filepath.Join(dir, ".dockerignore")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	real, err := within(dir, ".dockerignore")
	if err != nil {
		return nil, errors.New(".dockerignore is a symlink that is broken or resolves outside the build context; refused")
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return patterns, nil
}

// alwaysSend compiles the exclude patterns with exceptions for the
// Dockerfile and .dockerignore when the patterns would exclude them (the
// CLI's TrimBuildFilesFromExcludes).
func alwaysSend(excludes []string, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	for _, keep := range []string{".dockerignore", dockerfile} {
		if keep == "" {
			continue
		}
		pm, err := patternmatcher.New(excludes)
		if err != nil {
			return nil, fmt.Errorf("invalid .dockerignore: %w", err)
		}
		if excluded, _ := pm.MatchesOrParentMatches(keep); excluded {
			excludes = append(excludes, "!"+keep)
		}
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, fmt.Errorf("invalid .dockerignore: %w", err)
	}
	return pm, nil
}

// exceptionInside reports whether an exception pattern may match something
// under the excluded directory dir, so that the walk cannot skip it.
func exceptionInside(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// contextEntry is one file, directory or symlink of the context. Other
// kinds (sockets, devices) cannot come from a Git checkout and are left
// out (false).
func contextEntry(p string, d fs.DirEntry, root string) (ContextFile, bool, error) {
	fi, err := d.Info()
	if err != nil {
		return ContextFile{}, false, err
	}
	f := ContextFile{ModTime: fi.ModTime()}
	// Git records only whether a file is executable; the checkout's
	// permissions otherwise depend on the umask of this process.
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(p)
		if err != nil {
			return f, false, err
		}
		if root != "" && (link == root || strings.HasPrefix(link, root+"/")) {
			link = "/" + strings.TrimPrefix(strings.TrimPrefix(link, root), "/")
		}
		f.Mode, f.Link = fs.ModeSymlink|0o777, link
	case fi.IsDir():
		f.Mode = fs.ModeDir | 0o755
	case fi.Mode().IsRegular():
		f.Mode, f.Size = 0o644, fi.Size()
		if fi.Mode()&0o111 != 0 {
			f.Mode = 0o755
		}
		f.Open = func() (io.ReadCloser, error) { return os.Open(p) }
	default:
		return f, false, nil
	}
	return f, true, nil
}

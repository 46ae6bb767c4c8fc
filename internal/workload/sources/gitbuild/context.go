package gitbuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
)

// WriteBuildContext writes the build context at dir to w as a tar stream,
// the way the docker CLI sends one: .dockerignore at the context root
// excludes paths (patterns relative to the root, "!" for exceptions, later
// patterns win), except that the Dockerfile (dockerfile, relative to dir)
// and .dockerignore itself are always sent, since the builder reads them.
// Symlinks are stored as links, never followed: the builder resolves them
// inside the context. Files keep what Git records of their mode (executable
// or not), owned by root, as the CLI sends them.
//
// That is also what keeps the engine's layer cache working across fresh
// clones: the classic builder keys a COPY on a checksum of each file's
// content and tar header (name, mode, owner, size, link) but not its mtime
// (tarsum version 1), so a clone's new mtimes reuse the cache while a mode
// or owner that varied with this process's umask would not. A commit that
// changes one file rebuilds the layers from its COPY on, and no earlier one
// (TestProduceOneFileCommitReusesTheCachedLayers).
//
// It writes as it walks, so the caller can stream it (io.Pipe) without the
// whole context in memory.
func WriteBuildContext(w io.Writer, dir, dockerfile string) error {
	return writeContext(w, Context{Dir: dir, Dockerfile: dockerfile}, "")
}

// writeContext is WriteBuildContext for a context inside the go-git
// checkout at clone: bc.Files, generated, are sent first, in name order, in
// place of any file of the same name; bc.Dir's entries follow, under
// bc.Prefix, minus what .dockerignore and bc.Exclude exclude. go-git checks
// an absolute symlink target "/etc" out as "<clone>/etc"; the link is sent
// as the repository has it, "/etc", so that the image holds the
// repository's link and no path of this host.
func writeContext(w io.Writer, bc Context, clone string) error {
	dir, extra := bc.Dir, bc.Files
	excludes, err := readDockerignore(dir)
	if err != nil {
		return err
	}
	excludes = append(excludes, bc.Exclude...)
	dockerfile := bc.Dockerfile
	if bc.Prefix != "" || extra[dockerfile] != nil {
		dockerfile = "" // not in dir: nothing of dir must be kept for it
	}
	pm, err := alwaysSend(excludes, dockerfile)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	writeDir := func(name string) error {
		if name == "." || name == "" || dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)})
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		for _, parent := range parentsOf(name) {
			if err := writeDir(parent); err != nil {
				return fmt.Errorf("build context: %s: %w", parent, err)
			}
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(extra[name])), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
		if _, err := tw.Write(extra[name]); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
	}
	if bc.Prefix != "" {
		for _, parent := range append(parentsOf(bc.Prefix), bc.Prefix) {
			if err := writeDir(parent); err != nil {
				return fmt.Errorf("build context: %s: %w", parent, err)
			}
		}
	}
	parents := map[string]patternmatcher.MatchInfo{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if _, generated := extra[path.Join(bc.Prefix, rel)]; generated {
			return nil
		}
		skip, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf(".dockerignore: match %s: %w", rel, err)
		}
		if d.IsDir() {
			parents[rel] = info
		}
		if skip {
			if d.IsDir() && !exceptionInside(pm, rel) {
				return filepath.SkipDir
			}
			// An excluded directory with an exception inside is walked,
			// but only the excepted entries are sent, as the CLI does.
			return nil
		}
		return addEntry(tw, p, rel, path.Join(bc.Prefix, rel), d, clone)
	})
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

// parentsOf lists the directories above a slash path, outermost first:
// "a/b/c" -> "a", "a/b".
func parentsOf(name string) []string {
	var out []string
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		out = append([]string{dir}, out...)
	}
	return out
}

// readDockerignore reads the patterns of dir/.dockerignore; none when there
// is none. A .dockerignore that is a symlink out of the context is refused,
// so that a repository cannot make the build read a file of the host.
func readDockerignore(dir string) ([]string, error) {
	if _, err := os.Lstat(filepath.Join(dir, ".dockerignore")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	real, err := git.Within(dir, ".dockerignore")
	if err != nil {
		// Within's words say "repository"; here the root is the context.
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

// addEntry writes one file, directory or symlink. Other kinds (sockets,
// devices) cannot come from a Git checkout and are left out.
func addEntry(tw *tar.Writer, p, rel, name string, d fs.DirEntry, clone string) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	var link string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
		if clone != "" && (link == clone || strings.HasPrefix(link, clone+"/")) {
			link = "/" + strings.TrimPrefix(strings.TrimPrefix(link, clone), "/")
		}
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	hdr.Name = name
	// Git records only whether a file is executable; the checkout's
	// permissions otherwise depend on the umask of this process.
	switch {
	case fi.IsDir():
		hdr.Name += "/"
		hdr.Mode = 0o755
	case link != "":
		hdr.Mode = 0o777
	case fi.Mode()&0o111 != 0:
		hdr.Mode = 0o755
	default:
		hdr.Mode = 0o644
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.ModTime = fi.ModTime().Truncate(time.Second)
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

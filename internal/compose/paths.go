package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Relative paths resolve as the docker compose CLI resolves them: from the
// project directory, which is the folder of the first compose file (the CLI's
// --project-directory default); inside a file that `include:` or `extends:`
// brings in, from that file's own folder (compose-go does this). What the
// provider reads or sends to the engine must stay inside the checkout: compose
// files, included and extended files, `.env`, `env_file`, `label_file` and
// build contexts. A symbolic link counts where it leads. Bind mounts are
// paths of the Docker host, which the provider does not read: they are left
// as compose resolves them.

// checkout is the checkout a project is loaded from: the boundary of what
// it may read.
type checkout struct {
	dir string // as given (clean, absolute)
	// real is dir with its symbolic links resolved.
	real string
}

func newCheckout(dir string) (checkout, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return checkout{}, fmt.Errorf("checkout: %w", errors.Unwrap(err))
	}
	return checkout{dir: dir, real: real}, nil
}

// inside reports whether path, with its symbolic links resolved as far as
// it exists, lies inside the checkout.
func (c checkout) inside(path string) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	path = filepath.Clean(path)
	if !within(c.dir, path) {
		return false
	}
	return within(c.real, resolveExisting(path))
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// resolveExisting resolves the symbolic links of the longest part of path
// that exists, and keeps the rest as written.
func resolveExisting(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if filepath.Dir(p) == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// rel is path relative to the checkout, for messages; path itself when it
// is outside.
func (c checkout) rel(path string) string {
	if r, err := filepath.Rel(c.dir, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}

// fileGuard keeps compose-go from reading `include:` and `extends:` files
// outside the checkout. It is a ResourceLoader tried before compose-go's
// own local loader that takes only paths outside the checkout (Accept) and
// fails their Load, so that they are never read: absolute ones, and
// included ones, whose folder compose-go announces just before (listen).
// A relative extends file resolves from a folder compose-go does not
// announce: it is checked after the load (check), before anything of the
// project is used.
type fileGuard struct {
	co         checkout
	projectDir string

	mu sync.Mutex
	// includes are the included files, absolute.
	includes []string
	// refuse are include paths as written that the last include event
	// resolved outside the checkout: Accept takes them, so they are never
	// read.
	refuse map[string]bool
	// bases are the project directories seen: the project's and every
	// included project's.
	bases []string
	// extends are the relative extends files.
	extends []string
}

func newFileGuard(co checkout, projectDir string) *fileGuard {
	return &fileGuard{co: co, projectDir: projectDir, bases: []string{projectDir}, refuse: map[string]bool{}}
}

// abs makes a folder compose-go names (relative to the project directory
// for nested projects) absolute.
func (g *fileGuard) abs(dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(g.projectDir, dir)
}

// listen is a compose-go Listener: an `include` event names the including
// project's folder and the included files, the first of which sets the
// included project's directory; an `extends` event names the file.
func (g *fileGuard) listen(event string, metadata map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch event {
	case "include":
		wd, _ := metadata["workingdir"].(string)
		paths, _ := metadata["path"].(types.StringList)
		for i, written := range paths {
			p := written
			if !filepath.IsAbs(p) {
				p = filepath.Join(g.abs(wd), p)
			}
			if !g.co.inside(p) {
				g.refuse[written] = true
			}
			g.includes = append(g.includes, p)
			if i == 0 {
				g.bases = append(g.bases, filepath.Dir(p))
			}
		}
	case "extends":
		if f, ok := metadata["file"].(string); ok && f != "" && !filepath.IsAbs(f) {
			g.extends = append(g.extends, f)
		}
	}
}

// Accept takes an absolute local path outside the checkout, and an
// included path that its include event resolved outside.
func (g *fileGuard) Accept(path string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refuse[path] || filepath.IsAbs(path) && !g.co.inside(path)
}

func (g *fileGuard) Load(_ context.Context, path string) (string, error) {
	return "", fmt.Errorf("%s is outside the checkout: include and extends read files of the repository only", path)
}

func (g *fileGuard) Dir(path string) string { return filepath.Dir(path) }

// check refuses an included file outside the checkout, and a relative
// extends file that no project directory seen keeps inside it (compose-go
// resolves it from the directory of the project whose file declares it).
func (g *fileGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.includes {
		if !g.co.inside(f) {
			return fmt.Errorf("include %q is outside the checkout", g.co.rel(f))
		}
	}
	for _, f := range g.extends {
		ok := false
		for _, b := range g.bases {
			ok = ok || g.co.inside(filepath.Join(b, f))
		}
		if !ok {
			return fmt.Errorf("extends file %q is outside the checkout", f)
		}
	}
	return nil
}

var _ loader.ResourceLoader = (*fileGuard)(nil)

// checkReads refuses a project that reads outside the checkout: a build
// context (and its additional contexts), an env_file or a label_file. It
// runs before env_file and label_file are read.
func (c checkout) checkReads(p *types.Project) error {
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for _, f := range s.EnvFiles {
			if !c.inside(f.Path) {
				return fmt.Errorf("service %s: env_file %q is outside the checkout", name, c.rel(f.Path))
			}
		}
		for _, f := range s.LabelFiles {
			if !c.inside(f) {
				return fmt.Errorf("service %s: label_file %q is outside the checkout", name, c.rel(f))
			}
		}
		if s.Build == nil {
			continue
		}
		if s.Build.Context == "" || strings.Contains(s.Build.Context, "://") || strings.HasPrefix(s.Build.Context, "git@") {
			return fmt.Errorf("service %s: build context %q: only a directory of the checkout can be built", name, s.Build.Context)
		}
		if !c.inside(s.Build.Context) {
			return fmt.Errorf("service %s: build context %q is outside the checkout", name, c.rel(s.Build.Context))
		}
		for ctxName, dir := range s.Build.AdditionalContexts {
			if !strings.Contains(dir, "://") && !strings.HasPrefix(dir, types.ServicePrefix) && !c.inside(dir) {
				return fmt.Errorf("service %s: build additional context %s %q is outside the checkout", name, ctxName, c.rel(dir))
			}
		}
	}
	return nil
}

// checkFile refuses a file compose would read that is not a regular file
// inside the checkout (a symbolic link leading out of it included).
func (c checkout) checkFile(path string) error {
	if !c.inside(path) {
		return fmt.Errorf("%s leads outside the checkout", c.rel(path))
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w", c.rel(path), errors.Unwrap(err))
	}
	return nil
}

package gitbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// A source whose Repo has a Path builds a local directory (path) instead
// of a commit: its revision is the hash of what a build sends of it, taken
// at plan (Resolve), so that a change of any file the build context
// includes shows in the plan and redeploys, and a change of a file
// .dockerignore leaves out does not. The deploy builds the directory as it
// is, once its hash is still the planned one. Paths inside it are checked
// as in a clone: a symlink that leads out of the directory is refused.

// dirRevisionPrefix starts a local directory's revision, as image digests
// do: "sha256:<64 hex>".
const dirRevisionPrefix = "sha256:"

var dirRevision = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// IsDirRevision reports whether rev is a local directory's revision.
func IsDirRevision(rev string) bool { return dirRevision.MatchString(rev) }

// Resolve is the revision a deploy would build now: the Git remote's
// (Repo.Resolve), or a local directory's hash.
func (b Build) Resolve(ctx context.Context) (string, error) {
	if b.Repo.Path == "" {
		return b.Repo.Resolve(ctx)
	}
	_, _, rev, err := b.local()
	return rev, err
}

// Origin is what Resolve looks at: the Git remote and what it follows;
// for a local directory, the directory and what locates the context in it
// (the build's inputs), which a revision resolved earlier must share.
func (b Build) Origin() string {
	if b.Repo.Path == "" {
		return b.Repo.Origin()
	}
	in, _ := json.Marshal(b.Inputs) // strings, maps and ints always encode
	return b.Repo.Origin() + "|" + string(in)
}

// local is the build context of the local directory and its revision.
func (b Build) local() (Context, []docker.ContextFile, string, error) {
	dir, err := filepath.Abs(b.Repo.Path)
	if err != nil {
		return Context{}, nil, "", fmt.Errorf("path %q: %w", b.Repo.Path, err)
	}
	if fi, err := lstatDir(dir); err != nil || !fi {
		return Context{}, nil, "", fmt.Errorf("path %q is not a directory (from the provider's working directory, where terraform runs)", b.Repo.Path)
	}
	bc, err := b.Context(dir)
	if err != nil {
		return Context{}, nil, "", fmt.Errorf("path %q: %w", b.Repo.Path, err)
	}
	own := bc
	own.Files, own.Prefix = nil, ""
	sent, err := ContextFiles(own, "")
	if err != nil {
		return Context{}, nil, "", fmt.Errorf("path %q: the build context of %s: %w", b.Repo.Path, bc.Describe, err)
	}
	rev, err := hashContext(sent)
	if err != nil {
		return Context{}, nil, "", fmt.Errorf("path %q: %w", b.Repo.Path, err)
	}
	files, err := ContextFiles(bc, "")
	if err != nil {
		return Context{}, nil, "", fmt.Errorf("path %q: the build context of %s: %w", b.Repo.Path, bc.Describe, err)
	}
	return bc, files, rev, nil
}

// hashContext hashes a build context as the builders see it: each entry's
// name, type and mode, a link's target, a file's content.
func hashContext(files []docker.ContextFile) (string, error) {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", f.Name, uint32(f.Mode), f.Link)
		if f.Open == nil {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f.Name, err)
		}
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f.Name, err)
		}
		h.Write([]byte("\x00" + strconv.FormatInt(n, 10) + "\x00"))
	}
	return dirRevisionPrefix + hex.EncodeToString(h.Sum(nil)), nil
}

// produceLocal builds the local directory, once its content is still the
// planned revision (env.Revision; "" takes it as it is).
func (b Build) produceLocal(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	bc, files, rev, err := b.local()
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("%s: %w", b.Kind, err)
	}
	if env.Revision != "" && env.Revision != rev {
		return plugin.Artifact{}, fmt.Errorf("%s: path %q changed since the plan (planned %s, now %s): run terraform plan again",
			b.Kind, b.Repo.Path, env.Revision, rev)
	}
	art, done, err := b.prebuilt(ctx, env, rev)
	if done || err != nil {
		return art, err
	}
	logger(env).InfoContext(ctx, "building the local directory", "workload", env.Workload, "path", b.Repo.Path, "revision", rev)
	return b.buildArtifact(ctx, env, art, files, bc)
}

// lstatDir reports whether p is a directory (following symlinks).
func lstatDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

package dockerfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Labels of the images this source builds. The first two are the keys the
// engine puts on containers (workload.LabelWorkload, workload.LabelCommit;
// a test keeps them equal); LabelBuilt tells Prune that an image is one of
// ours to remove, not one the user tagged by hand.
const (
	labelWorkload = "tinyforge.workload"
	labelCommit   = "tinyforge.commit"
	LabelBuilt    = "tinyforge.built"
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ImageTag is the tag a build of commit gets: tinyforge/<workload>:<first
// 12 hex of the commit>-<8 hex of what else makes the build>. A redeploy of
// the same commit with the same build finds it and skips the build; a
// change of context_path, dockerfile_path or build_args builds anew.
func (c *Config) ImageTag(workload, commit string) string {
	d := c.withDefaults()
	b, err := json.Marshal(struct {
		ContextPath    string            `json:"context_path"`
		DockerfilePath string            `json:"dockerfile_path"`
		BuildArgs      map[string]string `json:"build_args"`
	}{d.ContextPath, d.DockerfilePath, d.BuildArgs})
	if err != nil {
		panic(fmt.Sprintf("dockerfile source: encode build inputs: %v", err)) // strings always encode
	}
	sum := sha256.Sum256(b)
	short := commit
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("tinyforge/%s:%s-%s", workload, short, hex.EncodeToString(sum[:4]))
}

// Produce implements plugin.Source: build exactly env.Revision (the
// branch's head now when it is "") unless its image is already on the
// Docker host. Nothing running is touched.
func (c *Config) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := c.Validate(); err != nil {
		return plugin.Artifact{}, err
	}
	d := c.withDefaults()
	log := logger(env).With("workload", env.Workload)
	commit := env.Revision
	if commit == "" {
		var err error
		if commit, err = d.Resolve(ctx); err != nil {
			return plugin.Artifact{}, err
		}
		log.InfoContext(ctx, "no planned commit, building the branch head", "branch", d.Branch, "commit", commit)
	}
	if !fullSHA.MatchString(commit) {
		return plugin.Artifact{}, fmt.Errorf("dockerfile source: the revision to build must be a full 40-character commit SHA (got %q)", commit)
	}
	tag := d.ImageTag(env.Workload, commit)
	art := plugin.Artifact{Image: tag, Revision: commit}

	img, err := env.Images.InspectImage(ctx, tag)
	switch {
	case err == nil && builtBy(img, env.Workload, commit):
		log.InfoContext(ctx, "image of this commit already built, not cloning or building", "image", tag, "commit", commit)
		art.ImageID = img.ID
		return art, nil
	case err == nil:
		log.InfoContext(ctx, "an image not built by this source holds the tag, rebuilding", "image", tag)
	case !errors.Is(err, docker.ErrNotFound):
		return plugin.Artifact{}, fmt.Errorf("dockerfile source: inspect image %s: %w", tag, err)
	}

	log.InfoContext(ctx, "cloning", "branch", d.Branch, "commit", commit)
	checkout, err := git.Clone(ctx, d.repo(), commit, func(line string) {
		log.InfoContext(ctx, "clone: "+line)
	})
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("dockerfile source: %w", err)
	}
	defer func() {
		if err := checkout.Close(); err != nil {
			log.WarnContext(ctx, "could not remove the clone", "error", err.Error())
		}
	}()

	contextDir, dockerfile, err := d.locate(checkout.Dir)
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("dockerfile source: at commit %s: %w", commit, err)
	}
	art.ImageID, err = d.build(ctx, env.Images, log, checkout.Dir, contextDir, dockerfile, tag, env.Workload, commit)
	if err != nil {
		return plugin.Artifact{}, err
	}
	log.InfoContext(ctx, "image built", "image", tag, "image_id", art.ImageID, "commit", commit)
	return art, nil
}

// builtBy reports whether img is this source's build of commit for
// workload, so that an image the user happened to tag alike is not taken
// for one.
func builtBy(img docker.Image, workload, commit string) bool {
	return img.Labels[LabelBuilt] == "true" && img.Labels[labelWorkload] == workload && img.Labels[labelCommit] == commit
}

// locate resolves context_path and dockerfile_path inside the clone at
// root, following symlinks, and returns the build context directory and
// the Dockerfile's path relative to it. A symlink may not lead out of the
// clone, nor the Dockerfile out of the context: the build must read only
// the repository.
func (c Config) locate(root string) (contextDir, dockerfile string, err error) {
	contextDir, err = git.Within(root, c.ContextPath)
	if err != nil {
		return "", "", fmt.Errorf("context_path %q: %w", c.ContextPath, err)
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("context_path %q is not a directory in the repository", c.ContextPath)
	}
	inRepo := path.Join(c.ContextPath, c.DockerfilePath)
	file, err := git.Within(root, inRepo)
	if err != nil {
		return "", "", fmt.Errorf("dockerfile_path %q: %w", c.DockerfilePath, err)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("dockerfile_path %q (%s in the repository) is not a file", c.DockerfilePath, inRepo)
	}
	rel, err := filepath.Rel(contextDir, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", "", fmt.Errorf("dockerfile_path %q resolves outside context_path %q (through a symlink): the Dockerfile must be inside the build context",
			c.DockerfilePath, c.ContextPath)
	}
	return contextDir, filepath.ToSlash(rel), nil
}

// errBuildEnded stops the context writer when the engine stopped reading.
var errBuildEnded = errors.New("the build ended before the context was sent")

// build streams the context at dir, inside the clone, to the engine and
// builds it, logging the build's output as it comes. It returns the image
// ID.
func (c Config) build(ctx context.Context, images plugin.ImageHost, log *slog.Logger, clone, dir, dockerfile, tag, workload, commit string) (string, error) {
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := writeContext(pw, dir, dockerfile, filepath.Clean(clone))
		pw.CloseWithError(err) // nil: EOF for the engine
		sent <- err
	}()
	log.InfoContext(ctx, "building", "image", tag, "dockerfile", dockerfile, "context_path", c.ContextPath)
	id, err := images.BuildImage(ctx, docker.BuildSpec{
		Context:    pr,
		Dockerfile: dockerfile,
		Tags:       []string{tag},
		BuildArgs:  c.BuildArgs,
		Labels: map[string]string{
			labelWorkload: workload,
			labelCommit:   commit,
			LabelBuilt:    "true",
		},
	}, func(line string) {
		log.InfoContext(ctx, "build: "+line)
	})
	pr.CloseWithError(errBuildEnded)
	// A context that could not be written is the cause of whatever the
	// engine said about it.
	if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, errBuildEnded) {
		return "", fmt.Errorf("dockerfile source: send the build context (context_path %q) at commit %s: %w", c.ContextPath, commit, sendErr)
	}
	if err != nil {
		return "", fmt.Errorf("dockerfile source: build %s (context_path %q) at commit %s: %w", c.DockerfilePath, c.ContextPath, commit, err)
	}
	return id, nil
}

// Prune implements plugin.Pruner: remove the images this source built for
// the workload, except those whose ID is in keep (the new image and the one
// it replaced; none on destroy). An image a container still uses is never
// forced away: it stays, and the error says so.
func (c *Config) Prune(ctx context.Context, env plugin.ProduceEnv, keep []string) error {
	log := logger(env).With("workload", env.Workload)
	images, err := env.Images.ListImages(ctx, labelWorkload, env.Workload)
	if err != nil {
		return fmt.Errorf("dockerfile source: list the images of workload %q: %w", env.Workload, err)
	}
	kept := map[string]bool{}
	for _, id := range keep {
		kept[strings.TrimPrefix(id, "sha256:")] = true
	}
	var errs []error
	for _, img := range images {
		if img.Labels[LabelBuilt] != "true" || img.Labels[labelWorkload] != env.Workload || kept[strings.TrimPrefix(img.ID, "sha256:")] {
			continue
		}
		// By our tags, not by ID: an image the user also tagged under a
		// name of their own loses only our tag and stays theirs (by ID,
		// the engine would refuse it without force). Removing the last
		// tag removes the image.
		refs, foreign := ownTags(img, env.Workload)
		if len(refs) == 0 && foreign {
			continue
		}
		if len(refs) == 0 {
			refs = []string{img.ID}
		}
		if err := removeAll(ctx, env.Images, refs); err != nil {
			errs = append(errs, fmt.Errorf("image %s of commit %s was kept: %w", img.ID, img.Labels[labelCommit], err))
			continue
		}
		if foreign {
			log.InfoContext(ctx, "untagged an old image that also has a tag of the user's", "image", strings.Join(refs, ", "), "commit", img.Labels[labelCommit])
			continue
		}
		log.InfoContext(ctx, "removed an old image", "image", strings.Join(refs, ", "), "commit", img.Labels[labelCommit])
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dockerfile source: prune the images of workload %q: %w", env.Workload, err)
	}
	return nil
}

// removeAll removes refs in turn, stopping at the first the engine refuses.
func removeAll(ctx context.Context, images plugin.ImageHost, refs []string) error {
	for _, ref := range refs {
		if err := images.RemoveImage(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

// ownTags lists the tags of img that this source gave it
// (tinyforge/<workload>:...), and whether it has others.
func ownTags(img docker.Image, workload string) (own []string, foreign bool) {
	prefix := "tinyforge/" + workload + ":"
	for _, t := range img.RepoTags {
		switch {
		case t == "" || t == "<none>:<none>":
		case strings.HasPrefix(t, prefix):
			own = append(own, t)
		default:
			foreign = true
		}
	}
	return own, foreign
}

// logger is env's logger, or one that discards when the caller gave none.
func logger(env plugin.ProduceEnv) *slog.Logger {
	if env.Log != nil {
		return env.Log
	}
	return slog.New(slog.DiscardHandler)
}

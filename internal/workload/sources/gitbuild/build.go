package gitbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// A Git source's build gives its image one label, workload.LabelWorkload
// (the workload's name), and the tag Tag names, which holds the commit:
// one label, because the engine's classic builder adds a build step (a
// layer committed, on every build) for each label it is given. Prune
// removes only images with that label, so never one the user tagged alike
// by hand. Images built before carried tinyforge.built and
// workload.LabelCommit too; they are still recognised.

// Build is the build of one commit of a Git source on the Docker host:
// clone exactly the commit, send the build context the source locates in
// the clone, build and tag the image by workload and commit. An image
// already built from the same commit and inputs is reused without a clone.
type Build struct {
	// Kind names the source in errors and logs, e.g. "dockerfile source".
	Kind string
	Repo Repo
	// Inputs is what makes the image besides the commit (paths, build
	// arguments, a generated Dockerfile): it is hashed into the image tag,
	// so that a change builds anew and the same inputs reuse the image.
	Inputs any
	// Context locates the build context in the clone at root. It runs
	// after the clone; paths from the repository must stay inside it.
	Context func(root string) (Context, error)
	// BuildArgs are the Dockerfile's ARG values.
	BuildArgs map[string]string
	// Diagnose, when set, reads the error of a failed build and returns the
	// source's own words for a failure it recognises (a step it generated),
	// which replace the builder's; nil leaves the builder's error as it is.
	Diagnose func(build error) error
	// Target is the Dockerfile stage to build; "" is the last.
	Target string
	// Secrets are what `RUN --mount=type=secret,id=<key>` reads; values
	// are secrets.
	Secrets map[string]string
}

// Context is what a build sends to the engine.
type Context struct {
	// Dir is the directory sent, inside the clone (.dockerignore-aware).
	Dir string
	// Dockerfile is the Dockerfile's path inside Dir, slash-separated.
	Dockerfile string
	// Files are generated files added at the root of the context, in place
	// of any file of the same name in Dir (a generated Dockerfile, a
	// server's config).
	Files map[string][]byte
	// Prefix, when set, puts Dir's entries under this directory of the
	// context ("site"), so that they stay apart from the generated files.
	Prefix string
	// Exclude are .dockerignore patterns (relative to Dir) added to those of
	// Dir's own .dockerignore, e.g. ".git" for files that are published.
	Exclude []string
	// Describe says what is built in the words of the source's attributes,
	// for errors: `Dockerfile (context_path ".")`.
	Describe string
}

// stageName is what a Dockerfile's `FROM ... AS <name>` may name, and
// secretID what `RUN --mount=type=secret,id=<id>` can name without quoting.
var (
	stageName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)
	secretID  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// ValidateTarget is the rule for target: "" (the last stage) or a stage
// name.
func ValidateTarget(target string) error {
	if target != "" && !stageName.MatchString(target) {
		return fmt.Errorf("target must name a stage of the Dockerfile (FROM ... AS <name>): a letter, then letters, digits, '_', '.' or '-' (got %q)", target)
	}
	return nil
}

// ValidateBuildSecretID is the rule for a key of build_secrets_wo: an id
// that `RUN --mount=type=secret,id=<id>` names.
func ValidateBuildSecretID(id string) error {
	if !secretID.MatchString(id) {
		return fmt.Errorf("build_secrets_wo key must be a secret id of letters, digits, '_', '.' or '-' (got %q)", id)
	}
	return nil
}

// Tag is the tag a build of commit gets: tinyforge/<workload>:<first 12 hex
// of the commit>-<8 hex of the inputs>.
func (b Build) Tag(workload, commit string) string {
	in, err := json.Marshal(b.Inputs)
	if err != nil {
		panic(fmt.Sprintf("%s: encode build inputs: %v", b.Kind, err)) // strings, maps and ints always encode
	}
	sum := sha256.Sum256(in)
	short := strings.TrimPrefix(commit, dirRevisionPrefix)
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("tinyforge/%s:%s-%s", workload, short, hex.EncodeToString(sum[:4]))
}

// Produce builds exactly env.Revision (the branch's head now when it is "";
// for a local directory, its content now) unless its image is already on
// the Docker host. Nothing running is touched.
func (b Build) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	if b.Repo.Path != "" {
		return b.produceLocal(ctx, env)
	}
	log := logger(env).With("workload", env.Workload)
	repo := b.Repo.WithDefaults()
	commit := env.Revision
	if commit == "" {
		var err error
		if commit, err = repo.Resolve(ctx); err != nil {
			return plugin.Artifact{}, fmt.Errorf("%s: %w", b.Kind, err)
		}
		log.InfoContext(ctx, "no planned commit, building the head of what the source follows", "follows", repo.followed(), "commit", commit)
	}
	if !git.IsFullSHA(commit) {
		return plugin.Artifact{}, fmt.Errorf("%s: the revision to build must be a full 40-character commit SHA (got %q)", b.Kind, commit)
	}
	art, done, err := b.prebuilt(ctx, env, commit)
	if done || err != nil {
		return art, err
	}

	log.InfoContext(ctx, "cloning", "follows", repo.followed(), "commit", commit)
	started := time.Now()
	cloneURL, err := repo.git().CloneURL()
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("%s: %w", b.Kind, err)
	}
	checkout, err := git.CloneCached(ctx, repo.git(), commit, cacheDir(env.Workload, cloneURL), func(line string) {
		log.InfoContext(ctx, "clone: "+line)
	})
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("%s: %w", b.Kind, repo.CloneError(err))
	}
	defer func() {
		if err := checkout.Close(); err != nil {
			log.WarnContext(ctx, "could not remove the clone", "error", err.Error())
		}
	}()
	log.InfoContext(ctx, "cloned", "commit", commit, "elapsed", since(started))
	bc, err := b.Context(checkout.Dir)
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("%s: at commit %s: %w", b.Kind, commit, err)
	}
	files, err := ContextFiles(bc, checkout.Dir)
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("%s: the build context of %s at commit %s: %w", b.Kind, bc.Describe, commit, err)
	}
	return b.buildArtifact(ctx, env, art, files, bc)
}

// prebuilt is the artifact of revision: done when its image is already on
// the Docker host (built by this source), else to be built.
func (b Build) prebuilt(ctx context.Context, env plugin.ProduceEnv, revision string) (art plugin.Artifact, done bool, err error) {
	tag := b.Tag(env.Workload, revision)
	art = plugin.Artifact{Image: tag, Revision: revision, Built: true}
	img, err := env.Images.InspectImage(ctx, tag)
	switch {
	case err == nil && builtBy(img, env.Workload, revision):
		logger(env).InfoContext(ctx, "image of this revision already built, not building", "workload", env.Workload, "image", tag, "commit", revision)
		art.ImageID = img.ID
		return art, true, nil
	case err == nil:
		logger(env).InfoContext(ctx, "an image not built by this source holds the tag, rebuilding", "workload", env.Workload, "image", tag)
	case !errors.Is(err, docker.ErrNotFound):
		return art, false, fmt.Errorf("%s: inspect image %s: %w", b.Kind, tag, err)
	}
	return art, false, nil
}

// buildArtifact builds the context's files into art's image.
func (b Build) buildArtifact(ctx context.Context, env plugin.ProduceEnv, art plugin.Artifact, files []docker.ContextFile, bc Context) (plugin.Artifact, error) {
	log := logger(env).With("workload", env.Workload)
	started := time.Now()
	var steps docker.BuildSteps
	res, err := b.build(ctx, env, log, files, bc, art.Image, art.Revision, &steps)
	if err != nil {
		return plugin.Artifact{}, err
	}
	art.ImageID = res.ImageID
	if res.Classic {
		log.WarnContext(ctx, docker.ClassicBuilderWarning, "image", art.Image)
		art.Warning = fmt.Sprintf("%s: %s", b.Kind, docker.ClassicBuilderWarning)
	}
	// The layers rebuilt say whether the engine's cache did its part: after
	// a one-file commit, only the steps from that file's COPY on.
	log.InfoContext(ctx, "image built", "image", art.Image, "image_id", art.ImageID, "commit", art.Revision,
		"layers_rebuilt", steps.Rebuilt(), "layers_cached", steps.Cached, "elapsed", since(started))
	return art, nil
}

// Built implements plugin.Prebuilder: the ID of this source's image of
// commit when it is on the Docker host, "" when a deploy must build it.
func (b Build) Built(ctx context.Context, images plugin.ImageHost, workload, commit string) (string, error) {
	img, err := images.InspectImage(ctx, b.Tag(workload, commit))
	switch {
	case errors.Is(err, docker.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%s: inspect image %s: %w", b.Kind, b.Tag(workload, commit), err)
	case !builtBy(img, workload, commit):
		return "", nil
	}
	return img.ID, nil
}

// builtBy reports whether img is this source's build of commit for
// workload (found by its tag), so that an image the user happened to tag
// alike is not taken for one.
func builtBy(img docker.Image, name, commit string) bool {
	if img.Labels[workload.LabelWorkload] != name {
		return false
	}
	c, old := img.Labels[workload.LabelCommit]
	return !old || c == commit
}

// build builds the context's files (bc describes them); a build the
// engine's cache race failed is built again (docker.BuildCacheRaceRetry),
// from a fresh step count.
func (b Build) build(ctx context.Context, env plugin.ProduceEnv, log *slog.Logger, files []docker.ContextFile, bc Context, tag, commit string, steps *docker.BuildSteps) (docker.BuildResult, error) {
	buildContext, err := docker.NewBuildContext(files)
	if err != nil {
		return docker.BuildResult{}, fmt.Errorf("%s: the build context of %s at commit %s: %w", b.Kind, bc.Describe, commit, err)
	}
	spec := docker.BuildSpec{
		Context:         buildContext,
		Dockerfile:      bc.Dockerfile,
		Target:          b.Target,
		Tags:            []string{tag},
		BuildArgs:       b.BuildArgs,
		Labels:          map[string]string{workload.LabelWorkload: env.Workload},
		Secrets:         b.secrets(),
		CacheNamespace:  workload.CacheNamespace(env.Workload),
		KeepCacheMounts: keptCacheMounts(ctx, env),
	}
	var res docker.BuildResult
	attempt := 0
	err = docker.BuildCacheRaceRetry.Do(ctx, func(ctx context.Context) error {
		if attempt++; attempt > 1 {
			log.InfoContext(ctx, "building again: the engine lost an image while it looked through its build cache", "image", tag, "attempt", attempt)
		}
		*steps = docker.BuildSteps{}
		log.InfoContext(ctx, "building", "image", tag, "dockerfile", bc.Dockerfile, "target", b.Target)
		var err error
		res, err = env.Images.BuildImage(ctx, spec, func(line string) {
			steps.Observe(line)
			log.InfoContext(ctx, "build: "+line)
		})
		if err == nil {
			return nil
		}
		if b.Diagnose != nil {
			if why := b.Diagnose(err); why != nil {
				return retry.Stop(fmt.Errorf("%s: at commit %s: %w", b.Kind, commit, why))
			}
		}
		return fmt.Errorf("%s: build %s at commit %s: %w", b.Kind, bc.Describe, commit, err)
	})
	return res, err
}

// secrets are the build secrets as the build's session serves them.
func (b Build) secrets() map[string][]byte {
	out := make(map[string][]byte, len(b.Secrets))
	for k, v := range b.Secrets {
		out[k] = []byte(v)
	}
	return out
}

// keptCacheMounts are the cache mount IDs the workload's earlier builds on
// the host used (as their images record them), so that the new image
// names every cache the workload still has and destroy finds them all.
func keptCacheMounts(ctx context.Context, env plugin.ProduceEnv) []string {
	images, err := env.Images.ListImages(ctx, workload.LabelWorkload, env.Workload)
	if err != nil {
		return nil
	}
	return docker.CacheMountsOf(images, workload.CacheNamespace(env.Workload))
}

// Prune removes the images a Git source built for the workload, except
// those whose ID is in keep (the new image and the ones it replaced; none
// on destroy). An image a container still uses is never forced away: it
// stays, and the error says so. On destroy the workload's build cache
// mounts go too (those its images name): every other cache stays.
func Prune(ctx context.Context, env plugin.ProduceEnv, keep []string) error {
	log := logger(env).With("workload", env.Workload)
	images, err := env.Images.ListImages(ctx, workload.LabelWorkload, env.Workload)
	if err != nil {
		return fmt.Errorf("list the images of workload %q: %w", env.Workload, err)
	}
	var errs []error
	if len(keep) == 0 {
		if err := env.Images.RemoveBuildCache(ctx, images); err != nil {
			errs = append(errs, fmt.Errorf("the build cache of workload %q: %w", env.Workload, err))
		} else if ids := docker.CacheMountsOf(images, workload.CacheNamespace(env.Workload)); len(ids) > 0 {
			log.InfoContext(ctx, "removed the workload's build cache mounts", "cache_mounts", strings.Join(ids, ", "))
		}
	}
	kept := map[string]bool{}
	for _, id := range keep {
		kept[strings.TrimPrefix(id, "sha256:")] = true
	}
	for _, img := range images {
		if img.Labels[workload.LabelWorkload] != env.Workload || kept[strings.TrimPrefix(img.ID, "sha256:")] {
			continue
		}
		if untagged(img) {
			// An untagged image of the workload's builds: an old build
			// whose tag moved on, or what a build stage (the static
			// source's) or a failed build left; nobody's cache but the
			// workload's own. Removed by ID, never forced: an image
			// something still uses stays.
			if err := env.Images.RemoveImage(ctx, img.ID); err != nil {
				errs = append(errs, fmt.Errorf("image %s left by a build was kept: %w", img.ID, err))
			} else {
				log.InfoContext(ctx, "removed an untagged image of the workload's builds", "image", img.ID)
			}
			continue
		}
		// By our tags, not by ID: an image the user also tagged under a
		// name of their own loses only our tag and stays theirs (by ID,
		// the engine would refuse it without force). Removing the last
		// tag removes the image. An image with none of our tags is the
		// user's, labelled alike: not ours to remove.
		refs, foreign := ownTags(img, env.Workload)
		if len(refs) == 0 {
			continue
		}
		if err := removeAll(ctx, env.Images, refs); err != nil {
			errs = append(errs, fmt.Errorf("image %s (%s) was kept: %w", img.ID, strings.Join(refs, ", "), err))
			continue
		}
		if foreign {
			log.InfoContext(ctx, "untagged an old image that also has a tag of the user's", "image", strings.Join(refs, ", "))
			continue
		}
		// Gone with its last tag, unless a Swarm task's pull of the pushed
		// image left a reference by digest: by ID, never forced.
		if err := env.Images.RemoveImage(ctx, img.ID); err != nil {
			errs = append(errs, fmt.Errorf("image %s, untagged, was kept: %w", img.ID, err))
			continue
		}
		log.InfoContext(ctx, "removed an old image", "image", strings.Join(refs, ", "))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune the images of workload %q: %w", env.Workload, err)
	}
	return nil
}

// untagged reports whether img has no tag.
func untagged(img docker.Image) bool {
	for _, t := range img.RepoTags {
		if t != "" && t != "<none>:<none>" {
			return false
		}
	}
	return true
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

// ownTags lists the tags of img that a Git source gave it
// (tinyforge/<workload>:...), and whether it has others.
func ownTags(img docker.Image, name string) (own []string, foreign bool) {
	prefix := "tinyforge/" + name + ":"
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

// since is the time elapsed since t, rounded for a log line.
func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// logger is env's logger, or one that discards when the caller gave none.
func logger(env plugin.ProduceEnv) *slog.Logger {
	if env.Log != nil {
		return env.Log
	}
	return slog.New(slog.DiscardHandler)
}

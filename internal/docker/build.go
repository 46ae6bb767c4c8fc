package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/build"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// BuildSpec is an image build.
type BuildSpec struct {
	// Context is what the build sends.
	Context BuildContext
	// Dockerfile is the path of the Dockerfile inside the context;
	// "" is "Dockerfile".
	Dockerfile string
	// Target is the stage of a multi-stage Dockerfile to build; "" is the
	// last.
	Target    string
	Tags      []string
	BuildArgs map[string]string
	Labels    map[string]string
	// Secrets are what `RUN --mount=type=secret,id=<key>` reads, by id
	// (BuildKit only). Values are secrets: they travel only through the
	// build's session, never in an argument, a label or a log line.
	Secrets map[string][]byte
	// CacheNamespace keeps the build's cache mounts (`RUN
	// --mount=type=cache`) apart from every other namespace's: the same
	// target in another workload's Dockerfile is another cache. The image
	// records the namespace and the IDs (LabelBuildCache).
	CacheNamespace string
	// KeepCacheMounts are cache mount IDs of the namespace that earlier
	// builds used, recorded on this image too: the newest image names
	// every cache the namespace still has.
	KeepCacheMounts []string

	// noCache builds without the cache; BuildKit then first releases the
	// cache mounts the Dockerfile names (RemoveCacheMounts).
	noCache bool
}

// BuildResult is a finished build.
type BuildResult struct {
	// ImageID is the built image's ID.
	ImageID string
	// Classic says the engine's classic builder built it: the engine has
	// no BuildKit, or its operator switched it off (ClassicBuilderWarning
	// says what that costs).
	Classic bool
}

// ClassicBuilderWarning says what a build on an engine without BuildKit
// cannot do.
const ClassicBuilderWarning = "the Docker engine has no BuildKit (or its operator switched it off: features.buildkit " +
	"false in daemon.json), so the image was built with the classic builder: RUN --mount (cache mounts, and the " +
	"secret mounts that build_secrets_wo feeds) fails, stages build one after another, and no cache survives " +
	"between builds beyond the layer cache"

// buildOutputLines is how many of the last build output lines a failed build
// carries in its error: enough to show the failing step and its output.
const buildOutputLines = 30

// BuildImage builds an image with BuildKit, through the engine's API and a
// session of this process, or with the engine's classic builder where the
// engine has no BuildKit. Progress gets each output line as it comes, step
// by step (in the plain form of `docker build --progress=plain`), without
// colour codes. A failed build's error carries the last lines of the
// output, so the user sees why.
func (c *Client) BuildImage(ctx context.Context, spec BuildSpec, progress Progress) (BuildResult, error) {
	what := "image"
	if len(spec.Tags) > 0 {
		what = spec.Tags[0]
	}
	if spec.Dockerfile == "" {
		spec.Dockerfile = "Dockerfile"
	}
	out := &buildOutput{progress: progress}
	spec.Labels = withCacheLabel(spec)
	kit, err := c.hasBuildKit(ctx)
	if err != nil {
		return BuildResult{}, fmt.Errorf("build %s: %w", what, err)
	}
	res := BuildResult{Classic: !kit}
	if kit {
		res.ImageID, err = c.buildWithBuildKit(ctx, spec, out)
		if errors.Is(err, errNoBuildKit) {
			res.Classic = true
		}
	}
	if res.Classic {
		res.ImageID, err = c.buildClassic(ctx, spec, out)
	}
	if err != nil {
		return BuildResult{}, out.failed(what, err)
	}
	if res.ImageID == "" {
		return BuildResult{}, fmt.Errorf("build %s: the engine reported no image ID", what)
	}
	return res, nil
}

// withCacheLabel is spec's labels with LabelBuildCache, when the build has
// cache mounts to record.
func withCacheLabel(spec BuildSpec) map[string]string {
	if spec.CacheNamespace == "" {
		return spec.Labels
	}
	ids := spec.KeepCacheMounts
	if f, ok := spec.Context.File(spec.Dockerfile); ok && f.Open != nil {
		if rc, err := f.Open(); err == nil {
			content, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
			rc.Close()
			ids = append(slices.Clone(ids), CacheMountIDs(content, spec.BuildArgs)...)
		}
	}
	slices.Sort(ids)
	label := cacheLabel(spec.CacheNamespace, slices.Compact(ids))
	if label == "" {
		return spec.Labels
	}
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelBuildCache] = label
	return labels
}

// errNoBuildKit is the engine's refusal of a BuildKit build: it has none.
var errNoBuildKit = errors.New("the engine has no BuildKit")

// hasBuildKit reports whether builds on this engine use BuildKit, as the
// docker CLI decides: the engine says which builder it prefers (a
// daemon.json with features.buildkit false says the classic one), and
// engines before API 1.39 (Docker 18.09) have none.
func (c *Client) hasBuildKit(ctx context.Context) (bool, error) {
	ping, err := c.api.Ping(ctx)
	if err != nil {
		return false, fmt.Errorf("ask the engine which builder it has: %w", err)
	}
	if ping.OSType == "windows" || ping.BuilderVersion == build.BuilderV1 {
		return false, nil
	}
	return !versionBefore(c.api.ClientVersion(), "1.39"), nil
}

// versionBefore compares two API versions ("1.41").
func versionBefore(v, than string) bool {
	var a, b, x, y int
	fmt.Sscanf(v, "%d.%d", &a, &b)
	fmt.Sscanf(than, "%d.%d", &x, &y)
	return a < x || (a == x && b < y)
}

// buildClassic builds with the engine's classic builder, which reads the
// context as a tar stream in the request body.
func (c *Client) buildClassic(ctx context.Context, spec BuildSpec, out *buildOutput) (string, error) {
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := spec.Context.WriteTar(pw)
		pw.CloseWithError(err) // nil: EOF for the engine
		sent <- err
	}()
	resp, err := c.api.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Version:     build.BuilderV1,
		Tags:        spec.Tags,
		Dockerfile:  spec.Dockerfile,
		Target:      spec.Target,
		BuildArgs:   buildArgs(spec.BuildArgs),
		Labels:      spec.Labels,
		Remove:      true,
		ForceRemove: true,
		NoCache:     spec.noCache,
	})
	if err != nil {
		pr.CloseWithError(err)
		return "", err
	}
	defer resp.Body.Close()
	var id, builtShort string
	err = readStream(resp.Body, func(m streamMessage) error {
		if msg := m.errorMessage(); msg != "" {
			return buildStreamError(msg)
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		for _, line := range strings.Split(m.Stream, "\n") {
			if line = out.line(line); strings.HasPrefix(line, "Successfully built ") {
				builtShort = strings.TrimPrefix(line, "Successfully built ")
			}
		}
		return nil
	})
	pr.CloseWithError(errBuildEnded)
	// A context that could not be written is the cause of whatever the
	// engine said about it.
	if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, errBuildEnded) {
		return "", fmt.Errorf("send the build context: %w", sendErr)
	}
	if err != nil || id != "" {
		return id, err
	}
	// Engines that send no aux ID message still tag the image or say
	// "Successfully built <short id>".
	lookup := builtShort
	if len(spec.Tags) > 0 {
		lookup = spec.Tags[0]
	}
	if lookup == "" {
		return "", nil
	}
	img, err := c.InspectImage(ctx, lookup)
	if err != nil {
		return "", fmt.Errorf("find the built image: %w", err)
	}
	return img.ID, nil
}

// errBuildEnded stops the context writer when the engine stopped reading.
var errBuildEnded = errors.New("the build ended before the context was sent")

// buildArgs is the API's form of build arguments.
func buildArgs(args map[string]string) map[string]*string {
	out := make(map[string]*string, len(args))
	for k, v := range maps.All(args) {
		out[k] = &v
	}
	return out
}

// buildOutput is a build's output as it comes: each line cleaned of
// terminal codes, handed to progress, the last buildOutputLines kept for
// the error of a failed build.
type buildOutput struct {
	progress Progress
	last     []string
}

// line takes one line of output and returns it cleaned; blank lines are
// dropped ("" is returned).
func (o *buildOutput) line(s string) string {
	s = strings.TrimSpace(StripTerminalCodes(s))
	if s == "" {
		return ""
	}
	if len(o.last) == buildOutputLines {
		o.last = append(o.last[:0], o.last[1:]...)
	}
	o.last = append(o.last, s)
	if o.progress != nil {
		o.progress(s)
	}
	return s
}

// failed is the error of the build of what that failed with err, with the
// last output lines.
func (o *buildOutput) failed(what string, err error) error {
	msg := StripTerminalCodes(err.Error())
	if msg != err.Error() {
		err = &cleanedError{msg: msg, err: err}
	}
	if len(o.last) == 0 {
		return fmt.Errorf("build %s: %w", what, err)
	}
	return fmt.Errorf("build %s: %w\nlast build output:\n  %s", what, err, strings.Join(o.last, "\n  "))
}

// cleanedError is an error whose message was cleaned of terminal codes;
// errors.Is and As still see the original.
type cleanedError struct {
	msg string
	err error
}

func (e *cleanedError) Error() string { return e.msg }
func (e *cleanedError) Unwrap() error { return e.err }

// terminalCodes are the escape sequences a program writes for a terminal
// (colours: "\x1b[91m"; cursor moves; titles), and the other control
// characters but tab.
var terminalCodes = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]`)

// StripTerminalCodes removes terminal escape sequences and control
// characters from s: the classic builder colours a step's standard error
// red ("\x1b[91m...\x1b[0m"), and programs colour their own output, which
// a log or a diagnostic would show as "[91merror".
func StripTerminalCodes(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f }) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = terminalCodes.ReplaceAllString(strings.TrimSuffix(l, "\r"), "")
	}
	return strings.Join(lines, "\n")
}

// ErrBuildCacheRace is returned (wrapped) when the engine's classic builder
// lost an image while it looked for a cached step: it lists the images that
// share the step's parent (for a first step FROM scratch, every parentless
// image on the engine) and then reads each, and one was removed in between,
// by anyone (a prune, another workload's old image going). The build
// itself is not at fault, and building again finds the cache as it is.
var ErrBuildCacheRace = errors.New("the engine lost an image while it looked through its build cache (an image was removed during the build)")

// cacheRaceWords are how the engine says it (image/cache in moby 20.10 to
// 28: `unable to find image "<id>"` from its cache lookup; a missing FROM
// image is "No such image" or a pull error, never this).
var cacheRaceWords = regexp.MustCompile(`unable to find image "sha256:[0-9a-f]{64}"`)

// MentionsBuildCacheRace reports whether err is, or carries the words of,
// the engine's cache-lookup race (ErrBuildCacheRace): for builds run by
// other libraries (compose's), whose errors keep only the engine's text.
func MentionsBuildCacheRace(err error) bool {
	return err != nil && (errors.Is(err, ErrBuildCacheRace) || cacheRaceWords.MatchString(err.Error()))
}

// BuildCacheRaceRetry builds again when a build met the engine's
// cache-lookup race (MentionsBuildCacheRace), 3 builds in all and without
// a wait: the race is with whoever removed an image, which a fleet's
// prunes of old images make likely enough on a busy host, and which
// building again does not meet twice in a row unless images are being
// removed all the time. Any other failure is final. The one rule for the
// Git sources' builds and compose's builds and Ups.
var BuildCacheRaceRetry = retry.Policy{
	Classify: func(err error) retry.Class {
		if MentionsBuildCacheRace(err) {
			return retry.Contended
		}
		return retry.Final
	},
	Tries: 3,
}

// buildStreamError is the error of a build whose output stream ended with
// the engine's error message msg.
func buildStreamError(msg string) error {
	if cacheRaceWords.MatchString(msg) {
		return fmt.Errorf("%w: %s", ErrBuildCacheRace, msg)
	}
	return errors.New(msg)
}

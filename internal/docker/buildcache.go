package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// BuildKit keeps what a `RUN --mount=type=cache` step leaves in its cache
// mount from one build to the next, under the mount's ID (its `id`, else
// its target), engine-wide. A build's CacheNamespace prefixes those IDs
// (the Dockerfile frontend's BUILDKIT_CACHE_MOUNT_NS), so that a
// namespace's caches are its own. The engine's API has no call that lists
// or removes the cache mounts of one namespace; what it has is BuildKit's
// rule that a build without the cache first releases the cache mounts its
// steps name. RemoveCacheMounts builds a Dockerfile that names them, and
// fails before any step runs: the mounts are released, and no new one is
// made.

// LabelBuildCache is the label of an image BuildImage built with a
// CacheNamespace: the namespace and the cache mount IDs its Dockerfile
// uses (and those spec.KeepCacheMounts carried over), as JSON, so that
// RemoveBuildCache finds them once the images are all that is left.
const LabelBuildCache = "tinyforge.build-cache"

// buildCacheLabel is LabelBuildCache's value.
type buildCacheLabel struct {
	Namespace string   `json:"namespace"`
	IDs       []string `json:"ids"`
}

// cacheLabel is the label value for ids of namespace ("" for none).
func cacheLabel(namespace string, ids []string) string {
	if namespace == "" || len(ids) == 0 {
		return ""
	}
	b, _ := json.Marshal(buildCacheLabel{Namespace: namespace, IDs: ids}) // strings always encode
	return string(b)
}

// CacheMountsOf lists the cache mount IDs of namespace that images record,
// sorted.
func CacheMountsOf(images []Image, namespace string) []string {
	var ids []string
	for _, img := range images {
		var l buildCacheLabel
		if json.Unmarshal([]byte(img.Labels[LabelBuildCache]), &l) == nil && l.Namespace == namespace {
			ids = append(ids, l.IDs...)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// RemoveBuildCache removes the cache mounts that images record (each
// image's namespace and IDs), and no other.
func (c *Client) RemoveBuildCache(ctx context.Context, images []Image) error {
	byNamespace := map[string]bool{}
	for _, img := range images {
		var l buildCacheLabel
		if json.Unmarshal([]byte(img.Labels[LabelBuildCache]), &l) == nil && l.Namespace != "" {
			byNamespace[l.Namespace] = true
		}
	}
	var errs []error
	for _, ns := range slices.Sorted(maps.Keys(byNamespace)) {
		if err := c.RemoveCacheMounts(ctx, ns, CacheMountsOf(images, ns)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CacheMountIDs lists the cache mount IDs a Dockerfile's RUN steps use
// (`id`, else the cleaned target), sorted, with args expanded where a
// value names one ("$GOCACHE"). A Dockerfile the parser refuses lists
// none: the engine's build says what is wrong with it.
func CacheMountIDs(dockerfile []byte, args map[string]string) []string {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil
	}
	expand := func(word string) (string, error) {
		return os.Expand(word, func(k string) string { return args[k] }), nil
	}
	var ids []string
	for _, st := range stages {
		for _, cmd := range st.Commands {
			run, ok := cmd.(*instructions.RunCommand)
			if !ok || run.Expand(expand) != nil {
				continue
			}
			for _, m := range instructions.GetMounts(run) {
				if m.Type != instructions.MountTypeCache {
					continue
				}
				id := m.CacheID
				if id == "" {
					id = path.Clean(m.Target)
				}
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// cacheIDWord is what a cache mount ID may hold to be named again in a
// generated Dockerfile; other IDs are left alone.
var cacheIDWord = regexp.MustCompile(`^[A-Za-z0-9._/@:+-]+$`)

// absentFile is a file no build context holds: the cleanup build's COPY of
// it fails before any RUN step.
const absentFile = "tinyforge-cache-cleanup-absent"

// RemoveCacheMounts removes the cache mounts ids of namespace from the
// engine's BuildKit (see CacheMountIDs); those of every other namespace
// stay. An engine without BuildKit has none. An ID that cannot be named in
// a Dockerfile is skipped and reported in the error.
func (c *Client) RemoveCacheMounts(ctx context.Context, namespace string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	kit, err := c.hasBuildKit(ctx)
	if err != nil || !kit {
		return err
	}
	var mounts, skipped []string
	for i, id := range ids {
		if !cacheIDWord.MatchString(id) {
			skipped = append(skipped, id)
			continue
		}
		mounts = append(mounts, fmt.Sprintf("--mount=type=cache,id=%s,target=/tinyforge-cache/%d", id, i))
	}
	if len(mounts) > 0 {
		dockerfile := fmt.Sprintf("FROM scratch AS absent\nCOPY %s /\nFROM absent\nRUN %s true\n", absentFile, strings.Join(mounts, " "))
		bc, err := NewBuildContext([]ContextFile{ContextBytes("Dockerfile", []byte(dockerfile), 0o644)})
		if err != nil {
			return err
		}
		_, err = c.buildWithBuildKit(ctx, BuildSpec{Context: bc, Dockerfile: "Dockerfile", CacheNamespace: namespace, noCache: true}, &buildOutput{})
		if err == nil || !strings.Contains(err.Error(), absentFile) {
			return fmt.Errorf("remove the build cache mounts %s of %s: the cleanup build did not end as planned: %v", strings.Join(ids, ", "), namespace, err)
		}
	}
	if len(skipped) > 0 {
		return fmt.Errorf("the build cache mounts %q of %s were left: their IDs cannot be named in a Dockerfile", skipped, namespace)
	}
	return nil
}

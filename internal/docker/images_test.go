package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestBuildImageReturnsTheImage(t *testing.T) {
	t.Parallel()
	ref, id := testImage(t)
	c := newClient(t)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("BuildImage returned %q, want a full image ID", id)
	}
	img, err := c.InspectImage(testContext(t), ref)
	if err != nil {
		t.Fatalf("InspectImage(%s): %v", ref, err)
	}
	if img.ID != id || !slices.Contains(img.RepoTags, ref) || img.Labels[acctest.LabelTestRun] != acctest.RunID() || img.Created.IsZero() || img.Size == 0 {
		t.Fatalf("inspected %+v: want ID %s, tag %s, the test-run label", img, id, ref)
	}
	if !containsStep(testAppImage.progress, "COPY app /app") {
		t.Fatalf("build progress lacks the COPY step: %q", testAppImage.progress)
	}
	for _, line := range testAppImage.progress {
		if line == "" || line != strings.TrimSpace(line) {
			t.Fatalf("progress line %q is empty or not trimmed", line)
		}
	}
}

func TestBuildImageFailureCarriesTheOutput(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ref := acctest.UniqueName("tinyforge-docker-broken") + ":test"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })
	var progress []string
	// 15 steps before the failing one: more output than the error keeps
	// (BuildKit shows a COPY, not a LABEL, as a step).
	files := map[string][]byte{}
	steps := ""
	for i := range 15 {
		files[fmt.Sprintf("build/f%d", i)] = []byte{byte(i)}
		steps += fmt.Sprintf("COPY build/f%d /f%d\n", i, i)
	}
	files["build/Dockerfile"] = []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\n" + steps + "COPY does-not-exist /x\n")
	_, err := c.BuildImage(testContext(t), BuildSpec{
		Context:    filesContext(files),
		Dockerfile: "build/Dockerfile",
		Tags:       []string{ref},
		Labels:     map[string]string{acctest.LabelTestRun: acctest.RunID()},
	}, func(line string) { progress = append(progress, line) })
	if err == nil {
		t.Fatal("a build that copies a missing file succeeded")
	}
	msg := err.Error()
	t.Logf("build error: %s", msg)
	for _, want := range []string{"build " + ref + ": ", "does-not-exist", "last build output:", "] COPY does-not-exist /x"} {
		if !strings.Contains(msg, want) {
			t.Errorf("build error lacks %q:\n%s", want, msg)
		}
	}
	if !slices.ContainsFunc(progress, func(l string) bool { return strings.HasSuffix(l, "] COPY does-not-exist /x") }) {
		t.Errorf("progress did not report the steps: %q", progress)
	}
	// The error's output is the last 30 lines of the progress.
	_, tail, _ := strings.Cut(msg, "last build output:\n  ")
	if got := strings.Split(tail, "\n  "); len(progress) <= 30 || !slices.Equal(got, progress[len(progress)-30:]) {
		t.Errorf("the error carries %d lines, want the last 30 of the %d of the build:\n%q", len(got), len(progress), got)
	}
}

func TestImagesByLabelAndRemove(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	key := "tinyforge.test-image"
	value := acctest.UniqueName("v")
	ref, id := buildTiny(t, c, map[string]string{key: value})
	ctx := testContext(t)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("BuildImage returned %q, want a full image ID", id)
	}

	images, err := c.ListImages(ctx, key, value)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if len(images) != 1 || images[0].ID != id || !slices.Contains(images[0].RepoTags, ref) || images[0].Labels[key] != value {
		t.Fatalf("ListImages(%s=%s) = %+v, want exactly %s", key, value, images, ref)
	}
	if images, err := c.ListImages(ctx, key, value+"-other"); err != nil || len(images) != 0 {
		t.Fatalf("ListImages with another value = %+v, %v: want none", images, err)
	}
	anyValue, err := c.ListImages(ctx, key, "")
	if err != nil || !slices.ContainsFunc(anyValue, func(img Image) bool { return img.ID == id }) {
		t.Fatalf("ListImages(%s, any value) = %+v, %v: want it to include %s", key, anyValue, err, id)
	}

	if err := c.RemoveImage(ctx, ref); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	_, err = c.InspectImage(ctx, id)
	mustNotFound(t, err, id)
	if err := c.RemoveImage(ctx, ref); err != nil {
		t.Fatalf("second RemoveImage: %v", err)
	}
}

func TestRemoveImageInUseFails(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ref, id := buildTiny(t, c, nil)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-ct")
	removeContainer(t, name)
	// Created, never started: its entrypoint is not a program.
	if _, err := c.CreateContainer(ctx, ContainerSpec{Name: name, Image: ref, Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()}}); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	for _, target := range []string{ref, id} {
		err := c.RemoveImage(ctx, target)
		if err == nil || !strings.Contains(err.Error(), "remove image "+target) {
			t.Fatalf("RemoveImage(%s) of an image in use = %v, want an error naming it", target, err)
		}
	}
	if _, err := c.InspectImage(ctx, id); err != nil {
		t.Fatalf("the image in use is gone: %v", err)
	}
}

func TestInspectImageNotFound(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ref := "tinyforge-absent-" + acctest.RunID() + ":none"
	_, err := c.InspectImage(testContext(t), ref)
	mustNotFound(t, err, ref)
	if err := c.RemoveImage(testContext(t), ref); err != nil {
		t.Fatalf("RemoveImage of an absent image: %v", err)
	}
}

// TestPullImageUnreachableRegistry pulls from a registry address nothing
// listens on: the pull must fail on its own with the engine's reason, not
// hang until the context gives up.
func TestPullImageUnreachableRegistry(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ref := fmt.Sprintf("127.0.0.1:%d/x:y", acctest.FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	err := c.PullImage(ctx, ref, func(string) {})
	if err == nil {
		t.Fatalf("pulling %s from nowhere succeeded", ref)
	}
	t.Logf("pull error: %v", err)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("the pull did not fail by itself: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "pull "+ref+": ") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %q: want the reference and the engine's reason", err)
	}
}

// containsStep reports whether the build output announced the step
// ("Step 2/4 : COPY app /app"); the step count varies with the labels, which
// the builder adds as a step of its own.
func containsStep(lines []string, step string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "Step ") && strings.HasSuffix(l, " : "+step) ||
			kitStepLine.MatchString(l) && strings.HasSuffix(l, "] "+step)
	})
}

// TestBuildStreamErrorTellsTheCacheRaceApart: the engine's message of an
// image lost during its cache lookup (as a CI run printed it) is
// ErrBuildCacheRace, with the engine's words kept; a build's own failures
// are not.
func TestBuildStreamErrorTellsTheCacheRaceApart(t *testing.T) {
	const race = `unable to find image "sha256:1bb0ef963111b374bba3111b0a5f5db5f8c77af0e22fd509dedf07c033aea253"`
	if err := buildStreamError(race); !errors.Is(err, ErrBuildCacheRace) || !strings.Contains(err.Error(), race) {
		t.Errorf("the cache lookup's message gave %v, want ErrBuildCacheRace with the engine's words", err)
	}
	for _, msg := range []string{
		`The command '/bin/sh -c exit 3' returned a non-zero code: 3`,
		`COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist`,
		`pull access denied for nothere, repository does not exist or may require 'docker login'`,
		`unable to find image "nothere:latest"`,
	} {
		if err := buildStreamError(msg); errors.Is(err, ErrBuildCacheRace) || err.Error() != msg || MentionsBuildCacheRace(fmt.Errorf("compose: %s", msg)) {
			t.Errorf("%q gave %v, want that message alone, not the cache race", msg, err)
		}
	}
	// Another library's error that kept only the engine's words.
	if !MentionsBuildCacheRace(fmt.Errorf("build web: %s", race)) || MentionsBuildCacheRace(nil) {
		t.Errorf("MentionsBuildCacheRace misses the engine's words in a foreign error, or takes nil")
	}
}

package docker

import (
	"strings"
	"testing"
)

// The classic builder's output of Docker 20.10 for a build whose first two
// steps after FROM came from the cache and whose last two ran.
const classicOutput = `Step 1/6 : FROM scratch
 --->
Step 2/6 : LABEL test=1
 ---> Using cache
 ---> 0f3b1c2d4e5f
Step 3/6 : COPY testapp /testapp
 ---> Using cache
 ---> 1a2b3c4d5e6f
Step 4/6 : COPY files/b.txt /files/b.txt
 ---> 2b3c4d5e6f70
Step 5/6 : ENTRYPOINT ["/testapp"]
 ---> Running in 3c4d5e6f7081
Removing intermediate container 3c4d5e6f7081
 ---> 4d5e6f708192
Step 6/6 : LABEL tinyforge.commit=abc
 ---> Running in 5e6f708192a3
 ---> 6f708192a3b4
Successfully built 6f708192a3b4
Successfully tagged tinyforge/x:abc`

func TestBuildStepsCountsWhatTheCacheServed(t *testing.T) {
	var s BuildSteps
	for _, line := range strings.Split(classicOutput, "\n") {
		s.Observe(line)
	}
	if s.Steps != 5 || s.Cached != 2 || s.Rebuilt() != 3 {
		t.Errorf("BuildSteps = %d steps, %d cached, %d rebuilt; want 5, 2, 3 (FROM not counted)", s.Steps, s.Cached, s.Rebuilt())
	}
}

func TestBuildStepsMultiStage(t *testing.T) {
	var s BuildSteps
	for _, line := range []string{
		"Step 1/4 : FROM scratch AS base", " ---> ", "Step 2/4 : COPY a /a", " ---> Using cache", " ---> 11",
		"Step 3/4 : FROM base", " ---> 11", "Step 4/4 : COPY b /b", " ---> 22",
	} {
		s.Observe(line)
	}
	if s.Steps != 2 || s.Cached != 1 || s.Rebuilt() != 1 {
		t.Errorf("BuildSteps = %d steps, %d cached; want 2, 1", s.Steps, s.Cached)
	}
}

// BuildKit's output in the plain form (docker build --progress=plain of
// Debian's CLI 20.10, and BuildImage's progress): the COPY of the changed
// file and the steps after it ran, the rest came from the cache.
const kitOutput = `#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [stage-0 1/4] FROM docker.io/library/base:1
#4 DONE 0.0s
#5 [stage-0 2/4] COPY testapp /testapp
#5 CACHED
#6 [stage-0 3/4] COPY site/ /site/
#6 DONE 0.1s
#7 [stage-0 4/4] RUN --mount=type=cache,target=/cache ./fetch
#7 0.512 fetched 3 packages
#7 DONE 1.2s
#8 exporting to image
#8 DONE 0.1s`

func TestBuildStepsReadsBuildKit(t *testing.T) {
	var s BuildSteps
	for _, line := range strings.Split(kitOutput, "\n") {
		s.Observe(line)
	}
	if s.Steps != 3 || s.Cached != 1 || s.Rebuilt() != 2 {
		t.Errorf("BuildSteps = %d steps, %d cached, %d rebuilt; want 3, 1, 2 (FROM and internal steps not counted)", s.Steps, s.Cached, s.Rebuilt())
	}
}

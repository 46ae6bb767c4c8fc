package docker

import (
	"regexp"
	"strings"
)

// BuildSteps reads a build's output, line by line, and counts the
// Dockerfile steps the engine ran anew and those it took from its cache.
// It reads both builders: the classic one ("Step 3/7 : COPY app /app",
// then "---> Using cache" for a step reused) and BuildKit in the plain
// form of `docker build --progress=plain` ("#7 [3/7] COPY app /app", then
// "#7 CACHED"), so that one count compares BuildImage's builds with the
// docker CLI's. FROM steps are counted in neither: they pick a base and
// build nothing. Rebuilt is how much of the image a build redid: after a
// one-file commit, the steps from the COPY of that file on.
//
// The zero value is ready; Observe is the Progress a build is given (or
// what such a Progress also calls).
type BuildSteps struct {
	// Steps are the steps run or reused, FROM excluded.
	Steps int
	// Cached are the steps the cache served.
	Cached int

	current string // the classic builder's instruction in progress
	cached  bool   // whether it reported "Using cache"
	// kitSteps are BuildKit's steps seen, by their number: true once
	// counted as cached.
	kitSteps map[string]bool
}

// stepLine is the classic builder's "Step 3/7 : COPY app /app".
var stepLine = regexp.MustCompile(`^Step \d+/\d+ : (\S+)`)

// kitStepLine is BuildKit's "#7 [stage-0 3/7] COPY app /app", and
// kitCachedLine its "#7 CACHED".
var (
	kitStepLine   = regexp.MustCompile(`^#(\d+) \[(?:[^\]]* )?\d+/\d+\] (\S+)`)
	kitCachedLine = regexp.MustCompile(`^#(\d+) CACHED$`)
)

// Observe takes one line of the build output.
func (s *BuildSteps) Observe(line string) {
	line = strings.TrimSpace(line)
	if m := kitStepLine.FindStringSubmatch(line); m != nil {
		if _, seen := s.kitSteps[m[1]]; seen || strings.EqualFold(m[2], "FROM") {
			return
		}
		if s.kitSteps == nil {
			s.kitSteps = map[string]bool{}
		}
		s.kitSteps[m[1]] = false
		s.Steps++
		return
	}
	if m := kitCachedLine.FindStringSubmatch(line); m != nil {
		if cached, step := s.kitSteps[m[1]]; step && !cached {
			s.kitSteps[m[1]] = true
			s.Cached++
		}
		return
	}
	if m := stepLine.FindStringSubmatch(line); m != nil {
		if strings.EqualFold(m[1], "FROM") {
			s.current = ""
			return
		}
		s.current, s.cached = m[1], false
		s.Steps++
		return
	}
	if s.current != "" && !s.cached && strings.TrimSpace(strings.TrimPrefix(line, "--->")) == "Using cache" {
		s.cached = true
		s.Cached++
	}
}

// Rebuilt is the number of steps the engine ran anew.
func (s *BuildSteps) Rebuilt() int { return s.Steps - s.Cached }

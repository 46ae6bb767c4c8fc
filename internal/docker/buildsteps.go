package docker

import (
	"regexp"
	"strings"
)

// BuildSteps reads the classic builder's output, line by line, and counts
// the Dockerfile steps the engine ran anew and those it took from its layer
// cache. FROM steps are counted in neither: they pick a base and build
// nothing. Every other step either prints "---> Using cache" (reused) or
// runs (rebuilt), so Rebuilt is how much of the image a build redid: after
// a one-file commit, the steps from the COPY of that file on.
//
// The zero value is ready; Observe is the Progress a build is given (or
// what such a Progress also calls).
type BuildSteps struct {
	// Steps are the steps run or reused, FROM excluded.
	Steps int
	// Cached are the steps that reported "Using cache".
	Cached int

	current string // the instruction of the step in progress
	cached  bool   // whether it reported "Using cache"
}

// stepLine is the classic builder's "Step 3/7 : COPY app /app".
var stepLine = regexp.MustCompile(`^Step \d+/\d+ : (\S+)`)

// Observe takes one line of the build output.
func (s *BuildSteps) Observe(line string) {
	line = strings.TrimSpace(line)
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

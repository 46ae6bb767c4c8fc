package workload

import (
	"fmt"
	"time"
)

// Release is a command run once per deploy, before any new instance
// starts: a one-off of the new artifact (database migrations), with the
// workload's environment, secrets, volumes and network. Its command
// replaces the image's CMD; the ENTRYPOINT (the image's, or Run's) stays,
// as `docker run IMAGE COMMAND` does. A release that fails or times out
// fails the deploy and changes nothing that runs.
type Release struct {
	// Command is the command; nil: no release.
	Command []string `json:"command,omitempty"`
	// Timeout bounds the run; 0: DefaultReleaseTimeout.
	Timeout time.Duration `json:"-"`
}

// Release timings.
const (
	DefaultReleaseTimeout = 10 * time.Minute
	MaxReleaseTimeout     = 24 * time.Hour
)

// ReleaseTail is how many of its last output lines a failed release
// reports.
const ReleaseTail = 50

// Set reports whether the spec has a release command.
func (r Release) Set() bool { return len(r.Command) > 0 }

// Limit is the timeout with the default written out.
func (r Release) Limit() time.Duration {
	if r.Timeout <= 0 {
		return DefaultReleaseTimeout
	}
	return r.Timeout
}

// ValidateReleaseTimeout is the rule for release_timeout.
func ValidateReleaseTimeout(d time.Duration) error {
	if d < time.Second || d > MaxReleaseTimeout {
		return fmt.Errorf("release_timeout must be between 1 and %d seconds (got %d)", int(MaxReleaseTimeout/time.Second), int(d/time.Second))
	}
	return nil
}

// validate checks r, reporting each broken rule at its attribute.
func (r Release) validate(add func(attr string, err error)) {
	if r.Command != nil && len(r.Command) == 0 {
		add("release_command", fmt.Errorf("release_command must hold the command and its arguments (got an empty list)"))
	}
	if r.Timeout != 0 {
		add("release_timeout", ValidateReleaseTimeout(r.Timeout))
	}
}

package workload

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Run is how each instance of a workload runs: limits, restart policy,
// process and user, user labels, stop behaviour. The zero value is the
// engine's defaults (and unless-stopped).
type Run struct {
	// MemoryMiB limits the instance's memory; 0: no limit.
	MemoryMiB int `json:"memory,omitempty"`
	// CPUs limits the instance's CPU time, in cores; 0: no limit.
	CPUs float64 `json:"cpus,omitempty"`
	// Restart is the restart policy: "unless-stopped" (""), "always",
	// "on-failure" or "no".
	Restart string `json:"restart,omitempty"`
	// Command and Entrypoint replace the image's; nil keeps the image's.
	Command    []string `json:"command,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	// Labels are the user's labels on each instance; keys under
	// "tinyforge." are the provider's.
	Labels map[string]string `json:"labels,omitempty"`
	// StopSignal is the signal that stops the instance ("SIGTERM" when "").
	StopSignal string `json:"stop_signal,omitempty"`
	// StopTimeout is how long a stop waits after the signal before SIGKILL;
	// 0: DefaultStopTimeout.
	StopTimeout time.Duration `json:"-"`
	// Placement are Swarm placement constraints ("node.role==worker"):
	// where a service's tasks may run. Only with a Swarm engine.
	Placement []string `json:"placement,omitempty"`
}

// Restart policies, default first.
var RestartPolicies = []string{"unless-stopped", "always", "on-failure", "no"}

// DefaultStopTimeout is what an instance gets between its stop signal and
// SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// RestartPolicy is the policy with the default written out.
func (r Run) RestartPolicy() string {
	if r.Restart == "" {
		return RestartPolicies[0]
	}
	return r.Restart
}

// Stop is the stop timeout with the default written out.
func (r Run) Stop() time.Duration {
	if r.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return r.StopTimeout
}

// Equal reports whether two Runs make the same instances.
func (r Run) Equal(o Run) bool {
	return r.MemoryMiB == o.MemoryMiB && r.CPUs == o.CPUs && r.RestartPolicy() == o.RestartPolicy() &&
		slices.Equal(r.Command, o.Command) && slices.Equal(r.Entrypoint, o.Entrypoint) &&
		r.User == o.User && r.WorkingDir == o.WorkingDir && maps.Equal(r.Labels, o.Labels) &&
		r.StopSignal == o.StopSignal && r.Stop() == o.Stop()
}

// Zero reports whether r asks for nothing beyond the defaults.
func (r Run) Zero() bool { return r.Equal(Run{}) }

// ValidateMemory is the rule for memory, in MiB: the engine refuses less
// than 6 MiB.
func ValidateMemory(mib int) error {
	if mib != 0 && (mib < 6 || mib > 1<<30) {
		return fmt.Errorf("memory must be between 6 and %d MiB (got %d)", 1<<30, mib)
	}
	return nil
}

// ValidateCPUs is the rule for cpus: a positive number of cores, at most
// 1024, in steps the engine keeps (nanocores).
func ValidateCPUs(cpus float64) error {
	if cpus != 0 && (cpus < 0.01 || cpus > 1024) {
		return fmt.Errorf("cpus must be between 0.01 and 1024 (got %g)", cpus)
	}
	return nil
}

// ValidateRestart is the rule for restart.
func ValidateRestart(r string) error {
	if r == "" || slices.Contains(RestartPolicies, r) {
		return nil
	}
	return fmt.Errorf("restart must be one of %q (got %q)", RestartPolicies, r)
}

var signalRE = regexp.MustCompile(`^(SIG[A-Z0-9+-]+|[0-9]{1,2})$`)

// ValidateStopSignal is the rule for stop_signal: a signal name
// ("SIGTERM", "SIGQUIT", "SIGRTMIN+3") or number.
func ValidateStopSignal(s string) error {
	if s == "" || signalRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("stop_signal must be a signal name such as \"SIGTERM\" or a number (got %q)", s)
}

// ValidateLabelKey is the rule for a key of labels: not empty, no
// whitespace, and not under "tinyforge.", where the provider records what
// it deployed.
func ValidateLabelKey(k string) error {
	switch {
	case strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n="):
		return fmt.Errorf("labels key must be a non-empty name without whitespace or \"=\" (got %q)", k)
	case strings.HasPrefix(strings.ToLower(k), "tinyforge."):
		return fmt.Errorf("labels key %q is under \"tinyforge.\", which the provider keeps for what it records", k)
	}
	return nil
}

// ValidateReplicas is the rule for replicas.
func ValidateReplicas(n int) error {
	if n < 1 || n > 64 {
		return fmt.Errorf("replicas must be between 1 and 64 (got %d)", n)
	}
	return nil
}

// validate checks r, reporting each broken rule at its attribute.
func (r Run) validate(add func(attr string, err error)) {
	add("memory", ValidateMemory(r.MemoryMiB))
	add("cpus", ValidateCPUs(r.CPUs))
	add("restart", ValidateRestart(r.Restart))
	add("stop_signal", ValidateStopSignal(r.StopSignal))
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		add("labels", ValidateLabelKey(k))
	}
	if r.StopTimeout < 0 || r.StopTimeout > time.Hour {
		add("stop_timeout", fmt.Errorf("stop_timeout must be between 0 and 3600 seconds (got %s)", r.StopTimeout))
	}
	if r.WorkingDir != "" && !strings.HasPrefix(r.WorkingDir, "/") {
		add("working_dir", fmt.Errorf("working_dir must be an absolute path in the container (got %q)", r.WorkingDir))
	}
}

// ValidatePlacement checks one Swarm placement constraint: an attribute,
// == or !=, and a value (node.role==worker).
func ValidatePlacement(c string) error {
	for _, op := range []string{"==", "!="} {
		if k, v, ok := strings.Cut(c, op); ok && strings.TrimSpace(k) != "" && strings.TrimSpace(v) != "" {
			return nil
		}
	}
	return fmt.Errorf("placement constraint must be <attribute>==<value> or <attribute>!=<value>, such as node.role==worker (got %q)", c)
}

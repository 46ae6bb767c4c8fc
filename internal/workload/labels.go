package workload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Settings is the part of a Spec, besides the source, that a container
// records in its LabelSettings label: enough for import to rebuild the Spec.
// Env values are secrets and are left out; their names are kept so that
// import can read the values back from the container itself. SecretEnv's
// values are left out too, and import does not read them back.
type Settings struct {
	Strategy      string   `json:"deploy_strategy,omitempty"`
	Domains       []string `json:"domains,omitempty"`
	EnvKeys       []string `json:"env_keys,omitempty"`
	Volumes       []Volume `json:"volumes,omitempty"`
	HostPort      int      `json:"host_port,omitempty"`
	Port          int      `json:"port"`
	HealthTimeout int      `json:"health_timeout"` // seconds
	DrainTimeout  int      `json:"drain_timeout"`  // seconds
	Replicas      int      `json:"replicas,omitempty"`
	// Run is how each instance runs; StopTimeout in seconds.
	Run         Run `json:"run,omitzero"`
	StopTimeout int `json:"stop_timeout,omitempty"`
	// Release is the release command; ReleaseTimeout in seconds (0 when
	// there is none).
	Release        Release `json:"release,omitzero"`
	ReleaseTimeout int     `json:"release_timeout,omitempty"`
	// SecretEnvKeys are the names of the write-only env, never its values;
	// SecretEnvVersion the version that stands for them.
	SecretEnvKeys    []string `json:"secret_env_keys,omitempty"`
	SecretEnvVersion int      `json:"secret_env_wo_version,omitempty"`
	// Services are a stack's services and the replicas each asks for;
	// Service is the one routed.
	Services map[string]int `json:"services,omitempty"`
	Service  string         `json:"service,omitempty"`
}

// Labels are the labels of generation gen of the Spec's container, built
// from revision (a Git commit, "" for none).
func (s Spec) Labels(gen int, revision string) (map[string]string, error) {
	public, err := json.Marshal(s.Source.Public())
	if err != nil {
		return nil, fmt.Errorf("encode %s source config: %w", s.Source.Kind(), err)
	}
	releaseTimeout := 0
	if s.Release.Set() {
		releaseTimeout = int(s.Release.Limit() / time.Second)
	}
	settings, err := json.Marshal(Settings{
		Strategy:      string(s.Strategy),
		Domains:       s.Domains,
		EnvKeys:       s.EnvKeys(),
		Volumes:       s.Volumes,
		HostPort:      s.HostPort,
		Port:          s.Source.Container().Port,
		HealthTimeout: int(s.HealthTimeout / time.Second),
		DrainTimeout:  int(s.DrainTimeout / time.Second),
		Replicas:      s.ReplicaCount(),
		Run:           s.Run,
		StopTimeout:   int(s.Run.Stop() / time.Second),
		Release:       s.Release,
		SecretEnvKeys: s.SecretEnvKeys(),
		// The version alone: the values are the secret.
		SecretEnvVersion: s.SecretEnvVersion,
		ReleaseTimeout:   releaseTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	labels := map[string]string{
		LabelWorkload:   s.Name,
		LabelOwner:      s.Owner,
		LabelSource:     s.Source.Kind(),
		LabelGeneration: strconv.Itoa(gen),
		LabelConfig:     string(public),
		LabelSettings:   string(settings),
	}
	if revision != "" {
		labels[LabelCommit] = revision
	}
	return labels, nil
}

// ReleaseRecorded is the release command the settings record, its
// timeout written out.
func (set Settings) ReleaseRecorded() Release {
	r := set.Release
	if r.Set() {
		r.Timeout = time.Duration(set.ReleaseTimeout) * time.Second
	}
	return r
}

// Recorded is what a container's labels say about the workload it belongs to.
type Recorded struct {
	Workload string
	// Owner is who deployed the container; "" for a container deployed
	// before owners were recorded.
	Owner      string
	Kind       string
	Generation int
	Revision   string
	Settings   Settings
	// Config is the source config as JSON, secrets removed.
	Config []byte
}

// ReadLabels decodes the labels of one of the engine's containers. A label
// that cannot be read is reported, not guessed.
func ReadLabels(labels map[string]string) (Recorded, error) {
	r := Recorded{
		Workload: labels[LabelWorkload],
		Owner:    labels[LabelOwner],
		Kind:     labels[LabelSource],
		Revision: labels[LabelCommit],
		Config:   []byte(labels[LabelConfig]),
	}
	if r.Workload == "" {
		return r, fmt.Errorf("label %s is missing", LabelWorkload)
	}
	gen, err := strconv.Atoi(labels[LabelGeneration])
	if err != nil || gen < 1 {
		return r, fmt.Errorf("label %s=%q is not a generation number", LabelGeneration, labels[LabelGeneration])
	}
	r.Generation = gen
	if raw := labels[LabelSettings]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &r.Settings); err != nil {
			return r, fmt.Errorf("label %s: %w", LabelSettings, err)
		}
	}
	return r, nil
}

// OwnedBy reports whether owner may manage the container: it recorded that
// owner, or none (deployed before owners were recorded). owner "" manages
// every container, for import, which adopts whatever it finds.
func (r Recorded) OwnedBy(owner string) bool {
	return owner == "" || r.Owner == "" || r.Owner == owner
}

// Source rebuilds the recorded source config, for import.
func (r Recorded) Source() (plugin.Source, error) {
	return plugin.Decode(r.Kind, r.Config)
}

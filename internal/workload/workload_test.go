package workload_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

func validSpec() workload.Spec {
	return workload.Spec{
		Name:          "web",
		Env:           map[string]string{"A": "1"},
		Volumes:       []workload.Volume{{Source: "web-data", Target: "/data"}},
		HealthTimeout: time.Minute,
		Source:        &image.Config{Ref: "app:1", Port: 8080, Healthcheck: "/healthz"},
	}
}

// fieldErrors maps each broken attribute to its messages.
func fieldErrors(err error) map[string]string {
	got := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *workload.FieldError
		if errors.As(e, &fe) {
			got[fe.Attr] += fe.Error() + "\n"
		}
	}
	walk(err)
	return got
}

func TestValidateNamesEachBrokenAttribute(t *testing.T) {
	s := validSpec()
	s.Name = "Web_1"
	s.Domains = []string{"ok.example.test", "Bad Domain"}
	s.Volumes = []workload.Volume{{Source: "data", Target: "relative/dir"}, {Source: "../x", Target: "/a"}}
	s.Source = &image.Config{Ref: "", Port: 0}
	_, err := s.Validate(workload.Host{Proxied: true})
	if err == nil {
		t.Fatal("no error")
	}
	want := map[string]string{
		"name":              `got "Web_1"`,
		"domains[1]":        `"Bad Domain"`,
		"volume[0].target":  `target must be an absolute path in the container (got "relative/dir")`,
		"volume[1].source":  `(got "../x")`,
		"source.image":      "ref must not be empty",
		"source.image#port": "port must be between 1 and 65535 (got 0)",
	}
	got := fieldErrors(err)
	for attr, msg := range want {
		a := strings.Split(attr, "#")[0]
		if !strings.Contains(got[a], msg) {
			t.Errorf("attribute %s: want %q in %q", a, msg, got[a])
		}
	}
}

func TestValidateNeedsAProxyForDomainsAndBlueGreen(t *testing.T) {
	s := validSpec()
	s.Domains = []string{"web.example.test"}
	if _, err := s.Validate(workload.Host{Proxied: false}); err == nil || !strings.Contains(err.Error(), "need a proxy") {
		t.Fatalf("domains without proxy: %v", err)
	}
	s.Domains = nil
	s.Strategy = plugin.StrategyBlueGreen
	if _, err := s.Validate(workload.Host{Proxied: false}); err == nil || !strings.Contains(err.Error(), "needs a proxy") {
		t.Fatalf("blue-green without proxy: %v", err)
	}
	s.Domains = []string{"web.example.test"}
	got, err := s.Validate(workload.Host{Proxied: true})
	if err != nil || got != plugin.StrategyBlueGreen {
		t.Fatalf("blue-green with proxy: %q %v", got, err)
	}
}

func TestNeedsRedeploy(t *testing.T) {
	base := validSpec()
	same := validSpec()
	same.Strategy = plugin.StrategyRecreate
	same.Domains = []string{"x.example.test"}
	same.DrainTimeout = time.Hour
	same.Source = &image.Config{Ref: "app:1", Port: 8080, Healthcheck: "/other", Pull: "always"}
	if workload.NeedsRedeploy(base, same) {
		t.Error("routing, strategy, timing, probe path and pull policy alone must not redeploy")
	}
	for name, mutate := range map[string]func(*workload.Spec){
		"ref":       func(s *workload.Spec) { s.Source = &image.Config{Ref: "app:2", Port: 8080} },
		"port":      func(s *workload.Spec) { s.Source = &image.Config{Ref: "app:1", Port: 9090} },
		"env value": func(s *workload.Spec) { s.Env = map[string]string{"A": "2"} },
		"env key":   func(s *workload.Spec) { s.Env = map[string]string{"B": "1"} },
		"volume":    func(s *workload.Spec) { s.Volumes[0].ReadOnly = true },
		"host_port": func(s *workload.Spec) { s.HostPort = 8081 },
	} {
		next := validSpec()
		mutate(&next)
		if !workload.NeedsRedeploy(base, next) {
			t.Errorf("a change of %s must redeploy", name)
		}
	}
}

func TestLabelsRoundTripWithoutEnvValues(t *testing.T) {
	s := validSpec()
	s.Env = map[string]string{"SECRET_TOKEN": "hunter2-very-secret", "A": "1"}
	s.HostPort = 8081
	s.Domains = []string{"web.example.test"}
	labels, err := s.Labels(3, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		if strings.Contains(v, "hunter2") {
			t.Fatalf("label %s carries an env value: %s", k, v)
		}
	}
	rec, err := workload.ReadLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Workload != "web" || rec.Generation != 3 || rec.Revision != "abc123" || rec.Kind != "image" {
		t.Fatalf("recorded %+v", rec)
	}
	set := rec.Settings
	if strings.Join(set.EnvKeys, ",") != "A,SECRET_TOKEN" || set.HostPort != 8081 || set.Port != 8080 ||
		set.HealthTimeout != 60 || len(set.Volumes) != 1 || set.Volumes[0].Target != "/data" || set.Domains[0] != "web.example.test" {
		t.Fatalf("settings %+v", set)
	}
	src, err := rec.Source()
	if err != nil {
		t.Fatal(err)
	}
	if src.Fingerprint() != s.Source.Fingerprint() {
		t.Fatalf("source did not round-trip: %s vs %s", src.Fingerprint(), s.Source.Fingerprint())
	}
	if _, err := workload.ReadLabels(map[string]string{workload.LabelWorkload: "web", workload.LabelGeneration: "x"}); err == nil {
		t.Fatal("a bad generation label must be reported")
	}
}

// mounting is a source that mounts a storage volume of its own, as a
// storage-backed Deno site does.
type mounting struct{ *image.Config }

func (mounting) Mounts() []plugin.Mount {
	return []plugin.Mount{{Source: "site-data", Target: "/data"}}
}

// TestSourceMountsJoinTheVolumes: a source's mounts come after the
// workload's volumes, and a volume on the same target is refused, naming
// it.
func TestSourceMountsJoinTheVolumes(t *testing.T) {
	s := validSpec()
	s.Volumes = []workload.Volume{{Source: "logs", Target: "/logs"}}
	s.Source = mounting{&image.Config{Ref: "app:1", Port: 8080}}
	if got := s.Mounts(); len(got) != 2 || got[1].Source != "site-data" || got[1].Target != "/data" {
		t.Fatalf("mounts %+v", got)
	}
	s.Volumes = append(s.Volumes, workload.Volume{Source: "other", Target: "/data/"})
	_, err := s.Validate(workload.Host{})
	if err == nil || !strings.Contains(err.Error(), `target "/data/" is where the image source mounts site-data`) {
		t.Fatalf("a volume on the source's mount point: %v", err)
	}
}

// TestRunAndReplicasRules: each container setting and the replica count
// are checked where they are written, naming the attribute and the value;
// a change of a setting needs a new container, a change of replicas alone
// does not.
func TestRunAndReplicasRules(t *testing.T) {
	s := validSpec()
	s.Domains = []string{"web.example.test"}
	s.Replicas, s.HostPort = 3, 8081
	s.Run = workload.Run{MemoryMiB: 2, CPUs: -1, Restart: "sometimes", StopSignal: "TERM PLEASE", WorkingDir: "tmp",
		Labels: map[string]string{"tinyforge.owner": "x", "ok": "1"}}
	_, err := s.Validate(workload.Host{Proxied: true, SingleUpstream: true})
	for _, want := range []string{"memory must be between 6 and", "(got 2)", "cpus must be between 0.01 and 1024 (got -1)",
		`restart must be one of`, `(got "sometimes")`, `stop_signal must be a signal name`, `working_dir must be an absolute path`,
		`labels key "tinyforge.owner" is under "tinyforge."`, "replicas 3 cannot share host_port 8081",
		"replicas 3 needs a proxy that balances"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	a, b := validSpec(), validSpec()
	b.Replicas = 5
	if workload.NeedsRedeploy(a, b) {
		t.Error("a change of replicas alone asked for a new container")
	}
	b.Run.User = "nobody"
	if !workload.NeedsRedeploy(a, b) {
		t.Error("a change of user kept the container")
	}
	if (workload.Run{}).RestartPolicy() != "unless-stopped" || !(workload.Run{Restart: "unless-stopped", StopTimeout: 10 * time.Second}).Zero() {
		t.Error("the defaults written out are not the defaults")
	}
}

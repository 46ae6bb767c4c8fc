package workload_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
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
	for _, fe := range workload.FieldErrors(err) {
		got[fe.Attr] += fe.Error() + "\n"
	}
	return got
}

func TestValidateNamesEachBrokenAttribute(t *testing.T) {
	s := validSpec()
	s.Name = "Web_1"
	s.Domains = []string{"ok.example.test", "Bad Domain"}
	s.Volumes = []workload.Volume{{Source: "data", Target: "relative/dir"}, {Source: "../x", Target: "/a"}}
	s.Source = &image.Config{Ref: "", Port: -1}
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
		"source.image#port": "port must be between 1 and 65535 (got -1)",
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
	same.Release = workload.Release{Command: []string{"migrate"}, Timeout: time.Minute}
	// The state holds no secret value: only its version tells a change.
	same.SecretEnv = map[string]string{"B": "from the configuration"}
	if workload.NeedsRedeploy(base, same) {
		t.Error("routing, strategy, timing, probe path, pull policy, release command and secret values alone must not redeploy")
	}
	for name, mutate := range map[string]func(*workload.Spec){
		"ref":       func(s *workload.Spec) { s.Source = &image.Config{Ref: "app:2", Port: 8080} },
		"port":      func(s *workload.Spec) { s.Source = &image.Config{Ref: "app:1", Port: 9090} },
		"env value": func(s *workload.Spec) { s.Env = map[string]string{"A": "2"} },
		"env key":   func(s *workload.Spec) { s.Env = map[string]string{"B": "1"} },
		"volume":    func(s *workload.Spec) { s.Volumes[0].ReadOnly = true },
		"host_port": func(s *workload.Spec) { s.HostPort = 8081 },
		"secret_env_wo_version": func(s *workload.Spec) {
			s.SecretEnv, s.SecretEnvVersion = map[string]string{"B": "x"}, 2
		},
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

func TestLabelsRecordTheReleaseAndTheSecretNamesNotTheirValues(t *testing.T) {
	s := validSpec()
	s.Release = workload.Release{Command: []string{"migrate", "--to", "latest"}}
	s.SecretEnv = map[string]string{"DB_PASSWORD": "canary-0b9d2f", "API_KEY": "canary-77aa1c"}
	s.SecretEnvVersion = 3
	labels, err := s.Labels(2, "")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		if strings.Contains(v, "canary-") {
			t.Fatalf("label %s carries a secret value: %s", k, v)
		}
	}
	rec, err := workload.ReadLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	set := rec.Settings
	r := set.ReleaseRecorded()
	if strings.Join(r.Command, " ") != "migrate --to latest" || r.Timeout != workload.DefaultReleaseTimeout {
		t.Errorf("release recorded as %+v, want the command and the default timeout written out", r)
	}
	if strings.Join(set.SecretEnvKeys, ",") != "API_KEY,DB_PASSWORD" || set.SecretEnvVersion != 3 {
		t.Errorf("secret env recorded as %v version %d", set.SecretEnvKeys, set.SecretEnvVersion)
	}
	if none := (workload.Settings{}).ReleaseRecorded(); none.Set() || none.Timeout != 0 {
		t.Errorf("no release recorded reads back as %+v", none)
	}
}

func TestEnvironHoldsEnvAndSecretsAndTheMaskerHidesBoth(t *testing.T) {
	s := validSpec()
	s.Env = map[string]string{"LEVEL": "dbg", "TOKEN": "env-value-123"}
	s.SecretEnv = map[string]string{"DB_PASSWORD": "secret-value-456"}
	if got := strings.Join(s.Environ(), " "); got != "DB_PASSWORD=secret-value-456 LEVEL=dbg TOKEN=env-value-123" {
		t.Errorf("Environ() = %q", got)
	}
	m := s.Masker()
	got := m.MaskLines([]string{"connect secret-value-456 with env-value-123 at level dbg", "nothing"})
	want := []string{"connect [masked] with [masked] at level dbg", "nothing"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("masked %q, want %q (values under 4 characters and plain words stay)", got, want)
	}
	// A value that holds another is masked whole.
	if got := workload.NewMasker("abcd", "abcdefgh").Mask("x abcdefgh y abcd"); got != "x [masked] y [masked]" {
		t.Errorf("nested values masked as %q", got)
	}
}

func TestValidateReleaseSecretsAndWorkers(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*workload.Spec)
		attr   string
		want   string
	}{
		{"empty release command", func(s *workload.Spec) { s.Release.Command = []string{} }, "release_command",
			"release_command must hold the command"},
		{"release timeout", func(s *workload.Spec) { s.Release = workload.Release{Command: []string{"x"}, Timeout: 25 * time.Hour} },
			"release_timeout", "release_timeout must be between 1 and 86400 seconds (got 90000)"},
		{"a key in env and secret_env_wo", func(s *workload.Spec) { s.SecretEnv = map[string]string{"A": "x"} }, "secret_env_wo",
			`secret_env_wo key "A" is set in env too`},
		{"a bad secret name", func(s *workload.Spec) { s.SecretEnv = map[string]string{"1X": "x"} }, "secret_env_wo",
			`env name must start with a letter or underscore`},
		{"worker with domains", func(s *workload.Spec) {
			s.Source, s.Domains = &image.Config{Ref: "app:1"}, []string{"web.example.test"}
		}, "domains", `domains ["web.example.test"] need a port to route to: set source.image.port`},
		{"worker with a healthcheck", func(s *workload.Spec) { s.Source = &image.Config{Ref: "app:1", Healthcheck: "/healthz"} },
			"source.image.healthcheck", `healthcheck "/healthz" needs a port to probe`},
		{"worker with host_port", func(s *workload.Spec) { s.Source, s.HostPort = &image.Config{Ref: "app:1"}, 8081 },
			"host_port", `host_port 8081 needs a port to publish`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.mutate(&s)
			_, err := s.Validate(workload.Host{Proxied: true})
			if got := fieldErrors(err)[tt.attr]; !strings.Contains(got, tt.want) {
				t.Errorf("on %s: got %q, want %q (all: %v)", tt.attr, got, tt.want, err)
			}
		})
	}
}

func TestAWorkerDeploysBlueGreenWithoutAProxy(t *testing.T) {
	s := validSpec()
	s.Source = &image.Config{Ref: "app:1"}
	s.Strategy = plugin.StrategyBlueGreen
	if !s.Worker() {
		t.Fatal("an image without a port is not a worker")
	}
	for _, proxied := range []bool{false, true} {
		if got, err := s.Validate(workload.Host{Proxied: proxied}); err != nil || got != plugin.StrategyBlueGreen {
			t.Errorf("proxied %v: %q %v, want blue-green (start, gate, stop the old: no route to swap)", proxied, got, err)
		}
	}
	s.Strategy = ""
	if got, err := s.Validate(workload.Host{Proxied: true}); err != nil || got != plugin.StrategyRecreate {
		t.Errorf("the default of a worker: %q %v, want recreate", got, err)
	}
}

// TestValidateTLS: a workload's own certificate is checked at the
// attribute that is wrong (tlscert's rules), and the proxy's own rule is
// asked, at domains for its issuer's certificates and at tls for the
// workload's; no message carries the key.
func TestValidateTLS(t *testing.T) {
	ca := acctest.MustTestCA(t, "workload test CA")
	leaf := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"web.example.test"}})
	other := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"web.example.test"}})
	refuseWildcards := func(r proxy.Route) error {
		if r.TLS == nil && strings.HasPrefix(r.Domains[0], "*.") {
			return errors.New("no wildcard from this issuer")
		}
		return nil
	}
	for name, tc := range map[string]struct {
		domains []string
		tls     *proxy.TLS
		attr    string
		want    string
	}{
		"a certificate without domains": {tls: &proxy.TLS{CertificatePEM: leaf.CertPEM}, attr: "tls", want: "needs domains"},
		"a domain it misses":            {domains: []string{"web.example.test", "api.example.test"}, tls: &proxy.TLS{CertificatePEM: leaf.CertPEM}, attr: "tls.certificate_pem", want: `does not cover domain "api.example.test"`},
		"another certificate's key":     {domains: []string{"web.example.test"}, tls: &proxy.TLS{CertificatePEM: leaf.CertPEM, KeyPEM: other.KeyPEM}, attr: "tls.private_key_pem_wo", want: "is not the key"},
		"not a certificate":             {domains: []string{"web.example.test"}, tls: &proxy.TLS{CertificatePEM: "nope"}, attr: "tls.certificate_pem", want: "no PEM certificate"},
		"the proxy's rule":              {domains: []string{"*.example.test"}, attr: "domains", want: "no wildcard from this issuer"},
		"a good one, key unseen":        {domains: []string{"web.example.test"}, tls: &proxy.TLS{CertificatePEM: leaf.CertPEM}},
	} {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			s.Domains, s.TLS = tc.domains, tc.tls
			_, err := s.Validate(workload.Host{Proxied: true, CheckTLS: refuseWildcards})
			got := fieldErrors(err)
			if tc.attr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !strings.Contains(got[tc.attr], tc.want) {
				t.Fatalf("errors %v, want %q at %s", got, tc.want, tc.attr)
			}
			if strings.Contains(err.Error(), other.KeyPEM[40:80]) {
				t.Fatal("an error carries the key")
			}
		})
	}
}

package compose

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin/plugintest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

const sentinelToken = "tf-SENTINEL-token-c0mp05e"

func stack() Config {
	return Config{Repo: gitbuild.Repo{BaseURL: "https://gitea.example.test", RepoOwner: "acme", RepoName: "stack", Token: sentinelToken},
		Service: "web", Port: 8080}
}

// TestConformance: the plugin contract, on a stack with every optional
// attribute set.
func TestConformance(t *testing.T) {
	full := stack()
	full.Files, full.Profiles, full.RemoveVolumes, full.Healthcheck = []string{"deploy/compose.yaml"}, []string{"web"}, true, "/healthz"
	plugintest.Run(t, plugintest.Conformance[Config, *Config]{
		Source:  &full,
		Secrets: []string{sentinelToken},
		Valid:   map[string]*Config{"the minimal stack": ptr(stack())},
		Decoded: func(t *testing.T, got *Config) {
			if !got.RemoveVolumes || got.Files[0] != "deploy/compose.yaml" || got.Token != "" {
				t.Fatalf("decoded %+v", got)
			}
		},
		Base: stack(),
		Invalid: []plugintest.Invalid[Config]{
			plugintest.Refuses("file out of the repository", func(c *Config) { c.Files = []string{"compose.yaml", "../x.yaml"} },
				"files[1]", `"../x.yaml"`, `files[1] must be a relative path inside the repository (got "../x.yaml")`),
			plugintest.Refuses("profile", func(c *Config) { c.Profiles = []string{"-x"} }, "profiles[0]", `"-x"`, `profiles[0] must be a compose profile name`),
			plugintest.Refuses("service without port", func(c *Config) { c.Port = 0 }, "port", "", `port is required with service "web"`),
			plugintest.Refuses("port without service", func(c *Config) { c.Service = "" }, "service", "", `service is required with port 8080`),
			plugintest.Refuses("healthcheck", func(c *Config) { c.Healthcheck = "up" }, "healthcheck", `"up"`, `healthcheck must be an absolute HTTP path`),
			plugintest.Refuses("git", func(c *Config) { c.RepoOwner = "" }, "repo_owner", "", `repo_owner is required`),
		},
	})
}

// TestStackRefusesBlueGreen: the stack is one compose project, so
// blue-green is refused, asked or not; a routed stack updates its routed
// service start-first by default, an unrouted one lets compose recreate,
// and recreate may be asked for. (What else a stack refuses, the stack
// pipeline says: rollout's TestStackRules.)
func TestStackRefusesBlueGreen(t *testing.T) {
	c := stack()
	routed := plugin.Routing{Proxy: true, Domains: true}
	if _, err := plugin.ResolveStrategy(plugin.StrategyBlueGreen, &c, routed, false); err == nil || !strings.Contains(err.Error(), "one compose project") {
		t.Fatalf("blue-green: %v", err)
	}
	for _, tc := range []struct {
		requested plugin.Strategy
		routing   plugin.Routing
		want      plugin.Strategy
	}{
		{plugin.StrategyDefault, routed, plugin.StrategyStartFirst},
		{plugin.StrategyDefault, plugin.Routing{}, plugin.StrategyRecreate},
		{plugin.StrategyRecreate, routed, plugin.StrategyRecreate},
	} {
		if got, err := plugin.ResolveStrategy(tc.requested, &c, tc.routing, false); err != nil || got != tc.want {
			t.Errorf("%q with %+v: %v %v, want %q", tc.requested, tc.routing, got, err, tc.want)
		}
	}
	if err := plugin.CheckStrategy(string(plugin.StrategyStartFirst)); err == nil {
		t.Errorf("start-first is a default, not a value to write, yet CheckStrategy accepts it")
	}
}

// TestFingerprintCoversTheRoutedService: another routed service is
// another deploy.
func TestFingerprintCoversTheRoutedService(t *testing.T) {
	c := stack()
	other := c
	other.Service = "api"
	if other.Fingerprint() == c.Fingerprint() {
		t.Fatal("another routed service kept the fingerprint")
	}
}

func ptr(c Config) *Config { return &c }

package compose

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

const sentinelToken = "tf-SENTINEL-token-c0mp05e"

func stack() Config {
	return Config{Repo: gitbuild.Repo{BaseURL: "https://gitea.example.test", RepoOwner: "acme", RepoName: "stack", Token: sentinelToken},
		Service: "web", Port: 8080}
}

func TestValidateNamesTheAttributeAndTheValue(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"file out of the repository": {func(c *Config) { c.Files = []string{"compose.yaml", "../x.yaml"} }, `files[1] must be a relative path inside the repository (got "../x.yaml")`},
		"profile":                    {func(c *Config) { c.Profiles = []string{"-x"} }, `profiles[0] must be a compose profile name`},
		"service without port":       {func(c *Config) { c.Port = 0 }, `port is required with service "web"`},
		"port without service":       {func(c *Config) { c.Service = "" }, `service is required with port 8080`},
		"healthcheck":                {func(c *Config) { c.Healthcheck = "up" }, `healthcheck must be an absolute HTTP path`},
		"git":                        {func(c *Config) { c.RepoOwner = "" }, `repo_owner is required`},
	} {
		c := stack()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), sentinelToken) {
			t.Errorf("%s: the token is in %q", name, err)
		}
	}
	ok := stack()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestStackRefusesBlueGreenAndNeedsAServiceForDomains: the stack is
// compose's, so blue-green is refused, asked or not; domains route to a
// service, which must be named; volumes and host_port are the compose
// file's business.
func TestStackRefusesBlueGreenAndNeedsAServiceForDomains(t *testing.T) {
	c := stack()
	routed := plugin.Routing{Proxy: true, Domains: true}
	if _, err := plugin.ResolveStrategy(plugin.StrategyBlueGreen, &c, routed, false); err == nil || !strings.Contains(err.Error(), "managed by compose") {
		t.Fatalf("blue-green: %v", err)
	}
	if got, err := plugin.ResolveStrategy(plugin.StrategyDefault, &c, routed, false); err != nil || got != plugin.StrategyRecreate {
		t.Fatalf("the default: %v %v", got, err)
	}
	spec := workload.Spec{Name: "shop", Domains: []string{"shop.example.test"}, Source: &Config{Repo: c.Repo},
		HostPort: 8080, Volumes: []workload.Volume{{Source: "data", Target: "/data"}}}
	_, err := spec.Validate(workload.Host{Proxied: true})
	for _, want := range []string{`service is required with domains ["shop.example.test"]`, "host_port 8080 does not apply to a compose source",
		"volume blocks do not apply to a compose source"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func TestPublicCarriesNoTokenAndDecodes(t *testing.T) {
	c := stack()
	c.Files, c.Profiles, c.RemoveVolumes = []string{"deploy/compose.yaml"}, []string{"web"}, true
	b, err := json.Marshal(c.Public())
	if err != nil || strings.Contains(string(b), sentinelToken) {
		t.Fatalf("Public: %s %v", b, err)
	}
	src, err := plugin.Decode(Kind, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.(*Config); got.Fingerprint() != c.Fingerprint() || !got.RemoveVolumes || got.Files[0] != "deploy/compose.yaml" {
		t.Fatalf("decoded %+v", got)
	}
	other := c
	other.Service = "api"
	if other.Fingerprint() == c.Fingerprint() {
		t.Fatal("another routed service kept the fingerprint")
	}
}

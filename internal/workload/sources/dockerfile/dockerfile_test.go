package dockerfile

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin/plugintest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// sentinelToken is a token no message could contain by accident.
const sentinelToken = "tf-SENTINEL-token-7c3e91d4"

func validConfig() Config {
	return Config{
		Repo: gitbuild.Repo{BaseURL: "https://gitea.example.test", RepoOwner: "acme", RepoName: "web", Token: sentinelToken},
		Port: 8080,
	}
}

// TestConformance: the plugin contract, with the defaults written out on
// decode.
func TestConformance(t *testing.T) {
	c := validConfig()
	c.BuildArgs = map[string]string{"VERSION": "1"}
	c.ReportCommitStatus = true
	explicit := validConfig()
	explicit.Provider, explicit.Branch, explicit.ContextPath, explicit.DockerfilePath = "gitea", "release/1.x", "services/api", "deploy/Dockerfile"
	explicit.Healthcheck, explicit.BuildArgs = "/healthz", map[string]string{"VERSION": "1"}
	worker := validConfig()
	worker.Port = 0
	plugintest.Run(t, plugintest.Conformance[Config, *Config]{
		Source:  &c,
		Secrets: []string{sentinelToken},
		// Import rebuilds the source from the label: the defaults are
		// written out, the token is not there to rebuild.
		Decoded: func(t *testing.T, got *Config) {
			if got.Branch != "main" || got.ContextPath != "." || got.DockerfilePath != "Dockerfile" {
				t.Errorf("decoded defaults = %q %q %q, want main . Dockerfile", got.Branch, got.ContextPath, got.DockerfilePath)
			}
			if got.Token != "" || !got.ReportCommitStatus || got.BuildArgs["VERSION"] != "1" {
				t.Errorf("decoded %+v", *got)
			}
		},
		Valid: map[string]*Config{"defaults apply to empty branch and paths": ptr(validConfig()), "explicit values": &explicit,
			"no port: a worker": ptr(worker)},
		Base: validConfig(),
		Invalid: []plugintest.Invalid[Config]{
			plugintest.Refuses("context path with ..", func(c *Config) { c.ContextPath = "services/../.." }, "context_path", `"services/../.."`,
				`context_path must be a relative path inside the repository (got "services/../..")`),
			plugintest.Refuses("context path absolute", func(c *Config) { c.ContextPath = "/srv/app" }, "context_path", `"/srv/app"`,
				`context_path must be a relative path inside the repository (got "/srv/app")`),
			plugintest.Refuses("context path not clean", func(c *Config) { c.ContextPath = "services//api/" }, "context_path", `"services//api/"`,
				`context_path must be a clean relative path (got "services//api/", write "services/api")`),
			plugintest.Refuses("dockerfile path with ..", func(c *Config) { c.DockerfilePath = "../Dockerfile" }, "dockerfile_path", `"../Dockerfile"`,
				`dockerfile_path must be a relative path inside the repository (got "../Dockerfile")`),
			plugintest.Refuses("dockerfile path absolute", func(c *Config) { c.DockerfilePath = "/Dockerfile" }, "dockerfile_path", `"/Dockerfile"`,
				`dockerfile_path must be a relative path inside the repository (got "/Dockerfile")`),
			plugintest.Refuses("dockerfile path is the context", func(c *Config) { c.DockerfilePath = "." }, "dockerfile_path", `"."`,
				`dockerfile_path must name a file inside the build context (got ".")`),
			plugintest.Refuses("empty owner", func(c *Config) { c.RepoOwner = "" }, "repo_owner", "", "repo_owner is required"),
			plugintest.Refuses("bad owner", func(c *Config) { c.RepoOwner = "acme corp" }, "repo_owner", `"acme corp"`,
				`repo_owner must be letters`, `(got "acme corp")`),
			plugintest.Refuses("empty name", func(c *Config) { c.RepoName = "" }, "repo_name", "", "repo_name is required"),
			plugintest.Refuses("bad provider", func(c *Config) { c.Provider = "bitbucket" }, "provider", `"bitbucket"`,
				`provider must be one of`, `(got "bitbucket")`),
			plugintest.Refuses("gitlab without base_url", func(c *Config) { c.Provider, c.BaseURL = "gitlab", "" }, "base_url", "",
				`base_url is required for provider "gitlab"`),
			plugintest.Refuses("base_url not http", func(c *Config) { c.BaseURL = "ftp://git.example.test" }, "base_url", `"ftp://git.example.test"`,
				`base_url must be an http:// or https:// URL with a host (got "ftp://git.example.test")`),
			plugintest.Refuses("bad branch", func(c *Config) { c.Branch = "a..b" }, "branch", `"a..b"`,
				`branch must be a branch name such as "main" (got "a..b")`),
			plugintest.Refuses("port negative", func(c *Config) { c.Port = -1 }, "port", "-1", "port must be between 1 and 65535 (got -1)"),
			plugintest.Refuses("healthcheck relative", func(c *Config) { c.Healthcheck = "healthz" }, "healthcheck", `"healthz"`,
				`healthcheck must be an absolute HTTP path starting with "/" (got "healthz")`),
			plugintest.Refuses("build arg name", func(c *Config) { c.BuildArgs = map[string]string{"A=B": "x"} }, "build_args", `"A=B"`,
				`build_args key must be a non-empty name without "=", whitespace or control characters (got "A=B")`),
			plugintest.Refuses("every broken rule is reported", func(c *Config) { c.RepoName, c.ContextPath, c.Port = "", "/x", 70000 }, "context_path", `"/x"`,
				"repo_name is required", `context_path must be a relative path inside the repository (got "/x")`,
				"port must be between 1 and 65535 (got 70000)"),
		},
	})
}

func ptr(c Config) *Config { return &c }

func TestValidatePortMessage(t *testing.T) {
	c := validConfig()
	c.Port = 70000
	want := "dockerfile source: port must be between 1 and 65535 (got 70000)"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want %q", err, want)
	}
}

// The per-attribute rules the provider's validators call agree with
// Validate, and accept "" (the default) where Validate does.
func TestAttributeRules(t *testing.T) {
	tests := []struct {
		rule  func(string) error
		value string
		want  string // "" = valid
	}{
		{ValidateContextPath, "", ""},
		{ValidateContextPath, ".", ""},
		{ValidateContextPath, "services/api", ""},
		{ValidateContextPath, "a/../b", `context_path must be a relative path inside the repository (got "a/../b")`},
		{ValidateContextPath, "/a", `context_path must be a relative path inside the repository (got "/a")`},
		{ValidateDockerfilePath, "", ""},
		{ValidateDockerfilePath, "deploy/Dockerfile", ""},
		{ValidateDockerfilePath, "..", `dockerfile_path must be a relative path inside the repository (got "..")`},
		{ValidateDockerfilePath, ".", `dockerfile_path must name a file inside the build context (got ".")`},
		{gitbuild.ValidateProvider, "", ""},
		{gitbuild.ValidateProvider, "gitlab", ""},
		{gitbuild.ValidateProvider, "GitHub", `provider must be one of "gitea", "github", "gitlab" or empty to detect it from base_url (got "GitHub")`},
		{gitbuild.ValidateBaseURL, "", ""},
		{gitbuild.ValidateBaseURL, "http://127.0.0.1:3000", ""},
		{gitbuild.ValidateBaseURL, "https://me:" + sentinelToken + "@git.example.test", "base_url must not carry credentials"},
		{gitbuild.ValidateBranch, "", ""},
		{gitbuild.ValidateBranch, "feature/x", ""},
		{gitbuild.ValidateBranch, "refs/heads/main", `branch must be a branch name such as "main" (got "refs/heads/main")`},
		{ValidateBuildArgName, "VERSION", ""},
		{ValidateBuildArgName, "", `build_args key must be a non-empty name without "=", whitespace or control characters (got "")`},
	}
	for _, tt := range tests {
		err := tt.rule(tt.value)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("rule(%q) = %v, want nil", tt.value, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("rule(%q) = %v, want an error containing %q", tt.value, err, tt.want)
		case err != nil && strings.Contains(err.Error(), sentinelToken):
			t.Errorf("rule(%q) echoes the credentials: %v", tt.value, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := validConfig()
	base.BuildArgs = map[string]string{"A": "1", "B": "2"}
	same := []struct {
		name   string
		mutate func(*Config)
	}{
		{"another token", func(c *Config) { c.Token = "other" }},
		{"a healthcheck", func(c *Config) { c.Healthcheck = "/healthz" }},
		{"status reporting", func(c *Config) { c.ReportCommitStatus = true }},
		{"defaults written out", func(c *Config) { c.Branch, c.ContextPath, c.DockerfilePath = "main", ".", "Dockerfile" }},
		{"the detected provider named", func(c *Config) { c.Provider = "gitea" }},
		{"base_url with a trailing slash", func(c *Config) { c.BaseURL += "/" }},
		{"build args written in another order", func(c *Config) { c.BuildArgs = map[string]string{"B": "2", "A": "1"} }},
	}
	for _, tt := range same {
		c := base
		tt.mutate(&c)
		if c.Fingerprint() != base.Fingerprint() {
			t.Errorf("%s changed the fingerprint:\n %s\n %s", tt.name, c.Fingerprint(), base.Fingerprint())
		}
	}
	differs := []struct {
		name   string
		mutate func(*Config)
	}{
		{"repo_name", func(c *Config) { c.RepoName = "api" }},
		{"repo_owner", func(c *Config) { c.RepoOwner = "other" }},
		{"base_url", func(c *Config) { c.BaseURL = "https://git.example.test" }},
		{"context_path", func(c *Config) { c.ContextPath = "services/api" }},
		{"dockerfile_path", func(c *Config) { c.DockerfilePath = "Dockerfile.prod" }},
		{"a build arg value", func(c *Config) { c.BuildArgs = map[string]string{"A": "1", "B": "3"} }},
		{"a build arg more", func(c *Config) { c.BuildArgs = map[string]string{"A": "1", "B": "2", "C": ""} }},
		{"port", func(c *Config) { c.Port = 9090 }},
	}
	for _, tt := range differs {
		c := base
		tt.mutate(&c)
		if c.Fingerprint() == base.Fingerprint() {
			t.Errorf("%s did not change the fingerprint %s", tt.name, c.Fingerprint())
		}
	}
	if strings.Contains(base.Fingerprint(), sentinelToken) {
		t.Errorf("fingerprint carries the token")
	}
}

func TestImageTag(t *testing.T) {
	commit := "0123456789abcdef0123456789abcdef01234567"
	c := validConfig()
	tag := c.ImageTag("web", commit)
	if !regexp.MustCompile(`^tinyforge/web:0123456789ab-[0-9a-f]{8}$`).MatchString(tag) {
		t.Fatalf("ImageTag = %q, want tinyforge/web:<commit[:12]>-<8 hex>", tag)
	}
	explicit := c
	explicit.ContextPath, explicit.DockerfilePath = ".", "Dockerfile"
	if explicit.ImageTag("web", commit) != tag {
		t.Errorf("defaults written out changed the tag: %s vs %s", explicit.ImageTag("web", commit), tag)
	}
	for name, mutate := range map[string]func(*Config){
		"build_args":      func(c *Config) { c.BuildArgs = map[string]string{"VERSION": "2"} },
		"context_path":    func(c *Config) { c.ContextPath = "app" },
		"dockerfile_path": func(c *Config) { c.DockerfilePath = "Dockerfile.prod" },
	} {
		d := c
		mutate(&d)
		if d.ImageTag("web", commit) == tag {
			t.Errorf("a change of %s kept the tag %s: it would not rebuild", name, tag)
		}
	}
}

func TestDefaultStrategyAndContainer(t *testing.T) {
	c := validConfig()
	c.Healthcheck = "/healthz"
	for _, routed := range []bool{false, true} {
		if got := c.DefaultStrategy(routed); got != plugin.StrategyRecreate {
			t.Errorf("DefaultStrategy(%v) = %q, want recreate (the historical default)", routed, got)
		}
	}
	if got := c.Container(); got != (plugin.Container{Port: 8080, Healthcheck: "/healthz"}) {
		t.Errorf("Container() = %+v", got)
	}
	if c.Kind() != "dockerfile" {
		t.Errorf("Kind() = %q", c.Kind())
	}
}

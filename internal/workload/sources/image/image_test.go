package image

import (
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin/plugintest"
)

// TestConformance: the plugin contract; an image source holds no secret,
// and the pull policy is written out.
func TestConformance(t *testing.T) {
	full := Config{Ref: "registry.example.test/acme/web:1.4.2", Port: 8080, Healthcheck: "/healthz", Pull: PullAlways}
	plugintest.Run(t, plugintest.Conformance[Config, *Config]{
		Source: &full,
		Valid: map[string]*Config{"the pull policy left out": {Ref: "acme/web:1", Port: 8080},
			"no port: a worker": {Ref: "acme/worker:1"}},
		Decoded: func(t *testing.T, got *Config) {
			if *got != full {
				t.Errorf("decoded %+v, want %+v", *got, full)
			}
		},
		Base: Config{Ref: "acme/web:1", Port: 8080},
		Invalid: []plugintest.Invalid[Config]{
			plugintest.Refuses("no ref", func(c *Config) { c.Ref = "" }, "ref", "", "ref must not be empty"),
			plugintest.Refuses("bad ref", func(c *Config) { c.Ref = "Acme/Web:1" }, "ref", `"Acme/Web:1"`, "is not a valid image reference"),
			plugintest.Refuses("port negative", func(c *Config) { c.Port = -1 }, "port", "-1", "port must be between 1 and 65535 (got -1)"),
			plugintest.Refuses("healthcheck relative", func(c *Config) { c.Healthcheck = "healthz" }, "healthcheck", `"healthz"`,
				`healthcheck must be an absolute HTTP path starting with "/" (got "healthz")`),
			plugintest.Refuses("pull policy", func(c *Config) { c.Pull = "sometimes" }, "pull", `"sometimes"`,
				`pull must be one of "missing", "always", "never" (got "sometimes")`),
		},
	})
	left := Config{Ref: "acme/web:1", Port: 8080}
	if p := left.Public().(Config); p.Pull != PullMissing {
		t.Errorf("the public form of a pull policy left out is %q, want %q written out", p.Pull, PullMissing)
	}
}

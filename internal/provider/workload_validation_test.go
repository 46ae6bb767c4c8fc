package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccPlanTimeValidation: every rule refuses bad input at plan time, with
// an error naming the attribute and the value, before anything runs.
func TestAccPlanTimeValidation(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	acctest.RequireDocker(t)
	network := acctest.UniqueName("tf-net")
	noProxy := fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n}\n", network)
	// A proxy block is enough for plan-time rules: nothing is routed at plan.
	withProxy := fmt.Sprintf(`provider "tinyforge" {
  network = %q
  proxy {
    caddy { admin_url = "http://127.0.0.1:1" }
  }
}
`, network)
	workload := func(attrs, source string) string {
		return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = "web"
%s
  source {
%s
  }
}
`, attrs, source)
	}
	image := `    image {
      ref  = "tinyforge-acctest/none:1"
      port = 8080
    }`
	// A repository for the rules that only its Git host can check: what
	// ref and branch name must exist there.
	git := acctest.StartGitServer(t)
	repo := git.CreateRepo(t, "acme", acctest.UniqueName("app"))
	head := repo.Commit(t, map[string][]byte{"Dockerfile": []byte("FROM scratch\n")}, "A")
	short := head[:12]
	gitSource := func(kind, attrs string) string {
		return fmt.Sprintf(`    %s {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
%s
    }`, kind, git.URL, repo.Owner, repo.Name, git.Token, attrs)
	}
	cases := []struct {
		name, config string
		want         *regexp.Regexp
	}{
		// Each at its attribute, for each Git source kind.
		{"dockerfile ref a short SHA", noProxy + workload("", gitSource("dockerfile", "      port = 8080\n      ref  = \""+short+"\"")),
			atAttr("ref", short, `dockerfile source: ref: tag "`+short+`" not found in `+repo.CloneURL, `to pin a commit, write its full 40-character SHA`)},
		{"static ref no tag", noProxy + workload("", gitSource("static", `      ref = "v9"`)),
			atAttr("ref", "v9", `static source: ref: tag "v9" not found in `+repo.CloneURL)},
		{"compose ref a short SHA", noProxy + workload("", gitSource("compose", `      ref = "`+short+`"`)),
			atAttr("ref", short, `compose source: ref: tag "`+short+`" not found in`, `write its full 40-character SHA`)},
		{"dockerfile branch missing", noProxy + workload("", gitSource("dockerfile", "      port   = 8080\n      branch = \"gone\"")),
			atAttr("branch", "gone", `dockerfile source: branch "gone" not found in `+repo.CloneURL)},
		{"name format", noProxy + `
resource "tinyforge_workload" "web" {
  name = "Web_1"
  source {
` + image + `
  }
}`, wrapped(`name must be a DNS label`, `(got "Web_1")`)},
		{"strategy value", noProxy + workload(`  deploy_strategy = "rolling"`, image),
			wrapped(`deploy_strategy must be one of "", "recreate", "blue-green" (got "rolling")`)},
		{"blue-green without a proxy", noProxy + workload(`  deploy_strategy = "blue-green"`, image),
			wrapped(`deploy_strategy "blue-green" needs a proxy to swap the route`)},
		{"blue-green without domains", withProxy + workload(`  deploy_strategy = "blue-green"`, image),
			wrapped(`deploy_strategy "blue-green" needs domains`)},
		{"blue-green with host_port", withProxy + workload(`  deploy_strategy = "blue-green"
  domains = ["web.example.test"]
  host_port = 18080`, image),
			wrapped(`deploy_strategy "blue-green" cannot be used with host_port`)},
		{"domains without a proxy", noProxy + workload(`  domains = ["web.example.test"]`, image),
			wrapped(`domains ["web.example.test"] need a proxy`)},
		{"domain format", withProxy + workload(`  domains = ["not a host"]`, image),
			wrapped(`domain "not a host" is not a valid lower-case hostname`)},
		{"port range", noProxy + workload("", `    image {
      ref  = "app:1"
      port = 0
    }`), wrapped(`port must be between 1 and 65535 (got 0)`)},
		{"host_port range", noProxy + workload(`  host_port = 70000`, image),
			wrapped(`host_port must be between 1 and 65535 (got 70000)`)},
		{"relative volume target", noProxy + workload(`  volume {
    source = "data"
    target = "data"
  }`, image), wrapped(`target must be an absolute path in the container (got "data")`)},
		{"volume source", noProxy + workload(`  volume {
    source = "../escape"
    target = "/data"
  }`, image), wrapped(`source must be a volume name`, `(got "../escape")`)},
		{"source with no kind", noProxy + workload("", ""),
			wrapped(`source must set exactly one of`, `(got none)`)},
		{"no source block", noProxy + `
resource "tinyforge_workload" "web" {
  name = "web"
}`, regexp.MustCompile(`(?s)source.*(required|must be configured|missing)`)},
		{"empty image ref", noProxy + workload("", `    image {
      ref  = ""
      port = 8080
    }`), wrapped(`ref must not be empty`)},
		{"healthcheck path", noProxy + workload("", `    image {
      ref         = "app:1"
      port        = 8080
      healthcheck = "healthz"
    }`), wrapped(`healthcheck must be an absolute HTTP path starting with "/" (got "healthz")`)},
		{"pull policy", noProxy + workload("", `    image {
      ref  = "app:1"
      port = 8080
      pull = "sometimes"
    }`), wrapped(`pull`, `"sometimes"`)},
		{"env name", noProxy + workload(`  env = { "1BAD" = "x" }`, image),
			wrapped(`env name must start with a letter or underscore`, `(got "1BAD")`)},
		{"source with two kinds", noProxy + workload("", image+`
    dockerfile {
      repo_owner = "acme"
      repo_name  = "app"
      port       = 8080
    }`), wrapped(`source must set exactly one of image, dockerfile`, `(got image and dockerfile)`)},
		{"context_path escaping", noProxy + workload("", dockerfileSource(`context_path = "../x"`)),
			wrapped(`context_path must be a relative path inside the repository (got "../x")`)},
		{"absolute dockerfile_path", noProxy + workload("", dockerfileSource(`dockerfile_path = "/etc/Dockerfile"`)),
			wrapped(`dockerfile_path`, `"/etc/Dockerfile"`)},
		{"gitea without base_url", noProxy + workload("", dockerfileSource(`provider = "gitea"`)),
			wrapped(`base_url is required for provider "gitea"`)},
		{"ref as a capital SHA", noProxy + workload("", dockerfileSource(`ref = "3F1C2A9E0B7D4C5A8E6F1B2D3C4A5E6F7A8B9C0D"`)),
			wrapped(`ref must be a tag name or a full commit SHA in lowercase hex`, `(got "3F1C2A9E0B7D4C5A8E6F1B2D3C4A5E6F7A8B9C0D")`)},
		{"ref not a tag name", noProxy + workload("", dockerfileSource(`ref = "v1..2"`)),
			wrapped(`ref must be a tag name such as "v1.4.2"`, `(got "v1..2")`)},
		{"unknown git provider", noProxy + workload("", dockerfileSource(`provider = "bitbucket"`)),
			wrapped(`"bitbucket"`)},
		{"two tokens", noProxy + workload("", dockerfileSource(`access_token = "a"
      access_token_wo = "b"`)), wrapped(`access_token`, `access_token_wo`)},
		{"missing repo_name", noProxy + workload("", `    dockerfile {
      repo_owner = "acme"
      port       = 8080
    }`), wrapped(`repo_name`)},
		{"swarm_registry without swarm", fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n  swarm_registry = \"127.0.0.1:5000/apps\"\n}\n", network) +
			workload("", image), wrapped(`swarm_registry = "127.0.0.1:5000/apps"`, `without swarm = true`)},
		{"swarm_registry without a registry", fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n  swarm = true\n  swarm_registry = \"apps\"\n}\n", network) +
			workload("", image), wrapped(`swarm_registry`, `(got "apps")`)},
		{"worker with domains", withProxy + workload(`  domains = ["web.example.test"]`, `    image {
      ref = "app:1"
    }`), wrapped(`domains ["web.example.test"] need a port to route to: set source.image.port`)},
		{"worker with a healthcheck", noProxy + workload("", `    dockerfile {
      repo_owner  = "acme"
      repo_name   = "app"
      healthcheck = "/healthz"
    }`), wrapped(`healthcheck "/healthz" needs a port to probe: set source.dockerfile.port`)},
		{"a key in env and secret_env_wo", noProxy + workload(`  env = { API_KEY = "x" }
  secret_env_wo = { API_KEY = "canary-validation-31" }
  secret_env_wo_version = 1`, image), wrapped(`secret_env_wo key "API_KEY" is set in env too`)},
		{"secret_env_wo without a version", noProxy + workload(`  secret_env_wo = { API_KEY = "y" }`, image),
			wrapped(`secret_env_wo_version`)},
		{"empty release_command", noProxy + workload(`  release_command = []`, image), wrapped(`release_command`, `at least 1`)},
		{"release_timeout range", noProxy + workload(`  release_command = ["migrate"]
  release_timeout = 0`, image), wrapped(`release_timeout`, `between 1 and 86400`)},
		{"release_command on compose", noProxy + workload(`  release_command = ["migrate"]`, `    compose {
      repo_owner = "acme"
      repo_name  = "app"
    }`), wrapped(`release_command does not apply to a compose source`, `depends_on`)},
		// The engine here is no Swarm manager.
		{"swarm on one engine", fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n  swarm = true\n}\n", network) +
			workload("", image), wrapped(`swarm = true, but the engine at`, `is not a manager of a Swarm`)},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{Config: c.config, PlanOnly: true, ExpectError: c.want})
	}
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: providerFactories, Steps: steps})
}

// dockerfileSource is a dockerfile source block with one more attribute.
func dockerfileSource(attr string) string {
	return `    dockerfile {
      repo_owner = "acme"
      repo_name  = "app"
      port       = 8080
      ` + attr + `
    }`
}

// TestAccUnreachableEngineIsNamed: a Docker host that does not answer fails
// the plan with its address in the message.
func TestAccUnreachableEngineIsNamed(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		Steps: []resource.TestStep{{
			Config: `
provider "tinyforge" {
  docker_host = "unix:///nonexistent/tinyforge-test.sock"
}
resource "tinyforge_workload" "web" {
  name = "web"
  source {
    image {
      ref  = "app:1"
      port = 8080
    }
  }
}`,
			PlanOnly:    true,
			ExpectError: wrapped(`Docker engine at unix:///nonexistent/tinyforge-test.sock does not answer`),
		}},
	})
}

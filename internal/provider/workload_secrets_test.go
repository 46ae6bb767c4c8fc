package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// apiKeyVar is the variable the canary comes in by (TF_VAR_api_key), as a
// user's secret does: a literal in the configuration would show in
// Terraform's own snippets of it.
const apiKeyVar = `
variable "api_key" {
  type      = string
  sensitive = true
  ephemeral = true
  default   = "unset"
}
`

// secretWorkloads are a web workload and a worker, both given var.api_key
// in secret_env_wo at version; the web's release command is release, the
// worker prints the key and a greeting, then sleeps; the logs data source
// reads the worker: all its lines, the last (tail = 1), and those since
// 2099 (none).
func secretWorkloads(name, ref string, version int, release string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name                  = %[1]q
  env                   = { GREETING = "hello" }
  secret_env_wo         = { API_KEY = var.api_key }
  secret_env_wo_version = %[3]d
  release_command       = %[4]s
  source {
    image {
      ref         = %[2]q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}

resource "tinyforge_workload" "jobs" {
  name                  = "%[1]s-jobs"
  command               = ["task", "print=hello from the worker", "env=API_KEY", "sleep=300ms", "stderr=done", "sleep=1h"]
  secret_env_wo         = { API_KEY = var.api_key }
  secret_env_wo_version = %[3]d
  source {
    image {
      ref = %[2]q
    }
  }
}

data "tinyforge_workload_logs" "jobs" {
  name       = tinyforge_workload.jobs.name
  depends_on = [tinyforge_workload.jobs]
}

output "jobs_lines" {
  value = data.tinyforge_workload_logs.jobs.lines
}

data "tinyforge_workload_logs" "jobs_last" {
  name       = tinyforge_workload.jobs.name
  tail       = 1
  depends_on = [tinyforge_workload.jobs]
}

data "tinyforge_workload_logs" "jobs_later" {
  name       = tinyforge_workload.jobs.name
  since      = "2099-01-01T00:00:00Z"
  depends_on = [tinyforge_workload.jobs]
}

output "jobs_tails" {
  value = [for ds in [data.tinyforge_workload_logs.jobs_last, data.tinyforge_workload_logs.jobs_later] : [for l in ds.lines : "${l.stream}:${l.text}"]]
}
`, name, ref, version, release)
}

// TestAccSecretEnvNeverWritten: a canary in secret_env_wo reaches the
// containers' and the release command's environment, and nothing the
// provider writes: not the state, the plan (JSON too), the TF_LOG=trace
// log, the labels, the error of a failing deploy, the generated
// configuration of an import. The logs data source returns the lines the
// worker printed, the canary masked.
func TestAccSecretEnvNeverWritten(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	binary := acctest.ProviderBinary(t)
	name := env.workloadName("secret")
	env.cleanUp(name + "-jobs")
	b := make([]byte, 8)
	rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)
	wd := acctest.NewWorkdir(t, binary)
	logFile := wd.CaptureLog("TRACE")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	provider := env.provider("") + apiKeyVar
	secret := "TF_VAR_api_key=" + canary
	cfg := func(version int, release string) string {
		return tfConfig(provider + secretWorkloads(name, env.images.V1, version, release))
	}
	// nowhere fails the test when what holds the canary.
	nowhere := func(what, text string) {
		t.Helper()
		if strings.Contains(text, canary) {
			i := strings.Index(text, canary)
			t.Fatalf("%s holds the secret: ...%s...", what, text[max(0, i-200):min(len(text), i+len(canary)+50)])
		}
	}

	// A name in both env and secret_env_wo is refused at plan, without
	// the value.
	wd.WriteConfig(tfConfig(provider + strings.Replace(secretWorkloads(name, env.images.V1, 1, `["task", "env=API_KEY"]`),
		`env                   = { GREETING = "hello" }`, `env                   = { GREETING = "hello", API_KEY = "x" }`, 1)))
	res, err := wd.Plan(ctx, secret)
	mustFail(t, "a key in env and secret_env_wo", res, err, wrapped(`secret_env_wo key "API_KEY" is set in env too`))
	nowhere("the refusal", res.Stdout+res.Stderr)

	wd.WriteConfig(cfg(1, `["task", "env=API_KEY", "print=migrated"]`))
	res, err = wd.Apply(ctx, secret)
	mustSucceed(t, "deploy with a secret", res, err)
	nowhere("the apply's output", res.Stdout+res.Stderr)
	for _, w := range []string{name, name + "-jobs"} {
		id := containersOf(t, w)[0]
		if got := acctest.Docker(t, "inspect", "--format", "{{json .Config.Env}}", id); !strings.Contains(got, `"API_KEY=`+canary+`"`) {
			t.Fatalf("the container of %s lacks the secret in its environment: %s", w, got)
		}
		labels := acctest.Docker(t, "inspect", "--format", "{{json .Config.Labels}}", id)
		nowhere("the labels of "+w, labels)
		if !strings.Contains(labels, `secret_env_keys`) || !strings.Contains(labels, `API_KEY`) {
			t.Fatalf("the labels of %s do not record the secret's name: %s", w, labels)
		}
	}
	up := webValues(t, ctx, wd)["upstream"].(string)
	if status, body, err := httpGet("http://" + up + "/env/API_KEY"); err != nil || status != 200 || body != canary {
		t.Fatalf("the app reads API_KEY as %d %q %v", status, clip(body), err)
	}
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// The release printed the secret: the log has the line, masked.
	if !strings.Contains(string(logged), "release: API_KEY=[masked]") {
		t.Fatalf("the log at trace lacks the release's output, masked")
	}

	// The logs data source: the worker's lines, with the canary masked.
	out, err := wd.Run(ctx, []string{"output", "-json", "jobs_lines"})
	mustSucceed(t, "output", out, err)
	nowhere("the logs data source", out.Stdout)
	var lines []struct{ Instance, Stream, Time, Text string }
	if err := json.Unmarshal([]byte(out.Stdout), &lines); err != nil {
		t.Fatalf("jobs_lines: %v\n%s", err, out.Stdout)
	}
	var got []string
	for _, l := range lines {
		if !strings.HasPrefix(l.Instance, name+"-jobs-1-") {
			t.Errorf("line %q from instance %q", l.Text, l.Instance)
		}
		if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
			t.Errorf("line %q has time %q", l.Text, l.Time)
		}
		got = append(got, l.Stream+":"+l.Text)
	}
	if want := "stdout:hello from the worker|stdout:API_KEY=[masked]|stderr:done"; strings.Join(got, "|") != want {
		t.Fatalf("the logs data source returned %q, want %q", strings.Join(got, "|"), want)
	}
	out, err = wd.Run(ctx, []string{"output", "-json", "jobs_tails"})
	mustSucceed(t, "output", out, err)
	if tails := strings.Join(strings.Fields(out.Stdout), ""); tails != `[["stderr:done"],[]]` {
		t.Fatalf("the logs data source with tail = 1, then since 2099, returned %s; want the last line, then none", tails)
	}

	// A new version: a plan whose JSON holds no value, then a deploy whose
	// release fails printing the secret.
	wd.WriteConfig(cfg(2, `["task", "env=API_KEY", "exit=1"]`))
	res, err = wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=tfplan"}, secret)
	mustSucceed(t, "plan version 2", res, err)
	nowhere("the plan", res.Stdout)
	if !regexp.MustCompile(`secret_env_wo_version\s+= 1 -> 2`).MatchString(res.Stdout) || !regexp.MustCompile(`generation\s+= 1 -> 2`).MatchString(res.Stdout) {
		t.Fatalf("the plan of version 2 does not redeploy:\n%s", res.Stdout)
	}
	res, err = wd.Run(ctx, []string{"show", "-json", "tfplan"})
	mustSucceed(t, "show the plan", res, err)
	nowhere("the plan's JSON", res.Stdout)
	res, err = wd.Apply(ctx, secret)
	mustFail(t, "a release that prints the secret and fails", res, err, wrapped(`exited with code 1`, `API_KEY=[masked]`))
	nowhere("the error of a failed deploy", res.Stdout+res.Stderr)

	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	nowhere("the state file", string(state))
	if !strings.Contains(string(state), `"secret_env_wo_version": 1`) {
		t.Fatalf("the state does not keep the version that runs (1)")
	}
	logged, err = os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	nowhere("the TF_LOG=trace log", string(logged))
	t.Logf("the TF_LOG=trace log: %d bytes, no canary", len(logged))

	// Import into a new state with a generated configuration: the
	// attribute is there with a placeholder, never the value; filled in,
	// the import changes nothing.
	importer := &generatedConfig{t: t, wd: acctest.NewWorkdir(t, binary), provider: provider, name: name}
	generated := importer.generate(ctx, wrapped(`secret_env_wo_version`), "Import cannot read secret_env_wo: write API_KEY into it")
	nowhere("the generated configuration", generated)
	for _, want := range []string{`secret_env_wo_version = 1`, `release_command`} {
		if !strings.Contains(generated, want) {
			t.Errorf("the generated configuration lacks %s", want)
		}
	}
	importer.fill("secret_env_wo", fmt.Sprintf(`{ API_KEY = %q }`, canary)) // the user's own file
	importer.fill("env", `{ GREETING = "hello" }`)
	importer.importsAlone(ctx)
}

package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccRefusedGitCredentialsFailThePlan: a token the Git host refuses
// (revoked on the host, or a wrong write-only one) fails the plan with an
// error naming the token's attribute, never the token, instead of quietly
// keeping the deployed commit while a new one waits. A Git host that does
// not answer keeps the deployed commit with a warning that the plan may be
// missing a new one.
func TestAccRefusedGitCredentialsFailThePlan(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	front := acctest.StartFront(t, app.git.URL)
	name := env.workloadName("creds")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		front.Up()
		wd.Destroy(context.Background(), "TF_VAR_token="+app.git.Token)
	})
	// The token comes from a sensitive variable, as in real use: a literal
	// in the configuration would be shown by terraform itself, quoting the
	// line an error points at.
	cfg := func(token string) string {
		return tfConfig(env.provider("") + fmt.Sprintf(`
variable "token" {
  type      = string
  sensitive = true
}

resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      base_url    = %q
      repo_owner  = %q
      repo_name   = %q
      port        = 8080
      healthcheck = "/healthz"
%s
    }
  }
}
`, name, front.URL, app.repo.Owner, app.repo.Name, token))
	}
	stored := "      access_token = var.token"
	writeOnly := "      access_token_wo         = var.token\n      access_token_wo_version = 1"
	token := func(tok string) string { return "TF_VAR_token=" + tok }
	noChanges := func(what string, res acctest.Result, err error) {
		t.Helper()
		if err != nil || res.HasChanges {
			t.Fatalf("%s: want an empty plan (%v):\n%s", what, err, res.Stdout)
		}
	}

	app.commit(t, "A")
	oldToken := app.git.Token
	wd.WriteConfig(cfg(stored))
	res, err := wd.Apply(ctx, token(oldToken))
	mustSucceed(t, "apply A", res, err)

	// The host revokes the token, and B is pushed: the refresh's token and
	// the configuration's are refused.
	newToken := app.git.RevokeToken(t)
	shaB := app.commit(t, "B")
	res, err = wd.Plan(ctx, token(oldToken))
	mustFail(t, "plan with a revoked token", res, err,
		wrapped("Error: Git credentials refused", "authentication failed", "the token of source.dockerfile.access_token"))
	if strings.Contains(res.Stdout+res.Stderr, oldToken) {
		t.Fatal("the refused token is in terraform's output")
	}
	// A token the host accepts: the plan shows B, the apply deploys it.
	res, err = wd.Plan(ctx, token(newToken))
	if err != nil || !res.HasChanges || !strings.Contains(res.Stdout, shaB) {
		t.Fatalf("plan with the new token: want commit %s (%v):\n%s", shaB, err, res.Stdout)
	}
	res, err = wd.Apply(ctx, token(newToken))
	mustSucceed(t, "apply B", res, err)

	// A wrong write-only token: the error names access_token_wo.
	app.commit(t, "C")
	wd.WriteConfig(cfg(writeOnly))
	wrong := "wrong-" + newToken[:8]
	res, err = wd.Plan(ctx, token(wrong))
	mustFail(t, "plan with a wrong write-only token", res, err,
		wrapped("Error: Git credentials refused", "the token of source.dockerfile.access_token_wo"))
	if strings.Contains(res.Stdout+res.Stderr, wrong) {
		t.Fatal("the refused token is in terraform's output")
	}

	// The Git host does not answer: the deployed commit stays, with a
	// warning that a new one may be missed.
	wd.WriteConfig(cfg(stored))
	res, err = wd.Apply(ctx, token(newToken))
	mustSucceed(t, "apply C", res, err)
	app.commit(t, "D")
	front.Down()
	res, err = wd.Plan(ctx, token(newToken))
	t.Logf("plan while the Git host is down took %s", res.Duration.Round(time.Millisecond))
	noChanges("plan while the Git host is down", res, err)
	if !strings.Contains(strings.Join(strings.Fields(res.Stdout), " "), "Warning: Cannot look for a new revision: the plan may be missing a new commit") {
		t.Fatalf("plan while the Git host is down: no warning that a commit may be missed:\n%s", res.Stdout)
	}
	if err := front.Up(); err != nil {
		t.Fatal(err)
	}
}

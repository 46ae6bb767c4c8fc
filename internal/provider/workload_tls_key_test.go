package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccTLSKeyReachesOnlyTheProxy runs the real provider binary under
// TF_LOG=trace with a workload's own certificate whose key comes from an
// ephemeral variable: a key of another certificate fails the plan, naming
// the attribute and never quoting the key; a certificate that expires
// within 14 days deploys with a warning; a rotation serves the new one;
// and no line of any key is in the state, a saved plan (terraform show
// -json), the container's labels and environment, the CLI's output or the
// trace log. Caddy holds the key (it serves it). After an import the plan
// sets the key's version in place, and its apply deploys nothing. Destroy
// removes the certificate.
func TestAccTLSKeyReachesOnlyTheProxy(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	c := acctest.StartCaddyWithConfig(t, acctest.HTTPSConfig)
	name := env.workloadName("key")
	domain := name + ".test"
	ca := acctest.MustTestCA(t, "tinyforge key CA")
	soon := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{domain}, NotAfter: time.Now().Add(7 * 24 * time.Hour)})
	rotated := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{domain}})
	pending := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{domain}})
	keys := []acctest.Leaf{soon, rotated, pending}

	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logPath := wd.CaptureLog("TRACE")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	vars := func(cert, key acctest.Leaf, version int) []string {
		return []string{"TF_VAR_certificate=" + cert.CertPEM, "TF_VAR_key=" + key.KeyPEM, fmt.Sprintf("TF_VAR_key_version=%d", version)}
	}
	t.Cleanup(func() { wd.Destroy(context.Background(), vars(rotated, rotated, 2)...) })
	wd.WriteConfig(`terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + env.provider(internalCABlock(c)) + fmt.Sprintf(`
variable "certificate" { type = string }
# Ephemeral, as the docs' example: a saved plan holds the values of the
# other variables, sensitive or not.
variable "key" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "key_version" { type = number }

resource "tinyforge_workload" "web" {
  name           = %q
  domains        = [%q]
  health_timeout = 20
  tls {
    certificate_pem            = var.certificate
    private_key_pem_wo         = var.key
    private_key_pem_wo_version = var.key_version
  }
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}
`, name, domain, env.images.V1))
	var outputs []string
	run := func(what string, res acctest.Result, err error, wantErr bool) string {
		t.Helper()
		out := res.Stdout + res.Stderr
		outputs = append(outputs, out)
		if (err != nil) != wantErr {
			t.Fatalf("%s: error %v, want an error: %v\n%s", what, err, wantErr, out)
		}
		return strings.Join(strings.Fields(out), " ")
	}
	served := func(want acctest.Leaf) {
		t.Helper()
		if err := settled(func() error {
			got, err := c.ServedCertificate(domain, ca.Pool())
			if err != nil || !got.Equal(want.Cert) {
				return fmt.Errorf("Caddy does not serve the workload's certificate (%v)", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Another certificate's key: refused at plan, at the attribute.
	res, err := wd.Plan(ctx, vars(rotated, soon, 1)...)
	out := run("plan with another certificate's key", res, err, true)
	for _, want := range []string{"private_key_pem_wo = var.key", "private_key_pem_wo is not the key of the certificate for " + domain} {
		if !strings.Contains(out, want) {
			t.Fatalf("the plan's error lacks %q:\n%s", want, out)
		}
	}

	// Expiring within 14 days: deployed, with a warning that says when.
	res, err = wd.Apply(ctx, vars(soon, soon, 1)...)
	out = run("apply of a certificate that expires in 7 days", res, err, false)
	for _, want := range []string{"Warning: Certificate expires soon", "the certificate for " + domain + " expires on " + soon.Cert.NotAfter.UTC().Format("2006-01-02")} {
		if !strings.Contains(out, want) {
			t.Fatalf("the apply's output lacks %q:\n%s", want, out)
		}
	}
	served(soon)

	// A rotation, then a saved plan of the next one.
	res, err = wd.Apply(ctx, vars(rotated, rotated, 2)...)
	run("rotation", res, err, false)
	served(rotated)
	res, err = wd.Plan(ctx, vars(rotated, rotated, 2)...)
	run("plan after the rotation", res, err, false)
	if res.HasChanges {
		t.Fatalf("the plan after the rotation is not empty:\n%s", res.Stdout)
	}
	res, err = wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=next.tfplan"}, vars(pending, pending, 3)...)
	run("saved plan of the next rotation", res, err, false)
	res, err = wd.Run(ctx, []string{"show", "-json", "next.tfplan"}, vars(pending, pending, 3)...)
	run("terraform show -json", res, err, false)
	if !strings.Contains(res.Stdout, `"private_key_pem_wo_version":3`) {
		t.Fatalf("the saved plan does not hold the next rotation:\n%.2000s", res.Stdout)
	}

	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(state), `"private_key_pem_wo": null`) {
		t.Fatalf("the state does not show private_key_pem_wo as null")
	}
	inspect := acctest.Docker(t, "inspect", "--format", "{{json .Config.Labels}} {{json .Config.Env}}",
		strings.Fields(acctest.Docker(t, "ps", "-aq", "--filter", "label=tinyforge.workload="+name))[0])
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Caddy serves a certificate for every domain", "every domain is served over HTTPS"} {
		if !strings.Contains(string(log), line) {
			t.Errorf("the provider's log lacks the certificate wait's progress line %q", line)
		}
	}
	for where, text := range map[string]string{
		"the state": string(state), "the saved plan (show -json)": res.Stdout, "the container's labels and env": inspect,
		"the CLI's output": strings.Join(outputs, "\n"), "the TF_LOG=trace log": string(log),
	} {
		if line := keyLineIn(text, keys...); line != "" {
			t.Errorf("%s holds a line of a private key: %.300s", where, line)
		}
	}
	if app := c.AdminGet(t, "/config/apps/tls"); keyLineIn(app, rotated) == "" {
		t.Fatalf("Caddy does not hold the key it serves: %.300s", app)
	}

	// Import: the state has no key version, so the plan sets it, in place;
	// the apply writes the same certificate and deploys nothing.
	containers := acctest.Docker(t, "ps", "-aq", "--filter", "label=tinyforge.workload="+name)
	res, err = wd.Run(ctx, []string{"state", "rm", "tinyforge_workload.web"})
	run("state rm", res, err, false)
	res, err = wd.Run(ctx, []string{"import", "-input=false", "-no-color", "tinyforge_workload.web", name}, vars(rotated, rotated, 2)...)
	run("import", res, err, false)
	res, err = wd.Plan(ctx, vars(rotated, rotated, 2)...)
	out = run("plan after the import", res, err, false)
	if !res.HasChanges || !strings.Contains(out, "+ private_key_pem_wo_version = 2") || !strings.Contains(out, "0 to add, 1 to change, 0 to destroy") {
		t.Fatalf("the plan after the import, want only + private_key_pem_wo_version = 2:\n%s", res.Stdout)
	}
	res, err = wd.Apply(ctx, vars(rotated, rotated, 2)...)
	run("apply after the import", res, err, false)
	served(rotated)
	if got := acctest.Docker(t, "ps", "-aq", "--filter", "label=tinyforge.workload="+name); got != containers {
		t.Fatalf("the apply after the import replaced the containers: %q, was %q", got, containers)
	}
	res, err = wd.Plan(ctx, vars(rotated, rotated, 2)...)
	run("plan after the import's apply", res, err, false)
	if res.HasChanges {
		t.Fatalf("the plan after the import's apply is not empty:\n%s", res.Stdout)
	}
	if state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate")); err != nil || keyLineIn(string(state), keys...) != "" {
		t.Fatalf("the state after the import holds a key (%v)", err)
	}

	res, err = wd.Destroy(ctx, vars(rotated, rotated, 2)...)
	run("destroy", res, err, false)
	if app := c.AdminGet(t, "/config/apps/tls"); strings.Contains(app, "BEGIN") {
		t.Fatalf("destroy left the certificate in Caddy: %.300s", app)
	}
	t.Logf("TF_LOG=trace wrote %d bytes, no key in them, nor in the state, the saved plan or the container", len(log))
}

// keyLineIn returns the first line of text that holds 20 characters of a
// line of a leaf's private key ("" when none does).
func keyLineIn(text string, leaves ...acctest.Leaf) string {
	for _, l := range leaves {
		for _, k := range strings.Split(l.KeyPEM, "\n") {
			if len(k) < 20 || strings.HasPrefix(k, "-----") || !strings.Contains(text, k[:20]) {
				continue
			}
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, k[:20]) {
					return line
				}
			}
		}
	}
	return ""
}

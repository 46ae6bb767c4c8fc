package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
)

// TestAccPreviewURLFollowsHTTPS: a Git source's preview_url defaults to
// https:// + its first domain when the proxy serves HTTPS (Caddy's https
// block, NPM's) or the workload brings its own certificate (NPM serves it
// with ssl_forced), else http://; a preview_url the configuration gives
// stays as given. Read from saved plans of the real terraform.
func TestAccPreviewURLFollowsHTTPS(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	app.commit(t, "A")
	c := acctest.StartCaddyWithConfig(t, acctest.HTTPSConfig)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	ca := acctest.MustTestCA(t, "preview CA")
	own := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"own.preview.test"}})
	workload := func(key, domain, extra string) string {
		return fmt.Sprintf(`
resource "tinyforge_workload" %q {
  name    = %q
  domains = [%q]
%s
%s}
`, key, env.workloadName(key), domain, extra, app.block(""))
	}
	tls := fmt.Sprintf(`  tls {
    certificate_pem            = %q
    private_key_pem_wo         = %q
    private_key_pem_wo_version = 1
  }`, own.CertPEM, own.KeyPEM)
	given := workload("given", "given.preview.test", "") // preview_url set below
	given = given[:len(given)-len("    }\n  }\n}\n")] + "      preview_url = \"http://review.example.test/given\"\n    }\n  }\n}\n"
	npmWith := func(https string) string {
		b := npmBlock(npm)
		return b[:len(b)-len("    }\n  }\n")] + https + "    }\n  }\n"
	}
	for _, tc := range []struct {
		name, proxy, resources string
		want                   map[string]string
	}{
		{"caddy with https", internalCABlock(c), workload("plain", "plain.preview.test", "") + given,
			map[string]string{"plain": "https://plain.preview.test", "given": "http://review.example.test/given"}},
		{"caddy without https", caddyBlock(c), workload("plain", "plain.preview.test", ""),
			map[string]string{"plain": "http://plain.preview.test"}},
		{"npm with https", npmWith("      https {}\n"), workload("plain", "plain.preview.test", ""),
			map[string]string{"plain": "https://plain.preview.test"}},
		{"npm without https", npmWith(""), workload("plain", "plain.preview.test", "") + workload("own", "own.preview.test", tls),
			map[string]string{"plain": "http://plain.preview.test", "own": "https://own.preview.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
			wd.WriteConfig(`terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + env.provider(tc.proxy) + tc.resources)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			if res, err := wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=p.tfplan"}); err != nil {
				t.Fatalf("plan: %v\n%s%s", err, res.Stdout, res.Stderr)
			}
			res, err := wd.Run(ctx, []string{"show", "-json", "p.tfplan"})
			if err != nil {
				t.Fatalf("show: %v\n%s", err, res.Stderr)
			}
			var plan struct {
				PlannedValues struct {
					RootModule struct {
						Resources []struct {
							Name   string `json:"name"`
							Values struct {
								Source *struct {
									Dockerfile *struct {
										PreviewURL *string `json:"preview_url"`
									} `json:"dockerfile"`
								} `json:"source"`
							} `json:"values"`
						} `json:"resources"`
					} `json:"root_module"`
				} `json:"planned_values"`
			}
			if err := json.Unmarshal([]byte(res.Stdout), &plan); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range plan.PlannedValues.RootModule.Resources {
				if s := r.Values.Source; s != nil && s.Dockerfile != nil && s.Dockerfile.PreviewURL != nil {
					got[r.Name] = *s.Dockerfile.PreviewURL
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("planned preview_url %v, want %v", got, tc.want)
			}
			t.Logf("planned in %s: %v", time.Since(start).Round(time.Millisecond), got)
		})
	}
}

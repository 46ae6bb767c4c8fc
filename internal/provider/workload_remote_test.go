package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// Remote engines: ssh:// to a test host (its own dockerd, Debian's sshd, a
// Caddy in its namespace with its admin API on the host's loopback), and
// tcp+TLS to a test host's engine.

// regexpLoopback matches an address on a loopback: where containers
// publish by default, on the Docker host.
var regexpLoopback = regexp.MustCompile(`^127\.0\.0\.1:\d+$`)

// regexpPrefix matches a value starting with prefix.
func regexpPrefix(prefix string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(prefix))
}

// sshProvider is a provider block for the SSH test host h: the client key
// from a file (the way a user keeps it out of the configuration),
// knownHosts as the known_hosts file (or the pinned key when hostKey is
// set), and extra inside the block (a proxy block).
func sshProvider(t *testing.T, env *testEnv, h *acctest.Host, knownHosts, hostKey, extra string) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, []byte(h.SSH.ClientKey), 0o600); err != nil {
		t.Fatal(err)
	}
	check := fmt.Sprintf("  ssh_known_hosts_file = %q\n", knownHosts)
	if hostKey != "" {
		check = fmt.Sprintf("  ssh_host_key = %q\n", hostKey)
	}
	return fmt.Sprintf(`provider "tinyforge" {
  docker_host     = %q
  ssh_private_key = file(%q)
%s  network         = %q
%s}
`, h.SSH.DockerHost(), keyFile, check, env.network, extra)
}

// hostContainersOf lists the names of the workload's containers on the
// test host's engine.
func hostContainersOf(t *testing.T, h *acctest.Host, workload string) []string {
	t.Helper()
	return strings.Fields(h.Docker(t, "ps", "-a", "--filter", "label=tinyforge.workload="+workload, "--format", "{{.Names}}"))
}

// answersOnHost checks that the workload's upstream, an address on the
// test host (its loopback, say), answers path with want when asked from
// inside the host.
func answersOnHost(h *acctest.Host, path, want string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		up, err := stateAttr(s, web, "upstream")
		if err != nil {
			return err
		}
		return hostAnswers(h, up, path, want)
	}
}

// hostAnswers checks that upstream, an address on the test host, answers
// path with want (surrounding blanks aside) when asked from inside the
// host.
func hostAnswers(h *acctest.Host, upstream, path, want string) error {
	resp, err := h.HTTPClient().Get("http://" + upstream + path)
	if err != nil {
		return fmt.Errorf("GET %s%s on the host: %v", upstream, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != want {
		return fmt.Errorf("GET %s%s on the host answered %d %q, want 200 %q", upstream, path, resp.StatusCode, clip(string(b)), want)
	}
	return nil
}

// TestAccSSHEngineBlueGreen deploys onto an SSH test host: the engine is
// the host's (nothing runs on this machine's), the gate probes the port
// the container publishes on the host's loopback and the Caddy admin API
// on the host's loopback is driven, both through the SSH connection; the
// plan is empty after each apply; a blue-green redeploy under load through
// that Caddy (traffic to the host's address) fails no request; destroy
// leaves no container and no route on the host.
func TestAccSSHEngineBlueGreen(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{SSH: true, Caddy: true, Images: []string{env.images.V1, env.images.V2}})
	h := hs.Hosts[0]
	knownHosts := h.SSH.KnownHostsFile(t)
	name := env.workloadName("ssh")
	domain := name + ".test"
	caddyOnHost := `  proxy {
    caddy { admin_url = "http://127.0.0.1:2019" }
  }
`
	cfg := func(ref string) string {
		return sshProvider(t, env, h, knownHosts, "", caddyOnHost) + routedWorkload(name, domain, "blue-green", ref)
	}
	load := newLoadDuring(t, h.Caddy, domain)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := hostContainersOf(t, h, name); len(names) > 0 {
				return fmt.Errorf("destroy left containers on the host: %v", names)
			}
			if routes := h.Caddy.AdminGet(t, "/config/apps/http/servers/tinyforge/routes"); strings.Contains(routes, `"tinyforge-`+name+`"`) {
				return fmt.Errorf("destroy left the route in the host's Caddy: %s", routes)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:           cfg(env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("blue-green")),
					statecheck.CompareValuePairs(web, tfjsonpath.New("routed_to"), web, tfjsonpath.New("upstream"), compareEqual),
				},
				Check: resource.ComposeTestCheckFunc(
					through(h.Caddy, domain, "v1"),
					answersOnHost(h, "/", "v1"),
					resource.TestMatchResourceAttr(web, "upstream", regexpLoopback),
					func(s *terraform.State) error {
						want, err := stateAttr(s, web, "container_name")
						if err != nil {
							return err
						}
						if names := hostContainersOf(t, h, name); len(names) != 1 || names[0] != want {
							return fmt.Errorf("the host runs %v, want %s alone", names, want)
						}
						if local := containersOf(t, name); len(local) > 0 {
							return fmt.Errorf("this machine's engine runs %v: the deploy did not go to the host", local)
						}
						return nil
					},
				),
			},
			{
				PreConfig:        load.start,
				Config:           cfg(env.images.V2),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: func(s *terraform.State) error {
					stats := load.stop()
					after := stats.Window(load.ended, stats.End)
					t.Logf("v1 -> v2 over SSH under load: %d requests, %d failed, answers %v, first failures %v; after the apply: %v",
						stats.Total, stats.Failed, stats.Bodies, stats.FirstFailures, after.Bodies)
					if stats.Total < 100 {
						return fmt.Errorf("only %d requests: the load did not run", stats.Total)
					}
					if stats.Failed != 0 {
						return fmt.Errorf("blue-green over SSH failed %d of %d requests: %v", stats.Failed, stats.Total, stats.FirstFailures)
					}
					for body := range stats.Bodies {
						if body != "v1" && body != "v2" {
							return fmt.Errorf("an answer was neither v1 nor v2: %q", body)
						}
					}
					if after.Bodies["v1"] > 0 || after.Bodies["v2"] == 0 {
						return fmt.Errorf("after the apply, answers %v: want only v2", after.Bodies)
					}
					if names := hostContainersOf(t, h, name); len(names) != 1 {
						return fmt.Errorf("after the swap the host runs %v, want green alone", names)
					}
					return through(h.Caddy, domain, "v2")(s)
				},
			},
		},
	})
}

// TestAccSSHHostKeyRefused: an unknown host key, a pinned key that is not
// the host's, and a host key that changed after a deploy are refused at
// plan time, naming the host and the presented key's fingerprint and
// saying how to fix it; once the file holds the new key (what the message
// says to do), the same configuration plans no change.
func TestAccSSHHostKeyRefused(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{SSH: true, Images: []string{env.images.V1}})
	h := hs.Hosts[0]
	s := h.SSH
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeKnownHosts := func(content string) {
		if err := os.WriteFile(knownHosts, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKnownHosts("")
	name := env.workloadName("hostkey")
	workload := fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name           = %q
  health_timeout = 20
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, env.images.V1)
	cfg := sshProvider(t, env, h, knownHosts, "", "") + workload
	oldFingerprint := s.HostKeyFingerprint
	// The changed key's message names the new fingerprint, known only once
	// the host has it: the step's PreConfig fills this in.
	changed := regexp.MustCompile("not known yet")
	otherKey := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1ZlWkaPTHvBxVhJJfbWfHm4JQbNJ5ZTUbcqYyqLbqD"
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := hostContainersOf(t, h, name); len(names) > 0 {
				return fmt.Errorf("destroy left containers on the host: %v", names)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{ // unknown: the file has no key for the host
				Config: cfg,
				ExpectError: wrapped("SSH host key refused", "SSH host key of "+s.Addr+" is unknown", oldFingerprint,
					knownHosts+" has no key for it", "ssh-keyscan -p 22 -t ed25519 "+strings.Split(s.Addr, ":")[0]),
			},
			{ // a pinned key that is not the host's
				Config:      sshProvider(t, env, h, knownHosts, otherKey, "") + workload,
				ExpectError: wrapped("SSH host key of "+s.Addr+" does not match ssh_host_key", oldFingerprint),
			},
			{ // known: it deploys, and the gate probed the host's loopback
				PreConfig:        func() { writeKnownHosts(s.KnownHostsLine() + "\n") },
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					answersOnHost(h, "/healthz", "ok"),
					resource.TestMatchResourceAttr(web, "upstream", regexpLoopback),
				),
			},
			{ // the host's key changes: refused, old and new fingerprints named
				PreConfig: func() {
					s.ReplaceHostKey(t)
					if s.HostKeyFingerprint == oldFingerprint {
						t.Fatal("the host key did not change")
					}
					*changed = *wrapped("SSH host key refused", "SSH host key of "+s.Addr+" has changed",
						"presented the ssh-ed25519 key "+s.HostKeyFingerprint, "holds "+oldFingerprint+" (line 1)",
						"ssh-keygen -R", knownHosts)
				},
				Config:      cfg,
				ExpectError: changed,
			},
			{ // the message's fix: the file gets the new key; nothing to do
				PreConfig: func() { writeKnownHosts(s.KnownHostsLine() + "\n") },
				Config:    cfg,
				PlanOnly:  true,
			},
		},
	})
}

// TestAccRemoteTCPEngineNeedsAReachablePublishAddress: a tcp+TLS engine on
// a test host (certificates checked) with the default publish_address
// (127.0.0.1), or 0.0.0.0, is refused at plan time, before anything runs,
// saying what to do; with the host's address as publish_address it
// deploys, the gate probing that address from here, and answers there.
func TestAccRemoteTCPEngineNeedsAReachablePublishAddress(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{TLS: true, Images: []string{env.images.V1}})
	h := hs.Hosts[0]
	name := env.workloadName("tcp")
	cfg := func(publishAddress string) string {
		publish := ""
		if publishAddress != "" {
			publish = fmt.Sprintf("  publish_address = %q\n", publishAddress)
		}
		return fmt.Sprintf(`provider "tinyforge" {
  docker_host = %q
  ca_pem      = %q
  cert_pem    = %q
  key_pem     = %q
  network     = %q
%s}

resource "tinyforge_workload" "web" {
  name           = %q
  health_timeout = 20
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, h.TLS.Host, h.TLS.CAPEM, h.TLS.CertPEM, h.TLS.KeyPEM, env.network, publish, name, env.images.V1)
	}
	refused := func(publishAddress, shown string) resource.TestStep {
		return resource.TestStep{
			Config: cfg(publishAddress),
			ExpectError: wrapped(`publish_address "`+shown+`" with the remote engine `+h.TLS.Host,
				"Set publish_address to an address of the Docker host that is reachable from here", "ssh://user@host"),
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := hostContainersOf(t, h, name); len(names) > 0 {
				return fmt.Errorf("destroy left containers on the host: %v", names)
			}
			return nil
		},
		Steps: []resource.TestStep{
			refused("", "127.0.0.1"), // the default
			refused("0.0.0.0", "0.0.0.0"),
			{ // the host's address: deploys, gated from here, answers here
				PreConfig: func() {
					if names := hostContainersOf(t, h, name); len(names) > 0 {
						t.Fatalf("a refused plan started containers on the host: %v", names)
					}
				},
				Config:           cfg(h.Addr),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("upstream"), knownvalue.StringRegexp(regexpPrefix(h.Addr+":"))),
				},
				Check: answers(web, "/", "v1"),
			},
		},
	})
}

// TestAccSSHConnectionDropsMidApply breaks the SSH connection (the host's
// sshd kills its sessions) twice while a real `terraform apply` gates a
// new container on the SSH test host. The apply either carries on over a
// new connection, or fails cleanly: the new container is removed and the
// route stays on the old one. Either way traffic through the host's Caddy
// never fails, and the next apply (if needed) converges with nothing left
// over.
func TestAccSSHConnectionDropsMidApply(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{SSH: true, Caddy: true, Images: []string{env.images.V2, env.images.Slow}})
	h := hs.Hosts[0]
	knownHosts := h.SSH.KnownHostsFile(t)
	name := env.workloadName("sshdrop")
	domain := name + ".test"
	caddyOnHost := "  proxy {\n    caddy { admin_url = \"http://127.0.0.1:2019\" }\n  }\n"
	cfg := func(ref string) string {
		return tfConfig(sshProvider(t, env, h, knownHosts, "", caddyOnHost) + routedWorkload(name, domain, "blue-green", ref))
	}
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logPath := wd.CaptureLog("DEBUG")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })

	wd.WriteConfig(cfg(env.images.V2))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply v2", res, err)
	blue := hostContainersOf(t, h, name)
	load := (&acctest.Load{URL: h.Caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	// The slow image answers 3 s after it starts: the gate takes that long.
	wd.WriteConfig(cfg(env.images.Slow))
	p, err := wd.Start(ctx, []string{"apply", "-auto-approve", "-input=false", "-no-color"})
	if err != nil {
		t.Fatal(err)
	}
	acctest.Eventually(t, time.Minute, 50*time.Millisecond, "green never started on the host", func() bool {
		return len(hostContainersOf(t, h, name)) == 2
	})
	dropped := 0
	for range 2 {
		time.Sleep(700 * time.Millisecond)
		dropped += h.SSH.DropConnections(t)
	}
	res, err = p.Wait()
	t.Logf("dropped %d sshd session processes during the gate; the apply exited %d after %s", dropped, res.ExitCode, res.Duration.Round(time.Millisecond))
	if dropped == 0 {
		t.Fatal("there was no SSH session to drop: the apply did not use the connection during the gate")
	}
	if err == nil {
		// Carried on over a new connection: green serves, alone.
		if err := through(h.Caddy, domain, "v1")(nil); err != nil {
			t.Fatal(err)
		}
		if now := hostContainersOf(t, h, name); len(now) != 1 || slices.Contains(blue, now[0]) {
			t.Fatalf("after the apply the host runs %v, want green alone (blue was %v)", now, blue)
		}
	} else {
		// Failed cleanly: green removed, blue routed and serving.
		t.Logf("the apply failed: %s", lastLine(res.Stdout+res.Stderr, "Error"))
		// A removal the engine had begun when the connection dropped may
		// still be finishing: the retry found it "already in progress".
		var now []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			now = hostContainersOf(t, h, name)
			if strings.Join(now, " ") == strings.Join(blue, " ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("10 s after the failed apply the host runs %v, want blue %v alone\n%s\n%s\nthe provider's log:\n%s\nsshd's log:\n%s", now, blue,
					h.Docker(t, "ps", "-a", "--filter", "label=tinyforge.workload="+name, "--format", "{{.Names}} {{.Status}}"), res.Stdout+res.Stderr,
					providerLog(t, logPath), h.SSH.Log())
			}
		}
		if err := through(h.Caddy, domain, "v2")(nil); err != nil {
			t.Fatal(err)
		}
		res, err = wd.Apply(ctx)
		mustSucceed(t, "the apply after the failed one", res, err)
		if err := through(h.Caddy, domain, "v1")(nil); err != nil {
			t.Fatal(err)
		}
	}
	stats := load.Stop()
	t.Logf("through the host's Caddy meanwhile: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Total == 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges {
		t.Fatalf("the plan after the deploy is not empty (%v):\n%s", err, plan.Stdout)
	}
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy", res, err)
	if now := hostContainersOf(t, h, name); len(now) > 0 {
		t.Fatalf("destroy left %v on the host", now)
	}
}

// lastLine is the last line of out containing word, for a log message.
func lastLine(out, word string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], word) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// providerLog is what the provider logged into a CaptureLog file, its own
// lines only (terraform's may quote the configuration).
func providerLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "provider.terraform-provider-tinyforge:") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

package docker

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestRegistriesFindTheLogin: a login given for the registry wins; else
// the config file's auths; else its credential helper, run as the docker
// CLI runs it (docker-credential-<name> get); nothing for another registry.
// (Not parallel: it puts a credential helper on PATH.)
func TestRegistriesFindTheLogin(t *testing.T) {
	dir := t.TempDir()
	helper := filepath.Join(dir, "docker-credential-tinyforgetest")
	script := "#!/bin/sh\nread server\n[ \"$server\" = helped.example.test ] || { echo 'credentials not found in native keychain'; exit 1; }\n" +
		"echo '{\"ServerURL\":\"helped.example.test\",\"Username\":\"helper-user\",\"Secret\":\"helper-pass\"}'\n"
	if err := os.WriteFile(helper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cfg := filepath.Join(dir, "config.json")
	basic := base64.StdEncoding.EncodeToString([]byte("file-user:file-pass"))
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"auths": {"filed.example.test": {"auth": %q}, "https://index.docker.io/v1/": {"auth": %q}},
		"credHelpers": {"helped.example.test": "tinyforgetest"}}`, basic, basic)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Registries{
		Logins:     []RegistryLogin{{Address: "https://given.example.test/", Username: "given-user", Password: "given-pass"}},
		ConfigFile: cfg,
	}
	for ref, want := range map[string]string{
		"given.example.test/acme/web:1":  "given-user:given-pass",
		"filed.example.test/acme/web:1":  "file-user:file-pass",
		"helped.example.test/acme/web:1": "helper-user:helper-pass",
		"nginx:1":                        "file-user:file-pass", // Docker Hub's key in config.json
		"other.example.test/x:1":         "",
	} {
		l, found, err := r.For(ref)
		got := ""
		if found {
			got = l.Username + ":" + l.Password
		}
		if err != nil || got != want {
			t.Errorf("For(%s) = %q %v, want %q", ref, got, err, want)
		}
	}
	if l, found, err := (&Registries{ConfigFile: filepath.Join(dir, "missing.json")}).For("filed.example.test/x:1"); found || err != nil {
		t.Errorf("a missing config file: %+v %v %v", l, found, err)
	}
}

// TestPullFromAPrivateRegistry: a registry that asks for a login refuses a
// pull without one, naming the registry; with the login it pulls. No
// password reaches an error.
func TestPullFromAPrivateRegistry(t *testing.T) {
	t.Parallel()
	imgRef, _ := testImage(t)
	reg := acctest.StartRegistry(t)
	ref := reg.Push(t, imgRef, acctest.UniqueName("private")+":1")
	t.Cleanup(func() { acctest.DockerE("rmi", "-f", ref) })
	const secret = "s3cret-registry-pass"
	reg.RequireLogin("deployer", secret)

	anonymous := newClient(t)
	ctx := testContext(t)
	err := anonymous.PullImage(ctx, ref, nil)
	if err == nil || !strings.Contains(err.Error(), "registry "+reg.Addr+" asks for credentials, and none are configured for it") {
		t.Fatalf("a pull without a login: %v", err)
	}
	wrong := newClient(t, WithRegistries(&Registries{Logins: []RegistryLogin{{Address: reg.Addr, Username: "deployer", Password: "wrong-" + secret}}}))
	err = wrong.PullImage(ctx, ref, nil)
	if err == nil || !strings.Contains(err.Error(), "registry "+reg.Addr+` refused the login of user "deployer"`) || strings.Contains(err.Error(), secret) {
		t.Fatalf("a pull with a wrong password: %v", err)
	}
	right := newClient(t, WithRegistries(&Registries{Logins: []RegistryLogin{{Address: reg.Addr, Username: "deployer", Password: secret}}}))
	if err := right.PullImage(ctx, ref, nil); err != nil {
		t.Fatalf("a pull with the login: %v", err)
	}
	if _, err := right.InspectImage(ctx, ref); err != nil {
		t.Fatalf("the pulled image: %v", err)
	}
}

// TestValidateRepositoryPrefix: a push prefix names its registry; a bare
// name (which Docker would send to Docker Hub's library), upper case, a
// trailing slash or a URL are refused, the value quoted.
func TestValidateRepositoryPrefix(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5000", "127.0.0.1:5000/apps", "ghcr.io/team", "docker.io/team", "localhost:5000/a/b"} {
		if err := ValidateRepositoryPrefix(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"team", "ghcr.io/Team", "ghcr.io/team/", "http://x.io", ""} {
		if err := ValidateRepositoryPrefix(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("(got %q)", bad)) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

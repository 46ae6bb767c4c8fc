package acctest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCaddyProcessIsIsolatedAndStops checks the non-test variant: the admin
// API answers on 127.0.0.1 with persistence off, Caddy keeps its data under
// its own temp HOME and XDG dirs (so never in the real home), and Stop kills it, waits
// for it and removes that dir.
func TestCaddyProcessIsIsolatedAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := StartCaddyProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)

	var admin struct {
		Listen string `json:"listen"`
		Config struct {
			Persist *bool `json:"persist"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/admin")), &admin); err != nil {
		t.Fatal(err)
	}
	if "http://"+admin.Listen != c.AdminURL || admin.Config.Persist == nil || *admin.Config.Persist {
		t.Fatalf("admin config = %+v, want listen %s and persist false", admin, c.AdminURL)
	}
	if got := c.AdminGet(t, "/config/apps"); got != "null" {
		t.Fatalf("apps = %s, want none", got)
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(environ), "\x00")
	for _, v := range []string{"HOME=" + c.Dir(), "XDG_CONFIG_HOME=" + filepath.Join(c.Dir(), "config"), "XDG_DATA_HOME=" + filepath.Join(c.Dir(), "data")} {
		if !slices.Contains(env, v) {
			t.Errorf("caddy runs without %s: %q", v, env)
		}
	}

	c.Stop()
	if c.cmd.ProcessState == nil {
		t.Fatalf("Stop returned before caddy exited")
	}
	if _, err := http.Get(c.AdminURL + "/config/"); err == nil {
		t.Fatalf("admin API still answers after Stop")
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp dir %s left after Stop (stat: %v)", c.Dir(), err)
	}
}

// TestCaddyWithConfigServesUserConfig checks that a user's config is loaded
// as given, with {{http_port}} filled in, and that Get sends the Host header.
func TestCaddyWithConfigServesUserConfig(t *testing.T) {
	t.Parallel()
	c := StartCaddyWithConfig(t, `{"apps": {"http": {"servers": {"user": {
		"listen": ["127.0.0.1:{{http_port}}"],
		"automatic_https": {"disable": true},
		"routes": [{"match": [{"host": ["hello.test"]}], "handle": [{"handler": "static_response", "body": "hello"}]}]
	}}}}}`)
	if got, want := c.AdminGet(t, "/config/apps/http/servers/user/listen"), `["127.0.0.1:`+strconv.Itoa(c.HTTPPort)+`"]`; got != want {
		t.Fatalf("listen = %s, want %s", got, want)
	}
	got := [][2]any{}
	for _, host := range []string{"hello.test", "other.test"} {
		status, body := c.Get(t, host, "/")
		got = append(got, [2]any{status, body})
	}
	// Caddy answers an unmatched request with an empty 200.
	if want := [][2]any{{200, "hello"}, {200, ""}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("answers for hello.test, other.test = %v, want %v", got, want)
	}
}

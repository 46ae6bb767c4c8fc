package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

func TestCallLogWritesOneLinePerRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "calls")
	log, err := openCallLog(path)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: log.wrap("proxy", nil)}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(srv.URL + "/v1.41/containers/json?filters=secret")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/config/apps/http/servers/x/routes/0", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 51 {
		t.Fatalf("want 51 lines, got %d", len(lines))
	}
	for _, l := range lines[:50] {
		if l != "proxy GET /containers/json" {
			t.Fatalf("line %q: the version prefix and the query must be gone", l)
		}
	}
	if lines[50] != "proxy PATCH /config/apps/http/servers/x/routes/0" {
		t.Fatalf("last line %q", lines[50])
	}
}

// TestCallLogCountsTheDockerClientsCalls proves the hook sees what the real
// Docker client sends: one line per Engine API request.
func TestCallLogCountsTheDockerClientsCalls(t *testing.T) {
	acctest.RequireDocker(t)
	path := filepath.Join(t.TempDir(), "calls")
	log, err := openCallLog(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := docker.New(docker.Config{}, docker.WithTransport(func(next http.RoundTripper) http.RoundTripper {
		return log.wrap("docker", next)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListContainers(ctx, "tinyforge.workload"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	got := strings.TrimSpace(string(raw))
	want := "docker HEAD /_ping\ndocker GET /containers/json"
	if got != want {
		t.Fatalf("call log:\n%s\nwant:\n%s", got, want)
	}
}

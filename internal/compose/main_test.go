package compose

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

func TestMain(m *testing.M) {
	// RunAndCleanUp removes what the run left labelled as its own (every
	// container, network, volume and image the tests make carries
	// LabelTestRun), the shared test images included, also when tests failed.
	os.Exit(acctest.RunAndCleanUp(m))
}

// newRuntime returns a Runtime on the local engine, as the provider makes
// it: internal/docker's client, which builds with BuildKit.
func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	acctest.RequireDocker(t)
	c, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return New(c.EngineAPI(), WithBuilder(c))
}

// testContext bounds one test's engine calls.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testLog sends a test's progress to t.Log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fixture is a 2-service checkout: web builds from web/Dockerfile (the test
// app) and waits for db to be healthy; db is a prebuilt image of the test app
// with a healthcheck binary, holding a named volume.
type fixture struct {
	dir     string // the checkout
	project string // the compose project name
	dbImage string
	labels  map[string]string
}

const fixtureCompose = `
services:
  web:
    build: ./web
    environment:
      VERSION: web-${WEB_VERSION:-v1}
    depends_on:
      db:
        condition: service_healthy
  db:
    image: ${DB_IMAGE}
    environment:
      VERSION: db-${DB_VERSION:-v1}
      HEALTH: ${DB_HEALTH:-}
    healthcheck:
      test: ["CMD", "/healthcheck", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 10s
      retries: 2
    volumes:
      - data:/data
volumes:
  data: {}
`

// newFixture writes the checkout, builds the db image, and removes the
// project (containers, networks, volumes, builds) and the image when the test
// ends.
func newFixture(t *testing.T, rt *Runtime) *fixture {
	t.Helper()
	imgs := acctest.TestImages(t)
	check := acctest.HealthcheckBinary(t)
	f := &fixture{
		dir:     t.TempDir(),
		project: acctest.UniqueName("tfcompose"),
		labels:  map[string]string{acctest.LabelTestRun: acctest.RunID(), "tinyforge.workload": "compose-test"},
	}
	f.dbImage = "tinyforge-acctest/compose-db:" + f.project

	// db: built here with the docker CLI, so the project has both an image
	// it runs and an image it builds.
	dbDir := t.TempDir()
	copyFile(t, imgs.Binary, filepath.Join(dbDir, "testapp"))
	copyFile(t, check, filepath.Join(dbDir, "healthcheck"))
	writeFiles(t, dbDir, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM scratch\nLABEL tinyforge.test-build=%s-db\nLABEL %s=%s\nCOPY testapp /testapp\nCOPY healthcheck /healthcheck\nENTRYPOINT [\"/testapp\"]\n",
		f.project, acctest.LabelTestRun, acctest.RunID())})
	t.Cleanup(func() { acctest.DockerE("rmi", "--force", f.dbImage) })
	acctest.DockerBuild(t, "--tag", f.dbImage, dbDir)

	// web: built by Up from the checkout.
	copyFile(t, imgs.Binary, filepath.Join(f.dir, "web", "testapp"))
	writeFiles(t, f.dir, map[string]string{
		"compose.yaml": fixtureCompose,
		"web/Dockerfile": fmt.Sprintf("FROM scratch\nLABEL tinyforge.test-build=%s-web\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\n",
			f.project),
	})

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := rt.Down(ctx, f.project, true, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

// load loads the fixture with env on top of DB_IMAGE.
func (f *fixture) load(t *testing.T, env map[string]string) *Project {
	t.Helper()
	all := map[string]string{"DB_IMAGE": f.dbImage}
	for k, v := range env {
		all[k] = v
	}
	p, err := Load(context.Background(), LoadSpec{Dir: f.dir, ProjectName: f.project, Env: all, Commit: "c1"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func (f *fixture) upOptions(t *testing.T) UpOptions {
	return UpOptions{
		Labels:  f.labels,
		Publish: []Publish{{Service: "web", Port: 8080}},
		Timeout: 2 * time.Minute,
		Log:     testLog(t),
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// get fetches url and returns the body of a 200 answer. A connection that
// fails is tried again for up to 20 s: web has no healthcheck, so Up
// returns once its process runs, maybe before it listens.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	for deadline := time.Now().Add(20 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		resp, err = c.Get(url)
	}
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

package compose

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadDir writes files into a fresh checkout and loads it.
func loadDir(t *testing.T, files map[string]string, spec LoadSpec) (*Project, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	spec.Dir = dir
	if spec.ProjectName == "" {
		spec.ProjectName = "unit"
	}
	return Load(context.Background(), spec)
}

const twoServices = `
services:
  web:
    build: ./web
    ports: ["127.0.0.1:8081:8080", "9090"]
    depends_on:
      db: {condition: service_healthy}
    environment:
      TOKEN: ${TOKEN}
  db:
    image: example/db:${DB_TAG:-1}
    expose: ["5432"]
    deploy: {replicas: 2}
    healthcheck:
      test: ["CMD", "/check"]
    volumes: [data:/data]
volumes:
  data: {}
`

func TestLoadServices(t *testing.T) {
	t.Parallel()
	p, err := loadDir(t, map[string]string{"compose.yaml": twoServices, "web/Dockerfile": "FROM scratch\n"},
		LoadSpec{ProjectName: "shop", Env: map[string]string{"TOKEN": "s3cret-token"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Name() != "shop" {
		t.Errorf("Name() = %q", p.Name())
	}
	got := p.Services()
	if len(got) != 2 || got[0].Name != "db" || got[1].Name != "web" {
		t.Fatalf("Services() = %+v, want db and web", got)
	}
	db, web := got[0], got[1]
	if !db.Healthcheck || db.Builds || db.Replicas != 2 || db.Image != "example/db:1" || !slices.Equal(db.Expose, []int{5432}) {
		t.Errorf("db = %+v", db)
	}
	if web.Healthcheck || !web.Builds || web.Replicas != 1 || web.Image != "shop-web" {
		t.Errorf("web = %+v", web)
	}
	wantPorts := []Port{{Target: 8080, Protocol: "tcp", HostIP: "127.0.0.1", Published: "8081"}, {Target: 9090, Protocol: "tcp"}}
	if !slices.Equal(web.Ports, wantPorts) {
		t.Errorf("web ports = %+v, want %+v", web.Ports, wantPorts)
	}
	if r := p.Replicas(); !maps.Equal(r, map[string]int{"db": 2, "web": 1}) {
		t.Errorf("Replicas() = %v", r)
	}
}

func TestLoadBrokenYAMLNamesTheFile(t *testing.T) {
	t.Parallel()
	_, err := loadDir(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: [unclosed\n"}, LoadSpec{})
	if err == nil {
		t.Fatal("Load of broken YAML succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "compose.yaml") {
		t.Fatalf("error does not name compose.yaml: %v", err)
	}
	if strings.Contains(err.Error(), os.TempDir()) {
		t.Errorf("error carries the checkout's absolute path: %v", err)
	}
}

func TestLoadUnknownKeyNamesTheFileAndTheKey(t *testing.T) {
	t.Parallel()
	_, err := loadDir(t, map[string]string{
		"compose.yaml":  "services:\n  web:\n    image: x\n",
		"override.yaml": "services:\n  web:\n    imagee: y\n",
	}, LoadSpec{Files: []string{"compose.yaml", "override.yaml"}})
	if err == nil {
		t.Fatal("Load with an unknown key succeeded")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"override.yaml", "imagee"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestLoadErrorsNeverCarryEnvValues(t *testing.T) {
	t.Parallel()
	secret := "hunter2-not-a-port"
	_, err := loadDir(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    ports: [\"${PORT}\"]\n"},
		LoadSpec{Env: map[string]string{"PORT": secret}})
	if err == nil {
		t.Fatal("Load with an invalid port succeeded")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error carries the env value: %v", err)
	}
}

func TestLoadLooksForComposeFilesInDirOnly(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	writeFiles(t, parent, map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n"})
	dir := filepath.Join(parent, "checkout")
	writeFiles(t, dir, map[string]string{"README": "no compose file here\n"})
	_, err := Load(context.Background(), LoadSpec{Dir: dir, ProjectName: "unit"})
	if err == nil || !strings.Contains(err.Error(), "no compose file") {
		t.Fatalf("Load = %v, want no compose file (the parent's must not count)", err)
	}

	// The default names and the override file.
	p, err := loadDir(t, map[string]string{
		"docker-compose.yml":          "services:\n  web:\n    image: x\n",
		"docker-compose.override.yml": "services:\n  web:\n    image: y\n",
	}, LoadSpec{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if web, _ := p.Service("web"); web.Image != "y" {
		t.Fatalf("web image %q: the override file was not applied", web.Image)
	}
}

func TestLoadEnvironment(t *testing.T) {
	// Not parallel: it sets a process environment variable.
	t.Setenv("FROM_PROCESS", "leaked")
	p, err := loadDir(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: x:${TAG}\n    environment:\n      A: ${FROM_DOTENV}\n      B: ${FROM_PROCESS}\n",
		".env":         "TAG=from-dotenv\nFROM_DOTENV=dotenv\n",
	}, LoadSpec{Env: map[string]string{"TAG": "from-spec"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	web := p.raw.Services["web"]
	if web.Image != "x:from-spec" {
		t.Errorf("image %q: Env must win over .env", web.Image)
	}
	if v := web.Environment["A"]; v == nil || *v != "dotenv" {
		t.Errorf("A = %v: .env must be read", v)
	}
	if v := web.Environment["B"]; v == nil || *v != "" {
		t.Errorf("B = %v: the process environment must not be read", v)
	}
	if w := p.Warnings(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "FROM_PROCESS") }) {
		t.Errorf("Warnings() = %q, want the unset FROM_PROCESS", w)
	}
}

// TestLoadResolvesFromTheFirstFilesFolder: a compose file in a subfolder
// resolves its relative paths from that folder, as the docker compose CLI
// does (its --project-directory default): a ".." build context, a relative
// bind mount, env_file, .env, extends and include.
func TestLoadResolvesFromTheFirstFilesFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"deploy/compose.yaml": `include: [../shared/compose.yaml]
services:
  web:
    extends: {file: ../common.yaml, service: base}
    build: ../web
    env_file: web.env
    environment: {TAG: "${TAG}"}
    volumes: ["../conf:/conf:ro", "./state:/state"]
`,
		"deploy/web.env":          "FROM_ENV_FILE=yes\n",
		"deploy/.env":             "TAG=from-project-dotenv\n",
		".env":                    "TAG=from-checkout-root\n",
		"common.yaml":             "services:\n  base:\n    image: unused\n    environment: {FROM_EXTENDS: \"yes\"}\n",
		"shared/compose.yaml":     "services:\n  cache:\n    build: ./cache\n",
		"shared/cache/Dockerfile": "FROM scratch\n",
		"web/Dockerfile":          "FROM scratch\n",
	})
	p, err := Load(context.Background(), LoadSpec{Dir: dir, Files: []string{"deploy/compose.yaml"}, ProjectName: "unit"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	web := p.raw.Services["web"]
	if got, want := web.Build.Context, filepath.Join(dir, "web"); got != want {
		t.Errorf("build context %q, want %q", got, want)
	}
	var binds []string
	for _, v := range web.Volumes {
		binds = append(binds, v.Source)
	}
	if want := []string{filepath.Join(dir, "conf"), filepath.Join(dir, "deploy", "state")}; !slices.Equal(binds, want) {
		t.Errorf("bind mounts %q, want %q", binds, want)
	}
	for k, want := range map[string]string{"FROM_ENV_FILE": "yes", "FROM_EXTENDS": "yes", "TAG": "from-project-dotenv"} {
		if v := web.Environment[k]; v == nil || *v != want {
			t.Errorf("web's %s = %v, want %q", k, v, want)
		}
	}
	if len(web.EnvFiles) != 0 {
		t.Errorf("env_file %v was not resolved into environment", web.EnvFiles)
	}
	if cache, ok := p.raw.Services["cache"]; !ok || cache.Build == nil || cache.Build.Context != filepath.Join(dir, "shared", "cache") {
		t.Errorf("included service cache: %+v, want its build context in shared/cache", cache.Build)
	}
	if wd := web.CustomLabels["com.docker.compose.project.working_dir"]; wd != filepath.Join(dir, "deploy") {
		t.Errorf("working_dir label %q, want the first file's folder", wd)
	}
}

// TestLoadRefusesReadsOutsideTheCheckout: what the provider reads (build
// contexts, env_file, .env, include and extends files) stays inside the
// checkout, whether a path climbs out, is absolute or goes through a
// symbolic link; the error says so and carries nothing it read.
func TestLoadRefusesReadsOutsideTheCheckout(t *testing.T) {
	t.Parallel()
	// The files outside are where the climbing paths lead: beside the
	// checkout.
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{
		"secret.env": "SECRET=outside-value\n", "compose.yaml": "services:\n  x:\n    image: x\n", "Dockerfile": "FROM scratch\n",
	})
	compose := func(s string) map[string]string { return map[string]string{"deploy/compose.yaml": s} }
	for name, tc := range map[string]struct {
		files map[string]string
		link  [2]string // a symbolic link: name in the checkout -> target
		want  string
	}{
		"build context climbing out": {files: compose("services:\n  web:\n    build: ../../web\n"), want: "build context"},
		"env_file climbing out":      {files: compose("services:\n  web:\n    image: x\n    env_file: ../../secret.env\n"), want: "env_file"},
		"absolute env_file": {files: compose("services:\n  web:\n    image: x\n    env_file: " + filepath.Join(outside, "secret.env") + "\n"),
			want: "env_file"},
		"include climbing out": {files: compose("include: [../../compose.yaml]\nservices:\n  web:\n    image: x\n"), want: "include"},
		"absolute include": {files: compose("include: [" + filepath.Join(outside, "compose.yaml") + "]\nservices:\n  web:\n    image: x\n"),
			want: "include and extends"},
		"extends climbing out": {files: compose("services:\n  web:\n    extends: {file: ../../compose.yaml, service: x}\n"), want: "extends"},
		"absolute extends": {files: compose("services:\n  web:\n    extends: {file: " + filepath.Join(outside, "compose.yaml") + ", service: x}\n"),
			want: "include and extends"},
		"build context through a link": {files: compose("services:\n  web:\n    build: ../web\n"), link: [2]string{"web", outside}, want: "build context"},
		"env_file through a link": {files: compose("services:\n  web:\n    image: x\n    env_file: web.env\n"),
			link: [2]string{"deploy/web.env", filepath.Join(outside, "secret.env")}, want: "env_file"},
		".env through a link": {files: compose("services:\n  web:\n    image: x\n"),
			link: [2]string{"deploy/.env", filepath.Join(outside, "secret.env")}, want: ".env leads outside"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(outside, acctest.UniqueName("checkout"))
			writeFiles(t, dir, tc.files)
			if tc.link[0] != "" {
				if err := os.Symlink(tc.link[1], filepath.Join(dir, tc.link[0])); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(context.Background(), LoadSpec{Dir: dir, Files: []string{"deploy/compose.yaml"}, ProjectName: "unit"})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "outside") {
				t.Fatalf("error does not say %s is outside the checkout: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "outside-value") {
				t.Fatalf("error carries what it read: %v", err)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	for name, compose := range map[string]string{
		"remote build context":    "services:\n  web:\n    build: https://example.test/repo.git\n",
		"build outside checkout":  "services:\n  web:\n    build: ../elsewhere\n",
		"provider service":        "services:\n  web:\n    provider:\n      type: example\n",
		"no services":             "services: {}\n",
		"compose file not inside": "",
	} {
		t.Run(name, func(t *testing.T) {
			spec := LoadSpec{}
			files := map[string]string{"compose.yaml": compose}
			if compose == "" {
				spec.Files = []string{"../compose.yaml"}
			}
			_, err := loadDir(t, files, spec)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	load := func(files map[string]string, env map[string]string, commit string) string {
		t.Helper()
		p, err := loadDir(t, files, LoadSpec{Env: env, Commit: commit})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return p.Fingerprint()
	}
	files := map[string]string{"compose.yaml": twoServices, "web/Dockerfile": "FROM scratch\n"}
	env := map[string]string{"TOKEN": "a-secret-value"}
	base := load(files, env, "c1")
	if len(base) != 64 {
		t.Fatalf("fingerprint %q is not a SHA-256", base)
	}
	// Another checkout directory, same content: loadDir uses a new temp dir.
	if again := load(files, env, "c1"); again != base {
		t.Errorf("same project in another directory: fingerprint changed")
	}
	if load(files, map[string]string{"TOKEN": "another-secret"}, "c1") == base {
		t.Errorf("an env value changed: fingerprint did not")
	}
	if load(files, map[string]string{"TOKEN": "a-secret-value", "UNUSED": "x"}, "c1") != base {
		t.Errorf("an unused variable changed the fingerprint")
	}
	if load(files, map[string]string{"TOKEN": "a-secret-value", "DB_TAG": "2"}, "c1") == base {
		t.Errorf("an image tag changed: fingerprint did not")
	}
	if load(files, env, "c2") == base {
		t.Errorf("a service builds and the commit changed: fingerprint did not")
	}
	if strings.Contains(base, "a-secret-value") {
		t.Errorf("fingerprint carries the value")
	}

	// No build, no bind mount: the commit does not matter.
	imageOnly := map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n"}
	if load(imageOnly, nil, "c1") != load(imageOnly, nil, "c2") {
		t.Errorf("nothing reads the checkout, yet the commit changed the fingerprint")
	}
	bind := map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    volumes: [./conf:/conf]\n"}
	if load(bind, nil, "c1") == load(bind, nil, "c2") {
		t.Errorf("a bind mount of the checkout: the commit did not change the fingerprint")
	}
}

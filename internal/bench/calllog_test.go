package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A plan's log as the provider writes it (internal/provider/calllog.go):
// two provider processes appending to one file, the ping of each Configure,
// the snapshot, and an apply's writes.
const sampleLog = `docker HEAD /_ping
docker HEAD /_ping
docker GET /containers/json
proxy GET /config/apps/http/servers/tinyforge

docker GET /images/tinyforge-acctest/testapp:0a1b2c3d-v1/json
docker POST /containers/create
docker POST /containers/3f5e0c1d2b4a/start
docker GET /containers/3f5e0c1d2b4a/json
proxy PATCH /config/apps/http/servers/tinyforge/routes/12
proxy GET /config/
docker POST /containers/9d8c7b6a/stop
docker DELETE /containers/9d8c7b6a
docker POST /networks/create
docker GET /networks/tfbench-net
`

func TestParseCallLogClassifies(t *testing.T) {
	c, err := ParseCallLog(strings.NewReader(sampleLog))
	if err != nil {
		t.Fatal(err)
	}
	got := []int{c.Total, c.Docker, c.Proxy, c.ContainerLists, c.RouteReads, c.Lists(), c.Mutating}
	// Mutating: create, start, PATCH, stop, DELETE, network create.
	want := []int{14, 11, 3, 1, 2, 3, 6}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("total, docker, proxy, container lists, route reads, lists, mutating = %v, want %v", got, want)
	}
	wantKinds := map[string]int{
		"docker HEAD /_ping":                                         2,
		"docker GET /containers/json":                                1,
		"proxy GET /config/apps/http/servers/tinyforge":              1,
		"docker GET /images/{ref}/json":                              1,
		"docker POST /containers/create":                             1,
		"docker POST /containers/{id}/start":                         1,
		"docker GET /containers/{id}/json":                           1,
		"proxy PATCH /config/apps/http/servers/tinyforge/routes/{i}": 1,
		"proxy GET /config/":                                         1,
		"docker POST /containers/{id}/stop":                          1,
		"docker DELETE /containers/{id}":                             1,
		"docker POST /networks/create":                               1,
		"docker GET /networks/{id}":                                  1,
	}
	if !reflect.DeepEqual(c.ByKind, wantKinds) {
		t.Fatalf("ByKind = %v\nwant %v", c.ByKind, wantKinds)
	}
	wantMut := []string{
		"docker DELETE /containers/{id} x1",
		"docker POST /containers/create x1",
		"docker POST /containers/{id}/start x1",
		"docker POST /containers/{id}/stop x1",
		"docker POST /networks/create x1",
		"proxy PATCH /config/apps/http/servers/tinyforge/routes/{i} x1",
	}
	if got := c.MutatingKinds(); !reflect.DeepEqual(got, wantMut) {
		t.Fatalf("MutatingKinds = %q, want %q", got, wantMut)
	}
}

// A read-only plan: only GET and HEAD, so nothing mutates, and the lists
// are exactly the container list and the route read.
func TestParseCallLogReadOnlyPlanHasNoMutations(t *testing.T) {
	c, err := ParseCallLog(strings.NewReader("docker HEAD /_ping\ndocker GET /containers/json\nproxy GET /config/apps/http/servers/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mutating != 0 || c.Lists() != 2 || c.ContainerLists != 1 || c.RouteReads != 1 || len(c.MutatingKinds()) != 0 {
		t.Fatalf("calls = %+v, want 2 lists and no mutation", c)
	}
}

// Only the list of containers is a container list: an inspect of one
// container, or an image list, is not.
func TestParseCallLogCountsOnlyTheContainerListAsAList(t *testing.T) {
	c, err := ParseCallLog(strings.NewReader("docker GET /containers/abc/json\ndocker GET /images/json\ndocker POST /containers/json\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ContainerLists != 0 || c.Mutating != 1 {
		t.Fatalf("calls = %+v, want no container list and one mutation (the POST)", c)
	}
	if c.ByKind["docker GET /images/json"] != 1 {
		t.Fatalf("ByKind = %v: /images/json is a collection, not an image named json", c.ByKind)
	}
}

func TestParseCallLogRejectsWhatItDoesNotUnderstand(t *testing.T) {
	for _, bad := range []string{
		"docker GET",                             // no path
		"docker GET /a extra",                    // too many fields
		"docker FETCH /containers/json",          // no such method
		"docker get /containers/json",            // methods are upper case
		"registry GET /v2/",                      // unknown target
		"docker GET containers/json",             // not a path
		"docker GET /containers/json\nproxy PUT", // a good line, then a bad one
	} {
		if _, err := ParseCallLog(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseCallLog(%q) = nil error, want one", bad)
		}
	}
}

func TestReadCallLogOfNoCallsIsEmpty(t *testing.T) {
	c, err := ReadCallLog(filepath.Join(t.TempDir(), "never-written"))
	if err != nil || c.Total != 0 || c.ByKind == nil {
		t.Fatalf("ReadCallLog(missing) = %+v, %v; want zero calls and no error", c, err)
	}
	path := filepath.Join(t.TempDir(), "calls")
	if err := os.WriteFile(path, []byte(sampleLog), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadCallLog(path); err != nil || c.Total != 14 {
		t.Fatalf("ReadCallLog = %+v, %v; want 14 calls", c, err)
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ target, in, want string }{
		{"docker", "/containers/json", "/containers/json"},
		{"docker", "/containers/create", "/containers/create"},
		{"docker", "/containers/0123abcd/logs", "/containers/{id}/logs"},
		{"docker", "/containers/0123abcd", "/containers/{id}"},
		{"docker", "/images/create", "/images/create"},
		{"docker", "/images/json", "/images/json"},
		{"docker", "/images/reg.example:5000/a/b:tag/json", "/images/{ref}/json"},
		{"docker", "/images/sha256:abcd", "/images/{ref}"},
		{"docker", "/networks/tinyforge", "/networks/{id}"},
		{"docker", "/_ping", "/_ping"},
		{"proxy", "/config/apps/http/servers/tinyforge/routes/7", "/config/apps/http/servers/tinyforge/routes/{i}"},
		{"proxy", "/config/apps/http/servers/tinyforge/routes/7/match", "/config/apps/http/servers/tinyforge/routes/{i}/match"},
		{"proxy", "/api/nginx/proxy-hosts/12", "/api/nginx/proxy-hosts/{id}"},
		{"proxy", "/api/tokens", "/api/tokens"},
	} {
		if got := normalizePath(tc.target, tc.in); got != tc.want {
			t.Errorf("normalizePath(%s, %s) = %s, want %s", tc.target, tc.in, got, tc.want)
		}
	}
}

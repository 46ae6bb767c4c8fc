package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Calls counts what one terraform run's provider processes asked of the
// Docker engine and of the proxy admin API, from the call log the provider
// writes when TINYFORGE_CALL_LOG is set (one "<target> <METHOD> <path>" line
// per HTTP request; see internal/provider/calllog.go).
type Calls struct {
	Total  int `json:"total"`
	Docker int `json:"docker"`
	Proxy  int `json:"proxy"`
	// ContainerLists are Docker GET /containers/json: the snapshot Read
	// should take once per plan, whatever the number of workloads.
	ContainerLists int `json:"container_lists"`
	// RouteReads are proxy GETs: Caddy's provider server (or its whole
	// config when the server is missing), which holds every route.
	RouteReads int `json:"route_reads"`
	// Mutating are requests whose method is not GET or HEAD: they change
	// the Docker host or the proxy.
	Mutating int `json:"mutating"`
	// ByKind counts the calls by "<target> <METHOD> <path>", with IDs,
	// image references and route indexes in the path replaced by
	// placeholders, so that the breakdown stays short.
	ByKind map[string]int `json:"by_kind"`
}

// Lists are the list calls of the issue: container lists and route reads.
func (c Calls) Lists() int { return c.ContainerLists + c.RouteReads }

// MutatingKinds lists the kinds of the mutating calls, for a report.
func (c Calls) MutatingKinds() []string {
	var out []string
	for k, n := range c.ByKind {
		if f := strings.Fields(k); len(f) == 3 && isMutating(f[1]) {
			out = append(out, fmt.Sprintf("%s x%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

// ReadCallLog parses the call log at path; a missing file is no calls.
func ReadCallLog(path string) (Calls, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return Calls{ByKind: map[string]int{}}, nil
	}
	if err != nil {
		return Calls{}, err
	}
	defer f.Close()
	c, err := ParseCallLog(f)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCallLog counts the lines of a call log. Blank lines are skipped; any
// other line that is not "<docker|proxy> <METHOD> </path>" is an error: a
// count built on lines it does not understand could not be trusted.
func ParseCallLog(r io.Reader) (Calls, error) {
	c := Calls{ByKind: map[string]int{}}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !isMethod(f[1]) || !strings.HasPrefix(f[2], "/") {
			return c, fmt.Errorf("call log line %d: %q is not \"<target> <METHOD> <path>\"", n, line)
		}
		target, method, path := f[0], f[1], f[2]
		switch target {
		case "docker":
			c.Docker++
			if method == "GET" && path == "/containers/json" {
				c.ContainerLists++
			}
		case "proxy":
			c.Proxy++
			if method == "GET" {
				c.RouteReads++
			}
		default:
			return c, fmt.Errorf("call log line %d: unknown target %q (want docker or proxy)", n, target)
		}
		if isMutating(method) {
			c.Mutating++
		}
		c.Total++
		c.ByKind[target+" "+method+" "+normalizePath(target, path)]++
	}
	return c, s.Err()
}

func isMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

func isMutating(method string) bool {
	return method != "GET" && method != "HEAD" && method != "OPTIONS"
}

var (
	// Engine API paths that name one object: /containers/<id>/start,
	// /containers/<id> (DELETE), /networks/<id>, /exec/<id>/start.
	dockerObject = regexp.MustCompile(`^/(containers|networks|volumes|exec)/([^/]+)(/.*)?$`)
	// Image paths: the reference may hold slashes and a tag
	// (/images/tinyforge-acctest/testapp:abc-v1/json).
	dockerImage = regexp.MustCompile(`^/images/(.+?)(/(json|tag|push|history|get))?$`)
	// Caddy route indexes: .../routes/3 and deeper.
	routeIndex = regexp.MustCompile(`/routes/\d+(/|$)`)
	// Nginx Proxy Manager host IDs: /api/nginx/proxy-hosts/12.
	numericSegment = regexp.MustCompile(`/\d+(/|$)`)
)

// dockerCollections are the paths under /containers, /networks, /volumes
// and /images that name no object.
var dockerCollections = map[string]bool{"json": true, "create": true, "prune": true, "load": true, "search": true}

func normalizePath(target, p string) string {
	if target == "proxy" {
		p = routeIndex.ReplaceAllString(p, "/routes/{i}$1")
		return numericSegment.ReplaceAllString(p, "/{id}$1")
	}
	if m := dockerObject.FindStringSubmatch(p); m != nil && !dockerCollections[m[2]] {
		return "/" + m[1] + "/{id}" + m[3]
	}
	if m := dockerImage.FindStringSubmatch(p); m != nil && !dockerCollections[m[1]] {
		return "/images/{ref}" + m[2]
	}
	return p
}

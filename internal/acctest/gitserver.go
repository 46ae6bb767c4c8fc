package acctest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// GitServer is a real Git server: git's own smart-HTTP backend (`git
// http-backend`, run as CGI) on 127.0.0.1, behind HTTP basic auth whose
// password is Token, as Gitea, GitHub and GitLab take a token over HTTPS.
//
// The same server also answers the REST APIs of the three hosts at the
// paths a self-hosted instance serves them (Gitea /api/v1, GitHub
// Enterprise /api/v3, GitLab /api/v4), so one base_url serves the clone,
// the pull requests and the status reports, as a real Gitea does. Those
// APIs are stand-ins (see HostAPI) that read the real repositories: a pull
// request's head is its branch's commit here, a status needs a commit the
// repository holds.
type GitServer struct {
	// URL is the base URL (http://127.0.0.1:port); repositories are at
	// URL/<owner>/<name>.git.
	URL string
	// Token is the password the server requires (any username).
	Token string

	// The API stand-ins this server hosts, all checking Token.
	Gitea  *HostAPI
	GitHub *HostAPI
	GitLab *HostAPI

	root      string
	anonymous atomic.Bool
	// accepted is the token the Git transport accepts now; RevokeToken
	// changes it while requests may be in flight.
	accepted atomic.Pointer[string]
	// fetches counts the object transfers served (git-upload-pack POSTs:
	// clones and fetches; not ls-remote, which only reads the refs).
	fetches atomic.Int64
	// refListings counts the reference listings served (GET
	// info/refs?service=git-upload-pack: an ls-remote, or the start of a
	// clone or fetch).
	refListings atomic.Int64
}

// Fetches is how many clones and fetches the server has served, so that a
// test can prove a deploy did not clone.
func (s *GitServer) Fetches() int64 { return s.fetches.Load() }

// RefListings is how many times a client listed the references of a
// repository (ls-remote, or the first step of a clone or a fetch).
func (s *GitServer) RefListings() int64 { return s.refListings.Load() }

// StartGitServer starts a Git server with an empty project root and a fresh
// random token, and stops it when the test ends.
func StartGitServer(t testing.TB) *GitServer {
	t.Helper()
	s, stop, err := NewGitServer(t.TempDir(), backendLog{t})
	if err != nil {
		t.Fatalf("start the Git server: %v", err)
	}
	t.Cleanup(func() {
		stop()
		for _, api := range []*HostAPI{s.Gitea, s.GitHub, s.GitLab} {
			api.failOnViolations(t)
		}
	})
	return s
}

// NewGitServer is StartGitServer for a caller that is not a test (the
// benchmark): projects live under root, git http-backend's complaints go
// to stderr, and stop closes the server.
func NewGitServer(root string, stderr io.Writer) (s *GitServer, stop func(), err error) {
	backend, err := gitHTTPBackend()
	if err != nil {
		return nil, nil, err
	}
	token, err := randomGitToken()
	if err != nil {
		return nil, nil, err
	}
	s = &GitServer{
		Token:  token,
		Gitea:  NewGiteaAPI(token),
		GitHub: NewGitHubAPI(token),
		GitLab: NewGitLabAPI(token),
		root:   root,
	}
	for _, api := range []*HostAPI{s.Gitea, s.GitHub, s.GitLab} {
		api.repos = s
	}
	s.accepted.Store(&token)

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", s.Gitea)
	mux.Handle("/api/v3/", s.GitHub)
	mux.Handle("/api/v4/", s.GitLab)
	mux.Handle("/", s.gitHandler(backend, stderr))

	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	s.URL = srv.URL
	return s, srv.Close, nil
}

// Statuses returns the commit statuses the Gitea-style API (/api/v1) has
// accepted, the API a workload's base_url reaches when provider is detected.
func (s *GitServer) Statuses() []ReceivedStatus { return s.Gitea.Statuses() }

// RevokeToken makes the Git transport refuse the current token (as a host
// does once a token is revoked or expires) and accept a new one, which it
// returns and keeps in Token for the fixture's own pushes. The commit-status
// APIs keep the old one.
func (s *GitServer) RevokeToken(t testing.TB) string {
	t.Helper()
	token := newGitToken(t)
	s.accepted.Store(&token)
	s.Token = token
	return token
}

// AllowAnonymous lets requests without credentials read (clone, ls-remote),
// as a public repository allows. A wrong token is refused either way.
func (s *GitServer) AllowAnonymous(allow bool) { s.anonymous.Store(allow) }

// bare is the bare repository of project ("owner/name"), "" for a path
// that would lead out of the root.
func (s *GitServer) bare(project string) string {
	bare := filepath.Join(s.root, filepath.FromSlash(project)+".git")
	if !strings.HasPrefix(bare, s.root+string(filepath.Separator)) {
		return ""
	}
	return bare
}

// commitExists reports whether project is a repository on this server
// holding commit sha, so the APIs answer as a real host does for a SHA it
// does not know.
func (s *GitServer) commitExists(project, sha string) bool {
	bare := s.bare(project)
	if bare == "" {
		return false
	}
	_, err := gitOutput(bare, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// branchHead is the commit branch points at in project.
func (s *GitServer) branchHead(project, branch string) (string, bool) {
	bare := s.bare(project)
	if bare == "" {
		return "", false
	}
	sha, err := gitOutput(bare, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	return sha, err == nil && sha != ""
}

// contains reports whether commit sha of project has the head of branch in
// its history (a branch that does not exist is in every history).
func (s *GitServer) contains(project, sha, branch string) bool {
	head, ok := s.branchHead(project, branch)
	if !ok {
		return true
	}
	_, err := gitOutput(s.bare(project), "merge-base", "--is-ancestor", head, sha)
	return err == nil
}

// gitHandler checks the credentials and hands the request to git
// http-backend. The Authorization header is removed before the CGI sees it,
// so the token never reaches the backend's environment; REMOTE_USER is set
// so that http-backend also accepts pushes.
func (s *GitServer) gitHandler(backend string, stderr io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, hasAuth := r.BasicAuth()
		switch {
		case hasAuth && user != "" && pass == *s.accepted.Load():
		case !hasAuth && s.anonymous.Load() && !isPush(r):
			user = ""
		default:
			w.Header().Set("WWW-Authenticate", `Basic realm="tinyforge test git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization")
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			s.fetches.Add(1)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack":
			s.refListings.Add(1)
		}
		env := []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1"}
		if user != "" {
			env = append(env, "REMOTE_USER="+user)
		}
		h := &cgi.Handler{Path: backend, Dir: s.root, Env: env, InheritEnv: []string{"HTTP_GIT_PROTOCOL"}, Stderr: stderr}
		h.ServeHTTP(w, r)
	})
}

// backendLog sends git http-backend's complaints to the test log. The
// server is closed in t.Cleanup, which waits for requests in flight, so no
// line arrives after the test has ended.
type backendLog struct{ t testing.TB }

func (l backendLog) Write(p []byte) (int, error) {
	l.t.Logf("git http-backend: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func isPush(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack"
}

// gitHTTPBackend finds git-http-backend next to the git in use, as `git
// --exec-path` reports it.
func gitHTTPBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path (a git CLI is required): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git http-backend not found: %w", err)
	}
	return p, nil
}

func newGitToken(t testing.TB) string {
	t.Helper()
	token, err := randomGitToken()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func randomGitToken() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

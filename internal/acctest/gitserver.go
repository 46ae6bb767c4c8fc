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
	"regexp"
	"strings"
	"sync"
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

// gitPathSegment is what the fixture accepts as an owner or repository name.
var gitPathSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CreateRepo creates an empty bare repository at <root>/<owner>/<name>.git
// whose default branch is main. owner may hold "/" for GitLab subgroups.
func (s *GitServer) CreateRepo(t testing.TB, owner, name string) *GitRepo {
	t.Helper()
	r, err := s.NewRepo(owner, name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// NewRepo is CreateRepo for a caller that is not a test; the work clones
// of Push live under workRoot.
func (s *GitServer) NewRepo(owner, name, workRoot string) (*GitRepo, error) {
	for _, seg := range append(strings.Split(owner, "/"), name) {
		if !gitPathSegment.MatchString(seg) {
			return nil, fmt.Errorf("create repo %s/%s: invalid path segment %q", owner, name, seg)
		}
	}
	bare := filepath.Join(s.root, filepath.FromSlash(owner), name+".git")
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		return nil, fmt.Errorf("create repo %s/%s: %w", owner, name, err)
	}
	if _, err := gitOutput("", "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return nil, err
	}
	if _, err := gitOutput(bare, "config", "http.receivepack", "true"); err != nil {
		return nil, err
	}
	return &GitRepo{
		Owner:    owner,
		Name:     name,
		CloneURL: s.URL + "/" + owner + "/" + name + ".git",
		bare:     bare,
		workRoot: workRoot,
		work:     map[string]string{},
	}, nil
}

// GitRepo is a bare repository on a GitServer, plus private work clones (one
// per branch) that Commit uses to make real commits with the git CLI and push
// them, so the served repository has real history.
type GitRepo struct {
	Owner, Name string
	// CloneURL is <server URL>/<owner>/<name>.git, without credentials.
	CloneURL string

	mu       sync.Mutex
	bare     string
	workRoot string
	work     map[string]string // branch -> work clone
}

// File is one change in a commit: a regular file (Executable for mode 0755),
// a symbolic link (SymlinkTo set, any target, also outside the repository),
// or a deletion (Delete).
type File struct {
	Content    []byte
	Executable bool
	SymlinkTo  string
	Delete     bool
}

// Path is the bare repository's directory on this machine, for a file://
// remote or an SSH one on a test host.
func (r *GitRepo) Path() string { return r.bare }

// Commit writes files (regular, mode 0644) to branch main, commits them with
// msg and pushes; it returns the new commit's SHA.
func (r *GitRepo) Commit(t testing.TB, files map[string][]byte, msg string) string {
	t.Helper()
	changes := make(map[string]File, len(files))
	for p, b := range files {
		changes[p] = File{Content: b}
	}
	return r.CommitTo(t, "main", changes, msg)
}

// CommitFiles is Commit with file modes, symlinks and deletions.
func (r *GitRepo) CommitFiles(t testing.TB, files map[string]File, msg string) string {
	t.Helper()
	return r.CommitTo(t, "main", files, msg)
}

// CommitTo commits files to branch and pushes it. A branch that does not
// exist yet starts from main's head (or from nothing in an empty repository).
// An empty files map makes an empty commit.
func (r *GitRepo) CommitTo(t testing.TB, branch string, files map[string]File, msg string) string {
	t.Helper()
	sha, err := r.Push(branch, files, msg)
	if err != nil {
		t.Fatalf("commit to %s/%s: %v", r.Name, branch, err)
	}
	return sha
}

// Push is CommitTo for a caller that is not a test.
func (r *GitRepo) Push(branch string, files map[string]File, msg string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, err := r.workClone(branch)
	if err != nil {
		return "", err
	}
	for p, f := range files {
		if err := writeChange(dir, p, f); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{
		{"add", "--all"},
		{"commit", "--quiet", "--allow-empty", "--no-verify", "-m", msg},
		{"push", "--quiet", "origin", "HEAD:refs/heads/" + branch},
	} {
		if _, err := gitOutput(dir, args...); err != nil {
			return "", err
		}
	}
	return gitOutput(dir, "rev-parse", "HEAD")
}

// ForcePush moves branch to sha on the server, rewriting its history (a
// commit that was on it may no longer be), as `git push --force` does.
func (r *GitRepo) ForcePush(t testing.TB, branch, sha string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, err := r.workClone(branch)
	if err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "reset", "--quiet", "--hard", sha)
	runGit(t, dir, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+branch)
}

// Tag points tag name at sha on the server, moving it when it exists: an
// annotated tag (a tag object with a message, as `git tag -a` makes) or a
// lightweight one.
func (r *GitRepo) Tag(t testing.TB, name, sha string, annotated bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	args := []string{"tag", "--force"}
	if annotated {
		args = append(args, "--annotate", "--message", "release "+name)
	}
	runGit(t, r.bare, append(args, name, sha)...)
}

// Head returns the SHA branch points at on the server.
func (r *GitRepo) Head(t testing.TB, branch string) string {
	t.Helper()
	return runGit(t, r.bare, "rev-parse", "refs/heads/"+branch)
}

// workClone returns the work clone of branch, creating it on first use.
func (r *GitRepo) workClone(branch string) (string, error) {
	if dir, ok := r.work[branch]; ok {
		return dir, nil
	}
	dir := filepath.Join(r.workRoot, fmt.Sprintf("work%d", len(r.work)))
	if _, err := gitOutput("", "init", "--quiet", "--initial-branch="+branch, dir); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"remote", "add", "origin", r.bare}, {"fetch", "--quiet", "origin"}} {
		if _, err := gitOutput(dir, args...); err != nil {
			return "", err
		}
	}
	for _, base := range []string{branch, "main"} {
		if _, err := gitOutput(dir, "rev-parse", "--verify", "--quiet", "refs/remotes/origin/"+base); err == nil {
			if _, err := gitOutput(dir, "reset", "--quiet", "--hard", "refs/remotes/origin/"+base); err != nil {
				return "", err
			}
			break
		}
	}
	r.work[branch] = dir
	return dir, nil
}

// writeChange applies one File to the work tree at dir.
func writeChange(dir, rel string, f File) error {
	if rel == "" || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("file path %q must be clean and relative", rel)
	}
	p := filepath.Join(dir, rel)
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	if f.Delete {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if f.SymlinkTo != "" {
		return os.Symlink(f.SymlinkTo, p)
	}
	mode := os.FileMode(0o644)
	if f.Executable {
		mode = 0o755
	}
	if err := os.WriteFile(p, f.Content, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode) // WriteFile's mode is filtered by the umask
}

// gitEnv isolates the git CLI from the machine's and the user's config (a
// global commit.gpgsign or hooks would change what a commit is) and gives
// commits a fixed identity.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=tinyforge test",
		"GIT_AUTHOR_EMAIL=test@tinyforge.invalid",
		"GIT_COMMITTER_NAME=tinyforge test",
		"GIT_COMMITTER_EMAIL=test@tinyforge.invalid",
	)
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitOutput(dir, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

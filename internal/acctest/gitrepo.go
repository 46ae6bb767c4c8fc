package acctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// A GitServer's repositories (CreateRepo, GitRepo: commit, push, tag) and
// the git CLI the fixture runs, isolated from the machine's config.

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

// WriteFiles writes files into dir (created as needed), as a commit of
// them would leave a work tree: paths relative and clean, modes 0644 or
// 0755, symlinks as given, Delete removing.
func WriteFiles(t testing.TB, dir string, files map[string]File) {
	t.Helper()
	for rel, f := range files {
		if err := writeChange(dir, rel, f); err != nil {
			t.Fatalf("write %s into %s: %v", rel, dir, err)
		}
	}
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

package git

import (
	"net/url"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
)

// FuzzValidateRelPath: no input panics, a refusal names the attribute and
// quotes the path, and an accepted path stays inside the repository: it is
// relative, clean, does not climb out with "..", and joined to a root it
// names that root or something below it.
func FuzzValidateRelPath(f *testing.F) {
	const root = "/clone"
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateRelPath("context_path", p)
		if err != nil {
			refusal.Check(t, err, "context_path", p)
			return
		}
		clean := path.Clean(p)
		if p == "" || path.IsAbs(p) || filepath.IsAbs(p) || clean != p || clean == ".." || strings.HasPrefix(clean, "../") {
			t.Fatalf("accepted path %q is not a clean relative path inside the repository", p)
		}
		if in := filepath.Join(root, p); in != root && !strings.HasPrefix(in, root+"/") {
			t.Fatalf("accepted path %q leads to %s, outside %s", p, in, root)
		}
	})
}

// repoAttrs are the attributes Repo.Validate checks, as its messages start.
var repoAttrs = []string{"provider", "base_url", "repo_owner", "repo_name", "branch"}

// ownerOrName is one path segment of an owner or repository name as every
// host allows it.
var ownerOrName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// FuzzRepoValidate fuzzes where a repository lives. No input panics. A
// refusal says which attribute is wrong and quotes its value, except what
// may hold a credential: a base_url with "@" is never quoted, and one with
// a query or fragment only up to it. An accepted repository has a host kind
// and a clone URL of its base's host (github.com without one), with no
// credentials, query or fragment, ending in /<owner>/<name>.git; its owner
// and name are plain path segments, and its branch is one git itself
// accepts as a branch name.
func FuzzRepoValidate(f *testing.F) {
	branchOK := gitBranchCheck(f.TempDir())
	f.Fuzz(func(t *testing.T, provider, baseURL, owner, name, branch string) {
		r := Repo{Provider: provider, BaseURL: baseURL, Owner: owner, Name: name, Branch: branch, Token: "fuzz-token-0d9c"}
		err := r.Validate()
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, r.Token) {
				t.Fatalf("refusal carries the token: %s", msg)
			}
			attr := ""
			for _, a := range repoAttrs {
				if strings.HasPrefix(msg, a+" ") {
					attr = a
				}
			}
			switch attr {
			case "provider":
				refusal.Check(t, err, attr, provider)
			case "repo_owner":
				refusal.Check(t, err, attr, owner)
			case "repo_name":
				refusal.Check(t, err, attr, name)
			case "branch":
				refusal.Check(t, err, attr, branch)
			case "base_url":
				if baseURL == "" { // required by gitea and gitlab
					refusal.Check(t, err, "provider", provider)
				}
				refusal.CheckURL(t, err, attr, baseURL, func(v string) error {
					other := r
					other.BaseURL = v
					return other.Validate()
				})
			default:
				t.Fatalf("refusal names none of %v: %s", repoAttrs, msg)
			}
			return
		}

		host, err := r.Host()
		if err != nil || (host != GitHub && host != Gitea && host != GitLab) || (provider != "" && provider != string(host)) {
			t.Fatalf("accepted repository has host %q, %v (provider %q)", host, err, provider)
		}
		wantHost := "github.com"
		if baseURL != "" {
			b, err := url.Parse(baseURL)
			if err != nil {
				t.Fatalf("accepted base_url %q does not parse: %v", baseURL, err)
			}
			wantHost = b.Host
		}
		clone, err := r.CloneURL()
		if err != nil {
			t.Fatalf("accepted repository has no clone URL: %v", err)
		}
		u, err := url.Parse(clone)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host != wantHost ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(clone, "?#@") ||
			!strings.HasSuffix(u.Path, "/"+owner+"/"+name+".git") {
			t.Fatalf("accepted repository has clone URL %q (%v): want http(s)://%s/.../%s/%s.git and nothing else", clone, err, wantHost, owner, name)
		}
		segments := []string{name}
		if host == GitLab {
			segments = append(segments, strings.Split(owner, "/")...)
		} else {
			segments = append(segments, owner)
		}
		for _, s := range segments {
			if !ownerOrName.MatchString(s) || s == "." || s == ".." {
				t.Fatalf("accepted owner %q, name %q: segment %q", owner, name, s)
			}
		}
		if !branchOK(branch) {
			t.Fatalf("accepted branch %q, which git refuses (git check-ref-format --branch)", branch)
		}
	})
}

// gitBranchCheck returns whether git accepts a name as a branch, asking
// `git check-ref-format --branch` once per name (in dir, outside any
// repository).
func gitBranchCheck(dir string) func(string) bool {
	var seen sync.Map
	return func(branch string) bool {
		if ok, found := seen.Load(branch); found {
			return ok.(bool)
		}
		cmd := exec.Command("git", "check-ref-format", "--branch", branch)
		cmd.Dir = dir
		cmd.Env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_CEILING_DIRECTORIES=" + filepath.Dir(dir)}
		ok := cmd.Run() == nil && !strings.HasPrefix(branch, "-")
		seen.Store(branch, ok)
		return ok
	}
}

package gitbuild

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
)

// The fuzz targets of the plan-time rules of the Git attributes every Git
// source shares. Each checks, for any input, that the rule does not panic,
// that a refusal names the attribute and quotes the value, and that an
// accepted value has the property the rule exists for, stated here without
// the rule's own code.

func FuzzValidateProvider(f *testing.F) {
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateProvider(p)
		if err != nil {
			refusal.Check(t, err, "provider", p)
			return
		}
		switch p {
		case "", "github", "gitea", "gitlab":
		default:
			t.Fatalf("accepted provider %q", p)
		}
	})
}

func FuzzValidateBaseURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		err := ValidateBaseURL(v)
		if err != nil {
			refusal.CheckURL(t, err, "base_url", v, ValidateBaseURL)
			return
		}
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.ContainsAny(v, "@?#") {
			t.Fatalf("accepted base_url %q (%v) is not an http(s) URL of a host with no credentials, query or fragment", v, err)
		}
	})
}

// FuzzValidateBranch: an accepted branch is "" (main) or a branch name
// under the rules of git-check-ref-format(1) for refs/heads/<branch>, that
// git branch would also create: no control characters, space, ~ ^ : ? * [
// or \, no "..", "@{" or "//", no component starting with "." or ending
// with ".lock", not starting with "-" or "/", not ending with "/" or ".",
// not "@" or "HEAD", and not a full ref (refs/...).
func FuzzValidateBranch(f *testing.F) {
	f.Fuzz(func(t *testing.T, b string) {
		err := ValidateBranch(b)
		if err != nil {
			refusal.Check(t, err, "branch", b)
			return
		}
		if b == "" {
			return
		}
		bad := strings.ContainsFunc(b, func(r rune) bool { return r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) }) ||
			strings.Contains(b, "..") || strings.Contains(b, "@{") || strings.Contains(b, "//") ||
			strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
			b == "@" || b == "HEAD" || strings.HasPrefix(b, "refs/")
		for _, c := range strings.Split(b, "/") {
			bad = bad || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock")
		}
		if bad {
			t.Fatalf("accepted branch %q, which is not a branch name git would create", b)
		}
	})
}

// FuzzValidateBuildArgName: an accepted build_args key is what a
// Dockerfile's ARG line declares as one name: not empty, without "=",
// spaces (of any kind) or control characters.

package git

import (
	"strings"
	"testing"
)

func TestRepoHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider, baseURL string
		want              Host
		wantErr           string
	}{
		{"", "", GitHub, ""},
		{"", "https://github.example.com", GitHub, ""},
		{"", "https://gitlab.example.com/", GitLab, ""},
		{"", "https://GitLab.Example.com", GitLab, ""},
		{"", "https://git.example.com", Gitea, ""},
		{"", "http://127.0.0.1:3000", Gitea, ""},
		{"github", "", GitHub, ""},
		{"github", "https://ghe.example.com", GitHub, ""},
		{"gitlab", "https://code.example.com/gitlab", GitLab, ""},
		{"gitea", "https://gitlab.example.com", Gitea, ""}, // explicit beats the name
		{"gitea", "", "", `base_url is required for provider "gitea"`},
		{"gitlab", "", "", `base_url is required for provider "gitlab"`},
		{"bitbucket", "", "", `(got "bitbucket")`},
		{"", "ftp://git.example.com", "", `base_url must be an http:// or https:// URL with a host (got "ftp://git.example.com")`},
		{"", "https://", "", "with a host"},
		{"", "git.example.com", "", "http:// or https://"},
		{"", "https://git.example.com/?x=1", "", "must not have a query"},
		{"", "https://git.example.com/#top", "", "must not have a query or fragment"},
		{"", "https://user:hunter2@git.example.com", "", "must not carry credentials"},
	} {
		got, err := Repo{Provider: tc.provider, BaseURL: tc.baseURL}.Host()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Host(%q, %q) = %q, %v; want error containing %q", tc.provider, tc.baseURL, got, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes a password from base_url: %v", err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Host(%q, %q) = %q, %v; want %q", tc.provider, tc.baseURL, got, err, tc.want)
		}
	}
}

func TestRepoCloneURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		repo    Repo
		want    string
		wantErr string
	}{
		{Repo{Owner: "acme", Name: "web", Branch: "main"}, "https://github.com/acme/web.git", ""},
		{Repo{BaseURL: "https://git.example.com/", Owner: "acme", Name: "web.site", Branch: "release/1.x"}, "https://git.example.com/acme/web.site.git", ""},
		{Repo{Provider: "gitlab", BaseURL: "https://code.example.com/gitlab", Owner: "acme/platform/team", Name: "api", Branch: "main"}, "https://code.example.com/gitlab/acme/platform/team/api.git", ""},
		{Repo{Owner: "acme/platform", Name: "api", Branch: "main"}, "", `repo_owner must be letters, digits, '.', '_' or '-' (got "acme/platform")`},
		{Repo{Provider: "gitlab", BaseURL: "https://gitlab.com", Owner: "acme//x", Name: "api", Branch: "main"}, "", `(got "acme//x")`},
		{Repo{Provider: "gitlab", BaseURL: "https://gitlab.com", Owner: "acme/..", Name: "api", Branch: "main"}, "", `(got "acme/..")`},
		{Repo{Owner: "", Name: "web", Branch: "main"}, "", "repo_owner is required"},
		{Repo{Owner: "acme", Name: "", Branch: "main"}, "", "repo_name is required"},
		{Repo{Owner: "acme", Name: "we b", Branch: "main"}, "", `repo_name must be letters, digits, '.', '_' or '-' (got "we b")`},
		{Repo{Owner: "acme", Name: "..", Branch: "main"}, "", `(got "..")`},
		{Repo{Owner: "acme", Name: "web"}, "", "branch is required"},
		{Repo{Owner: "acme", Name: "web", Branch: "bad..name"}, "", `branch must be a branch name such as "main" (got "bad..name")`},
		{Repo{Owner: "acme", Name: "web", Branch: "refs/heads/main"}, "", `(got "refs/heads/main")`},
	} {
		got, err := tc.repo.CloneURL()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CloneURL(%+v) = %q, %v; want error containing %q", tc.repo, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CloneURL(%+v) = %q, %v; want %q", tc.repo, got, err, tc.want)
		}
	}
}

// TestRepoAuth locks the username each host expects with a token over HTTPS.
func TestRepoAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		repo Repo
		user string
	}{
		{Repo{Token: "t"}, "x-access-token"},
		{Repo{BaseURL: "https://git.example.com", Token: "t"}, "oauth2"},
		{Repo{BaseURL: "https://gitlab.example.com", Token: "t"}, "oauth2"},
	} {
		auth, err := tc.repo.auth()
		if err != nil {
			t.Fatal(err)
		}
		if s := auth.String(); !strings.Contains(s, tc.user+":") || strings.Contains(s, ":t") {
			t.Errorf("auth for %q = %s; want user %s and a masked password", tc.repo.BaseURL, s, tc.user)
		}
	}
	if auth, err := (Repo{}).auth(); auth != nil || err != nil {
		t.Errorf("no token: auth = %v, %v; want anonymous", auth, err)
	}
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                              "https://github.com",
		"https://github.com":            "https://github.com",
		"https://GitHub.com/":           "https://github.com",
		"HTTPS://git.Example.com/gitea": "https://git.example.com/gitea",
		"http://127.0.0.1:3000/":        "http://127.0.0.1:3000",
	} {
		if got, err := HostKey(in); err != nil || got != want {
			t.Errorf("HostKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := HostKey("https://u:p@git.example.com"); err == nil || strings.Contains(err.Error(), "u:p") {
		t.Errorf("HostKey of a URL with credentials: %v", err)
	}
}

package git

import (
	"errors"
	"strings"
	"testing"
)

func TestURLRemotesValidate(t *testing.T) {
	for _, ok := range []string{
		"https://git.example.com/acme/app.git",
		"https://deploy@bitbucket.example.com/acme/app.git",
		"http://127.0.0.1:3000/acme/app.git",
		"ssh://git@git.example.com:2222/acme/app.git",
		"git@git.example.com:acme/app.git",
		"file:///srv/git/app.git",
	} {
		if err := (Repo{URL: ok, Branch: "main"}).Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for url, want := range map[string]string{
		"https://user:s3cret@git.example.com/app.git":  "must not carry a password",
		"https://git.example.com/app.git?token=s3cret": "query or fragment",
		"git://git.example.com/app.git":                "protocol \"git\"",
		"file://relative/app.git":                      "absolute path",
		"not a url":                                    "must be a Git remote",
	} {
		err := (Repo{URL: url, Branch: "main"}).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", url, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error quotes the secret: %v", url, err)
		}
	}
	for _, r := range []Repo{
		{URL: "ssh://git@h/app.git", Token: "t"},
		{URL: "https://h/app.git", SSHKey: "k"},
		{URL: "https://h/app.git", Owner: "acme", Name: "app"},
		{URL: "ssh://git@h/app.git", SSHKey: "not a key"},
	} {
		r.Branch = "main"
		if err := r.Validate(); err == nil || strings.Contains(err.Error(), "not a key") {
			t.Errorf("%+v validated (or quoted the key): %v", r.URL, err)
		}
	}
}

func TestURLRemoteHasNoHostAPI(t *testing.T) {
	r := Repo{URL: "https://git.example.com/app.git", Branch: "main", Token: "t"}
	if _, err := r.Host(); err == nil {
		t.Error("a url remote has a Git host kind")
	}
	if err := ReportStatus(t.Context(), r, strings.Repeat("a", 40), Status{State: StateSuccess, Context: "x"}); err == nil {
		t.Error("a commit status was reported to a bare url")
	}
}

func TestSSHRemoteWithoutKeyIsACredentialsError(t *testing.T) {
	_, err := RemoteHead(t.Context(), Repo{URL: "ssh://git@127.0.0.1:1/app.git", Branch: "main"})
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "ssh_private_key_wo") {
		t.Fatalf("RemoteHead without a key = %v, want ErrCredentials naming ssh_private_key_wo", err)
	}
}

func TestShownURLHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@h/x.git":  "https://[credentials]@h/x.git",
		"https://h/x.git?t=1":  "https://h/x.git?...",
		"git@h:acme/x.git":     "git@h:acme/x.git",
		"https://user@h/x.git": "https://user@h/x.git",
	} {
		if got := shownURL(in); got != want {
			t.Errorf("shownURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTTPOrigin(t *testing.T) {
	for url, want := range map[string]string{
		"https://Git.Example.com/acme/app.git":      "https://Git.Example.com",
		"https://user@git.example.com:8443/app.git": "https://git.example.com:8443",
		"git@git.example.com:acme/app.git":          "",
		"file:///srv/app.git":                       "",
	} {
		got, ok := HTTPOrigin(url)
		if got != want || ok != (want != "") {
			t.Errorf("HTTPOrigin(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
}

// An SSH remote and the git_auth base_url of its host meet on one key:
// host in lower case, port 22 unless named.
func TestSSHOriginMatchesSSHHostKey(t *testing.T) {
	for url, want := range map[string]string{
		"git@Git.Example.com:acme/app.git":           "ssh://git.example.com:22",
		"ssh://git@git.example.com/acme/app.git":     "ssh://git.example.com:22",
		"ssh://deploy@git.example.com:2222/acme/app": "ssh://git.example.com:2222",
		"ssh://git@[2001:db8::1]:2222/acme/app.git":  "ssh://[2001:db8::1]:2222",
		"https://git.example.com/acme/app.git":       "",
		"file:///srv/app.git":                        "",
	} {
		got, ok := SSHOrigin(url)
		if got != want || ok != (want != "") {
			t.Errorf("SSHOrigin(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
	for base, want := range map[string]string{
		"ssh://Git.Example.com":       "ssh://git.example.com:22",
		"ssh://git.example.com:22/":   "ssh://git.example.com:22",
		"ssh://git.example.com:2222":  "ssh://git.example.com:2222",
		"ssh://[2001:db8::1]:2222":    "ssh://[2001:db8::1]:2222",
		"ssh://git@git.example.com":   "",
		"ssh://git.example.com/acme":  "",
		"ssh://git.example.com:99999": "",
		"https://git.example.com":     "",
	} {
		got, err := SSHHostKey(base)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("SSHHostKey(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
}

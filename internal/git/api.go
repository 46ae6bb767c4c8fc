package git

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiTimeout bounds one call to a Git host's REST API: a slow host must not
// hold a plan or a deploy.
const apiTimeout = 10 * time.Second

// userAgent names the provider to the Git hosts (GitHub refuses a request
// without one).
const userAgent = "terraform-provider-tinyforge"

// api is the REST API of the Git host one repository lives on: where it
// answers (GitHub's api.github.com, or <base_url>/api/v3 for GitHub
// Enterprise; Gitea <base_url>/api/v1; GitLab <base_url>/api/v4), how a
// request carries the token, and how an answer is read. The token travels
// only in a header and is scrubbed from every error.
type api struct {
	host  Host
	root  string
	repo  Repo
	httpc *http.Client
}

// api returns the REST API of r's host. It checks the remote's attributes
// (not the branch: a listing needs none).
func (r Repo) api() (*api, error) {
	if err := r.ValidateRemote(); err != nil {
		return nil, err
	}
	host, err := r.Host()
	if err != nil {
		return nil, err
	}
	base, err := r.base()
	if err != nil {
		return nil, err
	}
	root := base + map[Host]string{GitHub: "/api/v3", Gitea: "/api/v1", GitLab: "/api/v4"}[host]
	if u, _ := url.Parse(base); host == GitHub && u != nil && (strings.EqualFold(u.Host, "github.com") || strings.EqualFold(u.Host, "www.github.com")) {
		root = "https://api.github.com"
	}
	return &api{host: host, root: root, repo: r, httpc: &http.Client{
		Timeout: apiTimeout,
		// A redirect would carry PRIVATE-TOKEN (which net/http does not
		// strip) to wherever it points, and turn a POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// project is the repository's path under the API root: GitHub's and
// Gitea's /repos/{owner}/{name}, GitLab's /projects/{owner%2Fname} (the
// project's path, URL-encoded as one segment).
func (a *api) project() string {
	if a.host == GitLab {
		return "/projects/" + url.PathEscape(a.repo.Owner+"/"+a.repo.Name)
	}
	return "/repos/" + url.PathEscape(a.repo.Owner) + "/" + url.PathEscape(a.repo.Name)
}

// call is one request to the API: path under the root, its query, and a
// body encoded as JSON (nil: none).
type call struct {
	method string
	path   string
	query  url.Values
	body   any
}

// endpoint is the call's URL, without credentials: the token never goes
// in a URL, so errors may quote it.
func (a *api) endpoint(c call) string {
	u := a.root + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	return u
}

// request builds the HTTP request of c, with the headers the host
// documents and the token in its header.
func (a *api) request(ctx context.Context, c call) (*http.Request, error) {
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, fmt.Errorf("encode the body of %s %s: %w", c.method, a.endpoint(c), err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, a.endpoint(c), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.method, a.endpoint(c), err)
	}
	token := a.repo.Token
	switch a.host {
	case GitHub:
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	case Gitea:
		req.Header.Set("Accept", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "token "+token)
		}
	case GitLab:
		req.Header.Set("Accept", "application/json")
		if token != "" {
			req.Header.Set("PRIVATE-TOKEN", token)
		}
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// do sends c and decodes a 2xx answer's JSON into out (nil: the body is
// not read), and returns the answer's headers. A failure is an error with
// the endpoint, the code and a token-free excerpt of the answer, marked
// ErrCredentials for 401 and 403 and ErrUnavailable for the network, a
// timeout or a 5xx.
func (a *api) do(ctx context.Context, c call, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := a.request(ctx, c)
	if err != nil {
		return nil, err
	}
	endpoint := c.method + " " + a.endpoint(c)
	res, err := a.httpc.Do(req)
	if err != nil {
		// Classified before the scrub, which hides the cause's types.
		transient := unavailable(err)
		err = scrub(fmt.Errorf("%s: %w", endpoint, err), a.repo.Token)
		if transient {
			return nil, &classified{err, ErrUnavailable}
		}
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		err := fmt.Errorf("%s: %s: %s", endpoint, res.Status, excerpt(body, a.repo.Token))
		switch {
		case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
			return res.Header, &classified{err, ErrCredentials}
		case res.StatusCode >= 500:
			return res.Header, &classified{err, ErrUnavailable}
		}
		return res.Header, err
	}
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(res.Body, 32<<20)).Decode(out); err != nil {
			return res.Header, fmt.Errorf("%s: read the answer: %w", endpoint, err)
		}
	}
	return res.Header, nil
}

// maxPages bounds a listing that follows the host's pages, in case a host
// keeps saying there is a next one.
const maxPages = 100

// nextPage says whether the host has a page after the one whose headers
// are h: GitHub and Gitea say so in their Link header (rel="next"), GitLab
// in X-Next-Page.
func (a *api) nextPage(h http.Header) bool {
	if a.host == GitLab {
		return strings.TrimSpace(h.Get("X-Next-Page")) != ""
	}
	for _, link := range h.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			if strings.Contains(part, `rel="next"`) {
				return true
			}
		}
	}
	return false
}

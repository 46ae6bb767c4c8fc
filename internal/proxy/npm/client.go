package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// apiClient speaks NPM's REST API with one shared bearer token: it logs in
// once, refreshes the token before it expires, and logs in again when NPM
// says the token has expired (a 400, not a 401).
type apiClient struct {
	base     string // ".../api"
	http     *http.Client
	email    string
	password string
	now      func() time.Time

	// auth serialises logins and refreshes, so that goroutines sharing the
	// router share one login; a channel rather than a mutex so that a waiter
	// can give up with its context.
	auth chan struct{}

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	expiresAt time.Time
	// secrets are the strings scrubbed from every error message: the
	// password and each token this client held.
	secrets []string
}

// apiError is an answer of NPM other than 2xx.
type apiError struct {
	method, path string
	status       int
	message      string
	// output is what the command NPM ran printed, when its answer carries
	// it (debug.stack, which NPM adds to the errors of the certificate
	// routes): certbot's account of a refused certificate.
	output string
}

func (e *apiError) Error() string {
	if e.output != "" {
		return fmt.Sprintf("NPM %s %s: %d %s: %s", e.method, e.path, e.status, e.message, e.output)
	}
	return fmt.Sprintf("NPM %s %s: %d %s", e.method, e.path, e.status, e.message)
}

// commandOutput is the command's output at the head of NPM's debug.stack:
// the lines before the first JavaScript frame, without the error's name.
func commandOutput(stack []string) string {
	var lines []string
	for _, l := range stack {
		if strings.HasPrefix(strings.TrimSpace(l), "at ") {
			break
		}
		if len(lines) == 0 {
			_, rest, found := strings.Cut(l, "Error: ")
			if !found {
				return ""
			}
			l = rest
		}
		lines = append(lines, l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// multipartFiles is a body sent as multipart/form-data file parts, as
// NPM's upload route reads them (express-fileupload's req.files: plain
// form fields are not files).
type multipartFiles map[string]string

// statusOf returns the HTTP status of an API error, 0 for any other error.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return 0
}

// messageOf returns NPM's message of an API error, "" for any other error.
func messageOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.message
	}
	return ""
}

// tokenExpired reports NPM's answer to a bearer token past its expiry.
func tokenExpired(err error) bool {
	st := statusOf(err)
	msg := strings.ToLower(messageOf(err))
	return (st == http.StatusBadRequest || st == http.StatusUnauthorized) &&
		(strings.Contains(msg, "token has expired") || strings.Contains(msg, "jwt expired"))
}

func newAPIClient(base string, hc *http.Client, email, password string) *apiClient {
	return &apiClient{
		base:     base,
		http:     hc,
		email:    email,
		password: password,
		now:      time.Now,
		auth:     make(chan struct{}, 1),
		secrets:  []string{password},
	}
}

// call sends one authenticated request and decodes a 2xx answer into out
// (when not nil). A token NPM calls expired is replaced (one login shared by
// every goroutine that met it) and the call is sent once more.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	tok, err := c.currentToken(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, method, path, tok, body, out)
	if !tokenExpired(err) {
		return err
	}
	c.forget(tok)
	if tok, err = c.currentToken(ctx); err != nil {
		return err
	}
	return c.send(ctx, method, path, tok, body, out)
}

// currentToken returns a token that should still be valid: the one held,
// a refreshed one when the held one is near its expiry, or a new login.
func (c *apiClient) currentToken(ctx context.Context) (string, error) {
	select {
	case c.auth <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.auth }()

	c.mu.Lock()
	tok, refreshAt, expiresAt := c.token, c.refreshAt, c.expiresAt
	c.mu.Unlock()
	now := c.now()
	if tok != "" && now.Before(refreshAt) {
		return tok, nil
	}
	if tok != "" && now.Before(expiresAt) {
		var t tokenAnswer
		if err := c.send(ctx, http.MethodGet, "/tokens", tok, nil, &t); err == nil && t.Token != "" {
			return c.keep(t), nil
		}
		// A refused refresh (token revoked, expired early by the server's
		// clock) is not fatal: the credentials can still log in.
	}
	var t tokenAnswer
	creds := map[string]string{"identity": c.email, "secret": c.password}
	if err := c.send(ctx, http.MethodPost, "/tokens", "", creds, &t); err != nil {
		return "", fmt.Errorf("log in to NPM as %q: %w", c.email, err)
	}
	if t.RequiresTwoFA {
		return "", fmt.Errorf("log in to NPM as %q: the account requires two-factor authentication, which the provider cannot answer; use an account without it", c.email)
	}
	if t.Token == "" {
		return "", fmt.Errorf("log in to NPM as %q: the answer carries no token", c.email)
	}
	return c.keep(t), nil
}

// tokenAnswer is NPM's answer to POST or GET /api/tokens: a token object,
// or a two-factor challenge.
type tokenAnswer struct {
	Token         string `json:"token"`
	Expires       string `json:"expires"`
	RequiresTwoFA bool   `json:"requires_2fa"`
}

// keep stores a new token and schedules its refresh at three quarters of
// its remaining life.
func (c *apiClient) keep(t tokenAnswer) string {
	now := c.now()
	exp, err := time.Parse(time.RFC3339Nano, t.Expires)
	if err != nil || !exp.After(now) {
		// Unknown or already past by our clock: use it until NPM says it
		// expired, which call handles.
		exp = now.Add(10 * time.Minute)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = t.Token
	c.expiresAt = exp
	c.refreshAt = now.Add(exp.Sub(now) * 3 / 4)
	c.secrets = append(c.secrets, t.Token)
	return t.Token
}

// forget drops tok if it is still the token held, so that the next caller
// logs in; a token already replaced by another goroutine is left alone.
func (c *apiClient) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// send does one HTTP exchange. Errors name the method and path, never the
// body (it holds the password on login) or the headers (the token).
func (c *apiClient) send(ctx context.Context, method, path, tok string, body, out any) error {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case multipartFiles:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, name := range slices.Sorted(maps.Keys(b)) {
			part, err := mw.CreateFormFile(name, name+".pem")
			if err == nil {
				_, err = io.WriteString(part, b[name])
			}
			if err != nil {
				return fmt.Errorf("NPM %s /api%s: encode files: %w", method, path, err)
			}
		}
		if err := mw.Close(); err != nil {
			return fmt.Errorf("NPM %s /api%s: encode files: %w", method, path, err)
		}
		rd, contentType = &buf, mw.FormDataContentType()
	default:
		j, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("NPM %s /api%s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("NPM %s /api%s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("NPM %s /api%s: %w", method, path, withoutURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("NPM %s /api%s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// NPM's error object; a few routes answer {"error": "text"}.
		var e struct {
			Error json.RawMessage `json:"error"`
			Debug struct {
				Stack []string `json:"stack"`
			} `json:"debug"`
		}
		var obj struct {
			Message string `json:"message"`
		}
		var text string
		msg := http.StatusText(resp.StatusCode)
		if json.Unmarshal(raw, &e) == nil {
			switch {
			case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
				msg = obj.Message
			case json.Unmarshal(e.Error, &text) == nil && text != "":
				msg = text
			}
		}
		return &apiError{method: method, path: "/api" + path, status: resp.StatusCode, message: c.scrub(msg),
			output: c.scrub(commandOutput(e.Debug.Stack))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("NPM %s /api%s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// withoutURL drops the request URL net/http wraps around a failed exchange:
// the caller's prefix already names the method and path.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// scrub removes the password and any token from a message before it can
// reach an error: NPM echoing a credential back must not leak it.
func (c *apiClient) scrub(msg string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

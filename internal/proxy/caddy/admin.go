package caddy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
)

// APIError is an answer of Caddy's admin API other than 2xx. Message is
// Caddy's own {"error": "..."} text, or the raw body when Caddy sent none.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("caddy admin API %s %s: %s (HTTP %d)", e.Method, e.Path, e.Message, e.Status)
}

// isConflict reports whether err is Caddy refusing a write because the
// config changed after the read whose Etag the write carried.
func isConflict(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusPreconditionFailed
}

// isDropped reports whether err is a connection Caddy closed under a
// request (its admin server restarting after another writer's change).
// Whether such a write was applied is unknown, so the round is redone from
// a fresh read: under If-Match that is safe either way.
func isDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "server closed idle connection")
}

// isTransient reports whether err is a failure that passes by itself: the
// admin API dropped, reset or refused the connection (Caddy restarting its
// admin server after a change, or Caddy restarting altogether), or a gateway
// in front of it answered 502, 503 or 504. A write that failed so may or may
// not have been applied; it is redone from a fresh read, which under
// If-Match is safe either way.
func isTransient(err error) bool {
	return isDropped(err) || errors.Is(err, syscall.ECONNREFUSED) ||
		isStatus(err, http.StatusBadGateway) || isStatus(err, http.StatusServiceUnavailable) || isStatus(err, http.StatusGatewayTimeout)
}

// isStatus reports whether err is an admin API answer with that status.
func isStatus(err error, status int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == status
}

// Calls counts the admin API requests a Router has sent, by method, and the
// writes Caddy refused with 412 because another writer changed the config
// first (each one costs a re-read and a retry), and the writes Caddy
// accepted: each of those is one load of Caddy's whole config.
type Calls struct {
	Get, Post, Put, Patch, Delete int64
	Conflicts                     int64
	Loads                         int64
}

type callCounter struct {
	get, post, put, patch, delete, conflicts, loads atomic.Int64
}

func (c *callCounter) count(method string) {
	switch method {
	case http.MethodGet:
		c.get.Add(1)
	case http.MethodPost:
		c.post.Add(1)
	case http.MethodPut:
		c.put.Add(1)
	case http.MethodPatch:
		c.patch.Add(1)
	case http.MethodDelete:
		c.delete.Add(1)
	}
}

func (c *callCounter) snapshot() Calls {
	return Calls{
		Get: c.get.Load(), Post: c.post.Load(), Put: c.put.Load(),
		Patch: c.patch.Load(), Delete: c.delete.Load(),
		Conflicts: c.conflicts.Load(), Loads: c.loads.Load(),
	}
}

// adminClient speaks the admin API: JSON in and out, and the Etag of every
// read so that a later write can be made conditional on it.
type adminClient struct {
	base   string // scheme://host[:port][/prefix], no trailing slash
	client *http.Client
	calls  callCounter
}

// reply is a 2xx answer of the admin API.
type reply struct {
	body []byte
	// etag is the version of the config at the read path. Caddy 2.6 sends
	// it as an HTTP trailer, later versions as a header; both are read.
	etag string
}

// do sends one request. body, when not nil, is sent as JSON; ifMatch, when
// not empty, makes the write conditional: Caddy checks it under the same
// lock that applies the change and answers 412 when the config moved on.
// Failures are not retried here: the Router redoes whole read-then-write
// rounds (see Router.retry).
func (a *adminClient) do(ctx context.Context, method, path string, body any, ifMatch string) (reply, error) {
	return a.once(ctx, method, path, body, ifMatch)
}

func (a *adminClient) once(ctx context.Context, method, path string, body any, ifMatch string) (reply, error) {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, fmt.Errorf("caddy admin API %s %s: encode body: %w", method, path, err)
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, payload)
	if err != nil {
		return reply{}, fmt.Errorf("caddy admin API %s %s: %w", method, path, err)
	}
	if body != nil {
		// Caddy refuses writes without a JSON content type.
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	// Caddy restarts its admin server on every config change and drops the
	// idle connections of the old one; a write sent on such a connection
	// fails with EOF, and Go does not resend a POST. A fresh connection per
	// request (on loopback, cheap) avoids that race.
	req.Close = true

	a.calls.count(method)
	resp, err := a.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("caddy admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	// Reading to EOF is what makes resp.Trailer available.
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("caddy admin API %s %s: read answer: %w", method, path, err)
	}

	if resp.StatusCode/100 != 2 {
		if resp.StatusCode == http.StatusPreconditionFailed {
			a.calls.conflicts.Add(1)
		}
		return reply{}, &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(b)}
	}
	if method != http.MethodGet {
		a.calls.loads.Add(1)
	}
	etag := resp.Header.Get("Etag")
	if etag == "" {
		etag = resp.Trailer.Get("Etag")
	}
	return reply{body: b, etag: etag}, nil
}

// errorMessage extracts Caddy's {"error": "..."} text from an answer.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	if msg == "" {
		msg = "no error message"
	}
	return msg
}

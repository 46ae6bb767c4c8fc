package provider

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sync"
)

// CallLogEnv names a file that, when set, receives one line per API call the
// provider makes to the Docker engine and to the proxy: "<target> <METHOD>
// <path>". It is a measuring hook for the benchmark (`make bench`), which
// counts the calls one plan or apply makes; the lines carry no header, body
// or query, so nothing secret.
const CallLogEnv = "TINYFORGE_CALL_LOG"

// callLog appends a line per request to a shared file. Several provider
// processes may write to one file: each line is one write to a file opened
// with O_APPEND, so lines never interleave.
type callLog struct {
	mu   sync.Mutex
	file *os.File
}

func openCallLog(path string) (*callLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CallLogEnv, err)
	}
	return &callLog{file: f}, nil
}

// apiVersion strips the Docker API version prefix, so that "/v1.41/containers/json"
// and "/v1.47/containers/json" count as one kind of call.
var apiVersion = regexp.MustCompile(`^/v\d+\.\d+/`)

// wrap returns a transport that logs each request as target's, then sends
// it on next.
func (l *callLog) wrap(target string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		p := apiVersion.ReplaceAllString(req.URL.Path, "/")
		l.mu.Lock()
		fmt.Fprintf(l.file, "%s %s %s\n", target, req.Method, p)
		l.mu.Unlock()
		return next.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

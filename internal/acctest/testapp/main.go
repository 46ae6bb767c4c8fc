// Command testapp is the workload every acceptance test deploys: a tiny
// static HTTP server that is packaged FROM scratch (no image can be pulled
// here) by acctest.TestImages. Each behaviour a deploy must cope with is one
// environment variable away, so the images differ only in their ENV lines:
//
//	PORT         listen port (default 8080)
//	VERSION      answered by GET / (default "dev"): which colour is serving
//	HEALTH=fail  GET /healthz answers 500, so a readiness gate must fail
//	START_DELAY  Go duration to wait before listening (slow start)
//	EXIT_AFTER   Go duration after which the process exits with code 3 (crash loop)
//
// Endpoints:
//
//	GET /              200 "<VERSION>\n", header X-Testapp-Host: <hostname>
//	GET /healthz       200 "ok\n" or 500 "unhealthy\n"
//	GET /env/<KEY>     the value of env KEY, 404 when unset (env injection)
//	GET /file?path=/p  the file's content, 404 when missing (volumes)
//	PUT /file?path=/p  writes the request body to the file
//	GET /slow?ms=N     sleeps N ms, then answers like GET / (drain tests)
//
// Run as `testapp task STEP...` it is a one-off instead (a release
// command, a worker): see task.go.
//
// SIGTERM shuts the server down gracefully: in-flight requests finish (up to
// 10 s) and the process exits 0, which is what a blue-green reap relies on.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// shutdownGrace bounds how long in-flight requests may run after SIGTERM;
// Docker's default stop timeout is 10 s too, so a request that takes longer
// would be killed by the engine anyway.
const shutdownGrace = 10 * time.Second

// exitCodeCrash is what EXIT_AFTER exits with: non-zero, and distinct from
// the 1 of a startup failure, so a test can tell "crashed on purpose" apart.
const exitCodeCrash = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "task" {
		os.Exit(task(ctx, os.Args[2:], os.LookupEnv, os.Stdout, os.Stderr))
	}
	// One line on stderr, so that a log reader can prove it demultiplexes
	// the container's two streams.
	fmt.Fprintln(os.Stderr, "testapp serves GET /, /healthz, /env/<KEY>, /file?path=, /slow?ms= and PUT /file?path=")
	os.Exit(run(ctx, os.LookupEnv, os.Stdout, nil))
}

// config is the app's environment, parsed once at startup so that a typo in
// a test image's ENV fails loudly instead of silently meaning "default".
type config struct {
	port       string
	version    string
	healthy    bool
	startDelay time.Duration
	exitAfter  time.Duration
}

func loadConfig(lookupEnv func(string) (string, bool)) (config, error) {
	cfg := config{port: "8080", version: "dev", healthy: true}
	if v, ok := lookupEnv("PORT"); ok && v != "" {
		if _, err := strconv.ParseUint(v, 10, 16); err != nil {
			return cfg, fmt.Errorf("PORT must be a port number (got %q)", v)
		}
		cfg.port = v
	}
	if v, ok := lookupEnv("VERSION"); ok && v != "" {
		cfg.version = v
	}
	if v, ok := lookupEnv("HEALTH"); ok && v != "" {
		if v != "fail" {
			return cfg, fmt.Errorf(`HEALTH must be "fail" or empty (got %q)`, v)
		}
		cfg.healthy = false
	}
	var err error
	if cfg.startDelay, err = durationEnv(lookupEnv, "START_DELAY"); err != nil {
		return cfg, err
	}
	if cfg.exitAfter, err = durationEnv(lookupEnv, "EXIT_AFTER"); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func durationEnv(lookupEnv func(string) (string, bool), key string) (time.Duration, error) {
	v, ok := lookupEnv(key)
	if !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s must be a non-negative Go duration such as 3s (got %q)", key, v)
	}
	return d, nil
}

// run is main without os.Exit, so tests can drive the whole lifecycle in
// process: ctx is cancelled on SIGTERM, ready (optional) receives the bound
// address. It returns the process exit code.
func run(ctx context.Context, lookupEnv func(string) (string, bool), logOut io.Writer, ready chan<- net.Addr) int {
	logger := log.New(logOut, "", 0)
	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		logger.Printf("testapp: %v", err)
		return 1
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	if !cfg.healthy {
		logger.Print("health check failing on purpose")
	}

	// The crash timer starts with the process, not with the listener: a
	// crash-loop image must die on schedule even while it is still
	// "starting".
	var crash <-chan time.Time
	if cfg.exitAfter > 0 {
		timer := time.NewTimer(cfg.exitAfter)
		defer timer.Stop()
		crash = timer.C
	}

	if cfg.startDelay > 0 {
		select {
		case <-time.After(cfg.startDelay):
		case <-ctx.Done():
			logger.Print("testapp shutting down")
			return 0
		case <-crash:
			logger.Printf("testapp exiting with code %d on purpose (EXIT_AFTER=%s)", exitCodeCrash, cfg.exitAfter)
			return exitCodeCrash
		}
	}

	ln, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		logger.Printf("testapp: listen on :%s: %v", cfg.port, err)
		return 1
	}
	srv := &http.Server{
		Handler:           newHandler(cfg.version, hostname, cfg.healthy, lookupEnv),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("testapp %s listening on :%d", cfg.version, ln.Addr().(*net.TCPAddr).Port)
	if ready != nil {
		ready <- ln.Addr()
	}

	select {
	case err := <-serveErr:
		logger.Printf("testapp: serve: %v", err)
		return 1
	case <-crash:
		logger.Printf("testapp exiting with code %d on purpose (EXIT_AFTER=%s)", exitCodeCrash, cfg.exitAfter)
		return exitCodeCrash
	case <-ctx.Done():
	}
	logger.Print("testapp shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Printf("testapp: graceful shutdown: %v", err)
		return 1
	}
	return 0
}

// newHandler serves the endpoints listed in the package doc.
func newHandler(version, hostname string, healthy bool, lookupEnv func(string) (string, bool)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, version+"\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /env/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := lookupEnv(r.PathValue("key"))
		if !ok {
			http.Error(w, "env "+r.PathValue("key")+" is not set", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		path, ok := absPath(w, r)
		if !ok {
			return
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no file "+path, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("PUT /file", func(w http.ResponseWriter, r *http.Request) {
		path, ok := absPath(w, r)
		if !ok {
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, fmt.Sprintf("ms must be a non-negative integer (got %q)", r.URL.Query().Get("ms")), http.StatusBadRequest)
			return
		}
		// Deliberately not cut short by server shutdown: a drain test needs
		// the request to finish on the old container after SIGTERM.
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return // the client went away; nobody to answer
		}
		io.WriteString(w, version+"\n")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// On every answer, not only on GET /: a test probing any endpoint
		// through the proxy can tell blue from green by it.
		w.Header().Set("X-Testapp-Host", hostname)
		mux.ServeHTTP(w, r)
	})
}

// absPath takes the ?path= parameter and insists it is absolute: a relative
// path would depend on the container's working directory, which FROM scratch
// does not pin.
func absPath(w http.ResponseWriter, r *http.Request) (string, bool) {
	path := r.URL.Query().Get("path")
	if !filepath.IsAbs(path) || strings.Contains(path, "\x00") {
		http.Error(w, fmt.Sprintf("path must be absolute (got %q)", path), http.StatusBadRequest)
		return "", false
	}
	return filepath.Clean(path), true
}

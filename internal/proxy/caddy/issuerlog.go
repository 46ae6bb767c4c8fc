package caddy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Caddy 2.6's admin API says nothing of a certificate it failed to get:
// only its log does: the ACME client logs the CA's problem with each
// challenge ("challenge failed"), then certmagic gives up on the round
// ("could not get certificate from issuer", logged by "tls.obtain"). So, for a Caddy on this machine,
// the provider owns one log of Caddy's config, logging.logs.<logName()>,
// that sends those lines as JSON over UDP to a port on 127.0.0.1 where the
// provider listens while it waits for certificates. UDP, since Caddy 2.6
// fails to load a config whose TCP log sink does not answer, and nothing
// answers between two applies; a line sent then is simply lost.

// issuerLoggers are the loggers whose lines the sink carries: the end of
// an attempt, and the ACME client's account of each challenge (named
// "http.acme_client" in Caddy 2.6, under tls.issuance in later versions).
var issuerLoggers = []string{"tls.obtain", "http.acme_client", "tls.issuance.acme.acme_client"}

// logName is the key of the provider's log in Caddy's logging.logs.
func (r *Router) logName() string { return "tinyforge-" + r.serverName }

// issuerLog is the provider's end of the sink: one UDP socket per Router,
// and the waits that want to hear of a domain.
type issuerLog struct {
	mu     sync.Mutex
	conn   net.PacketConn
	ready  bool // the sink is in Caddy's config
	waits  map[*issuerWait]bool
	failed error // why the sink could not be set up, for the log
}

// issuerWait collects the failures reported for some domains.
type issuerWait struct {
	names      map[string]bool
	mu         sync.Mutex
	failures   map[string]string // an attempt gave up, with the reason
	challenges map[string]string // the CA's last problem with a challenge
	changed    chan struct{}     // gets a value when failures changed
}

// failure returns the issuer's reason for domain, "" when none came.
func (w *issuerWait) failure(domain string) string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures[domain]
}

// listen makes sure the sink is set up and returns a wait for names; nil
// when the sink cannot be set up (the reason is logged once), so that a
// refusal is then found by the wait's time bound.
func (r *Router) listenIssuer(ctx context.Context, names []string) *issuerWait {
	l := &r.issuer
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		if err := r.setUpIssuerLog(ctx); err != nil {
			if l.failed == nil || l.failed.Error() != err.Error() {
				r.log(ctx, "Caddy's certificate errors cannot be read; a refused certificate fails when the wait times out", map[string]any{"error": err.Error()})
			}
			l.failed = err
			return nil
		}
		l.ready = true
	}
	w := &issuerWait{names: map[string]bool{}, failures: map[string]string{}, challenges: map[string]string{}, changed: make(chan struct{}, 1)}
	for _, n := range names {
		w.names[strings.ToLower(n)] = true
	}
	if l.waits == nil {
		l.waits = map[*issuerWait]bool{}
	}
	l.waits[w] = true
	return w
}

// stopListening drops a wait.
func (r *Router) stopListening(w *issuerWait) {
	if w == nil {
		return
	}
	r.issuer.mu.Lock()
	defer r.issuer.mu.Unlock()
	delete(r.issuer.waits, w)
}

// setUpIssuerLog binds the UDP socket (on the port Caddy's config already
// names, when it is free, so that the config is not written again) and
// brings the log in Caddy's config in line with it. Called with the lock.
func (r *Router) setUpIssuerLog(ctx context.Context) error {
	path := "/config/logging/logs/" + r.logName()
	return r.retry(ctx, func() error {
		body, etag, err := r.readConfig(ctx, path)
		if err != nil {
			return err
		}
		if r.issuer.conn == nil {
			var have struct {
				Writer struct {
					Address string `json:"address"`
				} `json:"writer"`
			}
			_ = json.Unmarshal(body, &have)
			addr := "127.0.0.1:0"
			if a, ok := strings.CutPrefix(have.Writer.Address, "udp/"); ok && strings.HasPrefix(a, "127.0.0.1:") {
				addr = a
			}
			conn, err := net.ListenPacket("udp", addr)
			if err != nil && addr != "127.0.0.1:0" {
				// Another process holds it: take a port of our own.
				conn, err = net.ListenPacket("udp", "127.0.0.1:0")
			}
			if err != nil {
				return fmt.Errorf("listen for Caddy's certificate log: %w", err)
			}
			r.issuer.conn = conn
			go r.readIssuerLog(conn)
		}
		want, _ := json.Marshal(map[string]any{
			"writer":  map[string]any{"output": "net", "address": "udp/" + r.issuer.conn.LocalAddr().String()},
			"encoder": map[string]any{"format": "json"},
			"include": issuerLoggers,
		})
		if sameRaw(body, want) {
			return nil
		}
		method := http.MethodPatch
		if string(body) == "null" {
			method = http.MethodPut
		}
		_, err = r.admin.do(ctx, method, path, json.RawMessage(want), etag)
		return err
	})
}

// readIssuerLog hands each line to the waits for its domain, until the
// socket is closed.
func (r *Router) readIssuerLog(conn net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		var line struct {
			Logger        string `json:"logger"`
			Msg           string `json:"msg"`
			Identifier    string `json:"identifier"`
			Error         string `json:"error"`
			ChallengeType string `json:"challenge_type"`
			ProblemType   string `json:"problem_type"`
		}
		if json.Unmarshal(buf[:n], &line) != nil || line.Error == "" || line.Identifier == "" {
			continue
		}
		r.issuer.heard(line.Logger, line.Msg, strings.ToLower(line.Identifier), line.Error, line.ChallengeType, line.ProblemType)
	}
}

// heard records one error line for the waits on its domain: the CA's
// problem with a challenge is kept as the reason, and the end of an
// attempt fails the wait with it (or with the attempt's own error when no
// challenge was reported).
func (l *issuerLog) heard(logger, msg, domain, errText, challenge, problem string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for w := range l.waits {
		if !w.names[domain] {
			continue
		}
		w.mu.Lock()
		switch {
		case msg == "challenge failed":
			w.challenges[domain] = fmt.Sprintf("the %s challenge failed: %s: %s", challenge, problem, errText)
		case logger == "tls.obtain" && msg == "could not get certificate from issuer":
			w.failures[domain] = cmp.Or(w.challenges[domain], errText)
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

package caddy

import (
	"strings"
	"testing"
)

// TestATransientCAErrorWaitsForTheNextAttempt: an attempt that the CA ended
// on a bad nonce or a signature it could not verify, before any challenge,
// does not fail the wait (certmagic tries again); the next attempt's failed
// challenge does, with the challenge's reason. An attempt that ended on any
// other error, or on a transient one after a failed challenge, fails it at
// once.
func TestATransientCAErrorWaitsForTheNextAttempt(t *testing.T) {
	const (
		obtain    = "tls.obtain"
		gaveUp    = "could not get certificate from issuer"
		jws       = "HTTP 400 urn:ietf:params:acme:error:malformed - JWS verification error"
		nonce     = "HTTP 400 urn:ietf:params:acme:error:badNonce - JWS has an invalid anti-replay nonce"
		dnsFailed = "NXDOMAIN looking up A for a.test"
	)
	var l issuerLog
	l.waits = map[*issuerWait]bool{}
	wait := func(names ...string) *issuerWait {
		w := &issuerWait{names: map[string]bool{}, failures: map[string]string{}, challenges: map[string]string{},
			retried: map[string]string{}, changed: make(chan struct{}, 1)}
		for _, n := range names {
			w.names[n] = true
		}
		l.waits[w] = true
		return w
	}
	w := wait("a.test", "b.test", "c.test", "d.test")

	l.heard(obtain, gaveUp, "a.test", jws, "", "")
	l.heard(obtain, gaveUp, "b.test", nonce, "", "")
	for _, d := range []string{"a.test", "b.test"} {
		if got := w.failure(d); got != "" {
			t.Fatalf("a transient CA error failed the wait for %s: %q", d, got)
		}
	}
	if got := w.lastRetry("a.test"); got != jws {
		t.Fatalf("lastRetry = %q, want the CA's error", got)
	}

	l.heard("http.acme_client", "challenge failed", "a.test", dnsFailed, "http-01", "urn:ietf:params:acme:error:dns")
	l.heard(obtain, gaveUp, "a.test", "[a.test] solving challenges: "+dnsFailed, "", "")
	if got := w.failure("a.test"); !strings.Contains(got, "the http-01 challenge failed") || !strings.Contains(got, dnsFailed) {
		t.Fatalf("the next attempt's failed challenge: failure %q, want the challenge's reason", got)
	}

	l.heard(obtain, gaveUp, "c.test", "HTTP 429 urn:ietf:params:acme:error:rateLimited - too many certificates", "", "")
	if got := w.failure("c.test"); !strings.Contains(got, "rateLimited") {
		t.Fatalf("a rate limit: failure %q, want it at once", got)
	}

	l.heard("http.acme_client", "challenge failed", "d.test", dnsFailed, "http-01", "urn:ietf:params:acme:error:dns")
	l.heard(obtain, gaveUp, "d.test", jws, "", "")
	if got := w.failure("d.test"); !strings.Contains(got, "the http-01 challenge failed") {
		t.Fatalf("a transient error after a failed challenge: failure %q, want the challenge's reason at once", got)
	}
}

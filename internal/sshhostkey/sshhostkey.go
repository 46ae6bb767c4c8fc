// Package sshhostkey checks an SSH server's host key against a pinned key
// or a known_hosts file, the way OpenSSH's client does, and says what it
// refused: the host, the presented key's SHA256 fingerprint and what was
// recorded for the host. It is the one rule behind both SSH clients of the
// provider: ssh:// Docker engines (internal/docker) and ssh:// Git remotes
// (internal/git), which word the refusal for their own attributes.
package sshhostkey

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Refused is a host key the check refused.
type Refused struct {
	// Host is the "host:port" dialled.
	Host string
	// Fingerprint is the SHA256 fingerprint of the key the host presented,
	// "SHA256:..."; KeyType its type ("ssh-ed25519").
	Fingerprint, KeyType string
	// Expected are the fingerprints recorded for the host (with the
	// known_hosts line, "SHA256:... (line 3)"); empty for an unknown host.
	Expected []string
	// Revoked says the key is marked @revoked.
	Revoked bool
	// NoFile says the known_hosts file does not exist.
	NoFile bool
}

func (e *Refused) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("SSH host key of %s is revoked: %s %s", e.Host, e.KeyType, e.Fingerprint)
	case len(e.Expected) > 0:
		return fmt.Sprintf("SSH host key of %s has changed: the host presented %s %s, recorded: %v", e.Host, e.KeyType, e.Fingerprint, e.Expected)
	}
	return fmt.Sprintf("SSH host key of %s is unknown: the host presented %s %s", e.Host, e.KeyType, e.Fingerprint)
}

// Pinned checks that the host at addr presents exactly want; it returns
// the callback and the host key algorithms to ask for.
func Pinned(addr string, want ssh.PublicKey) (ssh.HostKeyCallback, []string) {
	cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		if string(key.Marshal()) == string(want.Marshal()) {
			return nil
		}
		return &Refused{Host: addr, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(),
			Expected: []string{ssh.FingerprintSHA256(want)}}
	}
	return cb, AlgorithmsFor(want.Type())
}

// KnownHosts checks the host at addr against the known_hosts file: a
// missing file knows no host. It returns the callback and the host key
// algorithms to ask for: those of the keys recorded for the host, so that
// a host with several keys presents one that can be checked (as OpenSSH's
// client does); none for an unknown host. A refusal is a *Refused.
func KnownHosts(addr, file string) (ssh.HostKeyCallback, []string, error) {
	check, err := knownhosts.New(file)
	noFile := false
	if errors.Is(err, os.ErrNotExist) {
		noFile, err = true, nil
		check = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	}
	if err != nil {
		return nil, nil, err
	}
	// What the file knows of the host: ask it about a key it cannot hold.
	var algorithms []string
	var ke *knownhosts.KeyError
	if err := check(addr, tcpAddr(addr), probeKey{}); errors.As(err, &ke) {
		for _, k := range ke.Want {
			for _, a := range AlgorithmsFor(k.Key.Type()) {
				if !slices.Contains(algorithms, a) {
					algorithms = append(algorithms, a)
				}
			}
		}
	}
	cb := func(hostname string, r net.Addr, key ssh.PublicKey) error {
		err := check(hostname, r, key)
		if err == nil {
			return nil
		}
		e := &Refused{Host: addr, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(), NoFile: noFile}
		var revoked *knownhosts.RevokedError
		var keyErr *knownhosts.KeyError
		switch {
		case errors.As(err, &revoked):
			e.Revoked = true
		case errors.As(err, &keyErr):
			for _, k := range keyErr.Want {
				e.Expected = append(e.Expected, fmt.Sprintf("%s (line %d)", ssh.FingerprintSHA256(k.Key), k.Line))
			}
		default:
			return fmt.Errorf("check the host key of %s: %w", addr, err)
		}
		return e
	}
	return cb, algorithms, nil
}

// AlgorithmsFor are the host key algorithms that present a key of
// keyType: an RSA key signs with SHA-2 (OpenSSH refuses SHA-1 now).
func AlgorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// tcpAddr is addr as a net.Addr, for the known_hosts check (which looks at
// the host name given, and falls back to this address).
func tcpAddr(addr string) net.Addr {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}

// probeKey is a public key no known_hosts file holds: checking it lists
// the keys the file knows for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "tinyforge-probe" }
func (probeKey) Marshal() []byte                     { return []byte("tinyforge-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

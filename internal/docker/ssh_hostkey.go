package docker

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/sshhostkey"
)

// HostKeyError is a host key the provider refuses: unknown to the
// known_hosts file, different from what the file or the pinned key says,
// or revoked. Its message names the host and the key's fingerprint, and
// says how to fix it.
type HostKeyError struct {
	// Host is the "host:port" dialled.
	Host string
	// Fingerprint is the SHA256 fingerprint of the key the host presented,
	// "SHA256:..."; KeyType its type ("ssh-ed25519").
	Fingerprint, KeyType string
	// Pinned says the key was checked against ssh_host_key, else against
	// KnownHostsFile.
	Pinned         bool
	KnownHostsFile string
	// Expected are the fingerprints the host should have presented, with
	// where each is recorded; empty for an unknown host.
	Expected []string
	// Revoked says the key is marked @revoked in the known_hosts file.
	Revoked bool
	// NoFile says the known_hosts file does not exist.
	NoFile bool
}

func (e *HostKeyError) Error() string {
	host, port, _ := net.SplitHostPort(e.Host)
	keyscan := fmt.Sprintf("ssh-keyscan -p %s -t %s %s", port, strings.TrimPrefix(e.KeyType, "ssh-"), host)
	presented := fmt.Sprintf("the host presented the %s key %s", e.KeyType, e.Fingerprint)
	switch {
	case e.Revoked:
		return fmt.Sprintf("SSH host key of %s is revoked: %s, which %s marks @revoked. Refusing to connect.",
			e.Host, presented, e.KnownHostsFile)
	case e.Pinned:
		return fmt.Sprintf("SSH host key of %s does not match ssh_host_key: %s, ssh_host_key is %s. "+
			"Someone may be intercepting the connection, or the host's key was replaced: check the fingerprint "+
			"with the host's administrator (ssh-keygen -lf on the host's key), and if the change is expected, set "+
			"ssh_host_key to the new key (%s prints it).",
			e.Host, presented, strings.Join(e.Expected, ", "), keyscan)
	case len(e.Expected) > 0:
		knownName := knownhosts.Normalize(e.Host)
		return fmt.Sprintf("SSH host key of %s has changed: %s, but %s holds %s for it. "+
			"Someone may be intercepting the connection, or the host's key was replaced: check the fingerprint "+
			"with the host's administrator (ssh-keygen -lf on the host's key), and if the change is expected, "+
			"remove the old key (ssh-keygen -R '%s' -f %s) and add the new one (%s >> %s), or set ssh_host_key.",
			e.Host, presented, e.KnownHostsFile, strings.Join(e.Expected, ", "), knownName, e.KnownHostsFile, keyscan, e.KnownHostsFile)
	default:
		where := e.KnownHostsFile + " has no key for it"
		if e.NoFile {
			where = "the known_hosts file " + e.KnownHostsFile + " does not exist"
		}
		return fmt.Sprintf("SSH host key of %s is unknown: %s, and %s. "+
			"Check the fingerprint with the host's administrator (ssh-keygen -lf on the host's key), then add "+
			"the key to the known_hosts file (%s >> %s), point ssh_known_hosts_file at a file that has it, or "+
			"set ssh_host_key to it.",
			e.Host, presented, where, keyscan, e.KnownHostsFile)
	}
}

// ParseHostKey reads a pinned host key: a public key line as ssh-keyscan
// or a .pub file prints it ("ssh-ed25519 AAAA... [comment]"), optionally
// preceded by host names as in a known_hosts line.
func ParseHostKey(line string) (ssh.PublicKey, error) {
	line = strings.TrimSpace(line)
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
		return key, nil
	}
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(line)); err == nil {
		return key, nil
	}
	return nil, fmt.Errorf("ssh_host_key must be a public key line such as \"ssh-ed25519 AAAA...\" (as ssh-keyscan or a .pub file prints it); got %q", clipKey(line))
}

// CheckHostKey is ParseHostKey as a rule: the provider validates
// ssh_host_key with it at plan time.
func CheckHostKey(line string) error {
	_, err := ParseHostKey(line)
	return err
}

// clipKey shortens a key line for a message: the type and the start.
func clipKey(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// hostKeyCheck checks the host's key: against the pinned key when there
// is one, else against the known_hosts file.
type hostKeyCheck struct {
	pinned         ssh.PublicKey
	knownHostsFile string
}

// callback returns the HostKeyCallback of one connection attempt to addr,
// and the host key algorithms to ask for (sshhostkey, the rule shared with
// Git's SSH remotes); a refusal is a *HostKeyError in this attribute's
// words.
func (h hostKeyCheck) callback(addr string) (ssh.HostKeyCallback, []string, error) {
	var check ssh.HostKeyCallback
	var algorithms []string
	if h.pinned != nil {
		check, algorithms = sshhostkey.Pinned(addr, h.pinned)
	} else {
		var err error
		if check, algorithms, err = sshhostkey.KnownHosts(addr, h.knownHostsFile); err != nil {
			return nil, nil, fmt.Errorf("ssh_known_hosts_file %s: %w", h.knownHostsFile, err)
		}
	}
	cb := func(hostname string, r net.Addr, key ssh.PublicKey) error {
		err := check(hostname, r, key)
		var refused *sshhostkey.Refused
		if !errors.As(err, &refused) {
			return err
		}
		return &HostKeyError{Host: refused.Host, Fingerprint: refused.Fingerprint, KeyType: refused.KeyType,
			Pinned: h.pinned != nil, KnownHostsFile: h.knownHostsFile, Expected: refused.Expected,
			Revoked: refused.Revoked, NoFile: refused.NoFile}
	}
	return cb, algorithms, nil
}

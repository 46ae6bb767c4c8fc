package git

import (
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/sshhostkey"
)

// A Repo with URL set is any Git remote, named by its URL rather than by a
// host kind, an owner and a name: https:// (a token or none), ssh:// or
// scp-like user@host:path (a private key, the host key checked against
// known_hosts lines, never accepted blindly) and file:// (a repository on
// this machine's disk; the git CLI serves it). Such a remote has no API:
// no commit status, no previews.

func init() {
	// The URL says where to connect: ~/.ssh/config is not read (go-git
	// would take a Hostname or Port from it, behind the host key check's
	// back).
	gitssh.DefaultSSHConfig = nil
}

// The protocols of a URL remote.
const (
	protoHTTPS = "https"
	protoHTTP  = "http"
	protoSSH   = "ssh"
	protoFile  = "file"
)

// sshTimeout bounds the SSH connection and its handshake: a host that
// does not answer must not hold a plan.
const sshTimeout = 20 * time.Second

// defaultSSHUser is the account of an SSH remote whose URL names none.
const defaultSSHUser = "git"

// endpoint parses URL.
func (r Repo) endpoint() (*transport.Endpoint, error) {
	raw := strings.TrimSpace(r.URL)
	ep, err := transport.NewEndpoint(raw)
	if err != nil || raw == "" {
		return nil, fmt.Errorf("url must be a Git remote: https://host/path, ssh://user@host/path, user@host:path or file:///path (got %q)", shownURL(raw))
	}
	if ep.Password != "" {
		return nil, errors.New("url must not carry a password (user:password@): set access_token_wo for an https remote, ssh_private_key_wo for an ssh one")
	}
	switch ep.Protocol {
	case protoHTTPS, protoHTTP:
		if strings.ContainsAny(raw, "?#") {
			return nil, fmt.Errorf("url must not have a query or fragment (got %q)", shownURL(raw))
		}
		if ep.Host == "" {
			return nil, fmt.Errorf("url must name a host (got %q)", raw)
		}
	case protoSSH:
		if ep.Host == "" || ep.Path == "" {
			return nil, fmt.Errorf("url must name a host and a path (got %q)", raw)
		}
	case protoFile:
		// go-git takes any other text for a path on disk.
		if !strings.HasPrefix(raw, "file://") {
			return nil, fmt.Errorf("url must be a Git remote: https://host/path, ssh://user@host/path, user@host:path or file:///path (got %q)", shownURL(raw))
		}
		if !strings.HasPrefix(raw, "file:///") || !path.IsAbs(ep.Path) {
			return nil, fmt.Errorf("url must be file:// and an absolute path for a repository on this machine's disk, file:///srv/git/app.git (got %q)", raw)
		}
	default:
		return nil, fmt.Errorf("url must be an https://, ssh://, user@host:path or file:// remote (got %q, protocol %q)", raw, ep.Protocol)
	}
	return ep, nil
}

// shownURL is what an error may quote of a url: nothing past a "?" or "#"
// (a token may sit there), and no user:password@.
func shownURL(v string) string {
	if i := strings.IndexAny(v, "?#"); i >= 0 {
		v = v[:i+1] + "..."
	}
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 && strings.Contains(rest[:at], ":") {
			return scheme + "://[credentials]@" + rest[at+1:]
		}
	}
	return v
}

// IsFileURL reports whether url names a repository on this machine's disk
// (file://), which only a Docker host that is this machine can be said to
// hold.
func IsFileURL(url string) bool {
	ep, err := Repo{URL: url}.endpoint()
	return err == nil && ep.Protocol == protoFile
}

// HTTPOrigin is an http(s) remote's scheme and host with its port
// ("https://git.example.com:8443"); false for another kind of remote.
func HTTPOrigin(url string) (string, bool) {
	ep, err := Repo{URL: url}.endpoint()
	if err != nil || (ep.Protocol != protoHTTPS && ep.Protocol != protoHTTP) {
		return "", false
	}
	host := ep.Host
	if ep.Port != 0 {
		host = net.JoinHostPort(strings.Trim(ep.Host, "[]"), strconv.Itoa(ep.Port))
	}
	return ep.Protocol + "://" + host, true
}

// SSHOrigin is an SSH remote's host and port ("ssh://git.example.com:22",
// the host in lower case, the port 22 when the URL names none), which a
// git_auth block's base_url names (SSHHostKey); false for another kind of
// remote.
func SSHOrigin(url string) (string, bool) {
	ep, err := Repo{URL: url}.endpoint()
	if err != nil || ep.Protocol != protoSSH {
		return "", false
	}
	return sshOrigin(ep.Host, ep.Port), true
}

// SSHHostKey is the host key (SSHOrigin's form) of an SSH host root as a
// git_auth block's base_url writes it: "ssh://host" or "ssh://host:port",
// no user, no path.
func SSHHostKey(baseURL string) (string, error) {
	u, err := neturl.Parse(strings.TrimSpace(baseURL))
	bad := err != nil || u.Scheme != protoSSH || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != ""
	if bad {
		return "", fmt.Errorf("base_url of an SSH host must be ssh://host or ssh://host:port, with no user and no path (got %q)", shownURL(baseURL))
	}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("base_url of an SSH host has an invalid port (got %q)", shownURL(baseURL))
		}
	}
	return sshOrigin(u.Hostname(), port), nil
}

// sshOrigin is "ssh://host:port", the host in lower case, port 0 as 22.
func sshOrigin(host string, port int) string {
	if port == 0 {
		port = 22
	}
	return "ssh://" + net.JoinHostPort(strings.ToLower(strings.Trim(host, "[]")), strconv.Itoa(port))
}

// IsSSHURL reports whether url is an ssh:// or scp-like remote.
func IsSSHURL(url string) bool {
	ep, err := Repo{URL: url}.endpoint()
	return err == nil && ep.Protocol == protoSSH
}

// validateURL checks a URL remote's attributes: the URL, and credentials
// that fit its protocol.
func (r Repo) validateURL() error {
	ep, err := r.endpoint()
	if err != nil {
		return err
	}
	switch {
	case r.Provider != "" || r.BaseURL != "" || r.Owner != "" || r.Name != "":
		return errors.New("url names the remote: provider, base_url, repo_owner and repo_name must be unset with it")
	case ep.Protocol == protoSSH && r.Token != "":
		return fmt.Errorf("an ssh remote authenticates with ssh_private_key_wo, not a token (url %q)", r.URL)
	case ep.Protocol != protoSSH && (r.SSHKey != "" || r.KnownHosts != ""):
		return fmt.Errorf("ssh_private_key_wo and ssh_known_hosts are for an ssh remote (url %q is %s)", r.URL, ep.Protocol)
	case ep.Protocol == protoFile && r.Token != "":
		return fmt.Errorf("a file:// remote needs no token (url %q)", r.URL)
	}
	if ep.Protocol == protoSSH && r.SSHKey != "" {
		if _, err := ssh.ParsePrivateKey([]byte(r.SSHKey)); err != nil {
			return errors.New("ssh_private_key_wo must be an unencrypted private key in PEM or OpenSSH form (as ssh-keygen writes it)")
		}
	}
	return nil
}

// urlAuth is the credential of a URL remote: a token as basic auth's
// password (under the URL's user, else x-access-token, which the big hosts
// take), an SSH key with the host key check, or none.
func (r Repo) urlAuth() (transport.AuthMethod, error) {
	ep, err := r.endpoint()
	if err != nil {
		return nil, err
	}
	switch ep.Protocol {
	case protoSSH:
		if r.SSHKey == "" {
			return nil, &classified{fmt.Errorf("the ssh remote %s needs a key: set ssh_private_key_wo", r.URL), ErrCredentials}
		}
		signer, err := ssh.ParsePrivateKey([]byte(r.SSHKey))
		if err != nil {
			return nil, errors.New("ssh_private_key_wo must be an unencrypted private key in PEM or OpenSSH form (as ssh-keygen writes it)")
		}
		user := ep.User
		if user == "" {
			user = defaultSSHUser
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		addr := net.JoinHostPort(strings.Trim(ep.Host, "[]"), strconv.Itoa(port))
		cb, algorithms, err := knownHostsCallback(addr, r.KnownHosts)
		if err != nil {
			return nil, err
		}
		return &sshAuth{user: user, signer: signer, check: cb, algorithms: algorithms}, nil
	case protoHTTPS, protoHTTP:
		if r.Token == "" {
			return nil, nil
		}
		user := ep.User
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: r.Token}, nil
	}
	return nil, nil
}

// knownHostsCallback checks the host key at addr against known_hosts
// lines (the content of ssh_known_hosts, none: every key is unknown); a
// refusal is a *HostKeyError.
func knownHostsCallback(addr, lines string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "tinyforge-known-hosts-")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(lines + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, nil, err
	}
	check, algorithms, err := sshhostkey.KnownHosts(addr, f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("ssh_known_hosts: %w", err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var refused *sshhostkey.Refused
		if errors.As(err, &refused) {
			return &HostKeyError{Refused: *refused}
		}
		return err
	}
	return cb, algorithms, nil
}

// HostKeyError is an SSH remote's host key refused: unknown to
// ssh_known_hosts, different from what it records, or revoked. Its message
// names the host and the key's SHA256 fingerprint, and says how to fix it.
type HostKeyError struct{ sshhostkey.Refused }

func (e *HostKeyError) Error() string {
	host, port, _ := net.SplitHostPort(e.Host)
	keyscan := fmt.Sprintf("ssh-keyscan -p %s -t %s %s", port, strings.TrimPrefix(e.KeyType, "ssh-"), host)
	presented := fmt.Sprintf("the server presented the %s key %s", e.KeyType, e.Fingerprint)
	switch {
	case e.Revoked:
		return fmt.Sprintf("SSH host key of %s is revoked: %s, which ssh_known_hosts marks @revoked; refused", e.Host, presented)
	case len(e.Expected) > 0:
		return fmt.Sprintf("SSH host key of %s has changed: %s, but ssh_known_hosts records %s for it; refused. "+
			"Someone may be intercepting the connection, or the server's key was replaced: check the fingerprint with "+
			"the server's administrator, and if the change is expected, replace the host's line in ssh_known_hosts "+
			"(%s prints the new one).", e.Host, presented, strings.Join(e.Expected, ", "), keyscan)
	}
	return fmt.Sprintf("SSH host key of %s is unknown: %s, and ssh_known_hosts has no key for the host; refused. "+
		"Check the fingerprint with the server's administrator, then add the host's line to ssh_known_hosts "+
		"(%s prints it).", e.Host, presented, keyscan)
}

// sshAuth is an SSH key with the host key check and a timeout.
type sshAuth struct {
	user       string
	signer     ssh.Signer
	check      ssh.HostKeyCallback
	algorithms []string
}

func (a *sshAuth) Name() string   { return "ssh-public-keys" }
func (a *sshAuth) String() string { return "user: " + a.user + ", name: ssh-public-keys" }

// ClientConfig implements go-git's ssh.AuthMethod.
func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.check,
		HostKeyAlgorithms: a.algorithms,
		Timeout:           sshTimeout,
	}, nil
}

// describeSSH turns an SSH remote's failure into one a user can act on: a
// refused host key as it is, a refused key naming ssh_private_key_wo (never
// the key), an unreachable host as unavailable.
func describeSSH(op, url string, err error) (error, bool) {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return hk, true
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		return &classified{fmt.Errorf("the ssh remote %s refused the key of ssh_private_key_wo (or the account %q may not read the repository)", url, userOf(url)), ErrCredentials}, true
	case strings.Contains(msg, "ssh: handshake failed"):
		return &classified{fmt.Errorf("%s %s: %w", op, url, err), ErrUnavailable}, true
	}
	return nil, false
}

// userOf is the account of an SSH remote's URL.
func userOf(url string) string {
	if ep, err := (Repo{URL: url}).endpoint(); err == nil && ep.User != "" {
		return ep.User
	}
	return defaultSSHUser
}

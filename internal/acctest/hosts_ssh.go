package acctest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdBinary is Debian's OpenSSH server (openssh-server).
const sshdBinary = "/usr/sbin/sshd"

// SSHServer is a test host's sshd: Debian's OpenSSH on the host's address,
// with a host key and a client key made for this test. Only SSHUser may log
// in, only with the client key, and may forward to the host's docker socket
// and to its TCP ports (which is all an SSH Docker client needs).
type SSHServer struct {
	// User is the account that logs in (SSHUser).
	User string
	// Addr is "<host address>:22".
	Addr string
	// HostKey is the server's public key as an authorized_keys line
	// without a comment, "ssh-ed25519 AAAA...".
	HostKey string
	// HostKeyFingerprint is its SHA256 fingerprint, "SHA256:...", as
	// ssh-keygen -l prints it.
	HostKeyFingerprint string
	// ClientKey is the PEM (OpenSSH format) private key authorized for
	// User: a secret, never log it.
	ClientKey string
	// ClientKeyFile is a file holding ClientKey (mode 0600), for ssh-add.
	ClientKeyFile string
	// DockerSocket is the path of the host's docker socket, which User may
	// use.
	DockerSocket string

	mu      sync.Mutex
	dir     string
	netns   string
	process *hostProcess
}

// DockerHost is the docker_host of the host's engine over SSH:
// "ssh://<user>@<address>:22<socket path>".
func (s *SSHServer) DockerHost() string {
	return "ssh://" + s.User + "@" + s.Addr + s.DockerSocket
}

// KnownHostsFile writes a known_hosts file that holds the server's key
// into a temporary directory of t, and returns its path.
func (s *SSHServer) KnownHostsFile(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// KnownHostsLine is the known_hosts line of the server's current key.
func (s *SSHServer) KnownHostsLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKey))
	if err != nil {
		panic(err) // made by this fixture
	}
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, key)
}

// startSSH starts the host's sshd and waits until it accepts connections.
func (h *Host) startSSH() error {
	if _, err := user.Lookup(SSHUser); err != nil {
		return fmt.Errorf("the SSH test user %s does not exist: run .ci/setup-host: %w", SSHUser, err)
	}
	// sshd's privilege separation directory; Debian makes it only when
	// its service starts, which never happens here.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	dir := filepath.Join(h.dir, "ssh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := &SSHServer{User: SSHUser, Addr: net.JoinHostPort(h.Addr, "22"), DockerSocket: h.DockerSocket, dir: dir, netns: h.netns}

	clientPub, clientPEM, err := newEd25519Key("tinyforge acctest client")
	if err != nil {
		return err
	}
	s.ClientKey = string(clientPEM)
	s.ClientKeyFile = filepath.Join(dir, "client_key")
	if err := os.WriteFile(s.ClientKeyFile, clientPEM, 0o600); err != nil {
		return err
	}
	// Root owns it and no one else may write it: what StrictModes wants.
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		return err
	}
	if err := s.writeHostKey(); err != nil {
		return err
	}
	config := fmt.Sprintf(`# sshd of test host %s, made by internal/acctest
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers %s
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PermitTTY no
X11Forwarding no
StrictModes yes
LogLevel VERBOSE
`, h.Name, s.Addr, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"), SSHUser)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := s.start(); err != nil {
		return err
	}
	h.undo.push("stop sshd", func() error { return s.stop() })
	h.SSH = s
	return nil
}

// writeHostKey makes a new host key and writes it where sshd reads it.
func (s *SSHServer) writeHostKey() error {
	pub, priv, err := newEd25519Key("")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "host_key"), priv, 0o600); err != nil {
		return err
	}
	s.mu.Lock()
	s.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	s.HostKeyFingerprint = ssh.FingerprintSHA256(pub)
	s.mu.Unlock()
	return nil
}

func (s *SSHServer) start() error {
	p, err := startHostProcess("sshd", filepath.Join(s.dir, "sshd.log"), "nsenter",
		"--net="+s.netns, sshdBinary, "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.waitReady(ctx, func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}); err != nil {
		p.stop(5 * time.Second)
		return err
	}
	s.mu.Lock()
	s.process = p
	s.mu.Unlock()
	return nil
}

func (s *SSHServer) stop() error {
	s.mu.Lock()
	p := s.process
	s.process = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	// The per-connection processes first: sshd leaves them running when
	// its listener stops.
	killDescendants(p.cmd.Process.Pid)
	return p.stop(5 * time.Second)
}

// ReplaceHostKey restarts the server with a new host key, as a host that
// was reinstalled: clients that knew the old key must refuse it. The test
// fails when the server does not come back.
func (s *SSHServer) ReplaceHostKey(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stop sshd: %v", err)
	}
	if err := s.writeHostKey(); err != nil {
		t.Fatalf("new host key: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("restart sshd: %v", err)
	}
}

// DropConnections kills the server's per-connection processes, by PID, so
// that every client's connection breaks at once (as when a host's sshd is
// restarted or the network resets), while the server keeps accepting new
// ones. It returns how many processes it killed.
func (s *SSHServer) DropConnections(t testing.TB) int {
	t.Helper()
	s.mu.Lock()
	p := s.process
	s.mu.Unlock()
	if p == nil {
		t.Fatalf("sshd of %s is not running", s.Addr)
	}
	return killDescendants(p.cmd.Process.Pid)
}

// Log returns what the server logged so far (LogLevel VERBOSE: each
// connection, its key and its forwardings), for failure messages.
func (s *SSHServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sshd.log"))
	return string(b)
}

// killDescendants kills every descendant of pid (by PID, SIGKILL) and
// returns how many there were.
func killDescendants(pid int) int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	var all []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			all = append(all, c)
			walk(c)
		}
	}
	walk(pid)
	for _, c := range all {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	return len(all)
}

// newEd25519Key makes a key pair: the public key and the private key in
// OpenSSH's PEM format.
func newEd25519Key(comment string) (ssh.PublicKey, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return sshPub, pem.EncodeToMemory(block), nil
}

// NewSSHKeyPEM is a fresh ed25519 private key in OpenSSH's PEM format,
// unencrypted: a key no test host knows.
func NewSSHKeyPEM(t testing.TB) string {
	t.Helper()
	_, key, err := newEd25519Key("")
	if err != nil {
		t.Fatal(err)
	}
	return string(key)
}

// gitShell is SSHUser's login shell (.ci/setup-host sets it): it runs the
// Git commands an SSH Git client asks for, and nothing else. Docker over
// SSH needs no shell (it forwards the socket).
const gitShell = "/usr/bin/git-shell"

// GitServer is a Git server whose repositories the host's sshd also
// serves: a client with ClientKey clones them as SSHUser through git-shell
// (GitURL). Its repositories live in the host's directory, readable by
// SSHUser; its HTTP side listens on this machine's 127.0.0.1 as
// StartGitServer's does. It stops with the test.
func (s *SSHServer) GitServer(t testing.TB) *GitServer {
	t.Helper()
	u, err := user.Lookup(SSHUser)
	if err != nil {
		t.Fatalf("the SSH test user: %v", err)
	}
	if shell, err := loginShell(u.Username); err != nil || shell != gitShell {
		t.Fatalf("%s's login shell is %q (%v), want %s, which serves Git over SSH: run .ci/setup-host", SSHUser, shell, err, gitShell)
	}
	// The repositories belong to root, who pushes to them; SSHUser reads
	// them, which git allows only to a repository it is told is safe. Its
	// home is hostsRoot (.ci/setup-host), where its Git reads this.
	gitconfig := filepath.Join(hostsRoot, ".gitconfig")
	if err := writeFileAtomic(gitconfig, []byte("# made by internal/acctest: SSHUser serves root's test repositories\n[safe]\n\tdirectory = *\n")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(filepath.Dir(s.dir), "git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, stop, err := NewGitServer(root, backendLog{t})
	if err != nil {
		t.Fatalf("start the Git server: %v", err)
	}
	t.Cleanup(stop)
	return srv
}

// GitURL is the ssh:// URL of r on the host, for SSHUser.
func (s *SSHServer) GitURL(r *GitRepo) string {
	return "ssh://" + s.User + "@" + s.Addr + r.Path()
}

// GitSCPURL is the scp-like URL of r on the host ("user@host:path"),
// which names no port: the host's sshd listens on 22.
func (s *SSHServer) GitSCPURL(r *GitRepo) string {
	host, _, _ := net.SplitHostPort(s.Addr)
	return s.User + "@" + host + ":" + r.Path()
}

// loginShell is the login shell of an account, from /etc/passwd.
func loginShell(name string) (string, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			return f[6], nil
		}
	}
	return "", fmt.Errorf("%s is not in /etc/passwd", name)
}

// writeFileAtomic writes a file readable by all in one rename, so that
// readers never see it half written.
func writeFileAtomic(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

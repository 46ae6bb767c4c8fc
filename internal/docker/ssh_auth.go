package docker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// CheckSSHPrivateKey checks that key is an unencrypted private key that
// the client can use; the error never quotes the key. The provider
// validates ssh_private_key with it at plan time.
func CheckSSHPrivateKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return errors.New("ssh_private_key must not be empty: leave it unset to use the SSH agent")
	}
	_, err := newClientAuth(key)
	return err
}

// clientAuth is how the provider authenticates: a private key, or the
// agent at $SSH_AUTH_SOCK.
type clientAuth struct {
	signer    ssh.Signer // from ssh_private_key
	agentSock string     // else the agent's socket
}

// newClientAuth reads the private key (never quoting it) or takes the
// agent.
func newClientAuth(privateKey string) (clientAuth, error) {
	if strings.TrimSpace(privateKey) != "" {
		signer, err := ssh.ParsePrivateKey([]byte(privateKey))
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return clientAuth{}, errors.New("ssh_private_key is encrypted with a passphrase, which the provider cannot ask for: " +
				"load the key into an SSH agent (ssh-add) and leave ssh_private_key unset, or give an unencrypted key")
		case err != nil:
			// x/crypto's parse errors describe the format, never the key.
			return clientAuth{}, fmt.Errorf("ssh_private_key does not parse as an OpenSSH or PEM private key: %w", err)
		}
		return clientAuth{signer: signer}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return clientAuth{}, errors.New("no SSH client key: set ssh_private_key, or run an SSH agent holding the key ($SSH_AUTH_SOCK is not set)")
	}
	return clientAuth{agentSock: sock}, nil
}

// methods returns the auth methods of one connection attempt, and what to
// close after the handshake (the agent connection).
func (a clientAuth) methods() ([]ssh.AuthMethod, func(), error) {
	if a.signer != nil {
		return []ssh.AuthMethod{ssh.PublicKeys(a.signer)}, func() {}, nil
	}
	conn, err := net.DialTimeout("unix", a.agentSock, 5*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("SSH agent at $SSH_AUTH_SOCK (%s): %w", a.agentSock, err)
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(conn).Signers)}, func() { conn.Close() }, nil
}

// describe says which key was offered, for an authentication error.
func (a clientAuth) describe() string {
	if a.signer != nil {
		return fmt.Sprintf("the key of ssh_private_key (%s %s)", a.signer.PublicKey().Type(), ssh.FingerprintSHA256(a.signer.PublicKey()))
	}
	return "the keys of the SSH agent at $SSH_AUTH_SOCK"
}

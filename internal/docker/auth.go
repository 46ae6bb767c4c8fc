package docker

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/registry"
)

// RegistryLogin is a username and password for one registry.
type RegistryLogin struct {
	// Address is the registry's host[:port] ("ghcr.io", "127.0.0.1:5000");
	// Docker Hub is "docker.io".
	Address  string
	Username string
	// Password is a secret: never in an error or a log.
	Password string
}

// Registries finds the login for an image's registry, for pulls: Logins
// first, by address; then a Docker config file: its auths, and its
// credHelpers and credsStore through the docker-credential-* programs, as
// the docker CLI does.
type Registries struct {
	Logins []RegistryLogin
	// ConfigFile is a Docker config file (config.json); "" or a file that
	// does not exist: none.
	ConfigFile string
}

// dockerHub is the key of Docker Hub in a config file.
const dockerHub = "https://index.docker.io/v1/"

// RegistryOf is the registry an image reference pulls from, as an address
// ("ghcr.io", "127.0.0.1:5000", "docker.io").
func RegistryOf(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return reference.Domain(named), nil
}

// ValidateRepositoryPrefix checks a repository prefix that images are
// pushed under ("registry.example:5000", "ghcr.io/team"): a registry
// address, written out (Docker Hub too: "docker.io/team"), and an optional
// path of lower-case repository name components.
func ValidateRepositoryPrefix(prefix string) error {
	named, err := reference.ParseNormalizedNamed(prefix + "/probe")
	if err != nil || named.Name() != prefix+"/probe" {
		// Without a registry address, the parser puts docker.io/ in front.
		return fmt.Errorf("want a registry address and an optional repository path, like \"registry.example:5000\" or \"ghcr.io/team\" (got %q)", prefix)
	}
	return nil
}

// normalAddress spells a registry address one way: no scheme, no path, and
// Docker Hub's several names as "docker.io".
func normalAddress(a string) string {
	a = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(a)), "https://"), "http://"), "/")
	if i := strings.IndexByte(a, '/'); i >= 0 {
		a = a[:i]
	}
	switch a {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return a
}

// For returns the login for the registry ref pulls from; found is false
// when there is none. Errors name the registry and the config file, never a
// secret.
func (r *Registries) For(ref string) (login RegistryLogin, found bool, err error) {
	if r == nil {
		return RegistryLogin{}, false, nil
	}
	host, err := RegistryOf(ref)
	if err != nil {
		return RegistryLogin{}, false, err
	}
	for _, l := range r.Logins {
		if normalAddress(l.Address) == normalAddress(host) {
			return l, true, nil
		}
	}
	cf, err := r.configFile()
	if err != nil || cf == nil {
		return RegistryLogin{}, false, err
	}
	key := host
	if normalAddress(host) == "docker.io" {
		key = dockerHub
	}
	auth, err := cf.GetAuthConfig(key)
	if err != nil {
		return RegistryLogin{}, false, fmt.Errorf("credentials for registry %s from %s: %w", host, r.ConfigFile, scrubLogin(err))
	}
	if auth.Username == "" && auth.Password == "" && auth.IdentityToken == "" {
		return RegistryLogin{}, false, nil
	}
	return RegistryLogin{Address: host, Username: auth.Username, Password: cmp.Or(auth.Password, auth.IdentityToken)}, true, nil
}

// scrubLogin keeps a credential helper's error to its first line: a
// helper's output is not ours to repeat.
func scrubLogin(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%s", msg)
}

// configFile loads the Docker config file; nil when none is configured or
// it does not exist.
func (r *Registries) configFile() (*configfile.ConfigFile, error) {
	if r.ConfigFile == "" {
		return nil, nil
	}
	f, err := os.Open(r.ConfigFile)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read docker config file %s: %w", r.ConfigFile, err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("read docker config file %s: %w", r.ConfigFile, err)
	}
	cf.Filename = r.ConfigFile
	return cf, nil
}

// encodeLogin is the X-Registry-Auth header of a login.
func encodeLogin(l RegistryLogin) (string, error) {
	b, err := json.Marshal(registry.AuthConfig{Username: l.Username, Password: l.Password, ServerAddress: l.Address})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

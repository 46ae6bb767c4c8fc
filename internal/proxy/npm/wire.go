package npm

import (
	"encoding/json"
	"strconv"
	"strings"
)

// markKey is the key in a proxy host's meta that marks it as created by this
// provider, valued with the workload name. NPM's schema lets a create carry
// any meta object, and NPM keeps it across writes: it merges nginx_online and
// nginx_err into the stored meta rather than replacing it, and its UI sends
// meta back unchanged when a user edits the host.
const markKey = "tinyforge_workload"

// certificateKey is the key in the meta of the provider's proxy host that
// records the id of the certificate the provider made for it: the one
// certificate it deletes with the route. NPM's certificate object has no
// room for a mark (its meta allows no other keys, and NPM overwrites a Let's
// Encrypt certificate's nice_name with its domains).
const certificateKey = "tinyforge_certificate"

// createBody is POST /api/nginx/proxy-hosts (paths/nginx/proxy-hosts/post.json).
type createBody struct {
	DomainNames   []string       `json:"domain_names"`
	ForwardScheme string         `json:"forward_scheme"`
	ForwardHost   string         `json:"forward_host"`
	ForwardPort   int            `json:"forward_port"`
	CertificateID int            `json:"certificate_id,omitempty"`
	SSLForced     bool           `json:"ssl_forced,omitempty"`
	HTTP2Support  bool           `json:"http2_support,omitempty"`
	Meta          map[string]any `json:"meta"`
}

// hostPatch is a partial PUT /api/nginx/proxy-hosts/{id}
// (paths/nginx/proxy-hosts/hostID/put.json): only the fields set are sent.
// Meta goes only with a change of certificate, whole (a PUT replaces it):
// the host's meta as read, the mark, and the certificate's id.
type hostPatch struct {
	DomainNames   []string       `json:"domain_names,omitempty"`
	ForwardScheme string         `json:"forward_scheme,omitempty"`
	ForwardHost   string         `json:"forward_host,omitempty"`
	ForwardPort   int            `json:"forward_port,omitempty"`
	CertificateID *int           `json:"certificate_id,omitempty"`
	SSLForced     *bool          `json:"ssl_forced,omitempty"`
	HTTP2Support  *bool          `json:"http2_support,omitempty"`
	Meta          map[string]any `json:"meta,omitempty"`
}

func (p hostPatch) empty() bool {
	return p.DomainNames == nil && p.ForwardScheme == "" && p.ForwardHost == "" && p.ForwardPort == 0 &&
		p.CertificateID == nil && p.SSLForced == nil && p.HTTP2Support == nil && p.Meta == nil
}

// proxyHost is the part of NPM's proxy host object the router reads.
type proxyHost struct {
	ID            int      `json:"id"`
	DomainNames   []string `json:"domain_names"`
	ForwardScheme string   `json:"forward_scheme"`
	ForwardHost   string   `json:"forward_host"`
	ForwardPort   int      `json:"forward_port"`
	Enabled       flexBool `json:"enabled"`
	CertificateID flexInt  `json:"certificate_id"`
	SSLForced     flexBool `json:"ssl_forced"`
	HTTP2Support  flexBool `json:"http2_support"`
	Meta          hostMeta `json:"meta"`
}

func (h proxyHost) upstream() upstream { return upstream{h.ForwardHost, h.ForwardPort} }

// hostMeta is a host's meta: the provider's mark, the certificate it made
// for the host, nginx's verdict, and every key as read (a PUT of meta
// sends them back).
type hostMeta struct {
	Workload    string
	Certificate int
	NginxOnline bool
	NginxErr    string
	raw         map[string]json.RawMessage
}

// with is the meta to PUT: the keys as read, but NPM's own verdict, with
// the mark and the certificate's id (none when 0).
func (m hostMeta) with(workload string, certificate int) map[string]any {
	out := map[string]any{}
	for k, v := range m.raw {
		if k != "nginx_online" && k != "nginx_err" {
			out[k] = v
		}
	}
	out[markKey] = workload
	delete(out, certificateKey)
	if certificate > 0 {
		out[certificateKey] = certificate
	}
	return out
}

func (m hostMeta) online() bool { return m.NginxOnline }

// UnmarshalJSON reads meta leniently: it is a free-form object that users
// and other tools write too, and a stray value there must not make every
// list call fail.
func (m *hostMeta) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	m.raw = raw
	json.Unmarshal(raw[markKey], &m.Workload)
	var cert flexInt
	json.Unmarshal(raw[certificateKey], &cert)
	m.Certificate = int(cert)
	var online flexBool
	json.Unmarshal(raw["nginx_online"], &online)
	m.NginxOnline = bool(online)
	json.Unmarshal(raw["nginx_err"], &m.NginxErr)
	return nil
}

// flexBool reads true/false, and also 1/0, which older NPM versions return
// for boolean columns.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true", "1":
		*f = true
	default:
		*f = false
	}
	return nil
}

// flexInt reads a number, or a number in a string; anything else is 0.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	n, err := strconv.Atoi(strings.Trim(string(b), `"`))
	if err != nil {
		n = 0
	}
	*f = flexInt(n)
	return nil
}

// certificateObject is the part of NPM's certificate object the router
// reads. Its meta is never read: NPM returns a custom certificate's
// private key there.
type certificateObject struct {
	ID          int      `json:"id"`
	Provider    string   `json:"provider"`
	NiceName    string   `json:"nice_name"`
	DomainNames []string `json:"domain_names"`
}

// certificateBody is POST /api/nginx/certificates
// (paths/nginx/certificates/post.json).
type certificateBody struct {
	Provider    string         `json:"provider"`
	NiceName    string         `json:"nice_name,omitempty"`
	DomainNames []string       `json:"domain_names,omitempty"`
	Meta        map[string]any `json:"meta,omitempty"`
}

package npm

import (
	"encoding/json"
	"strings"
)

// markKey is the key in a proxy host's meta that marks it as created by this
// provider, valued with the workload name. NPM's schema lets a create carry
// any meta object, and NPM keeps it across writes: it merges nginx_online and
// nginx_err into the stored meta rather than replacing it, and its UI sends
// meta back unchanged when a user edits the host.
const markKey = "tinyforge_workload"

// createBody is POST /api/nginx/proxy-hosts (paths/nginx/proxy-hosts/post.json).
type createBody struct {
	DomainNames   []string          `json:"domain_names"`
	ForwardScheme string            `json:"forward_scheme"`
	ForwardHost   string            `json:"forward_host"`
	ForwardPort   int               `json:"forward_port"`
	Meta          map[string]string `json:"meta"`
}

// hostPatch is a partial PUT /api/nginx/proxy-hosts/{id}
// (paths/nginx/proxy-hosts/hostID/put.json): only the fields set are sent.
// It never carries meta, which a PUT would replace along with the mark.
type hostPatch struct {
	DomainNames   []string `json:"domain_names,omitempty"`
	ForwardScheme string   `json:"forward_scheme,omitempty"`
	ForwardHost   string   `json:"forward_host,omitempty"`
	ForwardPort   int      `json:"forward_port,omitempty"`
}

func (p hostPatch) empty() bool {
	return p.DomainNames == nil && p.ForwardScheme == "" && p.ForwardHost == "" && p.ForwardPort == 0
}

// proxyHost is the part of NPM's proxy host object the router reads.
type proxyHost struct {
	ID            int      `json:"id"`
	DomainNames   []string `json:"domain_names"`
	ForwardScheme string   `json:"forward_scheme"`
	ForwardHost   string   `json:"forward_host"`
	ForwardPort   int      `json:"forward_port"`
	Enabled       flexBool `json:"enabled"`
	Meta          hostMeta `json:"meta"`
}

func (h proxyHost) upstream() upstream { return upstream{h.ForwardHost, h.ForwardPort} }

// hostMeta is a host's meta: the provider's mark and nginx's verdict.
type hostMeta struct {
	Workload    string
	NginxOnline bool
	NginxErr    string
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
	json.Unmarshal(raw[markKey], &m.Workload)
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

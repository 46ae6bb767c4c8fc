package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// sourceModel is the source block: exactly one kind is set. Each kind is a
// field here (the framework maps blocks onto fields) and an entry of
// sourceKinds, which says everything else the provider does with it.
type sourceModel struct {
	Image      *imageModel      `tfsdk:"image"`
	Dockerfile *dockerfileModel `tfsdk:"dockerfile"`
	Static     *staticModel     `tfsdk:"static"`
	Compose    *composeModel    `tfsdk:"compose"`
}

// sourceKind is one kind of source as the provider sees it. Adding a kind
// adds a field to sourceModel, an entry to sourceKinds and a file,
// source_<kind>.go, holding the entry: no switch elsewhere.
type sourceKind struct {
	name string
	// block is the kind's block in the schema.
	block func() schema.Block
	// in reports whether a source model (never nil) holds the kind's block.
	in func(*sourceModel) bool
	// source maps the kind's block onto the engine's source; config is the
	// configuration's source block (write-only values), nil for the state.
	// known is false when a value is not known yet.
	source func(m, config *sourceModel) (src plugin.Source, known bool)
	// model rebuilds the source block from a source read back from labels
	// (false: the source is not of this kind); secrets are not recorded
	// there and are kept from prior, the block as the state had it.
	model func(src plugin.Source, prior *sourceModel) (*sourceModel, bool)
	// git is the kind's shared Git attributes in a source model; nil for a
	// kind without (or a model without this kind's block).
	git func(*sourceModel) *gitModel
}

// sourceKinds are the kinds of source, in the order documented.
var sourceKinds = []sourceKind{imageKind, dockerfileKind, staticKind, composeKind}

// set reports whether m holds this kind's block.
func (k sourceKind) set(m *sourceModel) bool { return m != nil && k.in(m) }

func sourceBlocks() map[string]schema.Block {
	blocks := map[string]schema.Block{}
	for _, k := range sourceKinds {
		blocks[k.name] = k.block()
	}
	return blocks
}

func sourceKindNames() []string {
	names := make([]string, 0, len(sourceKinds))
	for _, k := range sourceKinds {
		names = append(names, k.name)
	}
	return names
}

// exactlyOneSourceKind refuses a source block that sets no kind, or more
// than one.
type exactlyOneSourceKind struct{}

func (exactlyOneSourceKind) Description(context.Context) string {
	return "exactly one of " + strings.Join(sourceKindNames(), ", ")
}

func (v exactlyOneSourceKind) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (exactlyOneSourceKind) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var set []string
	for _, k := range sourceKindNames() {
		if v, ok := req.ConfigValue.Attributes()[k]; ok && !v.IsNull() {
			set = append(set, k)
		}
	}
	if len(set) == 1 {
		return
	}
	got := "none"
	if len(set) > 1 {
		got = strings.Join(set, " and ")
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid source",
		fmt.Sprintf("source must set exactly one of %s (got %s)", strings.Join(sourceKindNames(), ", "), got))
}

func sourceKindsMarkdown() string {
	quoted := make([]string, 0, len(sourceKinds))
	for _, k := range sourceKinds {
		quoted = append(quoted, "`"+k.name+"`")
	}
	return strings.Join(quoted, ", ")
}

// kind is the one kind m sets; false when it sets none or several.
func (m *sourceModel) kind() (sourceKind, bool) {
	var found []sourceKind
	for _, k := range sourceKinds {
		if k.set(m) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return sourceKind{}, false
	}
	return found[0], true
}

// source maps the block onto the engine's source; config supplies
// write-only values. known is false when a value is unknown.
func (m *sourceModel) source(config *sourceModel) (plugin.Source, bool) {
	k, ok := m.kind()
	if !ok {
		return nil, true
	}
	return k.source(m, config)
}

// recordedSource rebuilds the block from a source config read back from a
// container's labels. Secrets are not recorded there: they are kept from
// prior, the block as the state had it.
func recordedSource(src plugin.Source, prior *sourceModel) *sourceModel {
	for _, k := range sourceKinds {
		if m, ok := k.model(src, prior); ok {
			return m
		}
	}
	return prior
}

// gitOf is the Git attributes of m's kind, nil for a kind without.
func (m *sourceModel) gitOf() (*gitModel, string) {
	k, ok := m.kind()
	if !ok || k.git == nil {
		return nil, ""
	}
	return k.git(m), k.name
}

// tokenPath is the attribute the source's Git credential is written in:
// ssh_private_key_wo for an SSH url, else the write-only token when the
// configuration sets it, else access_token.
func (m *sourceModel) tokenPath(config *sourceModel) path.Path {
	g, kind := m.gitOf()
	base := path.Root("source").AtName(kind)
	switch c, _ := config.gitOf(); {
	case g != nil && gitbuild.IsSSHURL(g.URL.ValueString()):
		return base.AtName("ssh_private_key_wo")
	case c != nil && !c.AccessTokenWO.IsNull():
		return base.AtName("access_token_wo")
	}
	return base.AtName("access_token")
}

// setsToken reports whether the configuration sets the source's Git
// credential: a token, in access_token or write-only, or an SSH key.
func (m *sourceModel) setsToken(config *sourceModel) bool {
	g, _ := m.gitOf()
	c, _ := config.gitOf()
	return (g != nil && !g.AccessToken.IsNull()) || (c != nil && (!c.AccessTokenWO.IsNull() || !c.SSHPrivateKeyWO.IsNull()))
}

// sameToken reports whether the refresh, which used the state's token,
// asked with the token the plan has: a write-only token in the
// configuration, or a new one, must be tried by the plan itself.
func (m *sourceModel) sameToken(state, config *sourceModel) bool {
	g, _ := m.gitOf()
	if g == nil {
		return true
	}
	if c, _ := config.gitOf(); c != nil && (!c.AccessTokenWO.IsNull() || !c.SSHPrivateKeyWO.IsNull()) {
		return false
	}
	s, _ := state.gitOf()
	return s != nil && s.AccessToken.Equal(g.AccessToken)
}

// writeOnlyToken reports whether the source's token is written write-only,
// so that the state has none to refresh with.
func (m *sourceModel) writeOnlyToken() bool {
	g, _ := m.gitOf()
	return g != nil && g.writeOnlyToken()
}

// privateData is the framework's private state of a resource, as Read,
// ModifyPlan and the applies see it.
type privateData interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// resolvedKey is where Read keeps the revision it resolved, so that the plan
// and the apply-time re-plan (which Terraform compares) both use the one the
// refresh saw: a push between plan and apply then changes nothing, and the
// apply builds the planned commit.
const resolvedKey = "resolved_revision"

type resolved struct {
	Origin   string `json:"origin"`
	Revision string `json:"revision,omitempty"`
	// Unavailable is why the origin could not be asked at refresh, when it
	// could not be reached: the plan then warns instead of waiting again.
	Unavailable string `json:"unavailable,omitempty"`
}

func setResolved(ctx context.Context, p privateData, r *resolved) diag.Diagnostics {
	raw := []byte("null")
	if r != nil {
		raw, _ = json.Marshal(r)
	}
	return p.SetKey(ctx, resolvedKey, raw)
}

func getResolved(ctx context.Context, p privateData) *resolved {
	raw, _ := p.GetKey(ctx, resolvedKey)
	var r resolved
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil || (r.Revision == "" && r.Unavailable == "") {
		return nil
	}
	return &r
}

// refreshRevision resolves, at refresh, the revision a deploy of the state's
// source would use now, and keeps it in private state for the plan. A source
// whose token is write-only cannot be resolved from the state: the plan does
// it with the configuration's token. A failure is left to the plan, which
// has the configuration (a new token, say) and decides: an origin that
// could not be reached is recorded, so that the plan warns without waiting
// for it again.
func (m *workloadModel) refreshRevision(ctx context.Context, tokens gitTokens, private privateData) diag.Diagnostics {
	spec, known, _ := m.spec(ctx, nil)
	tokens.complete(spec)
	resolver, ok := spec.Source.(plugin.Resolver)
	if !ok || !known || m.Source.writeOnlyToken() {
		return setResolved(ctx, private, nil)
	}
	rev, err := resolver.Resolve(ctx)
	switch {
	case err == nil:
		tflog.Info(ctx, "resolved the revision to deploy", map[string]any{"workload": spec.Name, "revision": rev})
		return setResolved(ctx, private, &resolved{Origin: resolver.Origin(), Revision: rev})
	case errors.Is(err, plugin.ErrUnavailable):
		tflog.Warn(ctx, "cannot look for a new revision at refresh", map[string]any{"workload": spec.Name, "error": err.Error()})
		return setResolved(ctx, private, &resolved{Origin: resolver.Origin(), Unavailable: err.Error()})
	default:
		tflog.Info(ctx, "refresh could not resolve the revision; the plan tries with the configuration", map[string]any{"workload": spec.Name, "error": err.Error()})
		return setResolved(ctx, private, nil)
	}
}

// planRevision plans commit_sha: the revision a deploy would use, for the
// sources that have one (null for the others). It is the one the refresh
// resolved when the source still looks at the same place, else it is
// resolved now. Refused credentials fail the plan, naming the token's
// attribute (viaGitAuth: the provider's git_auth block the token came
// from, when the source sets none); an origin that cannot be reached keeps a running workload on
// its deployed revision, with a warning that the plan may miss a new one;
// anything else fails the plan.
func (m *workloadModel) planRevision(ctx context.Context, spec workload.Spec, known bool, state *workloadModel, config *workloadModel, private privateData, viaGitAuth string) diag.Diagnostics {
	var diags diag.Diagnostics
	resolver, ok := spec.Source.(plugin.Resolver)
	if !ok {
		m.CommitSHA = types.StringNull()
		return diags
	}
	if !known {
		m.CommitSHA = types.StringUnknown()
		return diags
	}
	var rev string
	var err error
	if r := getResolved(ctx, private); state != nil && r != nil && r.Origin == resolver.Origin() && m.Source.sameToken(state.Source, config.Source) {
		if r.Revision != "" {
			m.CommitSHA = types.StringValue(r.Revision)
			return diags
		}
		err = plugin.MarkError(errors.New(r.Unavailable), plugin.ErrUnavailable)
	} else {
		rev, err = resolver.Resolve(ctx)
	}
	switch {
	case err == nil:
		m.CommitSHA = types.StringValue(rev)
	case errors.Is(err, plugin.ErrCredentials) && viaGitAuth != "":
		_, kind := m.Source.gitOf()
		diags.AddAttributeError(path.Root("source").AtName(kind), "Git credentials refused",
			fmt.Sprintf("%s\n\nThe Git host refused the token of the provider's %s, which this source uses since it sets "+
				"no token of its own: set a token there that can read the repository. The plan cannot tell which commit "+
				"to deploy without it.", err.Error(), viaGitAuth))
	case errors.Is(err, plugin.ErrCredentials) && !m.Source.setsToken(config.Source):
		diags.Append(tokenNotSet(m.Source, err))
	case errors.Is(err, plugin.ErrCredentials):
		attr := m.Source.tokenPath(config.Source)
		diags.AddAttributeError(attr, "Git credentials refused",
			fmt.Sprintf("%s\n\nThe Git host refused the token of %s (or the repository needs one): set a token that can read "+
				"the repository. The plan cannot tell which commit to deploy without it.", err.Error(), attr.String()))
	case state != nil && errors.Is(err, git.ErrNotFound) && state.origin(ctx) == resolver.Origin():
		// The branch or tag of a running workload is gone (merged and
		// deleted, say) while the configuration still names it: nothing
		// asks for a deploy, and a plan that failed here would block
		// terraform destroy too, whose plan comes first. Keep the deployed
		// revision and say so; a deploy needs a branch or ref that exists.
		diags.AddWarning("The branch or ref of this workload no longer exists",
			fmt.Sprintf("Workload %s keeps its deployed revision %s: %s. Nothing can be deployed from it until it "+
				"exists again or the configuration names another; a destroy is not affected.",
				spec.Name, state.CommitSHA.ValueString(), err.Error()))
		m.CommitSHA = state.CommitSHA
	case state != nil && errors.Is(err, plugin.ErrUnavailable):
		// The workload runs; a Git host that does not answer must not block
		// every plan. Keep the deployed revision and say so.
		diags.AddWarning("Cannot look for a new revision: the plan may be missing a new commit",
			fmt.Sprintf("Workload %s keeps its deployed revision %s, but a newer commit may have been pushed: %s",
				spec.Name, state.CommitSHA.ValueString(), err.Error()))
		m.CommitSHA = state.CommitSHA
	default:
		addEngineError(&diags, "Cannot resolve the revision to deploy", atSourceAttr(spec.Source.Kind(), err, "source"))
	}
	return diags
}

// origin is where the source of m looks for its revision (the repository
// and branch or ref: plugin.Resolver's Origin), "" for a source without
// one.
func (m *workloadModel) origin(ctx context.Context) string {
	spec, _, _ := m.spec(ctx, nil)
	if r, ok := spec.Source.(plugin.Resolver); ok {
		return r.Origin()
	}
	return ""
}

// atSourceAttr points err at the attribute of the source's block that
// caused it (a plugin.AttrError: a ref that names no tag is at
// source.<kind>.ref), keeping its whole message, or else at fallback (""
// leaves err as it is).
func atSourceAttr(kind string, err error, fallback string) error {
	var ae *plugin.AttrError
	switch {
	case errors.As(err, &ae):
		return &workload.FieldError{Attr: "source." + kind + "." + ae.Attr, Err: err}
	case fallback != "":
		return &workload.FieldError{Attr: fallback, Err: err}
	}
	return err
}

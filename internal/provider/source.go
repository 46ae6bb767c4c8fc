package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// sourceModel is the source block: exactly one kind is set.
type sourceModel struct {
	Image *imageModel `tfsdk:"image"`
}

func sourceBlocks() map[string]schema.Block {
	return map[string]schema.Block{
		image.Kind: imageBlock(),
	}
}

var sourceKinds = []string{image.Kind}

// exactlyOneSourceKind refuses a source block that sets no kind, or more
// than one.
type exactlyOneSourceKind struct{}

func (exactlyOneSourceKind) Description(context.Context) string {
	return "exactly one of " + strings.Join(sourceKinds, ", ")
}

func (v exactlyOneSourceKind) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (exactlyOneSourceKind) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var set []string
	for _, k := range sourceKinds {
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
		fmt.Sprintf("source must set exactly one of %s (got %s)", strings.Join(sourceKinds, ", "), got))
}

func sourceKindsMarkdown() string {
	quoted := make([]string, 0, len(sourceKinds))
	for _, k := range sourceKinds {
		quoted = append(quoted, "`"+k+"`")
	}
	return strings.Join(quoted, ", ")
}

// source maps the block onto the engine's source; config supplies
// write-only values. known is false when a value is unknown.
func (m *sourceModel) source(config *sourceModel) (plugin.Source, bool) {
	switch {
	case m.Image != nil:
		return m.Image.source()
	}
	return nil, true
}

// recordedSource rebuilds the block from a source config read back from a
// container's labels. Secrets are not recorded there: they are kept from
// prior, the block as the state had it.
func recordedSource(src plugin.Source, prior *sourceModel) *sourceModel {
	switch s := src.(type) {
	case *image.Config:
		return &sourceModel{Image: imageModelOf(s)}
	}
	return prior
}

// planRevision plans commit_sha: the revision a deploy would use, for the
// sources that have one; null for the others.
func (m *workloadModel) planRevision(ctx context.Context, spec workload.Spec, known bool, state *workloadModel) diag.Diagnostics {
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
	rev, err := resolver.Resolve(ctx)
	if err != nil {
		diags.AddError("Cannot resolve the revision to deploy", err.Error())
		return diags
	}
	m.CommitSHA = types.StringValue(rev)
	return diags
}

package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// addEngineError reports an engine error, pointing each broken rule at its
// attribute.
func addEngineError(diags *diag.Diagnostics, summary string, err error) {
	for _, fe := range workload.FieldErrors(err) {
		diags.AddAttributeError(attrPath(fe.Attr), summary, fe.Err.Error())
	}
	if !diags.HasError() {
		diags.AddError(summary, err.Error())
	}
}

// attrPath turns an engine attribute path ("volume[1].target") into a
// Terraform path.
func attrPath(attr string) path.Path {
	var p path.Path
	for i, part := range strings.Split(attr, ".") {
		name, index := part, -1
		if open := strings.IndexByte(part, '['); open > 0 && strings.HasSuffix(part, "]") {
			name = part[:open]
			fmt.Sscanf(part[open+1:len(part)-1], "%d", &index)
		}
		if i == 0 {
			p = path.Root(name)
		} else {
			p = p.AtName(name)
		}
		if index >= 0 {
			p = p.AtListIndex(index)
		}
	}
	return p
}

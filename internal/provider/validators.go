package provider

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// requiredInBlock makes attributes required when their optional block is
// written. The framework would enforce a Required attribute of an optional
// single nested block even when the block is left out, so such attributes
// are Optional in the schema and required here.
func requiredInBlock(names ...string) validator.Object {
	exprs := make([]path.Expression, len(names))
	for i, n := range names {
		exprs[i] = path.MatchRelative().AtName(n)
	}
	return objectvalidator.AlsoRequires(exprs...)
}

// engineRule is an attribute validator that defers to a rule of the engine,
// so that plan time and deploy time enforce one rule, written once. The
// engine's message names the attribute and the value.
func engineRule(description string, rule func(string) error) validator.String {
	return stringRule{description: description, rule: rule}
}

type stringRule struct {
	description string
	rule        func(string) error
}

func (v stringRule) Description(context.Context) string         { return v.description }
func (v stringRule) MarkdownDescription(context.Context) string { return v.description }

func (v stringRule) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.rule(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+req.Path.String(), err.Error())
	}
}

// engineIntRule is engineRule for integer attributes.
func engineIntRule(description string, rule func(int) error) validator.Int64 {
	return intRule{description: description, rule: rule}
}

type intRule struct {
	description string
	rule        func(int) error
}

func (v intRule) Description(context.Context) string         { return v.description }
func (v intRule) MarkdownDescription(context.Context) string { return v.description }

func (v intRule) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.rule(int(req.ConfigValue.ValueInt64())); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+req.Path.String(), err.Error())
	}
}

// ipAddress validates an IP address attribute.
func ipAddress() validator.String {
	return engineRule("must be an IP address", func(s string) error {
		if net.ParseIP(s) == nil {
			return fmt.Errorf("must be an IP address (got %q)", s)
		}
		return nil
	})
}

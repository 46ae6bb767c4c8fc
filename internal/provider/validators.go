package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

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

//go:build tools

// Package tools pins the code generators the build uses (tfplugindocs), so
// `make generate` runs the version recorded in go.mod.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)

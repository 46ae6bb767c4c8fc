// Command schemaprovider is a diagnostic of the refresh benchmark: it serves
// tinyforge's own provider and workload schemas (validators, defaults and
// plan modifiers included, taken from internal/provider) with every method
// that does work replaced by nothing: Configure connects to nothing, Read
// keeps the state, there is no ModifyPlan. A plan of it over the state of
// N real workloads costs what tinyforge's schema costs in Terraform and the
// framework; tinyforge's plan minus this is what its own Read and
// ModifyPlan cost.
//
// It is served under tinyforge's own address from a directory of its own,
// so the benchmark's configuration and state work unchanged.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	tinyforge "github.com/tinyforge/terraform-provider-tinyforge/internal/provider"
)

func main() {
	err := providerserver.Serve(context.Background(), func() provider.Provider {
		return schemaOnly{real: tinyforge.New("bench-schema-only")()}
	}, providerserver.ServeOpts{Address: "registry.terraform.io/tinyforge/tinyforge"})
	if err != nil {
		log.Fatal(err)
	}
}

type schemaOnly struct{ real provider.Provider }

func (p schemaOnly) Metadata(ctx context.Context, req provider.MetadataRequest, resp *provider.MetadataResponse) {
	p.real.Metadata(ctx, req, resp)
}

func (p schemaOnly) Schema(ctx context.Context, req provider.SchemaRequest, resp *provider.SchemaResponse) {
	p.real.Schema(ctx, req, resp)
}

func (schemaOnly) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (schemaOnly) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource {
		return workloadSchema{real: tinyforge.NewWorkloadResource()}
	}}
}

func (schemaOnly) DataSources(context.Context) []func() datasource.DataSource { return nil }

// workloadSchema is tinyforge_workload's schema with no behaviour. Create
// is never called: the benchmark copies in the state of real workloads.
type workloadSchema struct{ real resource.Resource }

func (r workloadSchema) Metadata(ctx context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	r.real.Metadata(ctx, req, resp)
}

func (r workloadSchema) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	r.real.Schema(ctx, req, resp)
}

func (workloadSchema) Create(context.Context, resource.CreateRequest, *resource.CreateResponse) {}

func (workloadSchema) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (workloadSchema) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.State.Raw = req.Plan.Raw
}

func (workloadSchema) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

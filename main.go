// Command terraform-provider-tinyforge serves the tinyforge Terraform
// provider over the plugin protocol (version 6).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/provider"
)

// version is set at release build time.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "serve with support for debuggers such as delve")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/tinyforge/tinyforge",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}

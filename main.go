// Command terraform-provider-tinyforge serves the tinyforge Terraform
// provider over the plugin protocol (version 6).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/provider"
)

// version is set at build time (-ldflags "-X main.version=..."): by `make
// install` from VERSION, by goreleaser from the release tag.
var version = "dev"

func main() {
	quietSDKLogs()
	var debug, showVersion bool
	flag.BoolVar(&debug, "debug", false, "serve with support for debuggers such as delve")
	flag.BoolVar(&showVersion, "version", false, "print the provider's version and exit")
	flag.Parse()
	if showVersion {
		fmt.Println("terraform-provider-tinyforge " + version)
		return
	}
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/tinyforge/tinyforge",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}

// quietSDKLogs turns the framework's own logs off when no logging is asked
// for. Unless TF_LOG_SDK says otherwise, the SDK logs every request at TRACE
// and ships each line to Terraform, which discards them all when no TF_LOG*
// variable is set: about a third of the provider's CPU in a plan of 200
// workloads (see docs/BENCHMARKS.md). Any TF_LOG* variable leaves logging
// exactly as the user set it.
func quietSDKLogs() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_LOG") {
			return
		}
	}
	os.Setenv("TF_LOG_SDK", "OFF")
}

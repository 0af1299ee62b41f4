// Command terraform-provider-k8sguard serves the k8sguard Terraform provider.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/k8sguard/k8sguard/internal/buildinfo"
	"github.com/k8sguard/k8sguard/provider"
)

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(buildinfo.Version), providerserver.ServeOpts{
		Address: "registry.terraform.io/k8sguard/k8sguard",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// Command terraform-provider-k8sguard serves the k8sguard Terraform provider.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/k8sguard/k8sguard/internal/buildinfo"
	"github.com/k8sguard/k8sguard/provider"
)

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	quietUnlessLogsAsked()

	err := providerserver.Serve(context.Background(), provider.New(buildinfo.Version), providerserver.ServeOpts{
		Address: "registry.terraform.io/k8sguard/k8sguard",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// quietUnlessLogsAsked turns the plugin SDK's logs off when no TF_LOG*
// variable asks for logs. The SDK's default level is TRACE: every request
// writes dozens of JSON log lines to stderr, which Terraform parses and,
// without TF_LOG, throws away. That was 40% of the CPU of a plan of 1,000
// resources (make bench). Any TF_LOG* variable (TF_LOG, TF_LOG_PROVIDER,
// TF_LOG_SDK_FRAMEWORK, ...) keeps the SDK's own behaviour.
func quietUnlessLogsAsked() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_LOG") {
			return
		}
	}
	os.Setenv("TF_LOG_SDK", "OFF")
}

package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// noCloudProvider points every AWS service at a closed port and the
// environment has no credentials: any API call would fail the test.
const noCloudProvider = `
provider "k8sguard" {
  aws {
    region    = "us-east-1"
    endpoints = { ec2 = "http://127.0.0.1:1", eks = "http://127.0.0.1:1", s3 = "http://127.0.0.1:1", sts = "http://127.0.0.1:1" }
  }
}
`

func withoutAWSCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

func TestPodIPCapacityDataSourceNeedsNoCloud(t *testing.T) {
	withoutAWSCredentials(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps: []resource.TestStep{{
			Config: noCloudProvider + `
data "k8sguard_pod_ip_capacity" "love_holidays" {
  pod_cidr          = "10.0.0.0/16"
  max_pods_per_node = 110
}
data "k8sguard_pod_ip_capacity" "harness" {
  pod_cidr            = "10.64.0.0/20"
  max_pods_per_node   = 110
  node_cidr_mask_size = 24
  reserved_nodes      = 2
}
data "k8sguard_pod_ip_capacity" "small_blocks" {
  pod_cidr          = "10.64.0.0/16"
  max_pods_per_node = 16
}
`,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.love_holidays", "max_nodes", "256"),
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.love_holidays", "node_cidr_mask_size", "24"),
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.love_holidays", "pod_ips_per_node", "256"),
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.harness", "max_nodes", "14"),
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.small_blocks", "node_cidr_mask_size", "27"),
				resource.TestCheckResourceAttr("data.k8sguard_pod_ip_capacity.small_blocks", "max_nodes", "2048"),
			),
		}},
	})
}

func TestPodIPCapacityDataSourceErrors(t *testing.T) {
	withoutAWSCredentials(t)
	cases := []struct {
		name, body string
		want       *regexp.Regexp
	}{
		{
			name: "block too small for max pods",
			body: `pod_cidr = "10.64.0.0/16"
  max_pods_per_node = 110
  node_cidr_mask_size = 26`,
			want: wrapped(`\[POOL_MAX_PODS_ABOVE_NODE_BLOCK\] max_pods_per_node 110 needs 112 addresses per node \(pods \+ network \+ broadcast\), but a /26 node block holds 64`),
		},
		{
			name: "malformed CIDR",
			body: `pod_cidr = "10.64.0.0/99"
  max_pods_per_node = 110`,
			want: wrapped(`pod CIDR "10.64.0.0/99" is not a CIDR block like 10.64.0.0/16`),
		},
		{
			name: "host bits",
			body: `pod_cidr = "10.64.3.0/20"
  max_pods_per_node = 110`,
			want: wrapped(`did you mean 10.64.0.0/20\?`),
		},
		{
			name: "reserved beyond the range",
			body: `pod_cidr = "10.64.0.0/20"
  max_pods_per_node = 110
  reserved_nodes = 17`,
			want: wrapped(`reserved_nodes 17 is more than the 16 node blocks of /24 in 10.64.0.0/20`),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			applyError(t, noCloudProvider+"data \"k8sguard_pod_ip_capacity\" \"x\" {\n  "+c.body+"\n}\n", c.want)
		})
	}
}

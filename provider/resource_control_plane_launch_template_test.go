package provider

import (
	"strings"
	"testing"
)

const launchTemplate = `
resource "k8sguard_control_plane_launch_template" "masters" {
  name          = "prod-control-plane"
  instance_type = "%s"
  image_id      = "ami-785db401"
  etcd_volume {
    size_gib = 100
    %s
  }
}
`

// T2, slow etcd volumes and malformed types need neither AWS nor the
// provider's settings: they fail validation. Burstable and unknown types
// need DescribeInstanceTypes (tested against moto in test/aws).
func TestControlPlaneLaunchTemplateRefusedWithoutAWS(t *testing.T) {
	withoutAWSCredentials(t)
	cases := []struct{ name, typ, volume, want string }{
		{"T2", "t2.medium", "", `\[INSTANCE_T2\] t2.medium is a T2 instance`},
		{"st1 etcd volume", "m6i.large", `type = "st1"`, `\[ETCD_VOLUME_SLOW\] etcd volume type st1 is a magnetic/HDD volume`},
		{"small gp2 etcd volume", "m6i.large", `type = "gp2"`, `\[ETCD_VOLUME_SLOW\] etcd volume gp2 of 100 GiB gets 300 IOPS, below 3000`},
		{"malformed type", "m6ilarge", "", `instance type "m6ilarge" is not of the form family.size`},
		{"throughput on io2", "m6i.large", `type = "io2"
    iops = 10000
    throughput_mibps = 250`, `throughput_mibps applies to gp3 volumes only; EC2 refuses it on io2`},
		{"io1 without iops", "m6i.large", `type = "io1"`, `io1 volumes need iops`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := strings.Replace(strings.Replace(launchTemplate, "%s", c.typ, 1), "%s", c.volume, 1)
			planOnly(t, noCloudProvider+cfg, wrapped(c.want))
		})
	}
	t.Run("etcd_volume is required", func(t *testing.T) {
		planOnly(t, noCloudProvider+`
resource "k8sguard_control_plane_launch_template" "masters" {
  name          = "prod-control-plane"
  instance_type = "m6i.large"
  image_id      = "ami-785db401"
}
`, wrapped(`etcd_volume`))
	})
}

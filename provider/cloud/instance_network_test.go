package cloud

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

func TestInstanceNetworkCopiesEveryCard(t *testing.T) {
	it := ec2types.InstanceTypeInfo{
		InstanceType: "c6in.32xlarge", Hypervisor: ec2types.InstanceTypeHypervisorNitro, BareMetal: aws.Bool(false),
		VCpuInfo: &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(128)},
		NetworkInfo: &ec2types.NetworkInfo{
			MaximumNetworkInterfaces: aws.Int32(16), Ipv4AddressesPerInterface: aws.Int32(50), DefaultNetworkCardIndex: aws.Int32(0),
			NetworkCards: []ec2types.NetworkCardInfo{
				{NetworkCardIndex: aws.Int32(0), MaximumNetworkInterfaces: aws.Int32(8)},
				{NetworkCardIndex: aws.Int32(1), MaximumNetworkInterfaces: aws.Int32(8)},
			},
		},
	}
	want := guard.InstanceNetwork{
		InstanceType: "c6in.32xlarge", MaxENIs: 16, IPv4PerENI: 50, Hypervisor: "nitro", VCPUs: 128,
		NetworkCards: []guard.NetworkCard{{Index: 0, MaxENIs: 8}, {Index: 1, MaxENIs: 8}},
	}
	got := InstanceNetwork(it)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got.MaxPods() != 394 {
		t.Errorf("c6in.32xlarge MaxPods = %d, want eni-max-pods.txt's 394", got.MaxPods())
	}
	// A bare-metal answer has no hypervisor and no vCPU info is tolerated.
	metal := InstanceNetwork(ec2types.InstanceTypeInfo{InstanceType: "c5.metal", BareMetal: aws.Bool(true)})
	if metal.Hypervisor != "" || !metal.BareMetal || !metal.PrefixDelegationSupported() || metal.VCPUs != 0 {
		t.Errorf("bare metal: %+v", metal)
	}
}

package cloud

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// InstanceNetwork is what the pool rules read from a DescribeInstanceTypes
// answer: a plain copy of the networking fields (every network card, the
// default card's index), the hypervisor and the vCPUs. Which ENIs count for
// pods, and the formulas, are the guard's (guard.InstanceNetwork.PodENIs).
// Exported so the differential test against AWS's eni-max-pods.txt runs
// this very mapping.
func InstanceNetwork(it ec2types.InstanceTypeInfo) guard.InstanceNetwork {
	n := guard.InstanceNetwork{
		InstanceType: string(it.InstanceType),
		Hypervisor:   string(it.Hypervisor),
		BareMetal:    aws.ToBool(it.BareMetal),
	}
	if it.VCpuInfo != nil {
		n.VCPUs = int64(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	}
	if ni := it.NetworkInfo; ni != nil {
		n.MaxENIs = int64(aws.ToInt32(ni.MaximumNetworkInterfaces))
		n.IPv4PerENI = int64(aws.ToInt32(ni.Ipv4AddressesPerInterface))
		n.DefaultNetworkCardIndex = int(aws.ToInt32(ni.DefaultNetworkCardIndex))
		for _, c := range ni.NetworkCards {
			n.NetworkCards = append(n.NetworkCards, guard.NetworkCard{
				Index: int(aws.ToInt32(c.NetworkCardIndex)), MaxENIs: int64(aws.ToInt32(c.MaximumNetworkInterfaces)),
			})
		}
	}
	return n
}

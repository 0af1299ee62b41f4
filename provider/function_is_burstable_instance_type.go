package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/k8sguard/k8sguard/provider/guard"
)

var _ function.Function = (*isBurstableInstanceTypeFunction)(nil)

// NewIsBurstableInstanceTypeFunction is provider::k8sguard::is_burstable_instance_type.
func NewIsBurstableInstanceTypeFunction() function.Function {
	return &isBurstableInstanceTypeFunction{}
}

type isBurstableInstanceTypeFunction struct{}

func (f *isBurstableInstanceTypeFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "is_burstable_instance_type"
}

func (f *isBurstableInstanceTypeFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Whether an EC2 instance type is burstable (CPU credits)",
		MarkdownDescription: "Returns true for the burstable families: those AWS sells with CPU credits (t2, t3, t3a, t4g) and t1, which bursts " +
			"without credits (`DescribeInstanceTypes` does not report it as `BurstablePerformanceSupported`; k8sguard counts it anyway); " +
			"false for every other well-formed type. Reads a static table, no API calls; `k8sguard_control_plane_launch_template` additionally " +
			"asks `DescribeInstanceTypes`. Control-plane nodes on T2 lost the network in Zalando's incident 5.",
		Parameters: []function.Parameter{
			function.StringParameter{Name: "instance_type", MarkdownDescription: "An EC2 instance type, `family.size`, for example `m6i.large`."},
		},
		Return: function.BoolReturn{},
	}
}

func (f *isBurstableInstanceTypeFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var instanceType string
	resp.Error = function.ConcatFuncErrors(resp.Error, req.Arguments.Get(ctx, &instanceType))
	if resp.Error != nil {
		return
	}
	burstable, err := guard.IsBurstableInstanceType(instanceType)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	resp.Error = function.ConcatFuncErrors(resp.Error, resp.Result.Set(ctx, burstable))
}

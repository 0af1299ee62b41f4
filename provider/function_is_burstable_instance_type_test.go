package provider

import (
	"testing"
)

func TestIsBurstableInstanceTypeFunction(t *testing.T) {
	withoutAWSCredentials(t)
	functionOutputs(t, noCloudProvider+`
output "t2"  { value = provider::k8sguard::is_burstable_instance_type("t2.micro") }
output "t3a" { value = provider::k8sguard::is_burstable_instance_type("t3a.large") }
output "t4g" { value = provider::k8sguard::is_burstable_instance_type("t4g.nano") }
output "m6i" { value = provider::k8sguard::is_burstable_instance_type("m6i.large") }
`, map[string]string{"t2": "true", "t3a": "true", "t4g": "true", "m6i": "false"})
}

func TestIsBurstableInstanceTypeFunctionRejectsMalformedTypes(t *testing.T) {
	withoutAWSCredentials(t)
	functionError(t, `provider::k8sguard::is_burstable_instance_type("t3large")`, wrapped(`instance type "t3large" is not of the form family.size, for example m6i.large`))
}

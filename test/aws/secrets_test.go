package aws_test

import (
	"testing"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// AWS credentials from the environment (the SDK's default chain) stay out
// of terraform's output, the state and a TF_LOG=trace log of apply, plan
// and destroy, the provider's own lines and its SDK calls included.
func TestAWSCredentialsStayOutOfOutputStateAndTraceLogs_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	const secretKey, sessionToken = "k8sguardSecretKey0123456789abcdefEXAMPLE", "k8sguardSessionToken9876543210EXAMPLE"
	opts := tg.Terraform(t, "test/aws/testdata/backup_bucket", map[string]any{"bucket": fixture.Unique("secrets"), "force_destroy": true})
	opts.EnvVars["AWS_SECRET_ACCESS_KEY"] = secretKey
	opts.EnvVars["AWS_SESSION_TOKEN"] = sessionToken
	infra.RequireSecretsAbsentFromTraceRun(t, opts, []infra.Secret{{What: "AWS_SECRET_ACCESS_KEY", Value: secretKey}, {What: "AWS_SESSION_TOKEN", Value: sessionToken}}, nil)
}

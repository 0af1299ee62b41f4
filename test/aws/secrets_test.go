package aws_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

// AWS credentials from the environment (the SDK's default chain) stay out
// of terraform's output, the state and a TF_LOG=trace log of apply, plan
// and destroy, the provider's own lines and its SDK calls included.
func TestAWSCredentialsStayOutOfOutputStateAndTraceLogs_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	if tg.Name != "moto" {
		t.Skip("sets its own credentials: moto only")
	}
	ctx := context.Background()
	const secretKey, sessionToken = "k8sguardSecretKey0123456789abcdefEXAMPLE", "k8sguardSessionToken9876543210EXAMPLE"
	logFile := filepath.Join(t.TempDir(), "terraform-trace.log")
	opts := tg.Terraform(t, "test/aws/testdata/backup_bucket", map[string]any{"bucket": fixture.Unique("secrets"), "force_destroy": true})
	opts.EnvVars["AWS_SECRET_ACCESS_KEY"] = secretKey
	opts.EnvVars["AWS_SESSION_TOKEN"] = sessionToken
	opts.EnvVars["TF_LOG"] = "trace"
	opts.EnvVars["TF_LOG_PATH"] = logFile
	outputs := []string{terraform.InitAndApplyContext(t, ctx, opts), terraform.PlanContext(t, ctx, opts)}
	state, err := os.ReadFile(filepath.Join(opts.TerraformDir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, terraform.DestroyContext(t, ctx, opts))
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "provider.terraform-provider-k8sguard") {
		t.Fatalf("the trace log (%d bytes) holds no provider lines: TF_LOG=trace did not reach the provider", len(log))
	}
	for _, s := range []struct{ what, secret string }{{"AWS_SECRET_ACCESS_KEY", secretKey}, {"AWS_SESSION_TOKEN", sessionToken}} {
		for _, where := range []struct{ name, text string }{
			{"terraform's output", strings.Join(outputs, "\n")}, {"the state", string(state)}, {"the TF_LOG=trace log", string(log)},
		} {
			if strings.Contains(where.text, s.secret) {
				t.Errorf("%s appears in %s", s.what, where.name)
			}
		}
	}
	t.Logf("trace log: %d bytes, %d provider lines; no credential in it, in the state or in the output",
		len(log), strings.Count(string(log), "provider.terraform-provider-k8sguard"))
}

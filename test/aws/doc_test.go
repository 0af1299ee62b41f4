// Package aws_test runs the AWS resources through terraform against moto
// (failing where moto is missing, skipped only with K8SGUARD_SKIP_AWS=1) and,
// with K8SGUARD_AWS_ACCEPTANCE=1 and credentials, against real AWS (the
// *_RealAWS tests, skipped otherwise). Every skip is counted and the run
// ends by saying how many tests it skipped and why (infra.Main).
package aws_test

import (
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

func TestMain(m *testing.M) { infra.Main(m) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

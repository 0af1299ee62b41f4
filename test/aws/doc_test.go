// Package aws_test runs the AWS resources through terraform against moto
// (skipped with a message where moto is missing) and, with
// K8SGUARD_AWS_ACCEPTANCE=1 and credentials, against real AWS (the
// *_RealAWS tests, skipped with a message otherwise).
package aws_test

import "strings"

func contains(s, sub string) bool { return strings.Contains(s, sub) }

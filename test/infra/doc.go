// Package infra starts the ephemeral infrastructure k8sguard's integration
// and terratest tests run against: real etcd, kube-apiserver and
// kube-controller-manager, versitygw (S3), moto_server (AWS APIs) and the
// terraform CLI with the freshly built provider in a filesystem mirror.
//
// Every piece listens on a free loopback port in its own temp dir and is
// stopped by PID in Cleanup, also on failure; on failure the last lines of
// each log are attached to the test output. Binaries come from .tools/bin
// (make tools), or $K8SGUARD_TOOLS.
package infra

// TB is the part of testing.TB the harness needs. *testing.T satisfies it;
// the demo (test/cmd/demo) provides its own so it can reuse the harness.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Failed() bool
	Name() string
}

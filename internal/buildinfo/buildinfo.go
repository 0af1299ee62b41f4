// Package buildinfo holds the version stamped into both binaries at link time.
package buildinfo

// Version is set with -ldflags "-X github.com/k8sguard/k8sguard/internal/buildinfo.Version=...".
var Version = "dev"

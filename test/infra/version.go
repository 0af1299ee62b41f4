package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Version is the release version in the repository's VERSION file: the one
// source the GNUmakefile, the release program and the harness stamp into
// both binaries.
func Version() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("read VERSION: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("VERSION is empty")
	}
	return v, nil
}

// LDFlags stamps version into a binary as the GNUmakefile's LDFLAGS do.
func LDFlags(version string) string {
	return "-X github.com/k8sguard/k8sguard/internal/buildinfo.Version=" + version
}

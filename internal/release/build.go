package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// builder holds what every artefact needs.
type builder struct {
	options
	built   time.Time // stamped into archives and packages
	changes *changelog
}

// platform is a GOOS/GOARCH pair.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "_" + p.arch }

func parsePlatforms(s string) ([]platform, error) {
	var out []platform
	for _, item := range strings.Split(s, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(item), "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", item)
		}
		out = append(out, platform{goos, goarch})
	}
	return out, nil
}

// goBuild builds pkg (relative to the root module) for p into out with the
// version stamped as the GNUmakefile's LDFLAGS stamp it. Static
// (CGO_ENABLED=0) and path-free (-trimpath), so the binary depends only on
// the commit and the Go toolchain.
func (b *builder) goBuild(p platform, pkg, out string) error {
	ldflags := "-s -w -X github.com/k8sguard/k8sguard/internal/buildinfo.Version=" + b.version
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %v\n%s", pkg, p, err, stderr.String())
	}
	return nil
}

// tempDir is a scratch directory beside dist/, removed by the caller.
func (b *builder) tempDir(name string) (string, error) {
	return os.MkdirTemp(filepath.Dir(b.dist), ".release-"+name+"-")
}

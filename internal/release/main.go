// Command release writes k8sguard's release artefacts into dist/ (`make
// release`): the provider in the Terraform registry's layout (zips,
// SHA256SUMS, manifest, a detached signature when a GPG key is configured)
// and etcdguard as .deb and .rpm packages, built with nfpm as a library
// from backup/packaging/nfpm.yaml.
//
// A release comes from a clean tree with a CHANGELOG section for its
// version. -snapshot builds from the tree as it is, for tests and local
// packages (no clean-tree or CHANGELOG check).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

// options are the release program's flags.
type options struct {
	root      string
	dist      string
	version   string
	snapshot  bool
	only      string // "", "provider" or "packages"
	platforms []platform
	arches    []string
}

func run(args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	var o options
	var platforms, arches string
	fs.StringVar(&o.root, "root", "../..", "the k8sguard checkout")
	fs.StringVar(&o.dist, "dist", "", "output directory (default <root>/dist); emptied first")
	fs.StringVar(&o.version, "version", "", "version to build (default: the VERSION file)")
	fs.BoolVar(&o.snapshot, "snapshot", false, "build from the tree as it is: no clean-tree or CHANGELOG check (tests, local packages)")
	fs.StringVar(&o.only, "only", "", `build only "provider" or "packages"`)
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "provider platforms")
	fs.StringVar(&arches, "arches", "amd64,arm64", "etcdguard package architectures (linux)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.only != "" && o.only != "provider" && o.only != "packages" {
		return fmt.Errorf(`-only %q: want "provider" or "packages"`, o.only)
	}
	var err error
	if o.root, err = filepath.Abs(o.root); err != nil {
		return err
	}
	if o.dist == "" {
		o.dist = filepath.Join(o.root, "dist")
	}
	if o.dist, err = filepath.Abs(o.dist); err != nil {
		return err
	}
	if o.platforms, err = parsePlatforms(platforms); err != nil {
		return err
	}
	o.arches = strings.Split(arches, ",")
	if o.version == "" {
		if o.version, err = readVersion(o.root); err != nil {
			return err
		}
	}
	if err := validVersion(o.version); err != nil {
		return err
	}

	changes, err := readChangelog(filepath.Join(o.root, "CHANGELOG.md"))
	if err != nil {
		return err
	}
	if !o.snapshot {
		if err := requireCleanTree(o.root); err != nil {
			return err
		}
		if changes.section(o.version) == nil {
			return fmt.Errorf("CHANGELOG.md has no section for %s: move the [Unreleased] entries under \"## [%s] - <date>\" and commit", o.version, o.version)
		}
	}
	built, err := sourceDate(o.root)
	if err != nil {
		return err
	}

	if err := os.RemoveAll(o.dist); err != nil {
		return fmt.Errorf("empty %s: %w", o.dist, err)
	}
	if err := os.MkdirAll(o.dist, 0o755); err != nil {
		return err
	}
	b := &builder{options: o, built: built, changes: changes}
	if o.only != "packages" {
		if err := b.provider(); err != nil {
			return err
		}
	}
	if o.only != "provider" {
		if err := b.packages(); err != nil {
			return err
		}
	}
	fmt.Printf("release %s written to %s\n", o.version, o.dist)
	return nil
}

func readVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("read VERSION: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// validVersion accepts what the Terraform registry, dpkg and rpm all take:
// MAJOR.MINOR.PATCH with an optional -prerelease of letters, digits and dots.
func validVersion(v string) error {
	core, pre, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	ok := len(parts) == 3
	for _, p := range parts {
		ok = ok && p != "" && strings.Trim(p, "0123456789") == "" && (p == "0" || p[0] != '0')
	}
	ok = ok && strings.Trim(pre, "abcdefghijklmnopqrstuvwxyz0123456789.") == ""
	if !ok {
		return fmt.Errorf("version %q is not MAJOR.MINOR.PATCH[-prerelease]", v)
	}
	return nil
}

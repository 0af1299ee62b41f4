package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// packageFormats are the etcdguard packages a release ships.
var packageFormats = []string{"deb", "rpm"}

// packages builds etcdguard for each architecture and packages it as .deb
// and .rpm from backup/packaging/nfpm.yaml.
func (b *builder) packages() error {
	tmp, err := b.tempDir("packages")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spec := filepath.Join(b.root, "backup", "packaging", "nfpm.yaml")

	units, err := packagedUnits(filepath.Join(b.root, "backup", "systemd"), filepath.Join(tmp, "units"))
	if err != nil {
		return err
	}
	info0, err := parseSpec(spec, map[string]string{})
	if err != nil {
		return err
	}
	changelog, err := gzipMax(b.changes.debian(info0.Name, b.version, info0.Maintainer, b.built))
	if err != nil {
		return err
	}
	changelogPath := filepath.Join(tmp, "changelog.gz")
	if err := os.WriteFile(changelogPath, changelog, 0o644); err != nil {
		return err
	}

	for _, arch := range b.arches {
		bin := filepath.Join(tmp, arch, "etcdguard")
		if err := b.goBuild(platform{"linux", arch}, "./backup/cmd/etcdguard", bin); err != nil {
			return err
		}
		vars := map[string]string{
			"ARCH": arch, "VERSION": debianVersion(b.version), "BINARY": bin,
			"UNITS": units, "CHANGELOG": changelogPath, "DOC": b.root,
		}
		for _, format := range packageFormats {
			cfg, err := parseSpec(spec, vars)
			if err != nil {
				return err
			}
			info, err := cfg.Get(format)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", spec, format, err)
			}
			info.MTime = b.built
			info.Target = "" // the conventional file name
			if err := nfpm.Validate(info); err != nil {
				return fmt.Errorf("%s: %s: %w", spec, format, err)
			}
			packager, err := nfpm.Get(format)
			if err != nil {
				return err
			}
			name := packager.ConventionalFileName(info)
			if err := writePackage(packager, info, filepath.Join(b.dist, name)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("etcdguard %s %s: %s\n", format, arch, name)
		}
	}
	return nil
}

// parseSpec reads nfpm.yaml with ${VAR}s from vars (an unknown one is an
// error, not an empty string) and makes its relative paths relative to
// the file, not to the working directory.
func parseSpec(spec string, vars map[string]string) (*nfpm.Config, error) {
	var missing []string
	cfg, err := nfpm.ParseFileWithEnvMapping(spec, func(k string) string {
		v, ok := vars[k]
		if strings.HasPrefix(k, "NFPM_") {
			return "" // nfpm's own signing passphrases: no package signing
		}
		if !ok {
			missing = append(missing, k)
			return "${" + k + "}"
		}
		return v
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	if len(missing) > 0 && len(vars) > 0 {
		return nil, fmt.Errorf("%s: unknown variables %v", spec, missing)
	}
	dir := filepath.Dir(spec)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for _, c := range cfg.Contents {
		abs(&c.Source)
	}
	abs(&cfg.Scripts.PreInstall)
	abs(&cfg.Scripts.PostInstall)
	abs(&cfg.Scripts.PreRemove)
	abs(&cfg.Scripts.PostRemove)
	return &cfg, nil
}

// packagedUnits copies the unit files with ExecStart pointing at
// /usr/bin/etcdguard, where the package puts the binary (backup/systemd's
// units name /usr/local/bin, where a hand install goes).
func packagedUnits(src, dst string) (string, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".service" && ext != ".timer" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/etcdguard", "/usr/bin/etcdguard")
		s = strings.ReplaceAll(s, "# Install: etcdguard in /usr/local/bin,", "# Installed by the etcdguard package: the binary in /usr/bin,")
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(s), 0o644); err != nil {
			return "", err
		}
	}
	return dst, nil
}

func writePackage(p nfpm.Packager, info *nfpm.Info, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

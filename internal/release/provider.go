package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const providerName = "terraform-provider-k8sguard"

// provider writes the Terraform registry's release layout:
//
//	terraform-provider-k8sguard_<v>_<os>_<arch>.zip   (binary terraform-provider-k8sguard_v<v> inside)
//	terraform-provider-k8sguard_<v>_manifest.json     (protocol_versions ["6.0"])
//	terraform-provider-k8sguard_<v>_SHA256SUMS        (the zips and the manifest)
//	terraform-provider-k8sguard_<v>_SHA256SUMS.sig    (when GPG_FINGERPRINT is set)
func (b *builder) provider() error {
	tmp, err := b.tempDir("provider")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	prefix := fmt.Sprintf("%s_%s", providerName, b.version)
	var artefacts []string
	for _, p := range b.platforms {
		bin := filepath.Join(tmp, p.String(), fmt.Sprintf("%s_v%s", providerName, b.version))
		if err := b.goBuild(p, ".", bin); err != nil {
			return err
		}
		name := fmt.Sprintf("%s_%s.zip", prefix, p)
		if err := b.zipBinary(bin, filepath.Join(b.dist, name)); err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		artefacts = append(artefacts, name)
		fmt.Printf("provider %s: %s\n", p, name)
	}
	manifest := prefix + "_manifest.json"
	if err := writeManifest(filepath.Join(b.dist, manifest)); err != nil {
		return err
	}
	artefacts = append(artefacts, manifest)
	sums := prefix + "_SHA256SUMS"
	if err := writeSums(b.dist, sums, artefacts); err != nil {
		return err
	}
	return signSums(filepath.Join(b.dist, sums), os.Getenv("GPG_FINGERPRINT"), os.Stdout)
}

// zipBinary writes a zip holding bin alone, executable, with the source
// date as its time, so a commit always zips to the same bytes (and the
// same h1:/zh: hashes in users' lock files).
func (b *builder) zipBinary(bin, out string) error {
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: filepath.Base(bin), Method: zip.Deflate, Modified: b.built}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, src)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeManifest writes the registry manifest: the plugin protocol the
// provider speaks (terraform-plugin-framework serves protocol 6).
func writeManifest(path string) error {
	m := map[string]any{
		"version":  1,
		"metadata": map[string]any{"protocol_versions": []string{"6.0"}},
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeSums writes "<sha256>  <name>" lines (shasum's format), sorted by
// name.
func writeSums(dir, sums string, names []string) error {
	sort.Strings(names)
	var lines strings.Builder
	for _, n := range names {
		sum, err := fileSHA256(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		fmt.Fprintf(&lines, "%s  %s\n", sum, n)
	}
	return os.WriteFile(filepath.Join(dir, sums), []byte(lines.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// signSums writes the detached binary signature the Terraform registry
// verifies (<sums>.sig) with the key fingerprint names, through gpg (its
// agent holds the key and any passphrase). Without a fingerprint it says
// what is missing and writes nothing: an unsigned release is fine locally,
// not for the registry.
func signSums(sums, fingerprint string, out io.Writer) error {
	if fingerprint == "" {
		fmt.Fprintf(out, "NOT SIGNED: %s has no .sig because GPG_FINGERPRINT is not set.\n"+
			"  The Terraform registry only accepts signed releases: set GPG_FINGERPRINT to the fingerprint of a key in\n"+
			"  gpg's keyring (gpg --list-secret-keys --with-colons) and run make release again.\n", filepath.Base(sums))
		return nil
	}
	cmd := exec.Command("gpg", "--batch", "--yes", "--local-user", fingerprint, "--detach-sign", "--output", sums+".sig", sums)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gpg --detach-sign %s with key %s: %v\n%s", filepath.Base(sums), fingerprint, err, b)
	}
	fmt.Fprintf(out, "signed: %s.sig (key %s)\n", filepath.Base(sums), fingerprint)
	return nil
}

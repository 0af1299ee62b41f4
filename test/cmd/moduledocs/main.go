// Command moduledocs rewrites the generated inputs/outputs tables of
// modules/*/README.md (see package moduledocs).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/k8sguard/k8sguard/test/infra"
	"github.com/k8sguard/k8sguard/test/moduledocs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "moduledocs:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := infra.RepoRoot()
	if err != nil {
		return err
	}
	readmes, err := filepath.Glob(filepath.Join(root, "modules", "*", "README.md"))
	if err != nil {
		return err
	}
	for _, readme := range readmes {
		tables, err := moduledocs.Render(filepath.Dir(readme))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		updated, err := moduledocs.Update(string(b), tables)
		if err != nil {
			return fmt.Errorf("%s: %w", readme, err)
		}
		if updated != string(b) {
			if err := os.WriteFile(readme, []byte(updated), 0o644); err != nil {
				return err
			}
			fmt.Println("updated", readme)
		}
	}
	return nil
}

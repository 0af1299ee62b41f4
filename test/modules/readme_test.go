package modules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
	"github.com/k8sguard/k8sguard/test/moduledocs"
)

// Each module README's inputs/outputs tables are the ones generated from its
// variables and outputs (run `cd test && go run ./cmd/moduledocs` after
// changing them).
func TestModuleReadmeTablesAreUpToDate(t *testing.T) {
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mains, _ := filepath.Glob(filepath.Join(root, "modules", "*", "main.tf"))
	if len(mains) == 0 {
		t.Fatal("no modules found")
	}
	for _, m := range mains {
		dir := filepath.Dir(m)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			tables, err := moduledocs.Render(dir)
			if err != nil {
				t.Fatal(err)
			}
			want, err := moduledocs.Update(string(b), tables)
			if err != nil {
				t.Fatalf("README.md: %v", err)
			}
			if want != string(b) {
				t.Fatalf("%s/README.md: the inputs/outputs tables are out of date: run 'cd test && go run ./cmd/moduledocs' and commit", filepath.Base(dir))
			}
		})
	}
}

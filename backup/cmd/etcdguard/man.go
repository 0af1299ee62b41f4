package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/k8sguard/k8sguard/internal/buildinfo"
)

// newManCommand writes the man pages the etcdguard packages install (make
// release runs it), one per command, from the same text as --help. Hidden:
// users read the result with man(1). The date comes from
// $SOURCE_DATE_EPOCH, so a commit gives the same pages.
func newManCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write etcdguard's man pages (section 1) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "ETCDGUARD", Section: "1", Source: "etcdguard " + buildinfo.Version, Manual: "etcdguard manual"}
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("man pages into %s: %w", args[0], err)
			}
			return nil
		},
	}
}

package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profileEnv names a file to write a CPU profile of the command to (for
// `go tool pprof`): how `make bench` finds where a snapshot or a restore
// spends its CPU, on the real programs, without a debug build.
const profileEnv = "ETCDGUARD_CPU_PROFILE"

// withCPUProfile profiles every subcommand while ETCDGUARD_CPU_PROFILE is
// set. The profile is written when the command returns, also on failure.
func withCPUProfile(root *cobra.Command) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return
	}
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("%s: %w", profileEnv, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", profileEnv, err)
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
		return nil
	}
}

// stopProfile ends the CPU profile, if one runs; main calls it on exit.
var stopProfile = func() {}

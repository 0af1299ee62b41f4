package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// Profiles of a command, for `go tool pprof`: how `make bench` finds where
// a snapshot or a restore spends its CPU and what it allocates, on the
// real programs, without a debug build.
const (
	profileEnv     = "ETCDGUARD_CPU_PROFILE"  // a file for the CPU profile
	heapProfileEnv = "ETCDGUARD_HEAP_PROFILE" // a file for the allocation profile, written at exit
)

// withProfiles profiles every subcommand while ETCDGUARD_CPU_PROFILE or
// ETCDGUARD_HEAP_PROFILE is set. Profiles are written when the command
// returns, also on failure.
func withProfiles(root *cobra.Command) {
	cpuPath, heapPath := os.Getenv(profileEnv), os.Getenv(heapProfileEnv)
	if cpuPath == "" && heapPath == "" {
		return
	}
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		var stops []func()
		if cpuPath != "" {
			f, err := os.Create(cpuPath)
			if err != nil {
				return fmt.Errorf("%s: %w", profileEnv, err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", profileEnv, err)
			}
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
		if heapPath != "" {
			f, err := os.Create(heapPath)
			if err != nil {
				return fmt.Errorf("%s: %w", heapProfileEnv, err)
			}
			stops = append(stops, func() {
				if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", heapProfileEnv, err)
				}
				f.Close()
			})
		}
		stopProfile = func() {
			for _, stop := range stops {
				stop()
			}
		}
		return nil
	}
}

// stopProfile ends the profiles, if any run; main calls it on exit.
var stopProfile = func() {}

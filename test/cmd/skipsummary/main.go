// Command skipsummary prints the end-of-run summary of `make test`: how many
// tests the run skipped and why, from the report file the test processes
// append to ($K8SGUARD_SKIP_REPORT, "reason<TAB>test" lines; see infra.Main).
// go test shows nothing of a passing package, so without this a skip would
// pass unnoticed.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/k8sguard/k8sguard/test/infra"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: skipsummary <report file>")
		os.Exit(2)
	}
	counts, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "skipsummary: %v\n", err)
		os.Exit(1)
	}
	if len(counts) == 0 {
		fmt.Println("SKIPPED no tests")
		return
	}
	fmt.Print(infra.FormatSkipSummary(counts))
}

func read(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no test process skipped anything
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		reason, _, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		counts[reason]++
	}
	return counts, sc.Err()
}

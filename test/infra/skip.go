package infra

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// A test is skipped only on an explicit opt-out, and every skip is counted
// so the run ends by saying what it did not test: a skip that scrolls by in
// verbose output is as good as a pass to whoever reads the summary.

// SkipAWSEnv is the one opt-out from the moto-backed AWS tests.
const SkipAWSEnv = "K8SGUARD_SKIP_AWS"

// SkipReportEnv names a file every test process appends its skips to
// ("reason<TAB>test" lines), so `make test` can end with one summary for all
// packages (go test hides the output of passing packages).
const SkipReportEnv = "K8SGUARD_SKIP_REPORT"

// Skip reasons, as the summary prints them.
const (
	ReasonSkipAWS     = SkipAWSEnv + "=1 (moto-backed AWS tests)"
	ReasonRealAWSOff  = "K8SGUARD_AWS_ACCEPTANCE unset (real-AWS runs, billable)"
	skipSummaryPrefix = "SKIPPED"
)

var skips struct {
	sync.Mutex
	mainInstalled bool
	byReason      map[string][]string // reason → test names
}

// SkipAWS reports whether the user opted out of the moto-backed AWS tests.
func SkipAWS() bool { return os.Getenv(SkipAWSEnv) == "1" }

// Skip records the skip under reason (the summary's wording) and skips t
// with reason and detail. It fails the test instead when the package has no
// TestMain calling Main: its skips would then go unreported.
func Skip(t TB, reason, detail string) {
	t.Helper()
	skips.Lock()
	installed := skips.mainInstalled
	if installed {
		if skips.byReason == nil {
			skips.byReason = map[string][]string{}
		}
		skips.byReason[reason] = append(skips.byReason[reason], t.Name())
	}
	skips.Unlock()
	if !installed {
		t.Fatalf("%s would skip this test (%s), but the package has no TestMain calling infra.Main, so the skip would go "+
			"unreported: add `func TestMain(m *testing.M) { infra.Main(m) }`", reason, detail)
	}
	t.Skipf("SKIPPED: %s: %s", reason, detail)
}

// Main runs the package's tests; call it from TestMain. The run ends with
// one line per skip reason, "SKIPPED n tests: reason", also appended to
// $K8SGUARD_SKIP_REPORT when set.
func Main(m *testing.M) {
	skips.Lock()
	skips.mainInstalled = true
	skips.Unlock()
	code := m.Run()
	if summary := SkipSummary(); summary != "" {
		fmt.Print(summary)
	}
	if err := appendSkipReport(os.Getenv(SkipReportEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "skip report: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SkipSummary is the end-of-run summary: one line per reason, most skips
// first; empty when nothing was skipped.
func SkipSummary() string {
	skips.Lock()
	defer skips.Unlock()
	counts := map[string]int{}
	for reason, tests := range skips.byReason {
		counts[reason] = len(tests)
	}
	return FormatSkipSummary(counts)
}

// FormatSkipSummary renders counts per reason as the summary lines.
func FormatSkipSummary(counts map[string]int) string {
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if counts[reasons[i]] != counts[reasons[j]] {
			return counts[reasons[i]] > counts[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	var b strings.Builder
	for _, r := range reasons {
		noun := "tests"
		if counts[r] == 1 {
			noun = "test"
		}
		fmt.Fprintf(&b, "%s %d %s: %s\n", skipSummaryPrefix, counts[r], noun, r)
	}
	return b.String()
}

func appendSkipReport(path string) error {
	if path == "" {
		return nil
	}
	skips.Lock()
	var b strings.Builder
	for reason, tests := range skips.byReason {
		for _, name := range tests {
			fmt.Fprintf(&b, "%s\t%s\n", reason, name)
		}
	}
	skips.Unlock()
	if b.Len() == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// One write: packages run in parallel processes, and O_APPEND keeps a
	// single write whole.
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return f.Close()
}

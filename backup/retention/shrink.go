package retention

import (
	"fmt"
	"sort"
	"strings"

	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// ttlPrefixes hold objects that expire by themselves (events live an hour),
// so their disappearance is not an accident.
var ttlPrefixes = map[string]bool{
	"/registry/events":        true,
	"/registry/events.k8s.io": true,
	"/registry/masterleases":  true,
	"/registry/leases":        false, // node and leader leases persist: a vanished one is news
}

// Shrink is a snapshot that has markedly fewer keys than the one before
// it, or lost a whole /registry/<resource> prefix: what `etcdctl del -r`
// on the wrong range looks like from outside.
type Shrink struct {
	Before   *snapshot.Manifest // the last good snapshot, protected from retention
	After    *snapshot.Manifest // the shrunken snapshot
	Vanished []string           // prefixes present in Before and absent from After
	// Resolved: a newer snapshot is at least as large as Before again.
	Resolved bool
	// Acked: an operator acknowledged it (etcdguard check --ack-shrink).
	Acked bool
}

// Open reports whether the shrink still needs attention.
func (s Shrink) Open() bool { return !s.Resolved && !s.Acked }

func (s Shrink) String() string {
	msg := fmt.Sprintf("snapshot %s has %d keys, %d%% of the %d in %s", s.After.Name(), s.After.Keys, percent(s.After.Keys, s.Before.Keys), s.Before.Keys, s.Before.Name())
	if len(s.Vanished) > 0 {
		msg += "; vanished: " + strings.Join(s.Vanished, ", ")
	}
	return msg
}

func percent(a, b int64) int64 {
	if b == 0 {
		return 100
	}
	return a * 100 / b
}

// FindShrinks compares each snapshot (newest first, as snapshot.List
// returns them) with the one before it. acked holds the names of
// acknowledged shrunken snapshots.
func FindShrinks(snaps []*snapshot.Manifest, ratio float64, acked map[string]bool) []Shrink {
	var out []Shrink
	for i := len(snaps) - 1; i > 0; i-- {
		before, after := snaps[i], snaps[i-1]
		vanished := vanishedPrefixes(before, after)
		if float64(after.Keys) >= ratio*float64(before.Keys) && len(vanished) == 0 {
			continue
		}
		s := Shrink{Before: before, After: after, Vanished: vanished, Acked: acked[after.Name()]}
		for _, newer := range snaps[:i-1] {
			if newer.Keys >= before.Keys && len(vanishedPrefixes(before, newer)) == 0 {
				s.Resolved = true
				break
			}
		}
		out = append(out, s)
	}
	return out
}

func vanishedPrefixes(before, after *snapshot.Manifest) []string {
	var out []string
	for p, n := range before.PrefixKeys {
		if n > 0 && after.PrefixKeys[p] == 0 && !ttlPrefixes[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

package delta

import "time"

// SetDrainFloor lowers the least time one drain may take, for a test of a
// backlog longer than a drain; the returned func restores it.
func SetDrainFloor(d time.Duration) (restore func()) {
	old := drainFloor
	drainFloor = d
	return func() { drainFloor = old }
}

package agent

import (
	"context"
	"time"
)

// watermarkInterval is how often the leader records etcd's revision in
// the store for restores to derive their revision bump from: one Status
// call and one small Put a minute. A restore extrapolates past the last
// record with the peak rate, so a longer interval only widens the margin.
const watermarkInterval = time.Minute

// onWatermarkTick records etcd's current revision, on the leader only and
// never twice at once.
func (l *loop) onWatermarkTick(ctx context.Context) {
	if !l.leader || l.watermark.running() || l.Watermark == nil {
		return
	}
	l.watermark.start(ctx, 30*time.Second, func(ctx context.Context) error {
		st, err := l.etcdStatus(ctx)
		if err != nil {
			return err
		}
		return l.observeRevision(ctx, st.Header.Revision, l.now(), "agent")
	})
}

// onWatermarkRecorded logs when recording starts or stops failing (not
// every minute of an outage).
func (l *loop) onWatermarkRecorded(err error) {
	l.watermark.finish()
	switch {
	case err != nil && !l.watermarkFailing:
		l.Log.Warn("cannot record etcd's revision watermark; restores derive their revision bump from the last record", "err", err)
	case err == nil && l.watermarkFailing:
		l.Log.Info("recording etcd's revision watermark again")
	}
	l.watermarkFailing = err != nil
}

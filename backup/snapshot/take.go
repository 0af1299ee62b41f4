package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/k8sguard/k8sguard/backup/internal/memberstatus"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/internal/buildinfo"
)

// Failure stages, the label of etcdguard_snapshot_failures_total.
const (
	StageEtcd     = "etcd"     // reaching etcd or reading the snapshot stream
	StageKeys     = "keys"     // counting keys at the snapshot's revision
	StageUpload   = "upload"   // writing the data object
	StageVerify   = "verify"   // etcd's trailing sha256 did not match
	StageManifest = "manifest" // writing the commit marker
)

// Stages lists every failure stage (metrics initialise a series for each).
var Stages = []string{StageEtcd, StageKeys, StageUpload, StageVerify, StageManifest}

// StageError is a snapshot failure and the stage it happened in.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// StageOf returns the stage of a failed Take ("etcd" when unknown).
func StageOf(err error) string {
	var se *StageError
	if errors.As(err, &se) {
		return se.Stage
	}
	return StageEtcd
}

// Options tune Take.
type Options struct {
	Cluster     string
	Compression string // CompressionZstd (default) or CompressionNone
	// ZstdLevel trades CPU for size; the default, SpeedFastest, keeps up
	// with etcd's read on two cores so compression never paces the upload.
	ZstdLevel zstd.EncoderLevel
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// QuorumLost snapshots a member that has no leader, for the day the
	// cluster lost its quorum for good: etcd's disaster recovery is to
	// snapshot a surviving member and restore every member from it.
	// dialSurvivor picks the member; key counts are serializable reads,
	// which a member without a leader answers from its own data. The
	// manifest records it.
	QuorumLost bool
	// AcceptSurvivor, with QuorumLost, has the last word on the member
	// picked before anything is stored: an error refuses it (the agent
	// refuses a member behind the newest backup). nil accepts it.
	AcceptSurvivor func(ctx context.Context, member string, revision int64) error
}

// Result is a completed snapshot and how its stages went.
type Result struct {
	Manifest *Manifest
	// StatusRevision is etcd's revision read just before the snapshot
	// stream opened: the database is at least this new, so a delta chain
	// that watches from StatusRevision+1 misses nothing (replay skips what
	// the database already holds).
	StatusRevision int64
	Duration       time.Duration
	// Busy time of each stage of the overlapped pipeline: waiting on
	// etcd's stream, compressing (the workers' time over their number),
	// and the store consuming the output.
	ReadBusy, CompressBusy, UploadWait time.Duration
	// Encoding is how a zstd object was written (also in the manifest).
	Encoding *Encoding
}

// Take streams one snapshot from etcd into st: Maintenance API → zstd →
// sha256 → store.Put, with no temporary file and the upload overlapped
// with the read. The manifest is written last, only after etcd's own
// trailing sha256 has been verified, so a failed or killed Take never
// leaves a snapshot that list, check or restore would see.
//
// etcd is the client configuration; Take dials one endpoint (the first
// that answers and is in step with its cluster's quorum) so that status,
// snapshot and key counts describe the same member. A member cut off from
// the quorum is refused (ErrNotInQuorum): its database may be stale; only
// Options.QuorumLost, the quorum gone for good, takes a member without a
// leader.
func Take(ctx context.Context, etcd clientv3.Config, st store.Store, opts Options) (*Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Compression == "" {
		opts.Compression = CompressionZstd
	}
	if opts.ZstdLevel == 0 {
		opts.ZstdLevel = zstd.SpeedFastest
	}
	start := opts.Now()

	var cli *clientv3.Client
	var status *clientv3.StatusResponse
	var err error
	if opts.QuorumLost {
		cli, status, err = dialSurvivor(ctx, etcd, opts)
	} else {
		cli, status, err = dialMember(ctx, etcd)
	}
	if err != nil {
		return nil, &StageError{StageEtcd, err}
	}
	defer cli.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, err := openEtcdStream(ctx, cli)
	if err != nil {
		return nil, &StageError{StageEtcd, fmt.Errorf("open snapshot stream from %s: %w", cli.Endpoints()[0], err)}
	}
	// The stream's header carries the revision the snapshot was taken at;
	// servers that leave it empty (etcd 3.6) get the revision read just
	// before, which the snapshot is at least as new as: under writes its
	// database may hold a few later revisions. Restore refuses to stop
	// at a revision the database is already past (restore.Plan.reached).
	rev := status.Header.Revision
	if snap.Header != nil && snap.Header.Revision > 0 {
		rev = snap.Header.Revision
	}
	// The server's version (3.6.8); the stream's is the storage schema's
	// (3.6.0), the fallback.
	version := status.Version
	if version == "" {
		version = snap.Version
	}

	m := &Manifest{
		FormatVersion: FormatVersion,
		Cluster:       opts.Cluster,
		DataKey:       DataKey(opts.Cluster, start, rev, opts.Compression),
		CreatedAt:     start.UTC().Truncate(time.Second),
		Revision:      rev,
		EtcdVersion:   version,
		ClusterID:     fmt.Sprintf("%x", status.Header.ClusterId),
		MemberID:      fmt.Sprintf("%x", status.Header.MemberId),
		Compression:   opts.Compression,
		ToolVersion:   buildinfo.Version,
		QuorumLost:    opts.QuorumLost,
	}
	if m.DataKey, err = FreeDataKey(ctx, st, m.DataKey); err != nil {
		return nil, &StageError{StageUpload, err}
	}
	log := opts.Logger.With("snapshot", m.Name(), "store", st.String())
	log.Info("snapshot started", "endpoint", cli.Endpoints()[0], "revision", rev, "etcd_version", version, "quorum_lost", opts.QuorumLost)

	// Key counts run beside the stream: a few count-only range requests.
	type counted struct {
		total    int64
		prefixes map[string]int64
		err      error
	}
	keysDone := make(chan counted, 1)
	var read []clientv3.OpOption
	if opts.QuorumLost {
		// A member without a leader never answers a linearizable read
		// (nor fails it): the counts would hang until the snapshot's
		// bound. At a fixed revision a serializable one is as exact.
		read = append(read, clientv3.WithSerializable())
	}
	go func() {
		total, prefixes, err := CountKeys(ctx, cli, rev, read...)
		keysDone <- counted{total, prefixes, err}
	}()

	res := &Result{Manifest: m, StatusRevision: status.Header.Revision}
	stored, err := stream(ctx, snap, st, m, opts, res)
	if err != nil {
		cancel()
		<-keysDone
		return nil, err
	}
	k := <-keysDone
	if k.err != nil {
		deleteQuietly(st, m.DataKey, log)
		return nil, &StageError{StageKeys, fmt.Errorf("count keys at revision %d: %w", rev, k.err)}
	}
	m.Keys, m.PrefixKeys = k.total, k.prefixes
	m.StoredSize = stored
	if err := Write(ctx, st, m); err != nil {
		deleteQuietly(st, m.DataKey, log)
		return nil, &StageError{StageManifest, err}
	}
	res.Duration = opts.Now().Sub(start)
	log.Info("snapshot complete", "raw_bytes", m.RawSize, "stored_bytes", m.StoredSize,
		"keys", m.Keys, "duration", res.Duration.Round(time.Millisecond).String())
	return res, nil
}

// stream pipes the snapshot through the hashes and the compressor into the
// store, and verifies etcd's trailing hash. It fills the manifest's sizes
// and digests and returns the stored size.
func stream(ctx context.Context, snap *etcdStream, st store.Store, m *Manifest, opts Options, res *Result) (int64, error) {
	etcdHash := NewEtcdHash() // etcd's trailer and raw_sha256, one pass

	pr, pw := io.Pipe()
	storedHash := sha256.New()
	storedCount := &countWriter{}
	upload := &timedReader{r: io.TeeReader(pr, io.MultiWriter(storedHash, storedCount))}

	// The producer: etcd → (zstd) → pipe. A read error from etcd closes the
	// pipe with that error, which fails the upload, which never completes.
	readErr := make(chan error, 1)
	go func() {
		err := produce(snap, etcdHash, pw, opts, res)
		if err != nil && !errors.Is(err, errUploadStopped) {
			err = &StageError{StageEtcd, fmt.Errorf("read snapshot stream: %w", err)}
		}
		readErr <- err
		pw.CloseWithError(err)
	}()

	_, putErr := st.Put(ctx, m.DataKey, upload)
	// Unblock the producer if the upload stopped reading early.
	pr.CloseWithError(errUploadStopped)
	rerr := <-readErr
	res.ReadBusy = snap.busy
	res.UploadWait = upload.busy
	switch {
	case ctx.Err() != nil && putErr != nil:
		// Stopped (SIGTERM): the store has already dropped the partial
		// upload; nothing else to clean, and no time to spend.
		return 0, &StageError{StageUpload, fmt.Errorf("aborted: %w", context.Cause(ctx))}
	case rerr != nil && !errors.Is(rerr, errUploadStopped):
		deleteQuietly(st, m.DataKey, opts.Logger)
		return 0, rerr
	case putErr != nil:
		return 0, &StageError{StageUpload, putErr}
	}
	if err := etcdHash.Verify(); err != nil {
		deleteQuietly(st, m.DataKey, opts.Logger)
		return 0, &StageError{StageVerify, err}
	}
	m.RawSize = etcdHash.Size()
	_, _, m.RawSHA256 = etcdHash.Sums()
	m.StoredSHA256 = hex.EncodeToString(storedHash.Sum(nil))
	m.Encoding = res.Encoding
	return storedCount.n, nil
}

var errUploadStopped = errors.New("the upload stopped reading")

// produce writes the snapshot into hash and, through zstd when configured,
// into w. Each message etcd sends is hashed where it was received and
// copied into a chunk that is compressed (or, where it looks random,
// stored in raw zstd blocks) on other cores: chunkCompressor.
func produce(snap *etcdStream, hash, w io.Writer, opts Options, res *Result) error {
	if opts.Compression == CompressionNone {
		_, err := snap.WriteTo(io.MultiWriter(hash, w))
		return err
	}
	cc, err := newChunkCompressor(w, opts.ZstdLevel, compressChunk, compressWorkers)
	if err != nil {
		return err
	}
	_, err = snap.WriteTo(io.MultiWriter(hash, cc))
	if cerr := cc.Close(); err == nil {
		err = cerr
	}
	res.CompressBusy = cc.Busy()
	if err != nil {
		return err
	}
	e := cc.Encoding()
	res.Encoding = &e
	return nil
}

func deleteQuietly(st store.Store, key string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Delete(ctx, key); err != nil && log != nil {
		log.Warn("could not remove the data object of a failed snapshot; the next cleanup will", "key", key, "err", err)
	}
}

const snapshotWindow = 1 << 20

// dialMember returns a client pinned to the first endpoint that answers a
// status request and is in step with its cluster's quorum
// (inStepWithQuorum), and that status.
func dialMember(ctx context.Context, cfg clientv3.Config) (*clientv3.Client, *clientv3.StatusResponse, error) {
	var errs []error
	stale := false // some member answered but was refused as not in step
	for _, ep := range cfg.Endpoints {
		cli, st, err := dialEndpoint(ctx, cfg, ep)
		if err == nil {
			if err = inStepWithQuorum(ctx, cli, st, max(statusTimeout(cfg), 5*time.Second)); err == nil {
				return cli, st, nil
			}
			stale = true
			cli.Close()
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("no etcd endpoints configured")
	}
	if stale {
		return nil, nil, fmt.Errorf("no etcd endpoint answered as a member in step with the quorum: %w", errors.Join(errs...))
	}
	return nil, nil, fmt.Errorf("no etcd endpoint answered: %w", errors.Join(errs...))
}

// dialEndpoint returns a client pinned to ep and the member's status,
// asked within the dial timeout.
func dialEndpoint(ctx context.Context, cfg clientv3.Config, ep string) (*clientv3.Client, *clientv3.StatusResponse, error) {
	one := cfg
	one.Endpoints = []string{ep}
	one.Context = ctx
	// A fixed 1 MiB flow-control window: gRPC's default BDP estimation
	// grows it to 16 MiB, all of it buffered in this process whenever
	// etcd sends faster than the upload drains.
	one.DialOptions = append(append([]grpc.DialOption{}, cfg.DialOptions...),
		grpc.WithInitialWindowSize(snapshotWindow), grpc.WithInitialConnWindowSize(snapshotWindow))
	one.DialOptions = append(one.DialOptions, snapshotDialOptions()...)
	cli, err := clientv3.New(one)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, statusTimeout(cfg))
	st, err := cli.Status(sctx, ep)
	cancel()
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	return cli, st, nil
}

func statusTimeout(cfg clientv3.Config) time.Duration {
	if cfg.DialTimeout <= 0 {
		return 5 * time.Second
	}
	return cfg.DialTimeout
}

// ErrQuorumLostRefused: a snapshot with Options.QuorumLost found a reason
// not to go on (a member that has a leader, a survivor behind the
// backups). It is the operator's call to revisit, not a failed backup.
var ErrQuorumLostRefused = errors.New("refusing the quorum-lost snapshot")

// dialSurvivor is dialMember for Options.QuorumLost. It asks every
// endpoint for its status and refuses when any member that answers has a
// leader: the quorum is not lost, and a normal snapshot is the one to
// take (a member cut off from a live quorum is stale, not a survivor).
// Of the members without a leader it picks the one with the highest
// revision, which holds the most of what the cluster committed before it
// lost the quorum, and gives opts.AcceptSurvivor the last word.
func dialSurvivor(ctx context.Context, cfg clientv3.Config, opts Options) (*clientv3.Client, *clientv3.StatusResponse, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, nil, errors.New("no etcd endpoints configured")
	}
	var answered []memberstatus.Answer
	var errs []error
	for _, a := range memberstatus.Ask(ctx, cfg, cfg.Endpoints, statusTimeout(cfg)) {
		if a.Err != nil {
			opts.Logger.Warn("etcd member did not answer", "endpoint", a.Endpoint, "err", a.Err)
			errs = append(errs, fmt.Errorf("%s: %w", a.Endpoint, a.Err))
			continue
		}
		opts.Logger.Info("etcd member answered", "endpoint", a.Endpoint, "member", fmt.Sprintf("%x", a.Status.Header.MemberId),
			"revision", a.Status.Header.Revision, "leader", fmt.Sprintf("%x", a.Status.Leader))
		answered = append(answered, a)
	}
	if len(answered) == 0 {
		return nil, nil, fmt.Errorf("no etcd endpoint answered: %w", errors.Join(errs...))
	}
	best := answered[0]
	for _, a := range answered {
		if a.Status.Leader != 0 {
			return nil, nil, fmt.Errorf("%w: member %x (%s) has leader %x: the cluster has a quorum; run the snapshot without --quorum-lost",
				ErrQuorumLostRefused, a.Status.Header.MemberId, a.Endpoint, a.Status.Leader)
		}
		if a.Status.Header.Revision > best.Status.Header.Revision {
			best = a
		}
	}
	cli, st, err := dialEndpoint(ctx, cfg, best.Endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", best.Endpoint, err)
	}
	// --etcd-endpoints may name only the survivor: a member cut off from a
	// quorum that is alive elsewhere has no leader either. The members the
	// survivor knows are asked too.
	unnamed, err := quorumElsewhere(ctx, cfg, opts, cli, cfg.Endpoints)
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	member := fmt.Sprintf("%x", st.Header.MemberId)
	opts.Logger.Info("picked the surviving member with the highest revision: it holds the most of what the cluster committed",
		"endpoint", best.Endpoint, "member", member, "revision", st.Header.Revision, "answered", len(answered), "did_not_answer", len(errs))
	if opts.AcceptSurvivor != nil {
		if err := opts.AcceptSurvivor(ctx, member, st.Header.Revision); err != nil {
			cli.Close()
			return nil, nil, err
		}
	}
	// Every member is restored from the snapshot: a survivor left out of
	// --etcd-endpoints that holds more than the one picked would be lost.
	for _, o := range unnamed {
		if o.Err == nil && o.Status.Header.MemberId != st.Header.MemberId && o.Status.Header.Revision > st.Header.Revision {
			cli.Close()
			return nil, nil, fmt.Errorf("%w: member %x (%s, in the member list of %s, not in --etcd-endpoints) is a survivor too, at revision %d, ahead of member %s's %d: restoring every member from %s would lose what it holds; name it in --etcd-endpoints too (the survivor with the highest revision is taken)",
				ErrQuorumLostRefused, o.Status.Header.MemberId, o.Endpoint, best.Endpoint, o.Status.Header.Revision, member, st.Header.Revision, member)
		}
	}
	return cli, st, nil
}

// quorumElsewhere asks the members in cli's member list (a serializable
// read, which a member without a leader answers) that asked does not
// name, all at once and each within the status timeout, whether they have
// a leader: an error (ErrQuorumLostRefused) names the first that has. One
// that does not answer is taken as gone. It returns their answers
// (dialSurvivor refuses a pick behind one of them). A member list that
// cannot be read refuses too: whether the quorum is elsewhere is then
// unknown.
func quorumElsewhere(ctx context.Context, cfg clientv3.Config, opts Options, cli *clientv3.Client, asked []string) ([]memberstatus.Answer, error) {
	lctx, cancel := context.WithTimeout(ctx, statusTimeout(cfg))
	ml, err := cli.MemberList(lctx, clientv3.WithSerializable())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the member list of %s to ask the other members whether they have a leader: %v",
			ErrQuorumLostRefused, cli.Endpoints()[0], err)
	}
	var eps []string
	for _, m := range ml.Members {
		for _, ep := range m.ClientURLs {
			if !slices.Contains(asked, ep) {
				eps = append(eps, ep)
			}
		}
	}
	answers := memberstatus.Ask(ctx, cfg, eps, statusTimeout(cfg))
	for _, a := range answers {
		if a.Err != nil {
			opts.Logger.Info("etcd member in the survivor's member list did not answer", "endpoint", a.Endpoint, "err", a.Err)
			continue
		}
		opts.Logger.Info("etcd member in the survivor's member list answered", "endpoint", a.Endpoint, "member", fmt.Sprintf("%x", a.Status.Header.MemberId),
			"revision", a.Status.Header.Revision, "leader", fmt.Sprintf("%x", a.Status.Leader))
	}
	for _, a := range answers {
		if a.Err == nil && a.Status.Leader != 0 {
			return answers, fmt.Errorf("%w: member %x (%s, in the member list of %s, not in --etcd-endpoints) has leader %x: the cluster has a quorum, and the members named are only cut off from it; run the snapshot without --quorum-lost against the quorum",
				ErrQuorumLostRefused, a.Status.Header.MemberId, a.Endpoint, cli.Endpoints()[0], a.Status.Leader)
		}
	}
	return answers, nil
}

// ErrNotInQuorum: the member answered but could not show that it holds
// what the cluster's quorum committed; a snapshot of it may be stale.
var ErrNotInQuorum = errors.New("refusing to snapshot a member that may hold stale data")

// inStepWithQuorum refuses a member cut off from its cluster's quorum (a
// partitioned node, or the last one up). etcd serves such a member's
// Status and streams its local database through Maintenance.Snapshot
// without any quorum check, so its snapshot looks whole and complete while
// it misses every change the quorum committed since the member lost touch
// (seen with etcd 3.6.8: revision 51 on the member, 151 on the quorum).
// Worse, the key counts that follow are linearizable reads, which such a
// member neither answers nor fails: the snapshot hung until its bound.
//
// A member without a leader is refused at once; otherwise one
// linearizable read, bounded by timeout, has etcd confirm through the
// leader (ReadIndex) that the member applied everything committed before
// it: the snapshot that follows is at least that new.
func inStepWithQuorum(ctx context.Context, cli *clientv3.Client, st *clientv3.StatusResponse, timeout time.Duration) error {
	if st.Leader == 0 {
		return fmt.Errorf("%w: member %x (revision %d) has no leader: it is cut off from the quorum, or the cluster lost it (%s)",
			ErrNotInQuorum, st.Header.MemberId, st.Header.Revision, strings.Join(st.Errors, "; "))
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Any key: a count-only read costs etcd one ReadIndex round.
	if _, err := cli.Get(rctx, "health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("%w: member %x (revision %d) did not confirm within %s that it holds what the quorum committed (a linearizable read failed): %v",
			ErrNotInQuorum, st.Header.MemberId, st.Header.Revision, timeout, err)
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// timedReader counts bytes and the time spent waiting in Read.
type timedReader struct {
	r    io.Reader
	n    int64
	busy time.Duration
}

func (t *timedReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := t.r.Read(p)
	t.busy += time.Since(start)
	t.n += int64(n)
	return n, err
}

package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/memberstatus"
)

// DefaultPeerTimeout bounds asking the other members whether the cluster
// has a quorum. It is spent only on a member that is behind the newest
// backup, and only on members that do not answer.
const DefaultPeerTimeout = 5 * time.Second

// peerAnswer is what one endpoint said to a status request, and how the
// preflight judged it.
type peerAnswer struct {
	memberstatus.Answer
	stranger bool // a member of another cluster
	// behind: the answering cluster's raft log is behind what this
	// database applied; it is not the cluster this disk was a member of.
	behind bool
}

func (a peerAnswer) String() string {
	switch {
	case a.Err != nil:
		return fmt.Sprintf("%s: %v", a.Endpoint, a.Err)
	case a.stranger:
		return fmt.Sprintf("%s: member %x is not in this member's list (another cluster)", a.Endpoint, a.Status.Header.MemberId)
	case a.behind:
		return fmt.Sprintf("%s: member %x, leader %x, raft term %d, index %d: behind this disk's raft log (a cluster restored since, with the same member IDs?)",
			a.Endpoint, a.Status.Header.MemberId, a.Status.Leader, a.Status.RaftTerm, a.Status.RaftIndex)
	case a.Status.Leader == 0:
		return fmt.Sprintf("%s: member %x has no leader", a.Endpoint, a.Status.Header.MemberId)
	}
	return fmt.Sprintf("%s: member %x, leader %x, revision %d", a.Endpoint, a.Status.Header.MemberId, a.Status.Leader, a.Status.Header.Revision)
}

// quorumUp asks every other member of the cluster, at the client URLs the
// database's member list holds (and the configured endpoints), for its
// status, all at once, bounded by o.PeerTimeout. It returns an answer from
// a member of this cluster that has a leader, or nil, and every answer.
//
// Such an answer means this member, however old its disk, cannot come back
// as the cluster: the quorum's leader catches it up (raft sends it the
// entries, or a snapshot, it lacks) and its stale log can never win an
// election. That is the case of a member that was down while the others
// went on writing: a rolling reboot of the control plane.
func quorumUp(ctx context.Context, o Options, r *Report) (*peerAnswer, []peerAnswer) {
	ids := map[uint64]bool{}
	var endpoints []string
	for _, m := range r.Members {
		ids[m.ID] = true
		endpoints = append(endpoints, m.ClientURLs...)
	}
	endpoints = append(endpoints, o.Etcd.Endpoints...)
	slices.Sort(endpoints)
	endpoints = slices.Compact(endpoints)

	timeout := o.PeerTimeout
	if timeout <= 0 {
		timeout = DefaultPeerTimeout
	}
	var answers []peerAnswer
	for _, a := range memberstatus.Ask(ctx, *o.Etcd, endpoints, timeout) {
		answers = append(answers, peerAnswer{Answer: a})
	}
	var up *peerAnswer
	for i := range answers {
		a := &answers[i]
		// A member of another cluster (one restored with a new token at
		// the same address) says nothing about this member's.
		a.stranger = a.Err == nil && !ids[a.Status.Header.MemberId]
		// A cluster restored with the same token and peer URLs has the
		// same member IDs, and starts its raft log afresh. A disk from
		// before the restore may be ahead in it (a later term: it could
		// win an election with its old data), or level in term with a
		// longer log (raft would take its entries for the leader's). A
		// member that was merely down applied nothing its cluster has
		// not: the cluster's term and index are at or past the disk's.
		// (Necessary, not sufficient: a cluster restored that way that has
		// since gone past the disk's position passes; restore's default
		// token is new for every snapshot for that reason.)
		a.behind = a.Err == nil && !a.stranger && logBehind(r.Term, r.ConsistentIndex, a.Status.RaftTerm, a.Status.RaftIndex)
		if up == nil && a.Err == nil && !a.stranger && !a.behind && a.Status.Leader != 0 {
			up = a
		}
	}
	return up, answers
}

// logBehind says whether a cluster's raft position (qTerm, qIndex) is
// behind what a disk applied (term, index) in either.
func logBehind(term, index, qTerm, qIndex uint64) bool {
	return qTerm < term || qIndex < index
}

// describeAnswers lists what the other members answered, for a note.
func describeAnswers(answers []peerAnswer) string {
	if len(answers) == 0 {
		return "no member's client URL is known"
	}
	var s []string
	for _, a := range answers {
		s = append(s, a.String())
	}
	return strings.Join(s, "; ")
}

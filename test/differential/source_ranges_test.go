package differential

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servicehelpers "k8s.io/cloud-provider/service/helpers"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// SERVICE_DASHBOARD_EXPOSED's reading of loadBalancerSourceRanges (does a
// LoadBalancer keep anyone out?) against the cloud provider's own:
// k8s.io/cloud-provider/service/helpers GetLoadBalancerSourceRanges and
// IsAllowAll, at the pinned Kubernetes release, which the cloud
// controllers (and, in its k8s.io/kubernetes copy, kube-proxy) use to open
// a load balancer to every client. Over generated range lists in every
// spelling the API server accepts for this legacy field: host bits set
// (the API server's validation allowed "10.1.2.3/0" until
// StrictIPCIDRValidation, and keeps it on objects stored before),
// leading zeros in the prefix length, surrounding spaces, IPv6.
//
// Deliberately stricter, encoded below:
//   - an IPv6 range of length 0 ("::/0") admits every IPv6 client, and
//     guard says so; IsAllowAll looks for the IPv4 "0.0.0.0/0" only;
//   - guard reads spec.loadBalancerSourceRanges only, not the older
//     service.beta.kubernetes.io/load-balancer-source-ranges annotation the
//     helpers fall back on when the field is empty: a Service restricted
//     by the annotation alone is still reported (the rule's Checks text
//     says to use the field).
func TestSourceRangesAgreeWithCloudProvider(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4040))
	const cases = 20000
	var open, restricted, deliberate int
	f := false
	for i := range cases {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "scope", Namespace: "tools"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "weave-scope"}}}
		for range r.IntN(4) {
			svc.Spec.LoadBalancerSourceRanges = append(svc.Spec.LoadBalancerSourceRanges, randomSourceRange(r))
		}
		annotated := false
		if len(svc.Spec.LoadBalancerSourceRanges) == 0 && r.IntN(2) == 0 {
			var rs []string
			for range 1 + r.IntN(2) {
				rs = append(rs, randomSourceRange(r))
			}
			svc.Annotations = map[string]string{corev1.AnnotationLoadBalancerSourceRangesKey: strings.Join(rs, ",")}
			annotated = true
		}

		ipnets, err := servicehelpers.GetLoadBalancerSourceRanges(svc)
		if err != nil {
			t.Fatalf("case %d: the generator made ranges the cloud provider refuses: %v", i, err)
		}
		upstreamOpen := servicehelpers.IsAllowAll(ipnets)
		ipv6All := false
		for _, n := range ipnets {
			if ones, bits := n.Mask.Size(); ones == 0 && bits == 128 {
				ipv6All = true
			}
		}

		findings := guard.CheckService(guard.Service{Type: "LoadBalancer", Selector: svc.Spec.Selector,
			LoadBalancerSourceRanges: svc.Spec.LoadBalancerSourceRanges, AllocateLoadBalancerNodePorts: &f})
		guardOpen := len(findings) > 0

		switch {
		case guardOpen == upstreamOpen:
			if guardOpen {
				open++
			} else {
				restricted++
			}
		case guardOpen && !upstreamOpen && (ipv6All || annotated):
			deliberate++
		default:
			t.Fatalf("case %d: loadBalancerSourceRanges %q (annotation %q): guard says open=%v, the cloud provider (parsed %v) says allow-all=%v",
				i, svc.Spec.LoadBalancerSourceRanges, svc.Annotations[corev1.AnnotationLoadBalancerSourceRangesKey], guardOpen, ipnets.StringSlice(), upstreamOpen)
		}
	}
	t.Logf("%d Services: %d open, %d restricted, %d deliberately reported (an IPv6 /0, or ranges in the annotation only)", cases, open, restricted, deliberate)
	if open < cases/10 || restricted < cases/10 || deliberate == 0 {
		t.Fatalf("the generator is lopsided: %d open, %d restricted, %d deliberate", open, restricted, deliberate)
	}
}

// randomSourceRange is a range in a spelling the API server's legacy CIDR
// validation accepted: canonical, with host bits set, with a zero-padded
// prefix length, with spaces around it; IPv4 or IPv6; now and then of
// length 0.
func randomSourceRange(r *rand.Rand) string {
	var addr netip.Addr
	if r.IntN(4) == 0 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(3) == 0 {
			b = [16]byte{}
		}
		addr = netip.AddrFrom16(b)
	} else {
		b := [4]byte{byte(r.IntN(256)), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		if r.IntN(3) == 0 {
			b = [4]byte{}
		}
		addr = netip.AddrFrom4(b)
	}
	bits := r.IntN(addr.BitLen() + 1)
	if r.IntN(3) == 0 {
		bits = 0
	}
	p := netip.PrefixFrom(addr, bits)
	if r.IntN(2) == 0 {
		p = p.Masked() // canonical; else the host bits stay set
	}
	length := fmt.Sprint(p.Bits())
	if r.IntN(6) == 0 {
		length = "0" + length // leading zeros in the length: allowed for this field
	}
	s := p.Addr().String() + "/" + length
	if r.IntN(8) == 0 {
		s = " " + s + " "
	}
	return s
}

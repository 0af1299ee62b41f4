package capacity

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// TestVPCCNIMaxPodsAgreeWithENIMaxPodsTable: for every instance type moto
// knows (moto ships AWS's DescribeInstanceTypes answers), the vpc_cni limit
// the provider computes (the DescribeInstanceTypes answer through
// cloud.InstanceNetwork and the guard's formula, as findInstanceNetworks and
// the pool rules do) equals AWS's published eni-max-pods.txt.
func TestVPCCNIMaxPodsAgreeWithENIMaxPodsTable(t *testing.T) {
	table := readENIMaxPods(t)
	tg := fixture.Moto(t)
	nets := describeAllInstanceTypes(t, tg.EC2)
	// "Every type moto knows" is every entry of moto's own
	// instance_types.json.gz, not one page of the answer.
	shipped := motoShippedInstanceTypes(t)
	var missing []string
	for _, name := range shipped {
		if _, ok := nets[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 || len(shipped) != len(nets) {
		t.Errorf("DescribeInstanceTypes returned %d types, moto ships %d; missing: %v", len(nets), len(shipped), missing)
	}

	var compared, agreed int
	var onlyMoto, disagree []string
	for name, n := range nets {
		want, ok := table[name]
		if !ok {
			onlyMoto = append(onlyMoto, name)
			continue
		}
		compared++
		if got := n.LimitFor(guard.ModeVPCCNI); got == want {
			agreed++
		} else {
			disagree = append(disagree, name+": k8sguard "+strconv.FormatInt(got, 10)+", AWS "+strconv.FormatInt(want, 10))
		}
	}
	var onlyTable []string
	for name := range table {
		if _, ok := nets[name]; !ok {
			onlyTable = append(onlyTable, name)
		}
	}
	sort.Strings(disagree)
	sort.Strings(onlyTable)
	t.Logf("eni-max-pods.txt: %d types; moto DescribeInstanceTypes: %d types (all %d moto ships); compared %d, agreed %d, disagreed %d; only in moto %d, only in the table %d",
		len(table), len(nets), len(shipped), compared, agreed, len(disagree), len(onlyMoto), len(onlyTable))
	t.Logf("only in the table (moto does not know them): %s", strings.Join(onlyTable, " "))
	for _, d := range disagree {
		t.Errorf("vpc_cni max pods: %s", d)
	}
	// Not vacuous: most of the table is compared, multi-card types included.
	if compared < 800 {
		t.Errorf("only %d types compared: moto's instance data or the table is not what this test expects", compared)
	}
	for _, multiCard := range []string{"p5.48xlarge", "c6in.32xlarge", "trn1.32xlarge", "p4d.24xlarge"} {
		if n, ok := nets[multiCard]; !ok || len(n.NetworkCards) < 2 {
			t.Errorf("%s: not among moto's types with several network cards (%+v)", multiCard, n)
		}
	}
}

// TestPrefixFiguresAgreeWithMaxPodsCalculator: the vpc_cni_prefix figures
// for moto's facts equal what max-pods-calculator.sh (awslabs/amazon-eks-ami,
// --cni-version 1.9.0 --cni-prefix-delegation-enabled) prints, worked by hand:
//
//	enis = NetworkCards[DefaultNetworkCardIndex].MaximumNetworkInterfaces
//	max  = Nitro ? enis × ((IPv4 − 1) × 16) + 2 : enis × (IPv4 − 1) + 2   (--show-max-allowed)
//	rec  = vCPUs > 30 ? min(250, max) : min(110, max)                     (the default output)
func TestPrefixFiguresAgreeWithMaxPodsCalculator(t *testing.T) {
	cases := []struct {
		name        string
		nitro       bool
		max, recomm int64
	}{
		// Xen: the calculator (and the CNI) fall back to secondary IPs.
		{"t2.medium", false, 17, 17},     // 3 × (6 − 1) + 2; 2 vCPUs: min(110, 17)
		{"t2.large", false, 35, 35},      // 3 × (12 − 1) + 2
		{"t2.2xlarge", false, 44, 44},    // 3 × (15 − 1) + 2; 8 vCPUs
		{"m4.large", false, 20, 20},      // 2 × (10 − 1) + 2
		{"m4.xlarge", false, 58, 58},     // 4 × (15 − 1) + 2
		{"m4.16xlarge", false, 234, 234}, // 8 × (30 − 1) + 2; 64 vCPUs: min(250, 234)
		{"c4.8xlarge", false, 234, 234},  // 8 × (30 − 1) + 2; 36 vCPUs
		{"x1.32xlarge", false, 234, 234}, // 8 × (30 − 1) + 2; 128 vCPUs
		// Nitro: prefixes.
		{"t3.medium", true, 242, 110},     // 3 × (5 × 16) + 2; 2 vCPUs
		{"t3.large", true, 530, 110},      // 3 × (11 × 16) + 2
		{"m5.large", true, 434, 110},      // 3 × (9 × 16) + 2
		{"m5.xlarge", true, 898, 110},     // 4 × (14 × 16) + 2
		{"m6i.4xlarge", true, 3714, 110},  // 8 × (29 × 16) + 2; 16 vCPUs
		{"m5.8xlarge", true, 3714, 250},   // 8 × (29 × 16) + 2; 32 vCPUs > 30
		{"c5.9xlarge", true, 3714, 250},   // 8 × (29 × 16) + 2; 36 vCPUs
		{"m5.24xlarge", true, 11762, 250}, // 15 × (49 × 16) + 2; 96 vCPUs
		{"trn1.2xlarge", true, 898, 110},  // 4 × (14 × 16) + 2; 8 vCPUs
		// Several network cards: card 0's ENIs only.
		{"p4d.24xlarge", true, 11762, 250}, // card 0: 15 of 60; 15 × (49 × 16) + 2; 96 vCPUs
		{"p5.48xlarge", true, 1570, 250},   // card 0: 2 of 64; 2 × (49 × 16) + 2; 192 vCPUs
		{"c6in.32xlarge", true, 6274, 250}, // card 0: 8 of 16; 8 × (49 × 16) + 2; 128 vCPUs
		{"trn1.32xlarge", true, 3922, 250}, // card 0: 5 of 40; 5 × (49 × 16) + 2; 128 vCPUs
	}
	tg := fixture.Moto(t)
	names := make([]string, 0, len(cases))
	for _, c := range cases {
		names = append(names, c.name)
	}
	nets := describeInstanceTypes(t, tg.EC2, names)
	for _, c := range cases {
		n, ok := nets[c.name]
		if !ok {
			t.Errorf("%s: moto does not know it", c.name)
			continue
		}
		gotMax, gotRec := n.LimitFor(guard.ModeVPCCNIPrefix), n.RecommendedMaxPods(guard.ModeVPCCNIPrefix)
		if n.PrefixDelegationSupported() != c.nitro || gotMax != c.max || gotRec != c.recomm {
			t.Errorf("%s (hypervisor %q, %d vCPUs, %d ENIs for pods, %d IPv4 each): prefix delegation %v, max %d, recommended %d; calculator: %v, %d, %d",
				c.name, n.Hypervisor, n.VCPUs, n.PodENIs(), n.IPv4PerENI, n.PrefixDelegationSupported(), gotMax, gotRec, c.nitro, c.max, c.recomm)
		}
	}
	t.Logf("%d instance types: prefix limits and EKS's recommended max pods equal max-pods-calculator.sh's", len(cases))

	// Where k8sguard follows the VPC CNI instead of the calculator: bare
	// metal reports no hypervisor, so the calculator answers the secondary-IP
	// 737 for c5.metal; ipamd (IsPrefixDelegationSupported: nitro or bare
	// metal) assigns prefixes there. The recommended 250 is the same.
	metal := describeInstanceTypes(t, tg.EC2, []string{"c5.metal"})["c5.metal"]
	if !metal.PrefixDelegationSupported() || metal.LimitFor(guard.ModeVPCCNIPrefix) != 11762 || metal.RecommendedMaxPods(guard.ModeVPCCNIPrefix) != 250 {
		t.Errorf("c5.metal: %+v: want prefixes (15 × (49 × 16) + 2 = 11762), recommended 250", metal)
	}
}

// readENIMaxPods parses testdata/aws/eni-max-pods.txt: "<type> <max pods>".
func readENIMaxPods(t *testing.T) map[string]int64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "aws", "eni-max-pods.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			t.Fatalf("eni-max-pods.txt: unexpected line %q", line)
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			t.Fatalf("eni-max-pods.txt: %q: %v", line, err)
		}
		out[fields[0]] = n
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// describeAllInstanceTypes pages through DescribeInstanceTypes with no
// filter and maps every answer as the provider does.
func describeAllInstanceTypes(t *testing.T, c *ec2.Client) map[string]guard.InstanceNetwork {
	t.Helper()
	out := map[string]guard.InstanceNetwork{}
	p := ec2.NewDescribeInstanceTypesPaginator(c, &ec2.DescribeInstanceTypesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("DescribeInstanceTypes: %v", err)
		}
		for _, it := range page.InstanceTypes {
			n := cloud.InstanceNetwork(it)
			out[n.InstanceType] = n
		}
	}
	return out
}

// describeInstanceTypes asks for named types, as the provider does.
func describeInstanceTypes(t *testing.T, c *ec2.Client, names []string) map[string]guard.InstanceNetwork {
	t.Helper()
	in := &ec2.DescribeInstanceTypesInput{}
	for _, n := range names {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(n))
	}
	page, err := c.DescribeInstanceTypes(context.Background(), in)
	if err != nil {
		t.Fatalf("DescribeInstanceTypes %v: %v", names, err)
	}
	out := map[string]guard.InstanceNetwork{}
	for _, it := range page.InstanceTypes {
		n := cloud.InstanceNetwork(it)
		out[n.InstanceType] = n
	}
	return out
}

// motoShippedInstanceTypes lists the instance types in moto's own data
// file, read by the Python that runs moto_server.
func motoShippedInstanceTypes(t *testing.T) []string {
	t.Helper()
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := exec.Command(filepath.Join(root, "test", "tools", "find-moto.sh")).Output()
	if err != nil {
		t.Fatalf("moto_server not found by test/tools/find-moto.sh: %v", err)
	}
	python := filepath.Join(filepath.Dir(strings.TrimSpace(string(bin))), "python")
	const script = `import gzip, json, os, moto
path = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources", "instance_types.json.gz")
print("\n".join(sorted(json.load(gzip.open(path)))))`
	out, err := exec.Command(python, "-c", script).Output()
	if err != nil {
		t.Fatalf("%s cannot read moto's instance_types.json.gz: %v", python, err)
	}
	return strings.Fields(string(out))
}

// TestBurstableTableAgreesWithDescribeInstanceTypes is differential: the
// static table behind INSTANCE_BURSTABLE and
// provider::k8sguard::is_burstable_instance_type (guard.InstanceFamily and
// IsBurstableInstanceType, what the plan uses without AWS) against
// BurstablePerformanceSupported of every type DescribeInstanceTypes knows
// (moto ships AWS's answers), and the family syntax against every
// instance type the pinned EC2 SDK enumerates.
func TestBurstableTableAgreesWithDescribeInstanceTypes(t *testing.T) {
	for _, it := range ec2types.InstanceType("").Values() {
		if _, err := guard.InstanceFamily(string(it)); err != nil {
			t.Errorf("the EC2 SDK's instance type %q: %v", it, err)
		}
	}

	tg := fixture.Moto(t)
	var compared int
	p := ec2.NewDescribeInstanceTypesPaginator(tg.EC2, &ec2.DescribeInstanceTypesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("DescribeInstanceTypes: %v", err)
		}
		for _, it := range page.InstanceTypes {
			name := string(it.InstanceType)
			got, err := guard.IsBurstableInstanceType(name)
			if err != nil {
				t.Errorf("%s (DescribeInstanceTypes): %v", name, err)
				continue
			}
			compared++
			want := it.BurstablePerformanceSupported != nil && *it.BurstablePerformanceSupported
			if got == want {
				continue
			}
			// Deliberately stricter: T1 micro bursts above its baseline
			// when the host has spare cycles, with no credits to say how
			// long, so AWS does not report it BurstablePerformanceSupported;
			// a control plane on it is throttled all the same. The function
			// and INSTANCE_BURSTABLE docs list t1 with the credit families.
			if f, _ := guard.InstanceFamily(name); got && f == "t1" {
				continue
			}
			t.Errorf("%s: k8sguard's static table says burstable=%v, DescribeInstanceTypes BurstablePerformanceSupported=%v", name, got, want)
		}
	}
	if compared < 500 {
		t.Fatalf("compared %d instance types: DescribeInstanceTypes answered too few", compared)
	}
	t.Logf("%d instance types compared, %d SDK instance types parsed", compared, len(ec2types.InstanceType("").Values()))
}

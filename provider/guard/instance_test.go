package guard

import (
	"strings"
	"testing"
)

const t2Story = " Prevents: etcd on T2 instances lost the network during maintenance (Zalando incident 5)."
const slowStory = " Prevents: etcd too slow to keep its leader, API server timeouts (Zalando incident 5)."

func TestCheckControlPlaneInstance(t *testing.T) {
	fast := &Volume{Type: "gp3", SizeGiB: 100, IOPS: 6000}
	cases := []struct {
		name     string
		in       ControlPlaneInstance
		settings Settings
		want     []string
	}{
		{name: "m6i.large with a fast gp3 volume", in: ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: fast}},
		{
			name: "T2",
			in:   ControlPlaneInstance{InstanceType: "t2.large", EtcdVolume: fast},
			want: []string{"instance_type: [INSTANCE_T2] t2.large is a T2 instance: AWS maintenance that only affected T2 cut etcd members off the network " +
				"and the API server timed out. Use a fixed-performance type such as m6i.large." + t2Story},
		},
		{
			name:     "T2 even when burstable is allowed",
			in:       ControlPlaneInstance{InstanceType: "t2.xlarge"},
			settings: Settings{AllowBurstableControlPlane: true},
			want: []string{"instance_type: [INSTANCE_T2] t2.xlarge is a T2 instance: AWS maintenance that only affected T2 cut etcd members off the network " +
				"and the API server timed out. Use a fixed-performance type such as m6i.large." + t2Story},
		},
		{
			name: "t3 by the static table",
			in:   ControlPlaneInstance{InstanceType: "t3.large"},
			want: []string{"instance_type: [INSTANCE_BURSTABLE] t3.large is burstable: when its CPU credits run out, etcd and the API server are throttled " +
				"to the baseline and miss their heartbeats. Use a fixed-performance type such as m6i.large, or set allow_burstable_control_plane = true in the provider." + t2Story},
		},
		{name: "t4g allowed by the provider", in: ControlPlaneInstance{InstanceType: "t4g.medium"}, settings: Settings{AllowBurstableControlPlane: true}},
		{
			name: "burstable by DescribeInstanceTypes, not in the table",
			in:   ControlPlaneInstance{InstanceType: "x9.large", Info: &InstanceTypeInfo{Exists: true, Burstable: true}},
			want: []string{"instance_type: [INSTANCE_BURSTABLE] x9.large is burstable: when its CPU credits run out, etcd and the API server are throttled " +
				"to the baseline and miss their heartbeats. Use a fixed-performance type such as m6i.large, or set allow_burstable_control_plane = true in the provider." + t2Story},
		},
		{
			name: "unknown type",
			in:   ControlPlaneInstance{InstanceType: "m6i.huge", Info: &InstanceTypeInfo{Exists: false}},
			want: []string{"instance_type: [INSTANCE_UNKNOWN_TYPE] instance type m6i.huge does not exist in this region (DescribeInstanceTypes): " +
				"check the spelling and the region's offerings." + t2Story},
		},
		{
			name: "st1 etcd volume",
			in:   ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "st1", SizeGiB: 500}},
			want: []string{"etcd_volume.type: [ETCD_VOLUME_SLOW] etcd volume type st1 is a magnetic/HDD volume: etcd fsyncs every write and its leader " +
				"elections time out on slow disks. Use gp3 (3000 IOPS or more) or io2." + slowStory},
		},
		{
			name: "gp3 below 3000 IOPS",
			in:   ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "gp3", SizeGiB: 100, IOPS: 2000}},
			want: []string{"etcd_volume.iops: [ETCD_VOLUME_SLOW] etcd volume gp3 of 100 GiB gets 2000 IOPS, below 3000: etcd fsyncs every write and " +
				"misses heartbeats on slow disks. Set iops to at least 3000." + slowStory},
		},
		{name: "gp3 at its 3000 baseline", in: ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "gp3", SizeGiB: 20}}},
		{
			name: "small gp2",
			in:   ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "gp2", SizeGiB: 100}},
			want: []string{"etcd_volume.size_gib: [ETCD_VOLUME_SLOW] etcd volume gp2 of 100 GiB gets 300 IOPS, below 3000: etcd fsyncs every write and " +
				"misses heartbeats on slow disks. A gp2 volume earns 3 IOPS per GiB: use gp3, or at least 1000 GiB." + slowStory},
		},
		{name: "gp2 of 1000 GiB", in: ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "gp2", SizeGiB: 1000}}},
		{name: "io2", in: ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "io2", SizeGiB: 50, IOPS: 5000}}},
		{
			name: "io1 provisioned below 3000 IOPS",
			in:   ControlPlaneInstance{InstanceType: "m6i.large", EtcdVolume: &Volume{Type: "io1", SizeGiB: 100, IOPS: 100}},
			want: []string{"etcd_volume.iops: [ETCD_VOLUME_SLOW] etcd volume io1 of 100 GiB gets 100 IOPS, below 3000: etcd fsyncs every write and " +
				"misses heartbeats on slow disks. Set iops to at least 3000." + slowStory},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, err := CheckControlPlaneInstance(c.in, c.settings)
			if err != nil {
				t.Fatal(err)
			}
			expectDiagnosticTexts(t, fs, c.want)
		})
	}
}

func TestInstanceRulesWaivability(t *testing.T) {
	t2, _ := CheckControlPlaneInstance(ControlPlaneInstance{InstanceType: "t2.micro"}, Settings{})
	if out := ApplyWaivers(t2, map[string]string{RuleInstanceT2: "cheap"}, nil, "waivers"); !HasErrors(out) {
		t.Fatal("INSTANCE_T2 was waived; it must not be waivable")
	}
	t3, _ := CheckControlPlaneInstance(ControlPlaneInstance{InstanceType: "t3.micro"}, Settings{})
	if out := ApplyWaivers(t3, map[string]string{RuleInstanceBurstable: "lab cluster, no SLO"}, nil, "waivers"); HasErrors(out) {
		t.Fatalf("INSTANCE_BURSTABLE waiver not applied: %v", diagnosticTexts(out))
	}
	if r, _ := Lookup(RuleInstanceBurstable); !r.UsesSettings {
		t.Fatal("INSTANCE_BURSTABLE reads allow_burstable_control_plane: it must be marked UsesSettings")
	}
}

func TestIsBurstableInstanceType(t *testing.T) {
	for typ, want := range map[string]bool{
		"t2.micro": true, "t3.large": true, "t3a.nano": true, "t4g.medium": true, "t1.micro": true,
		"m6i.large": false, "c7g.xlarge": false, "u-6tb1.metal": false, "m5d.24xlarge": false,
	} {
		got, err := IsBurstableInstanceType(typ)
		if err != nil || got != want {
			t.Errorf("IsBurstableInstanceType(%q) = %v, %v; want %v", typ, got, err, want)
		}
	}
	for _, bad := range []string{"", "t3", "T3.large", "t3.", ".large", "t3 .large"} {
		_, err := IsBurstableInstanceType(bad)
		if err == nil || !strings.Contains(err.Error(), "is not of the form family.size") {
			t.Errorf("IsBurstableInstanceType(%q) err = %v, want a form error", bad, err)
		}
	}
}

// CheckVolume refuses the EBS settings EC2 refuses (API reference,
// LaunchTemplateEbsBlockDeviceRequest: Iops "supported for io1, io2, and
// gp3 volumes only", "required for io1 and io2"; Throughput "valid only for
// gp3"; gp3 "3,000" IOPS at least).
func TestCheckVolume(t *testing.T) {
	for _, c := range []struct {
		v              Volume
		root           bool
		field, problem string
	}{
		{Volume{Type: "gp3", SizeGiB: 100}, false, "", ""},
		{Volume{Type: "gp3", SizeGiB: 100, IOPS: 6000, Throughput: 250}, false, "", ""},
		{Volume{Type: "io2", SizeGiB: 100, IOPS: 10000}, false, "", ""},
		{Volume{Type: "gp3"}, true, "", ""}, // the root: the AMI's snapshot sizes it
		{Volume{Type: "io2", SizeGiB: 100, IOPS: 10000, Throughput: 250}, false, "throughput_mibps", "throughput_mibps applies to gp3 volumes only; EC2 refuses it on io2"},
		{Volume{Type: "gp2", SizeGiB: 1000, IOPS: 6000}, false, "iops", "iops applies to gp3, io1 and io2 volumes only; EC2 refuses it on gp2"},
		{Volume{Type: "io1", SizeGiB: 100}, false, "iops", "io1 volumes need iops: their performance is what is provisioned"},
		{Volume{Type: "gp3", SizeGiB: 100, IOPS: 2000}, false, "iops", "gp3 volumes have at least 3000 IOPS (their baseline); EC2 refuses iops = 2000"},
		{Volume{Type: "gp3"}, false, "size_gib", "a volume that is not the root needs size_gib: there is no snapshot to size it"},
	} {
		field, problem := CheckVolume(c.v, c.root)
		if field != c.field || problem != c.problem {
			t.Errorf("%+v (root %v): %q %q, want %q %q", c.v, c.root, field, problem, c.field, c.problem)
		}
	}
}

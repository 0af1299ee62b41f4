package guard

import (
	"fmt"
	"regexp"
)

// Rule IDs of the control-plane instance family.
const (
	RuleInstanceT2          = "INSTANCE_T2"
	RuleInstanceBurstable   = "INSTANCE_BURSTABLE"
	RuleInstanceUnknownType = "INSTANCE_UNKNOWN_TYPE"
	RuleEtcdVolumeSlow      = "ETCD_VOLUME_SLOW"
)

var storyT2 = Story{
	Name: "etcd on T2 instances lost the network during maintenance (Zalando incident 5)",
	// Zalando's talk "Running Kubernetes in Production: A Million Ways to
	// Crash Your Cluster" (DevOpsCon Munich 2018), the slides.
	URL: "https://www.slideshare.net/try_except_/running-kubernetes-in-production-a-million-ways-to-crash-your-cluster-devopscon-munich-2018",
}

var _ = register(
	Rule{
		ID: RuleInstanceT2, Family: "instance", Severity: Error, Waivable: false,
		Checks: "control-plane instances are not T2",
		Story:  storyT2,
	},
	Rule{
		ID: RuleInstanceBurstable, Family: "instance", Severity: Error, Waivable: true, UsesSettings: true,
		Checks: "control-plane instances are not burstable (t3, t3a, t4g, t1, or BurstablePerformanceSupported; t1 bursts without CPU credits, so AWS does " +
			"not report it BurstablePerformanceSupported, and k8sguard counts it anyway) unless the provider sets allow_burstable_control_plane",
		Story: storyT2,
	},
	Rule{
		ID: RuleInstanceUnknownType, Family: "instance", Severity: Error, Waivable: false,
		Checks: "the instance type exists in the region (DescribeInstanceTypes)",
		Story:  storyT2,
	},
	Rule{
		ID: RuleEtcdVolumeSlow, Family: "instance", Severity: Error, Waivable: true,
		Checks: "the etcd volume is SSD with at least 3000 IOPS (not st1, sc1, standard, or gp2/gp3 below 3000 IOPS)",
		Story:  Story{Name: "etcd too slow to keep its leader, API server timeouts (Zalando incident 5)", URL: storyT2.URL},
	},
)

// burstableFamilies are the instance families AWS sells with CPU credits
// (BurstablePerformanceSupported): T2 and its successors; and T1, which
// bursts without credits (on spare host cycles, throttled without
// warning), so DescribeInstanceTypes does not report it burstable:
// deliberately stricter (test/capacity compares the table with
// DescribeInstanceTypes and names this exception).
var burstableFamilies = map[string]bool{"t1": true, "t2": true, "t3": true, "t3a": true, "t4g": true}

// instanceTypeSyntax is family.size: "m6i.large", "t4g.nano", "u-6tb1.metal".
var instanceTypeSyntax = regexp.MustCompile(`^([a-z][a-z0-9-]*)\.([a-z0-9-]+)$`)

// InstanceFamily returns the family of an instance type ("t3a" of
// "t3a.large"), or an error naming the malformed type.
func InstanceFamily(instanceType string) (string, error) {
	m := instanceTypeSyntax.FindStringSubmatch(instanceType)
	if m == nil {
		return "", fmt.Errorf("instance type %q is not of the form family.size, for example m6i.large", instanceType)
	}
	return m[1], nil
}

// IsBurstableInstanceType reports whether the type belongs to a burstable
// family by the static table (no AWS call).
func IsBurstableInstanceType(instanceType string) (bool, error) {
	f, err := InstanceFamily(instanceType)
	if err != nil {
		return false, err
	}
	return burstableFamilies[f], nil
}

// InstanceTypeInfo is what DescribeInstanceTypes says about a type.
type InstanceTypeInfo struct {
	Exists    bool
	Burstable bool // BurstablePerformanceSupported
}

// Volume is an EBS volume of a launch template.
type Volume struct {
	Type       string // gp3, gp2, io1, io2, st1, sc1, standard
	SizeGiB    int64
	IOPS       int64 // 0: the type's default
	Throughput int64
}

// MinEtcdIOPS is the IOPS floor for the etcd volume: gp3's baseline, the
// figure etcd's hardware guide treats as the start of "fast".
const MinEtcdIOPS = 3000

// EffectiveIOPS is the IOPS the volume gets: gp2 earns 3 per GiB (100 to
// 16000), gp3 has a 3000 baseline, io1/io2 what is provisioned.
func (v Volume) EffectiveIOPS() int64 {
	switch v.Type {
	case "gp2":
		return min(max(3*v.SizeGiB, 100), 16000)
	case "gp3":
		if v.IOPS == 0 {
			return 3000
		}
	}
	return v.IOPS
}

// CheckVolume refuses what EC2 refuses in a launch template's EBS volume,
// which it only does when an instance launches ("launch template
// parameters are not fully validated"): a control-plane group that cannot
// replace a node. Throughput is a gp3 setting; IOPS are provisioned only on
// gp3 (3000 at least, its baseline), io1 and io2, and io1/io2 need them; a
// volume that is not the root (which the AMI's snapshot sizes) needs a size.
// Upper bounds are left to EC2: they have grown over the years.
func CheckVolume(v Volume, root bool) (field, problem string) {
	switch {
	case v.Throughput != 0 && v.Type != "gp3":
		return "throughput_mibps", fmt.Sprintf("throughput_mibps applies to gp3 volumes only; EC2 refuses it on %s", v.Type)
	case v.IOPS != 0 && v.Type != "gp3" && v.Type != "io1" && v.Type != "io2":
		return "iops", fmt.Sprintf("iops applies to gp3, io1 and io2 volumes only; EC2 refuses it on %s", v.Type)
	case v.IOPS == 0 && (v.Type == "io1" || v.Type == "io2"):
		return "iops", fmt.Sprintf("%s volumes need iops: their performance is what is provisioned", v.Type)
	case v.IOPS != 0 && v.IOPS < MinEtcdIOPS && v.Type == "gp3":
		return "iops", fmt.Sprintf("gp3 volumes have at least %d IOPS (their baseline); EC2 refuses iops = %d", MinEtcdIOPS, v.IOPS)
	case !root && v.SizeGiB == 0:
		return "size_gib", "a volume that is not the root needs size_gib: there is no snapshot to size it"
	}
	return "", ""
}

// ControlPlaneInstance is a k8sguard_control_plane_launch_template's shape.
type ControlPlaneInstance struct {
	InstanceType string
	EtcdVolume   *Volume
	// Info is DescribeInstanceTypes' answer; nil when not looked up.
	Info *InstanceTypeInfo
}

// CheckControlPlaneInstance runs the instance rules. With in.Info nil
// (terraform validate) only the static checks run.
func CheckControlPlaneInstance(in ControlPlaneInstance, s Settings) ([]Finding, error) {
	var fs []Finding
	family, err := InstanceFamily(in.InstanceType)
	if err != nil {
		return nil, err
	}
	typePath := Path{"instance_type"}
	switch {
	case in.Info != nil && !in.Info.Exists:
		fs = append(fs, finding(RuleInstanceUnknownType, typePath,
			"instance type %s does not exist in this region (DescribeInstanceTypes): check the spelling and the region's offerings.", in.InstanceType))
	case family == "t2":
		fs = append(fs, finding(RuleInstanceT2, typePath,
			"%s is a T2 instance: AWS maintenance that only affected T2 cut etcd members off the network and the API server timed out. "+
				"Use a fixed-performance type such as m6i.large.", in.InstanceType))
	case !s.AllowBurstableControlPlane && (burstableFamilies[family] || in.Info != nil && in.Info.Burstable):
		fs = append(fs, finding(RuleInstanceBurstable, typePath,
			"%s is burstable: when its CPU credits run out, etcd and the API server are throttled to the baseline and miss their heartbeats. "+
				"Use a fixed-performance type such as m6i.large, or set allow_burstable_control_plane = true in the provider.", in.InstanceType))
	}
	if v := in.EtcdVolume; v != nil {
		switch {
		case v.Type == "st1" || v.Type == "sc1" || v.Type == "standard":
			fs = append(fs, finding(RuleEtcdVolumeSlow, Path{"etcd_volume", "type"},
				"etcd volume type %s is a magnetic/HDD volume: etcd fsyncs every write and its leader elections time out on slow disks. Use gp3 (3000 IOPS or more) or io2.", v.Type))
		// gp2 earns its IOPS by size; the others are what is provisioned
		// (io1/io2 without iops are refused by CheckVolume instead).
		case v.EffectiveIOPS() < MinEtcdIOPS && (v.Type == "gp2" || v.IOPS > 0):
			p := Path{"etcd_volume", "iops"}
			how := fmt.Sprintf("Set iops to at least %d", MinEtcdIOPS)
			if v.Type == "gp2" {
				p = Path{"etcd_volume", "size_gib"}
				how = fmt.Sprintf("A gp2 volume earns 3 IOPS per GiB: use gp3, or at least %d GiB", MinEtcdIOPS/3)
			}
			fs = append(fs, finding(RuleEtcdVolumeSlow, p,
				"etcd volume %s of %d GiB gets %d IOPS, below %d: etcd fsyncs every write and misses heartbeats on slow disks. %s.",
				v.Type, v.SizeGiB, v.EffectiveIOPS(), MinEtcdIOPS, how))
		}
	}
	return fs, nil
}

package bench_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
)

// The kinds of etcd data the benches snapshot. Each fills etcd up to a size
// (or a key count) in steps, so one etcd serves 256 MiB and then 1 GiB.
//
//   - random: what does not compress, like Secrets encrypted at rest: per
//     GiB 1,344 values of 768 KiB of random bytes plus 16k keys of 1 KiB
//     (the mix of the measurement).
//   - kubernetes: many small objects, as in a real cluster: Pods and
//     ConfigMaps built with k8s.io/api and stored as the API server stores
//     them (protobuf, "k8s\x00"-prefixed; a quarter of the ConfigMaps as
//     JSON, as custom resources are), with random UIDs, names, IPs and
//     timestamps, and 20% Secrets by count whose data is encrypted
//     (random bytes behind the "k8s:enc:aescbc:v1:" prefix). About 60k
//     keys per GiB.
type dataKind struct {
	name string
	// fill writes keys until etcd holds about toMiB of values in total
	// (or, with keys > 0, until it holds that many keys).
	fill func(b *testing.B, cli *clientv3.Client, st *fillState, toMiB int, keys int)
}

// fillState is how far a fill has got, so the next step continues it.
type fillState struct {
	bytes int64
	keys  int
}

var (
	randomData = dataKind{name: "random", fill: fillRandom}
	kubeData   = dataKind{name: "kubernetes", fill: func(b *testing.B, cli *clientv3.Client, st *fillState, toMiB, keys int) {
		fillKubernetes(b, cli, st, toMiB, keys, 8<<10, 56<<10)
	}}
	// kubeSmallData is the same mix with small ConfigMaps, filled to a key
	// count: about 5 KiB per object, 100k keys in about 500 MiB.
	kubeSmallData = dataKind{name: "kubernetes-small", fill: func(b *testing.B, cli *clientv3.Client, st *fillState, toMiB, keys int) {
		fillKubernetes(b, cli, st, toMiB, keys, 1<<10, 8<<10)
	}}
)

// putAll writes what next produces with a few clients in parallel: etcd
// takes many small puts faster side by side than one after another.
func putAll(b *testing.B, cli *clientv3.Client, next func() (key string, value []byte, ok bool)) {
	b.Helper()
	type kv struct {
		k string
		v []byte
	}
	work := make(chan kv, 64)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range 4 {
		wg.Go(func() {
			for w := range work {
				if _, err := cli.Put(context.Background(), w.k, string(w.v)); err != nil {
					once.Do(func() { first = fmt.Errorf("put %s: %w", w.k, err) })
				}
			}
		})
	}
	for {
		k, v, ok := next()
		if !ok {
			break
		}
		work <- kv{k, v}
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func fillRandom(b *testing.B, cli *clientv3.Client, st *fillState, toMiB, _ int) {
	const big, small = 768 << 10, 1 << 10
	target := int64(toMiB) << 20
	putAll(b, cli, func() (string, []byte, bool) {
		if st.bytes >= target {
			return "", nil, false
		}
		// Per 1,344 big values, 16k small ones: one big value in 13 keys.
		size := small
		if st.keys%13 == 0 {
			size = big
		}
		v := make([]byte, size)
		rand.Read(v)
		st.keys++
		st.bytes += int64(size)
		return fmt.Sprintf("/registry/secrets/bench/%08d", st.keys), v, true
	})
}

func fillKubernetes(b *testing.B, cli *clientv3.Client, st *fillState, toMiB, keys, cmMin, cmMax int) {
	gen := newKubeGen(cmMin, cmMax)
	target := int64(toMiB) << 20
	putAll(b, cli, func() (string, []byte, bool) {
		if (keys > 0 && st.keys >= keys) || (keys == 0 && st.bytes >= target) {
			return "", nil, false
		}
		k, v := gen.object(b, st.keys)
		st.keys++
		st.bytes += int64(len(v))
		return k, v, true
	})
}

// kubeGen builds Kubernetes objects with random identities.
type kubeGen struct {
	rnd          *mrand.Rand
	proto        *protobuf.Serializer
	cmMin, cmMax int
	epoch        time.Time
}

func newKubeGen(cmMin, cmMax int) *kubeGen {
	var seed [32]byte
	rand.Read(seed[:])
	return &kubeGen{
		rnd:   mrand.New(mrand.NewChaCha8(seed)),
		proto: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme),
		cmMin: cmMin, cmMax: cmMax,
		epoch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

var namespaces = []string{"default", "kube-system", "payments", "checkout", "search", "ingress", "monitoring", "batch"}

func (g *kubeGen) hex(n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(g.rnd.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

func (g *kubeGen) meta(kind string, i int) metav1.ObjectMeta {
	ns := namespaces[g.rnd.IntN(len(namespaces))]
	app := fmt.Sprintf("app-%s", g.hex(5))
	return metav1.ObjectMeta{
		Name:              fmt.Sprintf("%s-%s-%s", app, g.hex(10), g.hex(5)),
		Namespace:         ns,
		UID:               types.UID(fmt.Sprintf("%s-%s-%s-%s-%s", g.hex(8), g.hex(4), g.hex(4), g.hex(4), g.hex(12))),
		ResourceVersion:   fmt.Sprint(1000 + i),
		CreationTimestamp: metav1.NewTime(g.epoch.Add(time.Duration(g.rnd.Int64N(int64(300 * 24 * time.Hour)))).Truncate(time.Second)),
		Labels: map[string]string{
			"app.kubernetes.io/name":    app,
			"app.kubernetes.io/part-of": ns,
			"pod-template-hash":         g.hex(10),
		},
		Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": fmt.Sprintf(`{"apiVersion":"v1","kind":%q,"metadata":{"name":%q}}`, kind, app),
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time:       &metav1.Time{Time: g.epoch.Add(time.Duration(g.rnd.Int64N(int64(300 * 24 * time.Hour)))).Truncate(time.Second)},
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/name":{}}}}`),
		}},
	}
}

func (g *kubeGen) ip() string {
	return fmt.Sprintf("10.%d.%d.%d", g.rnd.IntN(256), g.rnd.IntN(256), 1+g.rnd.IntN(254))
}

func (g *kubeGen) pod(i int) *corev1.Pod {
	m := g.meta("Pod", i)
	start := metav1.NewTime(m.CreationTimestamp.Add(time.Duration(g.rnd.IntN(600)) * time.Second))
	var containers []corev1.Container
	var statuses []corev1.ContainerStatus
	for c := range 1 + g.rnd.IntN(3) {
		name := fmt.Sprintf("c%d-%s", c, g.hex(4))
		var env []corev1.EnvVar
		for e := range 3 + g.rnd.IntN(8) {
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d_%s", e, strings.ToUpper(g.hex(4))), Value: g.hex(8 + g.rnd.IntN(24))})
		}
		containers = append(containers, corev1.Container{
			Name:  name,
			Image: fmt.Sprintf("registry.example.com/%s/%s@sha256:%s", m.Namespace, name, g.hex(64)),
			Args:  []string{"--port=8080", "--log-level=info", "--config=/etc/app/" + g.hex(6) + ".yaml"},
			Env:   env,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(fmt.Sprintf("%dm", 50+g.rnd.IntN(950))), corev1.ResourceMemory: resource.MustParse(fmt.Sprintf("%dMi", 64+g.rnd.IntN(960)))},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "kube-api-access-" + g.hex(5), MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
		})
		statuses = append(statuses, corev1.ContainerStatus{
			Name: name, Ready: true, RestartCount: int32(g.rnd.IntN(3)),
			Image: containers[c].Image, ImageID: "registry.example.com/" + name + "@sha256:" + g.hex(64),
			ContainerID: "containerd://" + g.hex(64),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
		})
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: m,
		Spec: corev1.PodSpec{
			Containers:         containers,
			NodeName:           fmt.Sprintf("ip-%s.ec2.internal", strings.ReplaceAll(g.ip(), ".", "-")),
			ServiceAccountName: "default",
			Volumes:            []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: m.Name}}}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: g.ip(), PodIP: g.ip(), StartTime: &start,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: m.CreationTimestamp},
			},
			ContainerStatuses: statuses,
		},
	}
}

func (g *kubeGen) configMap(i int) *corev1.ConfigMap {
	m := g.meta("ConfigMap", i)
	size := g.cmMin + g.rnd.IntN(g.cmMax-g.cmMin+1)
	data := map[string]string{}
	var sb strings.Builder
	for f := 0; sb.Len() < size; f++ {
		sb.Reset()
		// A config file: repetitive keys, random values.
		for sb.Len() < size/2+1 && sb.Len() < 16<<10 {
			fmt.Fprintf(&sb, "%s.%s.timeout_ms: %d\n%s.%s.endpoint: https://%s.%s.svc.cluster.local:%d/%s\n",
				m.Namespace, g.hex(4), g.rnd.IntN(30000), m.Namespace, g.hex(4), g.hex(6), m.Namespace, 1024+g.rnd.IntN(60000), g.hex(12))
		}
		data[fmt.Sprintf("config-%d.yaml", f)] = sb.String()
		size -= sb.Len()
		if size <= 0 {
			break
		}
		sb.Reset()
	}
	return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: m, Data: data}
}

// object returns the i-th object's key and stored value.
func (g *kubeGen) object(b *testing.B, i int) (string, []byte) {
	b.Helper()
	encode := func(obj runtime.Object, m *metav1.ObjectMeta, resource string, asJSON bool) (string, []byte) {
		var buf bytes.Buffer
		var err error
		if asJSON {
			err = json.NewEncoder(&buf).Encode(obj)
		} else {
			err = g.proto.Encode(obj, &buf)
		}
		if err != nil {
			b.Fatalf("encode %s: %v", resource, err)
		}
		return fmt.Sprintf("/registry/%s/%s/%s", resource, m.Namespace, m.Name), buf.Bytes()
	}
	switch n := g.rnd.IntN(10); {
	case n < 2: // a Secret, encrypted at rest: the stored value is ciphertext
		m := g.meta("Secret", i)
		v := make([]byte, 1<<10+g.rnd.IntN(7<<10))
		rand.Read(v)
		return fmt.Sprintf("/registry/secrets/%s/%s", m.Namespace, m.Name), append([]byte("k8s:enc:aescbc:v1:key1:"), v...)
	case n < 6:
		p := g.pod(i)
		return encode(p, &p.ObjectMeta, "pods", false)
	default:
		cm := g.configMap(i)
		return encode(cm, &cm.ObjectMeta, "configmaps", n == 9)
	}
}

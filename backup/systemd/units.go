// Package systemd ships etcdguard's unit files: etcdguard.service (the
// agent, Type=notify with a watchdog, hardened to a systemd-analyze
// exposure well under 2.5) and etcdguard-snapshot.service + .timer (the
// one-shot alternative). Install them into /etc/systemd/system. DropIns
// holds the drop-in for etcd's own unit that runs `etcdguard preflight`
// before etcd starts.
package systemd

import "embed"

// Units holds the unit files, for installers and tests.
//
//go:embed *.service *.timer
var Units embed.FS

// Names of the shipped units.
const (
	Agent         = "etcdguard.service"
	Snapshot      = "etcdguard-snapshot.service"
	SnapshotTimer = "etcdguard-snapshot.timer"
)

// DropIns holds drop-ins for other units, by their path under
// /etc/systemd/system.
//
//go:embed etcd.service.d/*.conf
var DropIns embed.FS

// EtcdPreflight is the drop-in for etcd.service.
const EtcdPreflight = "etcd.service.d/etcdguard-preflight.conf"

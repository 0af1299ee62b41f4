#!/bin/sh
# etcdguard postinst (deb) / %post (rpm): make systemd see the new or changed
# units. Only where systemd is running (not in containers or chroots, where
# systemctl would fail); the units are never enabled or started here: the
# configuration needs the cluster's etcd and store first.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0

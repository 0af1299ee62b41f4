#!/bin/sh
# etcdguard postrm (deb) / %postun (rpm): forget the removed units. Only
# where systemd is running. The configuration in /etc/etcdguard stays until
# a purge (dpkg --purge removes it; rpm keeps an edited one as .rpmsave).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0

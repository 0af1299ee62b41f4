#!/bin/sh
# etcdguard prerm (deb) / %preun (rpm): stop the units before their files go
# away. dpkg passes "remove" (not "upgrade"); rpm passes 0 on erase (1 on
# upgrade). An upgrade leaves them running; postinst reloads systemd.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop etcdguard.service etcdguard-snapshot.timer etcdguard-snapshot.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0

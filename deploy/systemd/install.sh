#!/bin/sh
# make install: the programs, their systemd units and system users, and the
# example configs, to standard paths. Existing configs are never overwritten.
#   deploy/systemd/install.sh BIN_DIR
# Environment: DESTDIR (staging root, for packages), PREFIX (/usr/local),
# SYSCONFDIR (/etc).
set -eu
bin=${1:?usage: install.sh BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-/usr/local}
sysconf=${SYSCONFDIR:-/etc}
dest=${DESTDIR:-}
unitdir=$prefix/lib/systemd/system
sysusersdir=$prefix/lib/sysusers.d

install -d -m 0755 "$dest$prefix/bin" "$dest$unitdir" "$dest$sysusersdir"
for p in license_exporter license_sidecar license_simulator; do
	install -m 0755 "$bin/$p" "$dest$prefix/bin/$p"
done
for u in license_exporter license_sidecar; do
	sed -e "s#/usr/local/bin/#$prefix/bin/#g" -e "s#/etc/license_#$sysconf/license_#g" \
		"$here/$u.service" >"$dest$unitdir/$u.service"
	chmod 0644 "$dest$unitdir/$u.service"
done
install -m 0644 "$here/license-monitor.sysusers" "$dest$sysusersdir/license-monitor.conf"

# The system users, now, on a live install (a package runs sysusers itself).
if [ -z "$dest" ] && command -v systemd-sysusers >/dev/null; then
	systemd-sysusers "$sysusersdir/license-monitor.conf"
fi

# Configs: readable by the program's group only, since they sit beside its
# secret. group is applied when it exists (not in a DESTDIR staging tree).
conf() { # program file mode
	dir=$dest$sysconf/$1
	install -d -m 0750 "$dir"
	if [ -e "$dir/$2" ]; then
		echo "kept $dir/$2 (exists)"
	else
		install -m "$3" "$here/$2" "$dir/$2"
		echo "installed $dir/$2"
	fi
	if [ -z "$dest" ] && getent group "$1" >/dev/null; then
		chgrp "$1" "$dir" "$dir/$2"
	fi
}
conf license_exporter license_exporter.yml 0640
conf license_sidecar license_sidecar.yml 0640
conf license_sidecar web-config.yml 0640

cat <<MSG

Installed. Next:
  1. Put the API link of your CSI account in $sysconf/license_exporter/api_url
     and the credential that may terminate sessions in $sysconf/license_sidecar/api_url:
       install -m 0640 -g license_exporter /dev/stdin $sysconf/license_exporter/api_url
  2. Edit the source name in both configs; add your users to
     $sysconf/license_sidecar/web-config.yml and license_sidecar.yml.
  3. systemctl daemon-reload && systemctl enable --now license_exporter license_sidecar
MSG

#!/usr/bin/env bash
# make run: the simulator, the exporter and (when built) the sidecar, until
# Ctrl-C. The exporter reads two sources: the simulator's CSI API (demo)
# and its FlexLM triad through the fake lmutil (demo-flexlm). The simulated account shows a working day at any hour: its clock
# starts at the most recent weekday 10:30 (UTC) at or before DEMO_NOW (an
# RFC 3339 time; default the real clock) and runs at real speed from there.
# DEMO_SIMULATOR_PORT, DEMO_EXPORTER_PORT and DEMO_SIDECAR_PORT move the
# programs off their default ports (9850, 9848, 9849).
set -euo pipefail
bin=${1:-bin}
cd "$(dirname "$0")/.."
sim_port=${DEMO_SIMULATOR_PORT:-9850}
exporter_port=${DEMO_EXPORTER_PORT:-9848}
sidecar_port=${DEMO_SIDECAR_PORT:-9849}
pids=()
tmp=$(mktemp -d)
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap stop INT TERM EXIT

wait_ready() { # url name pid [curl options]
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "${@:4}" "$1" 2>/dev/null; then return 0; fi
		kill -0 "$3" 2>/dev/null || { echo "$2 exited; see its log above" >&2; exit 1; }
		sleep 0.1
	done
	echo "$2 did not become ready at $1" >&2
	exit 1
}

# The FlexLM source's lmutil is the simulator's fake: license_simulator
# run through a symlink named lmutil reads the simulator -c names.
ln -s "$(cd "$bin" && pwd)/license_simulator" "$tmp/lmutil"

# The committed configs name the simulator's default address (9850, as
# 127.0.0.1:9850 for CSI and 9850@127.0.0.1 for FlexLM) and lmutil's
# place in the checkout.
for f in deploy/demo/license_exporter.yml deploy/sidecar/license_sidecar.yml; do
	sed -e "s/127\.0\.0\.1:9850/127.0.0.1:$sim_port/g" -e "s/9850@127\.0\.0\.1/$sim_port@127.0.0.1/g" \
		-e "s|^\( *lmutil:\).*|\1 $tmp/lmutil|" "$f" >"$tmp/$(basename "$f")"
done

"$bin/license_simulator" --web.listen-address="127.0.0.1:$sim_port" --speed=1 \
	--start-time=weekday-10:30 ${DEMO_NOW:+--now="$DEMO_NOW"} &
pids+=($!)
wait_ready "http://127.0.0.1:$sim_port/-/healthy" license_simulator "${pids[-1]}"
start_time=$(curl -fsS "http://127.0.0.1:$sim_port/-/control" | sed -n 's/.*"start_time":"\([^"]*\)".*/\1/p')

"$bin/license_exporter" --config.file="$tmp/license_exporter.yml" \
	--web.listen-address=":$exporter_port" &
pids+=($!)
wait_ready "http://127.0.0.1:$exporter_port/-/ready" license_exporter "${pids[-1]}"

sidecar_msg=""
if [ -x "$bin/license_sidecar" ] && [ -f deploy/sidecar/license_sidecar.yml ]; then
	"$bin/license_sidecar" --config.file="$tmp/license_sidecar.yml" \
		--web.config.file=deploy/sidecar/web-config.yml --web.listen-address=":$sidecar_port" &
	pids+=($!)
	# Basic auth covers every path of the sidecar, its probes too.
	wait_ready "http://127.0.0.1:$sidecar_port/-/ready" license_sidecar "${pids[-1]}" -u admin:demo-admin-pass
	sidecar_msg="  sidecar (monitor page): http://localhost:$sidecar_port/
$(sed -n 's/^#users: //p' deploy/sidecar/web-config.yml)"
fi

cat <<MSG

License Monitor demo is running:
  simulator (upstream API): http://127.0.0.1:$sim_port/api/license-monitor/v1/licenses
  simulator (FlexLM):       http://127.0.0.1:$sim_port/flexlm/lmstat  (what $tmp/lmutil lmstat -a prints)
  simulator control:        http://127.0.0.1:$sim_port/-/control
  exporter metrics:         http://localhost:$exporter_port/metrics
  exporter landing page:    http://localhost:$exporter_port/
$sidecar_msg
Demo clock: the simulated account started at $start_time (the most recent
weekday 10:30 UTC) and runs at real speed; set DEMO_NOW=<RFC 3339> to
start from another moment.
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"

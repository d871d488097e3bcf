#!/usr/bin/env bash
# make run: the simulator, the exporter and (when built) the sidecar on
# their default ports, until Ctrl-C.
set -euo pipefail
bin=${1:-bin}
cd "$(dirname "$0")/.."
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
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

"$bin/license_simulator" --web.listen-address=127.0.0.1:9850 --speed=1 &
pids+=($!)
wait_ready http://127.0.0.1:9850/-/healthy license_simulator "${pids[-1]}"

"$bin/license_exporter" --config.file=deploy/demo/license_exporter.yml --web.listen-address=:9848 &
pids+=($!)
wait_ready http://127.0.0.1:9848/-/ready license_exporter "${pids[-1]}"

sidecar_msg=""
if [ -x "$bin/license_sidecar" ] && [ -f deploy/sidecar/license_sidecar.yml ]; then
	"$bin/license_sidecar" --config.file=deploy/sidecar/license_sidecar.yml \
		--web.config.file=deploy/sidecar/web-config.yml --web.listen-address=:9849 &
	pids+=($!)
		# Basic auth covers every path of the sidecar, its probes too.
	wait_ready http://127.0.0.1:9849/-/ready license_sidecar "${pids[-1]}" -u admin:demo-admin-pass
	sidecar_msg="  sidecar (monitor page): http://localhost:9849/
$(sed -n 's/^#users: //p' deploy/sidecar/web-config.yml)"
fi

cat <<MSG

License Monitor demo is running:
  simulator (upstream API): http://127.0.0.1:9850/api/license-monitor/v1/licenses
  simulator control:        http://127.0.0.1:9850/-/control
  exporter metrics:         http://localhost:9848/metrics
  exporter landing page:    http://localhost:9848/
$sidecar_msg
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"

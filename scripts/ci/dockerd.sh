#!/bin/bash
# Start or stop a private dockerd under $CI_DOCKER_DIR (no bridge, no iptables: the machine's network is
# left alone). `start` prints the DOCKER_HOST to export; `stop` ends it by PID and unmounts what it left.
set -euo pipefail
D=${CI_DOCKER_DIR:?set CI_DOCKER_DIR to a scratch folder}
case "${1:?usage: dockerd.sh start|stop}" in
start)
  mkdir -p "$D/data" "$D/exec" "$D/logs"
  PATH=/usr/sbin:/usr/bin:$PATH nohup dockerd --host "unix://$D/docker.sock" --data-root "$D/data" \
    --exec-root "$D/exec" --pidfile "$D/dockerd.pid" --iptables=false --ip-forward=false --bridge=none \
    >"$D/logs/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    DOCKER_HOST="unix://$D/docker.sock" /usr/bin/docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  DOCKER_HOST="unix://$D/docker.sock" /usr/bin/docker version --format 'dockerd {{.Server.Version}} up' >&2
  echo "dockerd pid $(cat "$D/dockerd.pid")" >&2
  echo "unix://$D/docker.sock"
  ;;
stop)
  if [ -f "$D/dockerd.pid" ]; then
    P=$(cat "$D/dockerd.pid")
    kill -TERM "$P" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$P" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$P" 2>/dev/null; then echo "dockerd $P still alive" >&2; else echo "dockerd $P stopped" >&2; fi
    rm -f "$D/dockerd.pid"
  fi
  # dockerd leaves its exec/netns (nsfs) mount and sometimes overlay mounts behind
  awk -v d="$D/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" && echo "unmounted $m" >&2
  done
  ;;
esac

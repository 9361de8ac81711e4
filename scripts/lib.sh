# Shared helpers for the project's shell scripts. Source it; don't run it.
# shellcheck shell=bash

log() { printf '\n=== [%s] %s\n' "$(date +%T)" "$*" >&2; }

# Run a command and report how long it took; keeps its exit code.
timed() {
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  log "took $((SECONDS - t0))s (rc=$rc): $*"
  return $rc
}

# apt-get that waits while another process holds the dpkg lock.
apt_retry() {
  local i out
  for i in $(seq 1 40); do
    if out=$(DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>&1); then
      printf '%s\n' "$out" | tail -n 2
      return 0
    fi
    if grep -qiE 'could not get lock|unable to acquire|lock-frontend|dpkg was interrupted' <<<"$out"; then
      echo "dpkg lock held, retrying in 30s" >&2
      sleep 30
    else
      printf '%s\n' "$out" >&2
      return 1
    fi
  done
  return 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Wait until an HTTP URL answers (any status), or fail after $2 seconds.
wait_http() {
  local url=$1 limit=${2:-60} t0=$SECONDS
  until curl -s -o /dev/null --max-time 2 "$url"; do
    if ((SECONDS - t0 > limit)); then
      echo "timed out after ${limit}s waiting for $url" >&2
      return 1
    fi
    sleep 0.5
  done
}

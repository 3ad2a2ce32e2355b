#!/usr/bin/env bash
# A real redis-server whose whole redis.conf (with requirepass) is a secret: it lives only on
# the workload's private tmpfs at /run/secrets, never on disk, in argv or in the environment.
# Checks the server with the real redis-cli, then stops it. Exit 0 means it all held.
set -euo pipefail
shim=${SECRETSHIM:-secretshim}
work=$(mktemp -d)
export SECRETSHIM_ROOT="$work/store" SECRETSHIM_STATE_DIR="$work/state"
port=${REDIS_PORT:-16379}
# The password goes to redis-cli through REDISCLI_AUTH, never through argv.
password=
trap 'REDISCLI_AUTH="$password" redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

password=$(openssl rand -hex 24)
printf 'bind 127.0.0.1\nport %s\nrequirepass %s\nsave ""\nappendonly no\ndir %s\n' "$port" "$password" "$work" \
  | "$shim" secret create redis.conf - >/dev/null
echo "created secret redis.conf"

"$shim" run --name redis-demo --secret redis.conf,mode=0400 -- redis-server /run/secrets/redis.conf >"$work/redis.log" 2>&1 &
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

reply=$(redis-cli -p "$port" ping 2>&1 || true)
case "$reply" in *NOAUTH*) echo "without the password: $reply" ;; *) echo "FAIL: expected NOAUTH, got: $reply"; exit 1 ;; esac
reply=$(REDISCLI_AUTH="$password" redis-cli -p "$port" ping)
[ "$reply" = PONG ] || { echo "FAIL: expected PONG, got: $reply"; exit 1; }
echo "with the password from the secret: $reply"

"$shim" ps
[ -z "$(ls -A /run/secrets 2>/dev/null)" ] || { echo "FAIL: the host sees files in /run/secrets"; exit 1; }
grep -q " /run/secrets " /proc/self/mountinfo && { echo "FAIL: the host sees the secrets tmpfs"; exit 1; }
pid=$(pgrep -f "redis-server 127.0.0.1:$port" | head -1)
grep -qF -f <(printf '%s\n' "$password") "/proc/$pid/environ" "/proc/$pid/cmdline" && { echo "FAIL: password in environ/argv"; exit 1; }
echo "host: /run/secrets empty, no tmpfs in its mount table; password in neither argv nor environment"
echo "redis example: OK"

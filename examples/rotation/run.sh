#!/usr/bin/env bash
# Rotating secrets of running services without a restart (`secretshim update`), as Docker's docs
# rotate a database password with `service update --secret-rm/--secret-add` (which restarts
# the service; here nothing restarts):
#  1. PostgreSQL: the server and psql run through secretshim. The server gets pg_password as
#     its password file; the rotation mounts the old secret as old_pg_password and the new one
#     as pg_password, psql changes the role's password reading both files, then the old secret
#     is revoked and can be removed.
#  2. nginx: a new certificate and key swapped in under the same file names, then `--signal HUP`
#     makes nginx reload them; the certificate served changes (its serial, by openssl s_client).
set -euo pipefail
shim=${SECRETSHIM:-secretshim}
work=$(mktemp -d)
chmod 755 "$work"  # the postgres user reaches its data dir under it
export SECRETSHIM_ROOT="$work/store" SECRETSHIM_STATE_DIR="$work/state"
pg_port=${PG_PORT:-15432}
tls_port=${NGINX_PORT:-18444}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
  for name in pg nginx-rotation; do
    pid=$("$shim" ps --format json 2>/dev/null | grep "\"Name\":\"$name\"" | sed 's/.*"PID":\([0-9]*\).*/\1/' || true)
    [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null || true
  done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() { echo "FAIL: $*"; cat "$work"/*.log 2>/dev/null || true; exit 1; }

# --- PostgreSQL --------------------------------------------------------------------------
pg_uid=$(id -u postgres) pg_gid=$(id -g postgres)
head -c 18 /dev/urandom | base64 | tr -d '/+=\n' | "$shim" secret create pg_password - >/dev/null
head -c 18 /dev/urandom | base64 | tr -d '/+=\n' | "$shim" secret create pg_password_v2 - >/dev/null
mkdir pgdata && chown postgres:postgres pgdata && chmod 700 pgdata
# initdb reads the first password from the secret (its --pwfile), as the postgres user.
"$shim" run --user "$pg_uid:$pg_gid" --secret "pg_password,uid=$pg_uid,mode=0400" -- \
  "$pg_bin/initdb" -D "$work/pgdata" -U admin --auth=scram-sha-256 --pwfile=/run/secrets/pg_password \
  --locale=C -E UTF8 >initdb.log 2>&1 || fail "initdb"
"$shim" run --name pg --user "$pg_uid:$pg_gid" --secret "pg_password,uid=$pg_uid,mode=0400" -- \
  "$pg_bin/postgres" -D "$work/pgdata" -p "$pg_port" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
  >postgres.log 2>&1 &
for _ in $(seq 200); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.05; done

# A client reads its password from its own secret (the value never in argv).
psql_as() {  # psql_as SECRET SQL: runs SQL as admin, with the password of SECRET
  "$shim" run --secret "$1,target=pw" -- sh -c \
    "PGPASSWORD=\$(cat /run/secrets/pw) exec $pg_bin/psql -h 127.0.0.1 -p $pg_port -U admin -d postgres -tAc \"$2\"" 2>>psql.log
}
[ "$(psql_as pg_password 'select 1')" = 1 ] || fail "psql with the first password"
echo "postgres: admin logs in with pg_password"

# The rotation: old secret under a new name, the new secret under the name the server uses.
"$shim" update --secret-rm pg_password \
  --secret-add "pg_password,target=old_pg_password,uid=$pg_uid,mode=0400" \
  --secret-add "pg_password_v2,target=pg_password,uid=$pg_uid,mode=0400" pg >/dev/null
server=$("$shim" ps --format json | grep '"Name":"pg"' | sed 's/.*"PID":\([0-9]*\).*/\1/')
[ "$(ls "/proc/$server/root/run/secrets" | tr '\n' ' ')" = "old_pg_password pg_password " ] || fail "the server's secrets after the rotation"
kill -0 "$server" || fail "the server restarted"
# psql changes the password reading both files: the old one to log in, the new one to set.
"$shim" run --secret pg_password,target=old_pg_password --secret pg_password_v2,target=pg_password -- sh -c "
  PGPASSWORD=\$(cat /run/secrets/old_pg_password) exec $pg_bin/psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $pg_port -U admin -d postgres" \
  >>psql.log 2>&1 <<'SQL' || fail "ALTER ROLE"
\set newpw `cat /run/secrets/pg_password`
ALTER ROLE admin PASSWORD :'newpw';
SQL
echo "postgres: ALTER ROLE admin read old_pg_password and pg_password from /run/secrets"
"$shim" update --secret-rm pg_password pg >/dev/null   # the old secret, now old_pg_password
[ "$(ls "/proc/$server/root/run/secrets")" = pg_password ] || fail "old_pg_password still granted"
[ "$(psql_as pg_password_v2 'select 1')" = 1 ] || fail "psql with the new password"
[ -z "$(psql_as pg_password 'select 1' || true)" ] || fail "the old password still works"
"$shim" secret rm pg_password >/dev/null || fail "the revoked secret is still held"
echo "postgres: the new password works, the old one does not, and its secret is removed"

# --- nginx --------------------------------------------------------------------------------
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -key ca.key -days 2 -subj "/CN=secretshim rotation CA" -out ca.crt
for version in 1 2; do
  openssl genrsa -out "site$version.key" 2048 2>/dev/null
  openssl req -new -key "site$version.key" -subj "/CN=localhost" -out site.csr
  openssl x509 -req -in site.csr -CA ca.crt -CAkey ca.key -set_serial "$((1000 + version))" -days 2 -out "site$version.crt" 2>/dev/null
  "$shim" secret create "site_v$version.key" "site$version.key" >/dev/null
  "$shim" secret create "site_v$version.crt" "site$version.crt" >/dev/null
  rm "site$version.key"
done
mkdir nginx
cat > nginx.conf <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    # nginx hands its temp folders to its worker user: one of its own, not the store's parent.
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate /run/secrets/site.crt;
        ssl_certificate_key /run/secrets/site.key;
        location / { return 200 "ok\n"; }
    }
}
CONF
"$shim" run --name nginx-rotation --secret site_v1.key,target=site.key,mode=0400 --secret site_v1.crt,target=site.crt \
  -- nginx -c "$work/nginx.conf" -g "daemon off;" >nginx.log 2>&1 &
serial() { openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial; }
for _ in $(seq 100); do serial >/dev/null 2>&1 && break; sleep 0.05; done
before=$(serial)
"$shim" update --secret-rm site_v1.key --secret-rm site_v1.crt \
  --secret-add site_v2.key,target=site.key,mode=0400 --secret-add site_v2.crt,target=site.crt --signal HUP nginx-rotation >/dev/null
after=$before
for _ in $(seq 100); do after=$(serial 2>/dev/null || true); [ "$after" != "$before" ] && break; sleep 0.05; done
echo "nginx: certificate $before before the update, $after after"
[ "$before" = "serial=03E9" ] && [ "$after" = "serial=03EA" ] || fail "nginx did not serve the new certificate"
echo "rotation example: OK"

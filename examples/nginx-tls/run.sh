#!/usr/bin/env bash
# Docker's secrets TLS example, without Swarm: site.key, site.crt and site.conf are secrets
# served to a real nginx, checked with curl --cacert against the example's own root CA.
set -euo pipefail
shim=${SECRETSHIM:-secretshim}
work=$(mktemp -d)
export SECRETSHIM_ROOT="$work/store" SECRETSHIM_STATE_DIR="$work/state"
port=${NGINX_PORT:-18443}
trap 'kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true; sleep 0.2; rm -rf "$work"' EXIT
cd "$work"

# A root CA and a site certificate for localhost, as in Docker's docs.
openssl genrsa -out root-ca.key 2048 2>/dev/null
openssl req -x509 -new -key root-ca.key -days 2 -subj "/CN=secretshim example root CA" -out root-ca.crt
openssl genrsa -out site.key 2048 2>/dev/null
openssl req -new -key site.key -subj "/CN=localhost" -out site.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > site.ext
openssl x509 -req -in site.csr -CA root-ca.crt -CAkey root-ca.key -CAcreateserial -days 2 -extfile site.ext -out site.crt 2>/dev/null

cat > site.conf <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate /run/secrets/site.crt;
        ssl_certificate_key /run/secrets/site.key;
        location / { return 200 "served over TLS by a key nobody else can see\n"; }
    }
}
CONF
"$shim" secret create site.key site.key >/dev/null
"$shim" secret create site.crt site.crt >/dev/null
"$shim" secret create site.conf site.conf >/dev/null
rm site.key   # the only copy of the key is now the encrypted store
echo "created secrets site.key, site.crt, site.conf"

"$shim" run --name nginx-demo --secret site.key,mode=0400 --secret site.crt --secret site.conf \
  -- nginx -c /run/secrets/site.conf -g "daemon off;" >"$work/nginx.log" 2>&1 &
for _ in $(seq 100); do curl -s --cacert root-ca.crt "https://localhost:$port/" >/dev/null 2>&1 && break; sleep 0.05; done

body=$(curl -sS --cacert root-ca.crt "https://localhost:$port/")
echo "curl --cacert root-ca.crt https://localhost:$port/ -> $body"
[ "$body" = "served over TLS by a key nobody else can see" ] || { echo "FAIL"; cat "$work/nginx.log"; exit 1; }
[ -z "$(ls -A /run/secrets 2>/dev/null)" ] || { echo "FAIL: the host sees files in /run/secrets"; exit 1; }
echo "nginx-tls example: OK"

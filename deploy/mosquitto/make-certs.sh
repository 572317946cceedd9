#!/usr/bin/env bash
# Certificates for the MES broker's TLS listener, made with openssl:
#   a CA (ca.crt, ca.key), the broker's certificate (server.crt, server.key) for the given host
#   names / IP addresses, and one client certificate per client name (<name>.crt, <name>.key).
#
#   deploy/mosquitto/make-certs.sh DIR [--host NAME|IP]... [CLIENT]...
#   e.g. make-certs.sh /etc/mosquitto/mes/certs --host broker.plant.local mes-bridge line1-gw
#
# localhost and 127.0.0.1 are always in the server certificate. Existing files are kept (run
# it again to add clients); delete DIR to start over. Keys are readable by their owner only —
# give the broker's group read access to server.key (chgrp mosquitto) after installing.
# Validity: CA 10 years, server and clients 2 years (CERT_DAYS). Keep ca.key off the broker.
set -euo pipefail

usage() { echo "usage: $0 DIR [--host NAME|IP]... [CLIENT]..." >&2; exit 2; }
[ $# -ge 1 ] || usage
dir="$1"; shift
hosts=(localhost 127.0.0.1)
clients=()
while [ $# -gt 0 ]; do
  case "$1" in
    --host) [ $# -ge 2 ] || usage; hosts+=("$2"); shift 2 ;;
    -*) usage ;;
    *) clients+=("$1"); shift ;;
  esac
done
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }
days="${CERT_DAYS:-730}"
mkdir -p "$dir"
umask 077
cd "$dir"

if [ ! -s ca.crt ]; then
  openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days 3650 \
    -keyout ca.key -out ca.crt -subj "/O=Open MES/CN=Open MES broker CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  echo "made $dir/ca.crt"
fi

# sign NAME EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
  local name="$1" extensions="$2"
  openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/O=Open MES/CN=$name" 2>/dev/null
  printf '%s\n' "$extensions" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  echo "made $dir/$name.crt"
}

if [ ! -s server.crt ]; then
  san=""
  for host in "${hosts[@]}"; do
    if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then entry="IP:$host"; else entry="DNS:$host"; fi
    san="${san:+$san,}$entry"
  done
  sign server "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
fi

for client in "${clients[@]}"; do
  if [[ ! "$client" =~ ^[A-Za-z0-9._-]+$ ]] || [ "$client" = server ] || [ "$client" = ca ]; then
    echo "$0: client name '$client' must be letters, digits, . _ - (not server or ca)" >&2
    exit 2
  fi
  [ -s "$client.crt" ] && continue
  sign "$client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
done
chmod 644 ca.crt server.crt

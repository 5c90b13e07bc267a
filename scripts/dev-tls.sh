#!/usr/bin/env bash
# Development TLS material for the production broker configuration: a CA and a server
# certificate signed by it, made with openssl alone (nothing is downloaded).
#
#   scripts/dev-tls.sh OUT_DIR [NAME ...]
#
# OUT_DIR gets ca.crt (give this to devices and workers: SR_MQTT_CA_FILE, the app's
# [broker] ca_file), ca.key (keep it; it signs), server.crt and server.key (the broker's
# certfile and keyfile). Each NAME is put in the server certificate's subjectAltName as a
# DNS name, or as an IP address when it looks like one; the default is localhost and
# 127.0.0.1. A CA already in OUT_DIR is reused, so a new server certificate stays trusted by
# the devices that hold ca.crt. For production, use certificates of your own PKI instead.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT_DIR [NAME ...]  (NAME: DNS name or IP address for the server)" >&2
    exit 2
fi
out=$1
shift
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    names=(localhost 127.0.0.1)
fi
command -v openssl >/dev/null || { echo "$0: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out"
umask 077

san=""
for name in "${names[@]}"; do
    if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
        san+="IP:${name},"
    else
        san+="DNS:${name},"
    fi
done
san=${san%,}

if [[ ! -s $out/ca.key || ! -s $out/ca.crt ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 825 \
        -keyout "$out/ca.key" -out "$out/ca.crt" \
        -subj "/O=sighting-report development/CN=sighting-report dev CA $(date +%s%N)" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "$out/server.key" -out "$out/server.csr" \
    -subj "/O=sighting-report development/CN=${names[0]}" 2>/dev/null
extfile=$(mktemp)
trap 'rm -f "$extfile"' EXIT
cat >"$extfile" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=${san}
EXT
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -out "$out/server.crt" -days 397 -sha256 -extfile "$extfile" 2>/dev/null
rm -f "$out/server.csr" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"
chmod 600 "$out/ca.key" "$out/server.key"
echo "$out: ca.crt, ca.key, server.crt, server.key (subjectAltName ${san})"

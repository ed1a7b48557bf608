#!/bin/sh
# Makes a CA and a certificate per service for deploy/compose.yaml, in
# deploy/secrets/: each certificate names its service (trellis-okr, ...)
# and is valid for the compose host name (okr), localhost and 127.0.0.1,
# for serving and for calling peers. For trying Trellis out; in production
# use certificates from your own CA. Needs openssl.
set -eu
secrets="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$secrets"
cd "$secrets"
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=Trellis development CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
for service in strategy okr health cascade; do
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n' \
    "$service" > "$service.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=trellis-$service" -keyout "$service.key" -out "$service.csr"
  openssl x509 -req -in "$service.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$service.ext" -out "$service.pem"
  rm "$service.csr" "$service.ext"
done
# The servers run as uid 65532 and read the keys through the mounts.
chmod 644 ./*.key
chmod 600 ca.key
echo "certificates in $secrets; the CA for clients is $secrets/ca.pem"

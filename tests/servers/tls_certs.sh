#!/bin/sh
# Makes the certificates of the gRPC TLS tests in DIR with the openssl CLI (EC P-256, a few days):
#   ca.pem/ca.key          the test CA
#   other-ca.pem           an unrelated CA (the "wrong CA" case)
#   server.pem/server.key  signed by ca, for DNS:localhost and IP:127.0.0.1
#   expired.pem/expired.key  the same names, valid only in January 2020
#   client.pem/client.key  a client certificate signed by ca
# usage: sh tests/servers/tls_certs.sh DIR
set -e
d=$1
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 3 -subj /CN=maestro-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 3 -subj /CN=maestro-other-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
  "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" > server.ext
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature" \
  "extendedKeyUsage=clientAuth" > client.ext
for n in server expired client; do
  key $n.key
  openssl req -new -key $n.key -out $n.csr -subj /CN=$n
done
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 \
  -extfile server.ext -out server.pem 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 \
  -extfile client.ext -out client.pem 2>/dev/null
# `openssl x509` cannot backdate: `openssl ca` with fixed dates and a throwaway database.
: > index.txt
echo 1000 > serial
cat > ca.cnf <<CNF
[ca]
default_ca = c
[c]
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = p
[p]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext -notext 2>/dev/null

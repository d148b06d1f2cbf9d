#!/bin/sh
# Regenerates the key fixtures with OpenSSL 3 (run in this folder). The keys
# are throwaway test keys and protect nothing. Tests only rely on the kinds
# and formats of the files, never on their exact bytes.
set -eu
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048-pkcs8.pem
openssl pkey -in rsa2048-pkcs8.pem -traditional -out rsa2048-pkcs1.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024-pkcs8.pem
openssl ecparam -name prime256v1 -genkey -out p256-sec1-params.pem   # EC PARAMETERS + EC PRIVATE KEY
openssl pkey -in p256-sec1-params.pem -out p256-pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384-pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp224r1 -out p224-pkcs8.pem
openssl genpkey -algorithm ED25519 -out ed25519-pkcs8.pem
openssl pkey -in rsa2048-pkcs8.pem -aes256 -passout pass:secret -out rsa2048-encrypted-pkcs8.pem
openssl pkey -in rsa2048-pkcs1.pem -traditional -aes256 -passout pass:secret -out rsa2048-encrypted-pkcs1.pem
openssl pkey -in rsa2048-pkcs8.pem -pubout -out rsa2048-public.pem

# A CA, an intermediate and a leaf for the .p12 files.
openssl req -x509 -new -key p384-pkcs8.pem -subj "/C=VN/O=Test/CN=Test Root" -days 36500 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem
openssl req -new -key p256-pkcs8.pem -subj "/C=VN/O=Test/CN=Test Issuing CA" -out issuing.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in issuing.csr -CA root.pem -CAkey p384-pkcs8.pem -days 36500 -extfile ca.ext -out issuing.pem
openssl req -new -key rsa2048-pkcs8.pem -subj "/C=VN/L=Hà Nội/O=BỘ TÀI CHÍNH/CN=CỤC THUẾ" -utf8 -out leaf.csr
printf 'keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=1.3.6.1.5.5.7.3.36\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA issuing.pem -CAkey p256-pkcs8.pem -days 36500 -extfile leaf.ext -out leaf-rsa2048.pem
rm -f issuing.csr leaf.csr ca.ext leaf.ext
# CA certificates first, leaf last: readers must not assume the leaf comes first.
cat root.pem issuing.pem > cas.pem
openssl pkcs12 -export -inkey rsa2048-pkcs8.pem -in leaf-rsa2048.pem -certfile cas.pem -passout pass:secret -out leaf-openssl3.p12
openssl pkcs12 -export -legacy -inkey rsa2048-pkcs8.pem -in leaf-rsa2048.pem -certfile cas.pem -passout pass:secret -out leaf-legacy.p12
openssl pkcs12 -export -inkey rsa2048-pkcs8.pem -in leaf-rsa2048.pem -certfile cas.pem -descert -keypbe PBE-SHA1-3DES -macalg sha1 -passout pass:secret -out leaf-windows.p12
openssl pkcs12 -export -inkey rsa2048-pkcs8.pem -in leaf-rsa2048.pem -nomac -keypbe NONE -certpbe NONE -passout pass: -out leaf-nomac.p12
rm -f cas.pem

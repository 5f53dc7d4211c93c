#!/usr/bin/env bash
# Creates a development configuration, key material and a self-signed
# certificate under DIR (default var/) on first use. Never overwrites: a file
# that exists is kept, so restarting `make run` keeps sessions and data.
set -euo pipefail
DIR="${1:-var}"
MARKER="# gatehouse development secret - never use in production"
umask 077
mkdir -p "$DIR/keys" "$DIR/tls"

if [ ! -f "$DIR/keys/master.key" ]; then
  { echo "$MARKER"; echo "v1:$(openssl rand -base64 32)"; } > "$DIR/keys/master.key"
fi
if [ ! -f "$DIR/keys/token-hmac.key" ]; then
  { echo "$MARKER"; openssl rand -base64 48; } > "$DIR/keys/token-hmac.key"
fi
if [ ! -f "$DIR/tls/cert.pem" ] || [ ! -f "$DIR/tls/key.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" 2>/dev/null
  echo "dev-setup: self-signed certificate for localhost in $DIR/tls/cert.pem"
fi
if [ ! -f "$DIR/gatehouse.toml" ]; then
  cat > "$DIR/gatehouse.toml" <<TOML
# Development configuration made by scripts/dev-setup.sh. See
# config/gatehouse.toml for every key. Paths are relative to this file.
profile = "development"

[server]
listen = "127.0.0.1"
port = 8443
cert_file = "tls/cert.pem"
key_file = "tls/key.pem"
redirect_port = 8080

[crypto]
master_key_file = "keys/master.key"

[tokens]
hmac_secret_file = "keys/token-hmac.key"

[store]
driver = "sqlite"
sqlite_path = "gatehouse.db"
TOML
  echo "dev-setup: development configuration in $DIR/gatehouse.toml"
fi

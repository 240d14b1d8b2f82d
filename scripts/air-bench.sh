#!/usr/bin/env bash
# What a window's upload costs on the air: a live `lakenode run` (real time, 1-minute
# windows, a sample every 5 s, health rows on) uploads through a metering TCP proxy
# (scripts/air_meter.py) to the embedded S3 server over https, with a certificate chain
# the size of a public endpoint's (root + intermediate + leaf, RSA 2048; the node trusts
# the root with --ca-file and connects by the name `localhost`, so it sends SNI) and
# connections closed after 5 s idle by the server (`serve --idle-timeout 5s`), as S3
# closes them long before the next window. Prints per upload: connections, full and
# resumed TLS handshakes, TLS record bytes each way, body bytes and the overhead, then a
# summary. Real time: about a minute per window (the first waits for the next minute).
#
#   scripts/air-bench.sh [WINDOWS]            # default 6
#
# Environment: LAKENODE_BIN (default: a debug build, made here), AIR_JSON (also write
# each upload as a JSON line to this file), AIR_HEALTH=0 (no health rows: one request per
# window), AIR_RUN_ARGS (more `run` flags), AIR_WINDOW (window length, default 1m).
# Batched uploads: AIR_RUN_ARGS="--upload-every 2m" makes each upload a batch (two
# 1-minute windows and their health rows); the summary prints connections and files per
# upload (batch) and the overhead per file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
windows="${1:-6}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$root"
if [ -z "${LAKENODE_BIN:-}" ]; then
  cargo build -q -p lakenode-cli --bin lakenode
  LAKENODE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/lakenode"
fi

# The chain: a root, an intermediate, a leaf for localhost; RSA 2048 like most public
# endpoints (S3's chain is also RSA 2048 leaf + intermediate).
pki="$work/pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
    -subj "/C=US/O=lakenode bench/CN=lakenode bench root CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey rsa:2048 -nodes -keyout int.key -out int.csr \
    -subj "/C=US/O=lakenode bench/CN=lakenode bench intermediate CA RSA 2048"
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > int.ext
  openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
    -extfile int.ext -out int.pem
  openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=localhost"
  # What a public endpoint's leaf carries besides its key: a dozen names (S3's regional
  # certificate lists its dual-stack, website and access-point names), where to find the
  # issuer and revocation, the CA/Browser policy, and three Certificate Transparency
  # SCTs (an opaque ~360-byte extension here; clients that do not check CT ignore it).
  sans="DNS:localhost,IP:127.0.0.1"
  for n in s3 '*.s3' s3-website s3.dualstack '*.s3.dualstack' s3-control '*.s3-control' \
      s3-accesspoint '*.s3-accesspoint' s3-accesspoint.dualstack '*.s3-accesspoint.dualstack'; do
    sans="$sans,DNS:$n.eu-central-1.bench.lakenode.invalid"
  done
  sct="$(head -c 360 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  {
    echo "subjectAltName=$sans"
    echo "extendedKeyUsage=serverAuth"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "authorityInfoAccess=OCSP;URI:http://ocsp.bench.lakenode.invalid,caIssuers;URI:http://crt.bench.lakenode.invalid/intermediate.cer"
    echo "crlDistributionPoints=URI:http://crl.bench.lakenode.invalid/intermediate.crl"
    echo "certificatePolicies=2.23.140.1.2.1"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    echo "1.3.6.1.4.1.11129.2.4.2=ASN1:FORMAT:HEX,OCTETSTRING:$sct"
  } > leaf.ext
  openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -days 30 \
    -extfile leaf.ext -out leaf.pem
  cat leaf.pem int.pem > chain.pem
) > "$work/openssl.log" 2>&1
chain_der=0
for c in leaf int; do
  chain_der=$((chain_der + $(openssl x509 -in "$pki/$c.pem" -outform der | wc -c)))
done
echo "certificate chain sent by the server: leaf + intermediate, $chain_der bytes DER"

export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
"$LAKENODE_BIN" serve --data-dir "$work/s3" --tls-cert "$pki/chain.pem" --tls-key "$pki/leaf.key" \
  --idle-timeout 5s --log warn > "$work/serve.out" 2> "$work/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" && break; sleep 0.1; done
s3_port="$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/serve.out")"
[ -n "$s3_port" ] || { cat "$work/serve.err"; exit 1; }

python3 -u "$root/scripts/air_meter.py" --upstream "127.0.0.1:$s3_port" --data-dir "$work/s3" \
  --uploads "$windows" ${AIR_JSON:+--json "$AIR_JSON"} > "$work/meter.out" &
meter=$!
pids+=($meter)
for _ in $(seq 100); do grep -q "listening on" "$work/meter.out" && break; sleep 0.1; done
meter_port="$(sed -n 's|^listening on \([0-9]*\)$|\1|p' "$work/meter.out")"
echo "embedded S3 https://127.0.0.1:$s3_port (idle timeout 5 s), meter on port $meter_port;" \
  "$windows uploads of ${AIR_WINDOW:-1m} windows ${AIR_RUN_ARGS:-}"

# shellcheck disable=SC2086 # AIR_RUN_ARGS is a list of flags
"$LAKENODE_BIN" run --endpoint "https://localhost:$meter_port" --path-style --bucket lake \
  --ca-file "$pki/root.pem" --station 0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e \
  --spool "$work/spool" --simulate 7 --window "${AIR_WINDOW:-1m}" --interval 5s --trust-clock --log warn \
  $([ "${AIR_HEALTH:-1}" = 0 ] || echo --health) \
  ${AIR_RUN_ARGS:-} > "$work/run.out" 2> "$work/run.err" &
run=$!
pids+=($run)
tail -f "$work/meter.out" --pid "$meter" | grep --line-buffered -v "^listening on" &
wait "$meter" || true
kill -TERM "$run" 2> /dev/null || true
wait "$run" || true
sleep 0.3
if grep -q "WARN\|ERROR" "$work/run.err"; then
  echo "run's warnings:" && grep "WARN\|ERROR" "$work/run.err" | head -5
fi

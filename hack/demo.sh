#!/usr/bin/env bash
# make demo: build Bulwark, run bulwarkd in host mode on examples/host/,
# perform a few harmless actions the example policies speak about, show the
# alerts they raise (over gRPC, as `bulwark logs` prints them, and as JSON
# lines in the agent's logPath), stop the agent with SIGTERM and summarise.
#
# Needs root (bulwarkd loads eBPF programs) and Go; nothing else. Bounded:
# about 30 s once built. Exits non-zero when an expected alert is missing.
#
# The actions touch only a fresh directory under /tmp/bulwark-demo/ (which
# the example policies block and audit) and read /etc/shadow (audited). On
# this kind of host (no BPF-LSM) nothing is blocked: the Block rule shows as
# "Audit (Block)".
#
# Environment: BIN_DIR (default bin) is where bulwark and bulwarkd are built;
# GO (default go).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-bin}
GO=${GO:-go}

die() { echo "demo: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root: bulwarkd loads eBPF programs"
command -v "$GO" >/dev/null || die "Go is needed ($GO not found)"

echo "== building $BIN_DIR/bulwark and $BIN_DIR/bulwarkd"
mkdir -p "$BIN_DIR"
CGO_ENABLED=0 "$GO" build -trimpath -o "$BIN_DIR/bulwark" ./cmd/bulwark
CGO_ENABLED=0 "$GO" build -trimpath -o "$BIN_DIR/bulwarkd" ./cmd/bulwarkd
BULWARK=$(realpath "$BIN_DIR/bulwark")
BULWARKD=$(realpath "$BIN_DIR/bulwarkd")

# Short temp dir: unix socket paths are limited to 108 bytes.
WORK=$(mktemp -d /tmp/bwdemo.XXXXXX)
mkdir -p /tmp/bulwark-demo
RUN=$(mktemp -d /tmp/bulwark-demo/run.XXXXXX)
SOCK=$WORK/bulwarkd.sock
EVENTS=$WORK/events.jsonl
DLOG=$WORK/bulwarkd.log
STREAM=$WORK/stream.txt
DPID=
LPID=

cleanup() {
	[[ -n $LPID ]] && kill "$LPID" 2>/dev/null || true
	if [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null || true
	fi
	rm -rf "$WORK" "$RUN"
	rmdir /tmp/bulwark-demo 2>/dev/null || true
}
trap cleanup EXIT

# The demo's files exist before the agent starts, so creating them raises
# nothing.
cp /usr/bin/true "$RUN/tool"
echo "not really a secret" >"$RUN/secret.txt"

cat >"$WORK/bulwarkd.yaml" <<EOF
# bulwarkd configuration of make demo
host: $(hostname)
gRPC: unix://$SOCK
gRPCHealthPort: 0
logPath: $EVENTS
policyDir: $PWD/examples/host
stateDir: $WORK/state
pidFile: $WORK/bulwarkd.pid
enableKubeArmorHostPolicy: true
hostVisibility: process,file,network,capabilities
EOF

echo "== starting bulwarkd (host mode, policies from examples/host/, socket $SOCK)"
"$BULWARKD" --config "$WORK/bulwarkd.yaml" >"$DLOG" 2>&1 &
DPID=$!

ready=
for _ in $(seq 150); do # 15 s
	kill -0 "$DPID" 2>/dev/null || { cat "$DLOG"; die "bulwarkd exited during start"; }
	if grep -q 'msg="bulwarkd running"' "$DLOG" &&
		"$BULWARK" probe --gRPC "unix://$SOCK" -o json 2>/dev/null | grep -q '"reachable": true'; then
		ready=1
		break
	fi
	sleep 0.1
done
[[ -n $ready ]] || { cat "$DLOG"; die "bulwarkd not ready after 15 s"; }
grep -q 'msg="monitor attached"' "$DLOG" || {
	grep 'monitor unavailable' "$DLOG" || true
	die "the monitor did not attach: no telemetry, no alerts"
}
echo "   ready (pid $DPID)"

# Stream the demo's three alerts over gRPC while the actions run.
timeout 20 "$BULWARK" logs --gRPC "unix://$SOCK" --limit 3 -o text \
	--resource "^(${RUN}/|/etc/shadow$)" >"$STREAM" 2>&1 &
LPID=$!
sleep 1 # let the subscription reach the agent

echo "== actions"
echo "   \$ $RUN/tool                      # exec in the blocked demo directory"
"$RUN/tool" || true
echo "   \$ cat $RUN/secret.txt           # a file the demo audits"
cat "$RUN/secret.txt" >/dev/null
echo "   \$ cat /etc/shadow >/dev/null     # a credential store the examples audit"
cat /etc/shadow >/dev/null

wait "$LPID" || true
LPID=
echo
echo "== bulwark logs --gRPC unix://$SOCK --limit 3 -o text"
cat "$STREAM"

echo
echo "== stopping bulwarkd (SIGTERM)"
kill -TERM "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DPID" 2>/dev/null; then
	die "bulwarkd did not stop within 10 s of SIGTERM"
fi
wait "$DPID" || die "bulwarkd exited with status $?"
DPID=

# The demo's alerts, as JSON lines in logPath.
ours=$(grep '"Type":"MatchedHostPolicy"' "$EVENTS" | grep -E "\"Resource\":\"(${RUN}/|/etc/shadow\")" || true)
echo
echo "== the same alerts in logPath ($EVENTS), as JSON lines"
printf '%s\n' "$ours"

enforcer=$(sed -n 's/.*msg="bulwarkd running" enforcer="\{0,1\}\([^"]*\)"\{0,1\} nodeID.*/\1/p' "$DLOG" | head -1)
if grep -q 'msg="enforcer selected"' "$DLOG"; then
	why=$(sed -n 's/.*msg="enforcer selected".* reason=//p' "$DLOG" | head -1)
else
	why=$(sed -n 's/.*msg="no enforcer available.* reason=//p' "$DLOG" | head -1)
fi
block_action="Audit (Block)"
[[ $enforcer == "eBPF Monitor" ]] || block_action="Block"

missing=()
expect() { # policy resource action
	grep -F "\"PolicyName\":\"$1\"" <<<"$ours" | grep -F "\"Resource\":\"$2\"" |
		grep -qF "\"Action\":\"$3\"" || missing+=("$1 $3 on $2")
}
expect hsp-block-demo "$RUN/tool" "$block_action"
expect hsp-audit-demo-file "$RUN/secret.txt" Audit
expect hsp-protect-credentials /etc/shadow Audit
streamed=$(grep -c . "$STREAM" || true)

echo
echo "== summary"
echo "   enforcer:      $enforcer"
echo "   why:           ${why:-?}"
echo "   demo alerts:   $(grep -c . <<<"$ours") in logPath, $streamed over gRPC"
echo "   host logs:     $(grep -c '"Type":"HostLog"' "$EVENTS" || true) HostLog records from the whole host while the demo ran"
echo "   all alerts:    $(grep -c '"Type":"MatchedHostPolicy"' "$EVENTS" || true)"
if ((${#missing[@]})); then
	printf '   MISSING:       %s\n' "${missing[@]}"
	echo "   daemon log:"; sed 's/^/     /' "$DLOG"
	exit 1
fi
if ((streamed < 3)); then
	echo "   MISSING:       alerts on the gRPC stream (got $streamed of 3)"
	exit 1
fi
echo "   OK: every expected alert was raised"

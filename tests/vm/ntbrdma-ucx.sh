#!/bin/bash
# UCX over ntbrdma0 (Debian's ucx-utils, unmodified), between the VMs:
#  - ucx_info -d lists rc_verbs and ud_verbs on ntbrdma0:1, no warning;
#  - ucx_perftest, UCT level, b serving and a running each test: put_lat,
#    put_bw, am_lat, am_bw on rc_verbs (its SRQ: ntbrdma_ib_srq.c) and
#    am_lat, am_bw on ud_verbs;
#  - ucx_perftest, UCP level: tag_lat, tag_bw, ucp_put_lat, ucp_get,
#    stream_bw, with UCX_NET_DEVICES=ntbrdma0:1 (else UCP may pick TCP on
#    ntb0 or the virtio link: the only variable a user sets, to say which
#    device to use, as on any host with several).
# Every run must exit 0 on both sides, print its "Final:" line and no UCX
# warning or error.  The figures are the emulator's (not pass/fail).
. "$(dirname "$0")/lib.sh"

LIMIT=120 # seconds per run, under TCG
PORT=13340
DEV=ntbrdma0:1

cleanup() {
	for vm in a b; do
		onsh "$vm" "pkill -x ucx_perftest" 2>/dev/null || true
	done
}
ntbrdma_pair cleanup

out=$(on a timeout "$LIMIT" ucx_info -d 2>&1) || fail "a: ucx_info -d failed"
for tl in rc_verbs ud_verbs; do
	grep -A1 "Transport: $tl\$" <<<"$out" | grep -q "Device: $DEV\$" ||
		fail "a: ucx_info -d does not list $tl on $DEV"
	pass "a: ucx_info -d lists $tl on $DEV"
done
grep -E 'UCX +(WARN|ERROR)' <<<"$out" &&
	fail "a: ucx_info -d printed warnings"
pass "a: ucx_info -d without warnings"

bad=0
# perf WHAT ARGS...: ucx_perftest served on b, run from a with ARGS.
perf() {
	local what=$1 rc=0 src=0 pid srv
	shift
	PORT=$((PORT + 1))
	on b env "${ENVS[@]}" timeout "$LIMIT" ucx_perftest -p "$PORT" \
		"${SRV[@]}" >/tmp/ntbrdma-ucx-srv 2>&1 &
	pid=$!
	wait_listen b "$PORT"
	out=$(on a env "${ENVS[@]}" timeout "$LIMIT" ucx_perftest \
		192.168.200.2 -p "$PORT" -n 1000 "$@" 2>&1) || rc=$?
	wait "$pid" || src=$?
	srv=$(cat /tmp/ntbrdma-ucx-srv)
	if [ "$rc" != 0 ] || [ "$src" != 0 ] ||
		! grep -q '^Final:' <<<"$out" ||
		grep -qE 'UCX +(WARN|ERROR)' <<<"$out
$srv"; then
		echo "FAIL - $what: client exit $rc, server exit $src"
		tail -n 15 <<<"$out" | sed 's/^/    a: /'
		tail -n 5 <<<"$srv" | sed 's/^/    b: /'
		bad=$((bad + 1))
		return
	fi
	pass "$what: $(grep '^Final:' <<<"$out" | awk '{print "avg " $4 ", " $8 " msg/s"}')"
}

ENVS=(UCX_LOG_LEVEL=warn)
SRV=(-d "$DEV" -x rc_verbs)
for t in put_lat put_bw am_lat am_bw; do
	perf "UCT rc_verbs $t" -d "$DEV" -x rc_verbs -t "$t"
done
SRV=(-d "$DEV" -x ud_verbs)
for t in am_lat am_bw; do
	perf "UCT ud_verbs $t" -d "$DEV" -x ud_verbs -t "$t"
done
ENVS=(UCX_LOG_LEVEL=warn UCX_NET_DEVICES="$DEV")
SRV=()
for t in tag_lat tag_bw ucp_put_lat ucp_get stream_bw; do
	perf "UCP $t" -t "$t"
done
[ "$bad" = 0 ] || fail "$bad ucx_perftest run(s) failed"
expect_no_oops a b

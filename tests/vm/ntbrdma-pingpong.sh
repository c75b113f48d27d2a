#!/bin/bash
# ibv_rc_pingpong (rdma-core's example, unmodified: SEND/RECV on an RC QP)
# on ntbrdma0, with -g the index of ntb0's IPv4 RoCE v2 GID and -c on both
# sides (the client marks the first byte of each page of what it sends, the
# server checks those bytes; without -c on the client, the server reports
# "invalid data in page N"):
#   1. loopback: server and client both in a, the client connecting to a's
#      own ntb0 address, at 1 B, 4 KiB and 64 KiB;
#   2. host to host: b serves and a connects, then a serves and b connects,
#      at the same sizes.
#   3. ibv_uc_pingpong (the same over a UC QP) host to host both ways;
#   4. ibv_ud_pingpong (UD datagrams: address handles, GRH) host to host
#      both ways, at 1 B and at the port's MTU (1024 on ntb0's default
#      MTU 1500; 1024 B take three control messages between the hosts).
#   5. ibv_srq_pingpong -q 16 (16 RC QPs on one SRQ at each end) host to
#      host both ways, 1 B and 4 KiB.
#   6. ibv_rc_pingpong -e (waits in ibv_get_cq_event for every completion
#      instead of polling: a lost event hangs it) host to host both ways,
#      1 B and 64 KiB.
# Every run must exit 0 on both sides within 120 s, print "N iters in"
# for the N iterations asked, and report no invalid data.
#
# Validation only: NTBRDMA_TEST_DEV=rxe0 NTBRDMA_TEST_NET=vlink runs the
# same on soft-RoCE over the virtio link.
. "$(dirname "$0")/lib.sh"

SIZES=(1 4096 65536)
ITERS=20
LIMIT=120 # seconds per run, under TCG
PORT=18600
test_dev_start

declare -A GID
GID[a]=$(gid_index a "$DEV" "$SUBNET.1") ||
	fail "a: no RoCE v2 GID of $SUBNET.1 on $DEV"
GID[b]=$(gid_index b "$DEV" "$SUBNET.2") ||
	fail "b: no RoCE v2 GID of $SUBNET.2 on $DEV"
pass "GID indexes: a ${GID[a]} ($SUBNET.1), b ${GID[b]} ($SUBNET.2)"

PROG=ibv_rc_pingpong
EXTRA=()

# pingpong SERVER CLIENT ADDR SIZE: $PROG served in VM SERVER,
# run from VM CLIENT against ADDR; sets out (both sides' output) and
# returns 0 only if both sides exit 0 and report the exchange.
pingpong() {
	local s=$1 c=$2 addr=$3 size=$4 rc=0 src=0 pid
	local args=(-d "$DEV" -s "$size" -n "$ITERS" -c "${EXTRA[@]}")
	PORT=$((PORT + 1))
	on "$s" timeout "$LIMIT" "$PROG" "${args[@]}" -g "${GID[$s]}" \
		-p "$PORT" >"$SRV_OUT" 2>&1 &
	pid=$!
	wait_listen "$s" "$PORT"
	out=$(on "$c" timeout "$LIMIT" "$PROG" "${args[@]}" \
		-g "${GID[$c]}" -p "$PORT" "$addr" 2>&1) || rc=$?
	wait "$pid" || src=$?
	out="--- client ($c):
$out
--- server ($s):
$(cat "$SRV_OUT")"
	if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
		out="client exit $rc, server exit $src
$out"
		return 1
	fi
	if [ "$(grep -c "^$ITERS iters in" <<<"$out")" != 2 ]; then
		out="no '$ITERS iters in' line on both sides
$out"
		return 1
	fi
	if grep -qi 'invalid' <<<"$out"; then
		out="the server received invalid data
$out"
		return 1
	fi
}

# run WHAT SERVER CLIENT ADDR: every size; counts failures in bad.
bad=0
run() {
	local what=$1 size
	for size in "${SIZES[@]}"; do
		if pingpong "$2" "$3" "$4" "$size"; then
			pass "$what: $PROG -s $size -n $ITERS"
			grep "iters in" <<<"$out" | head -n 1 | sed 's/^/    /'
		else
			echo "FAIL - $what: $PROG -s $size -n $ITERS: $(head -n 1 <<<"$out")"
			tail -n 20 <<<"$out" | sed 's/^/    /'
			bad=$((bad + 1))
		fi
	done
}

run "a loopback" a a "$SUBNET.1"
run "b serves, a connects" b a "$SUBNET.2"
run "a serves, b connects" a b "$SUBNET.1"
PROG=ibv_uc_pingpong
run "b serves, a connects" b a "$SUBNET.2"
run "a serves, b connects" a b "$SUBNET.1"
PROG=ibv_ud_pingpong
SIZES=(1 1024)
run "b serves, a connects" b a "$SUBNET.2"
run "a serves, b connects" a b "$SUBNET.1"
PROG=ibv_srq_pingpong
EXTRA=(-q 16)
SIZES=(1 4096)
run "b serves, a connects" b a "$SUBNET.2"
run "a serves, b connects" a b "$SUBNET.1"
PROG=ibv_rc_pingpong
EXTRA=(-e)
SIZES=(1 65536)
run "events, b serves, a connects" b a "$SUBNET.2"
run "events, a serves, b connects" a b "$SUBNET.1"
[ "$bad" = 0 ] || fail "$bad pingpong run(s) failed"

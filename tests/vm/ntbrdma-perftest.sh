#!/bin/bash
# perftest, unmodified (Debian's package), between b (server) and a
# (client) on ntbrdma0: ib_write_bw, ib_write_lat, ib_read_bw, ib_read_lat,
# ib_send_bw and ib_send_lat at 2 B, 4 KiB, 64 KiB and 1 MiB.  No -R: the
# QPs are connected with modify_qp after perftest's own TCP exchange over
# ntb0.  Then ib_atomic_bw and ib_atomic_lat (8 bytes, FETCH_AND_ADD and
# CMP_AND_SWAP), ib_send_bw and ib_send_lat over UD QPs (-c UD) at 2 B
# and 1024 B (the port's MTU at ntb0's MTU of 1500), and four runs with
# completion events (-e: ib_send_lat, ib_send_bw, ib_read_bw; perftest
# refuses -e for its WRITE tests).
# Each run must exit 0 on both sides within 120 s; the figures are
# printed, not judged (TCG).
#
# SKIP (77) only when the device does not execute RDMA WRITE yet: a first
# tiny ib_write_lat fails, and the integrity program's probe (one 8-byte
# RDMA WRITE in loopback, 5 s) confirms "engine not available: ...".
# Any other failure fails the test.
#
# Validation only: NTBRDMA_TEST_DEV=rxe0 NTBRDMA_TEST_NET=vlink runs the
# same on soft-RoCE over the virtio link (with -u 18: longer QP timeout).
# PERFTEST_FLAGS adds flags to every perftest command.
. "$(dirname "$0")/lib.sh"

IT=$BUILD_DIR/tests/vm/ntbrdma-integrity
[ -x "$IT" ] || fail "$IT not built"
test_dev_start
read -r -a EXTRA <<<"${PERFTEST_FLAGS:-}"
[ "$DEV" = ntbrdma0 ] || EXTRA+=(-u 18)
SIZES=(2 4096 65536 1048576)
TESTS=(ib_write_bw ib_write_lat ib_read_bw ib_read_lat ib_send_bw ib_send_lat)
PORT=18700

GA=$(gid_index a "$DEV" "$SUBNET.1") ||
	fail "a: no RoCE v2 GID of $SUBNET.1 on $DEV"
GB=$(gid_index b "$DEV" "$SUBNET.2") ||
	fail "b: no RoCE v2 GID of $SUBNET.2 on $DEV"
pass "GID indexes: a $GA ($SUBNET.1), b $GB ($SUBNET.2)"

# perf TEST SIZE ITERS LIMIT [ARG...]: b serves, a connects (SIZE -: no
# -s, for the atomic tests); sets out (both sides' output) and returns 0
# only if both exit 0 within LIMIT seconds.
perf() {
	local t=$1 size=$2 iters=$3 limit=$4 src=0 rc=0 pid
	local args=(-d "$DEV" -n "$iters" -F "${EXTRA[@]}" "${@:5}")
	[ "$size" = - ] || args+=(-s "$size")
	PORT=$((PORT + 1))
	on b timeout "$limit" stdbuf -oL "$t" "${args[@]}" -x "$GB" \
		-p "$PORT" >"$SRV_OUT" 2>&1 &
	pid=$!
	wait_listen b "$PORT"
	out=$(on a timeout "$limit" stdbuf -oL "$t" "${args[@]}" -x "$GA" \
		-p "$PORT" "$SUBNET.2" 2>&1) || rc=$?
	wait "$pid" || src=$?
	out="$out
--- server (b):
$(cat "$SRV_OUT")"
	[ "$rc" = 0 ] && [ "$src" = 0 ] && return 0
	out="client exit $rc, server exit $src
$out"
	return 1
}

# figures: the result line(s) of perftest's table.
figures() {
	# A here-string, not a pipe from echo: sed quits early (SIGPIPE).
	sed -n '/^ *#bytes/{p;n;p;q}' <<<"$out" | tr -s ' '
}

# Probe: one tiny ib_write_lat.  If it fails, ask the integrity program
# whether RDMA WRITE is executed at all.
if ! perf ib_write_lat 2 5 "$(scaled 30)"; then
	pout=$(on a "$IT" --dev "$DEV" --loopback --probe-only 2>&1) &&
		prc=0 || prc=$?
	if [ "$prc" = 77 ]; then
		echo "SKIP - $(echo "$pout" | grep -m1 '^engine not available:')"
		echo "(ib_write_lat probe: $(echo "$out" | head -n 1))"
		exit 77
	fi
	echo "$out"
	echo "$pout"
	fail "probe: ib_write_lat -s 2 -n 5 failed, but RDMA WRITE works (integrity probe exit $prc)"
fi
pass "probe: ib_write_lat -s 2 -n 5"

# try LABEL TEST SIZE ITERS [ARG...]: one run of 120 s at most, reported
# as LABEL with its figures; a failure counts in bad.
bad=0
try() {
	local label=$1
	shift
	if perf "$1" "$2" "$3" 120 "${@:4}"; then
		pass "$label"
		figures | sed 's/^/    /'
	else
		echo "FAIL - $label: $(echo "$out" | head -n 1)"
		echo "$out" | tail -n 25 | sed 's/^/    /'
		bad=$((bad + 1))
	fi
}

ran=0
for t in "${TESTS[@]}"; do
	ran=$((ran + 1))
	case $t in
	*_lat) iters=100 ;;
	*) iters=200 ;;
	esac
	for size in "${SIZES[@]}"; do
		try "$t -s $size -n $iters" "$t" "$size" "$iters"
	done
done
for t in ib_atomic_bw ib_atomic_lat; do
	for op in FETCH_AND_ADD CMP_AND_SWAP; do
		try "$t -A $op -n 200" "$t" - 200 -A "$op"
	done
done
for t in ib_send_bw ib_send_lat; do
	for size in 2 1024; do
		try "$t -c UD -s $size -n 200" "$t" "$size" 200 -c UD
	done
done
# Completion events (-e): every completion waited for in
# ibv_get_cq_event (perftest has no -e for its WRITE tests).
for r in "ib_send_lat 2" "ib_send_lat 4096" "ib_send_bw 65536" \
	"ib_read_bw 4096"; do
	read -r t size <<<"$r"
	try "$t -e -s $size -n 200" "$t" "$size" 200 -e
done
[ "$bad" = 0 ] || fail "$bad perftest run(s) failed"
pass "perftest: $ran tests x ${#SIZES[@]} sizes, 2 atomic tests x 2 operations, 2 UD tests x 2 sizes, 4 event-driven runs on $DEV"

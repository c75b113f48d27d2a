#!/bin/bash
# Data integrity of RDMA WRITE, RDMA READ and SEND/RECV through ntbrdma0
# (tests/vm/ntbrdma-integrity.c: 4 QPs at once, both directions, sizes 1 B
# to 1 MiB, unaligned, up to 8 uneven SGEs, every byte checked): first in
# loopback on a, then b server / a client over ntb0.
#
# SKIP (77) only when the device does not execute RDMA WRITE yet: the
# program's first 8-byte RDMA WRITE does not complete within 5 s (or its
# post says the operation is not supported) -> "engine not available: ...".
# Anything else that goes wrong is a failure.
#
# Validation only: NTBRDMA_TEST_DEV=rxe0 NTBRDMA_TEST_NET=vlink runs the
# same on a soft-RoCE device over the virtio link (created here, removed
# after), so the test is known-good before the engine exists.
. "$(dirname "$0")/lib.sh"

IT=$BUILD_DIR/tests/vm/ntbrdma-integrity
[ -x "$IT" ] || fail "$IT not built"
RUN_TIMEOUT=900 # the whole a<->b run under TCG
test_dev_start
expect_ok "a: RoCE v2 GID of $SUBNET.1 within 30 s" \
	gid_index a "$DEV" "$SUBNET.1"
expect_ok "b: RoCE v2 GID of $SUBNET.2 within 30 s" \
	gid_index b "$DEV" "$SUBNET.2"

# verdict WHAT RC OUT: pass, skip (77: engine not available) or fail.
verdict() {
	if [ "$2" = 77 ]; then
		echo "SKIP - $1: $(echo "$3" |
			grep -m1 '^engine not available:' || echo "exit 77")"
		exit 77
	fi
	[ "$2" = 0 ] || fail "$1 (exit $2)"
	pass "$1"
}

# 1. Loopback: both ends in one process on a.
out=$(TESTBED_TIMEOUT=$RUN_TIMEOUT on a "$IT" --dev "$DEV" --loopback \
	2>&1) && rc=0 || rc=$?
echo "$out"
verdict "a: $DEV loopback integrity" "$rc" "$out"

# 2. b serves, a connects to b's address on $NET: WRITE, READ and SEND in
# both directions, checked at both ends.
TESTBED_TIMEOUT=$RUN_TIMEOUT on b "$IT" --dev "$DEV" --server \
	>"$SRV_OUT" 2>&1 &
srv=$!
out=$(TESTBED_TIMEOUT=$RUN_TIMEOUT on a "$IT" --dev "$DEV" \
	--connect "$SUBNET.2" 2>&1) && rc=0 || rc=$?
wait "$srv" && src=0 || src=$?
echo "$out"
sed 's/^/b: /' "$SRV_OUT"
verdict "a -> b: $DEV client integrity" "$rc" "$out"
verdict "b: $DEV server integrity" "$src" "$(cat "$SRV_OUT")"

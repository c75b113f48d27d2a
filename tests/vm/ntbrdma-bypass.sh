#!/bin/bash
# RDMA WRITE from user space (kernel bypass, Documentation/rdma-datapath.md):
#  1. a's provider writes into b's MR through a mapping of b's pages
#     (debugfs umap: a mapping made), and b deregisters that MR while a
#     is writing: after the MR_DEL_ACK no byte of it changes, and a's
#     next WRITE completes with REM_ACCESS_ERR (ntbrdma-bypass-test);
#     the mapping was revoked (umap: revoked, none live);
#  2. with NTBRDMA_BYPASS=0 the same WRITEs take the kernel path (no
#     mapping made) and give the same outcome.
. "$(dirname "$0")/lib.sh"

BT=$BUILD_DIR/tests/vm/ntbrdma-bypass-test
[ -x "$BT" ] || fail "$BT not built"
UMAP=/sys/kernel/debug/ntbrdma_ib/ntbrdma0/umap
PORT=18980
TMPD=$(mktemp -d)

cleanup() {
	for vm in a b; do
		on "$vm" pkill -KILL -f '[n]tbrdma-bypass-test' 2>/dev/null || true
		ntbrdma_teardown "$vm"
	done
	rm -rf "$TMPD"
}
trap cleanup EXIT

# umap VM FIELD: a counter of VM's debugfs umap (live, made, revoked).
umap() {
	onsh "$1" "cat $UMAP" | tr ' ' '\n' | grep -A1 -x "$2" | tail -n 1
}

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b

# run NAME MODE: one server on b, one client on a (NTBRDMA_BYPASS=MODE).
run() {
	local rc=0 spid
	PORT=$((PORT + 1))
	on b "$BT" serve ntbrdma0 "$PORT" >"$TMPD/s" 2>&1 &
	spid=$!
	wait_listen b "$PORT"
	on a env NTBRDMA_BYPASS="$2" "$BT" client ntbrdma0 192.168.200.2 \
		"$PORT" >"$TMPD/c" 2>&1 || rc=1
	wait "$spid" || rc=1
	sed 's/^/a: /' "$TMPD/c"
	sed 's/^/b: /' "$TMPD/s"
	[ $rc = 0 ] || fail "$1: a program failed"
	pass "$1: no byte after the acknowledgement, REM_ACCESS_ERR after"
}

made0=$(umap a made)
rev0=$(umap a revoked)
run "user-space WRITEs" 1
made1=$(umap a made)
rev1=$(umap a revoked)
[ "$made1" -gt "$made0" ] || fail "a: no peer MR mapping was made (umap made $made0 -> $made1)"
pass "a: the provider wrote through a mapping of b's MR ($((made1 - made0)) made)"
[ "$rev1" -gt "$rev0" ] || fail "a: the mapping was not revoked (umap revoked $rev0 -> $rev1)"
pass "a: the mapping was revoked with the MR"
expect_eq "a: no mapping left" 0 "$(umap a live)"

run "kernel-path WRITEs (NTBRDMA_BYPASS=0)" 0
expect_eq "a: NTBRDMA_BYPASS=0: no mapping made" "$made1" "$(umap a made)"

for vm in a b; do
	expect_eq "$vm: no kernel report" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
done

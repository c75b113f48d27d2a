#!/bin/bash
# RDMA WRITE from user space (kernel bypass, Documentation/rdma-datapath.md):
#  1. a's provider writes into b's MR through a mapping of b's pages
#     (debugfs umap: a mapping made), and b deregisters that MR while a
#     is writing: after the MR_DEL_ACK no byte of it changes, and a's
#     next WRITE completes with REM_ACCESS_ERR (ntbrdma-bypass-test);
#     the mapping was revoked (umap: revoked, none live);
#  2. with NTBRDMA_BYPASS=0 the same WRITEs take the kernel path (no
#     mapping made) and give the same outcome;
#  3. RDMA READs (rserve/rclient): byte for byte at sizes around the
#     provider's 256-byte limit, the refused ones with their statuses, and
#     READs while b deregisters the MR (no success with other bytes than
#     the MR's, then REM_ACCESS_ERR); a's provider read through exactly
#     one read-only mapping (umap made_read), revoked with the MR; with
#     the CQ armed the kernel made the READ's completion (read_done);
#  4. the same READs with NTBRDMA_BYPASS=0: no mapping, same outcome;
#  5. a hostile process with both mappings (ntbrdma-umap-test): writable
#     READ mapping, growing or splitting a mapping refused, fork children
#     without them, a moved and a second VMA revoked with the rest: not
#     one byte of b's buffer changes after the MR_DEL_ACK.
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

# dma=off: WRITEs of 16 KiB and more would go to the DMA engine instead
# (tests/vm/ntbrdma-dma.sh); this test is about the provider's own path.
ntbrdma_setup a 1 dma=off
ntbrdma_setup b 2 dma=off
ntbrdma_wait_active a
ntbrdma_wait_active b

# pair NAME PROGRAM SERVE CLIENT [VAR=VALUE...]: PROGRAM SERVE on b,
# PROGRAM CLIENT on a (with the variables); both must pass.
pair() {
	local name=$1 prog=$2 serve=$3 client=$4 rc=0 spid
	shift 4
	PORT=$((PORT + 1))
	on b "$prog" "$serve" ntbrdma0 "$PORT" >"$TMPD/s" 2>&1 &
	spid=$!
	wait_listen b "$PORT"
	on a env "$@" "$prog" "$client" ntbrdma0 192.168.200.2 "$PORT" \
		>"$TMPD/c" 2>&1 || rc=1
	wait "$spid" || rc=1
	sed 's/^/a: /' "$TMPD/c"
	sed 's/^/b: /' "$TMPD/s"
	[ $rc = 0 ] || fail "$name: a program failed"
}

# run NAME MODE: the WRITE programs (NTBRDMA_BYPASS=MODE on a).
run() {
	pair "$1" "$BT" serve client NTBRDMA_BYPASS="$2"
	pass "$1: no byte after the acknowledgement, REM_ACCESS_ERR after"
}

# run_reads NAME MODE [VAR=VALUE...]: the READ programs.
run_reads() {
	local name=$1 mode=$2
	shift 2
	pair "$name" "$BT" rserve rclient NTBRDMA_BYPASS="$mode" "$@"
	pass "$name: the MR's bytes in every READ, the statuses, REM_ACCESS_ERR after the removal"
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

rd0=$(umap a made_read)
rev0=$(umap a revoked)
done0=$(umap a read_done)
run_reads "user-space READs" 1
rd1=$(umap a made_read)
expect_eq "a: the provider read through one read-only mapping of b's MR" \
	1 "$((rd1 - rd0))"
[ "$(umap a read_done)" -gt "$done0" ] ||
	fail "a: no READ done by the provider completed by the kernel (armed CQ)"
pass "a: the kernel completed the provider's READ while the CQ was armed"
rev1=$(umap a revoked)
[ "$rev1" -gt "$rev0" ] || fail "a: the READ mapping was not revoked (umap revoked $rev0 -> $rev1)"
pass "a: the READ mapping was revoked with the MR"
expect_eq "a: no mapping left after the READs" 0 "$(umap a live)"

# 2 MiB READs from user space: more of them run while the MR goes.
rd0=$rd1
run_reads "user-space READs up to 2 MiB" 1 NTBRDMA_BYPASS_READ_MAX=$((2 << 20))
expect_eq "a: up to 2 MiB: one read-only mapping" 1 "$(($(umap a made_read) - rd0))"

made2=$(umap a made)
run_reads "kernel-path READs (NTBRDMA_BYPASS=0)" 0
expect_eq "a: NTBRDMA_BYPASS=0: no READ mapping made" "$made2" "$(umap a made)"

UT=$BUILD_DIR/tests/vm/ntbrdma-umap-test
[ -x "$UT" ] || fail "$UT not built"
pair "hostile use of peer-MR mappings" "$UT" serve client
pass "hostile use of peer-MR mappings: refused or revoked, b's buffer untouched"
expect_eq "a: no mapping left after the hostile process" 0 "$(umap a live)"

for vm in a b; do
	expect_eq "$vm: no kernel report" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
done

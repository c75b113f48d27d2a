#!/bin/bash
# ntbrdma's copies by the DMA engine (Documentation/dma-engine.md, part 2;
# the emulated engine of the testbed executes them on the host):
#  1. modinfo shows dma= and dma_threshold=; debugfs "dma" names the
#     channel (dma=auto) in both VMs;
#  2. integrity a<->b (every opcode, sizes 1 B to 1 MiB, every byte) with
#     dma_threshold=4097: 4096-byte messages copied by the CPU, 4097 and
#     up by the engine (dma_min_piece=0: also from buffers of scattered
#     4 KiB pages); its counters moved in both VMs, no error;
#  3. ntbrdma-dma-test: pipelined WRITEs checked byte for byte, then a
#     descriptor the engine fails (ntb_hw_ivshmem dma_inject_fail): the
#     WQE completes with LOC_QP_OP_ERR, the rest flushed, the QP recovers
#     after reset; a's debugfs counts exactly that one error;
#  3b. dma_min_piece=4 MiB (more than any message of the integrity run):
#     integrity again, and not one copy more through the engine;
#  4. module unload on a with DMA in flight (ib_write_bw 1 MiB from a);
#  5. b killed with DMA in flight from a: a's perftest ends, a stays sane;
#  6. integrity again with dma=off: no channel, nothing through an engine;
#  no oops or warning anywhere.
. "$(dirname "$0")/lib.sh"

IT=$BUILD_DIR/tests/vm/ntbrdma-integrity
DT=$BUILD_DIR/tests/vm/ntbrdma-dma-test
[ -x "$IT" ] || fail "$IT not built"
[ -x "$DT" ] || fail "$DT not built"

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do
		ntbrdma_teardown "$vm"
		on "$vm" sh -c 'echo 0 > /sys/module/ntb_hw_ivshmem/parameters/dma_inject_fail' \
			2>/dev/null || true
	done
}
trap cleanup EXIT

# up ARGS: ntbrdma loaded with module ARGS in both VMs, ntbrdma0 ACTIVE.
up() {
	ntbrdma_setup a 1 "$*"
	ntbrdma_setup b 2 "$*"
	ntbrdma_wait_active a
	ntbrdma_wait_active b
}

down() {
	ntbrdma_teardown a
	ntbrdma_teardown b
}

# integrity WHAT: b serves, a connects; both must pass.
integrity() {
	local out rc src srv
	srv=$(mktemp)
	TESTBED_TIMEOUT=900 on b "$IT" --dev ntbrdma0 --server >"$srv" 2>&1 &
	local pid=$!
	out=$(TESTBED_TIMEOUT=900 on a "$IT" --dev ntbrdma0 \
		--connect 192.168.200.2 2>&1) && rc=0 || rc=$?
	wait "$pid" && src=0 || src=$?
	echo "$out" | tail -n 3
	tail -n 1 "$srv" | sed 's/^/b: /'
	grep '^FAIL' "$srv" | sed 's/^/b: /' || true
	rm -f "$srv"
	[ "$rc" = 0 ] || fail "a: integrity $1 (exit $rc)"
	[ "$src" = 0 ] || fail "b: integrity $1 (exit $src)"
	pass "integrity a<->b $1"
}

# 1. The parameters, and the channel ntbrdma took.
parms=$(on a modinfo -F parm ntbrdma)
for p in dma dma_threshold; do
	echo "$parms" | grep -q "^$p:" || fail "a: modinfo shows no $p="
	pass "a: modinfo shows $p="
done
up dma=auto dma_threshold=4097 dma_min_piece=0
for vm in a b; do
	ch=$(dma_stat "$vm" channel)
	if [ -z "$ch" ] || [ "$ch" = none ]; then
		fail "$vm: ntbrdma took no DMA channel (debugfs dma: $ch)"
	fi
	pass "$vm: ntbrdma copies through $ch"
	expect_eq "$vm: dma threshold" 4097 "$(dma_stat "$vm" threshold)"
	expect_eq "$vm: dma min_piece" 0 "$(dma_stat "$vm" min_piece)"
done

# 2. Integrity around the threshold.
integrity "with the DMA engine (threshold 4097 B)"
for vm in a b; do
	n=$(dma_stat "$vm" batches)
	[ "${n:-0}" -gt 0 ] || fail "$vm: no copy went through the engine"
	pass "$vm: $n copies through the engine, $(dma_stat "$vm" bytes) bytes"
	expect_eq "$vm: engine errors" 0 "$(dma_stat "$vm" errors)"
done

# 3. Pipelined WRITEs, a failed descriptor, recovery.
serve_connect "pipelined WRITEs, a failed descriptor, recovery" "$DT" \
	18640 120
expect_eq "a: exactly the injected descriptor failed" 1 \
	"$(dma_stat a errors)"
expect_eq "a: no engine timeout" 0 "$(dma_stat a timeouts)"

# 3b. Copies whose pieces average less than dma_min_piece stay on the CPU.
for vm in a b; do
	onsh "$vm" "echo 4194304 > /sys/module/ntbrdma/parameters/dma_min_piece"
done
na=$(dma_stat a batches)
nb=$(dma_stat b batches)
integrity "with dma_min_piece 4 MiB"
expect_eq "a: no copy through the engine with dma_min_piece 4 MiB" "$na" \
	"$(dma_stat a batches)"
expect_eq "b: no copy through the engine with dma_min_piece 4 MiB" "$nb" \
	"$(dma_stat b batches)"
for vm in a b; do
	onsh "$vm" "echo 0 > /sys/module/ntbrdma/parameters/dma_min_piece"
done

# bw_running: ib_write_bw 1 MiB a -> b for 30 s in the background (srv,
# cli: their jobs), 3 s in, with a's engine busy with it.
bw() { # VM GID [HOST]
	on "$1" timeout 90 ib_write_bw -d ntbrdma0 -s 1048576 -D 30 -F \
		-x "$2" -p 18650 ${3:+"$3"} >/dev/null 2>&1 &
}
bw_running() {
	local gb ga n0
	gb=$(gid_index b ntbrdma0 192.168.200.2)
	ga=$(gid_index a ntbrdma0 192.168.200.1)
	n0=$(dma_stat a batches)
	bw b "$gb"
	srv=$!
	wait_listen b 18650
	bw a "$ga" 192.168.200.2
	cli=$!
	sleep 3
	[ "$(dma_stat a batches)" -gt "$n0" ] ||
		fail "a: ib_write_bw 1 MiB does not go through the engine"
	pass "a: ib_write_bw 1 MiB through the engine"
}

# 4. Unload with DMA in flight.
bw_running
on a timeout 60 sh -c 'rdma link del ntbrdma0 && modprobe -r ntbrdma' ||
	fail "a: unload with DMA in flight did not finish in 60 s"
pass "a: ntbrdma unloaded with DMA in flight"
wait "$cli" || true
wait "$srv" || true
expect_no_oops a
ntbrdma_teardown b

# 5. The peer killed with DMA in flight.
up dma=auto dma_min_piece=0
bw_running
t0=$(now_ms)
"$TESTBED" kill b
wait "$cli" || true
ms=$(($(now_ms) - t0))
wait "$srv" || true
# Alone it runs 27 s more: it ended because its QP went to ERR.
[ "$ms" -lt "$(scaled 20000)" ] ||
	fail "a: ib_write_bw ran on ${ms} ms after b was killed (the kill included)"
pass "a: ib_write_bw ended ${ms} ms after b was killed (the kill included)"
expect_eq "a: no engine timeout" 0 "$(dma_stat a timeouts)"
expect_no_oops a
"$TESTBED" start b
down

# 6. dma=off: the CPU copies everything.
up dma=off dma_threshold=4097
expect_eq "a: no channel with dma=off" none "$(dma_stat a channel)"
integrity "with dma=off"
for vm in a b; do
	expect_eq "$vm: nothing through an engine" 0 "$(dma_stat "$vm" batches)"
done
expect_no_oops a b

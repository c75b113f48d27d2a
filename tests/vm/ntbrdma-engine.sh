#!/bin/bash
# The data path of RC QPs (the engine): on a, two QPs of one device
# connected to each other (loopback) - RDMA WRITE, SEND/RECV, WRITE with
# immediate, READ, RNR and error completions, checked byte for byte; then
# RDMA WRITE from a to b through the NTB, checked on b; SEND, WRITE with
# immediate and READ from a to b with their error statuses, checked at
# both ends; the extended QP's ibv_wr_* batches (ntbrdma-qpex-test) in
# loopback and from a to b; link loss under traffic and a new
# ibv_rc_pingpong after the peer came back; then ib_write_bw between b
# and a (a figure, not pass/fail).
. "$(dirname "$0")/lib.sh"

ET=$BUILD_DIR/tests/vm/ntbrdma-engine-test
QX=$BUILD_DIR/tests/vm/ntbrdma-qpex-test
[ -x "$ET" ] || fail "$ET not built"
[ -x "$QX" ] || fail "$QX not built"

# serve_b MODE PORT: the test program's server side on b, listening.
serve_b() {
	onsh b "timeout 120 $ET $1 ntbrdma0 $2 >/tmp/ntbrdma-eng-srv 2>&1 &"
	wait_listen b "$2"
}

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
for vm in a:1 b:2; do
	gid_index "${vm%:*}" ntbrdma0 "192.168.200.${vm#*:}" >/dev/null ||
		fail "${vm%:*}: no RoCE v2 GID of 192.168.200.${vm#*:}"
done

run_loop "loopback data path" "$ET"

# Peer: server on b, client on a; TCP over ntb0 for the exchange.
serve_b server 18515
out=$(on a timeout 120 "$ET" client ntbrdma0 192.168.200.2 18515 2>&1) &&
	rc=0 || rc=$?
echo "$out"
srv=$(onsh b "sleep 1; cat /tmp/ntbrdma-eng-srv")
echo "$srv"
[ "$rc" = 0 ] || fail "a: ntbrdma-engine-test client failed (exit $rc)"
echo "$srv" | grep -q '^FAIL' && fail "b: ntbrdma-engine-test server failed"
pass "a -> b: RDMA WRITE through the NTB"

# SEND, WRITE_WITH_IMM, READ through the NTB and their error statuses,
# checked at both ends: server (responder) on b, client on a.
serve_b sserver 18517
out=$(on a timeout 120 "$ET" sclient ntbrdma0 192.168.200.2 18517 2>&1) &&
	rc=0 || rc=$?
echo "$out"
srv=$(onsh b "sleep 1; cat /tmp/ntbrdma-eng-srv")
echo "$srv" | sed 's/^/b: /'
[ "$rc" = 0 ] || fail "a: ntbrdma-engine-test sclient failed (exit $rc)"
echo "$srv" | grep -q '^FAIL' && fail "b: ntbrdma-engine-test sserver failed"
echo "$srv" | grep -q '^ok - server: small receive' ||
	fail "b: ntbrdma-engine-test sserver did not run to its end"
pass "a -> b: SEND, WRITE_WITH_IMM, READ and their errors through the NTB"

# The extended QP (ibv_wr_*): loopback on a, then a -> b.
run_loop "ibv_wr_* batches and their rules in loopback" "$QX"
serve_connect "ibv_wr_* a -> b" "$QX" 18518 120
pass "a -> b: one ibv_wr_* batch of every RC operation"

# Link loss during traffic: a writes to b until b dies; a's QP must get
# an error completion, go to ERR and flush what is posted after.
serve_b server 18516
onsh a "rm -f /tmp/ntbrdma-eng-loss; timeout 120 $ET linkloss ntbrdma0 \
	192.168.200.2 18516 >/tmp/ntbrdma-eng-loss 2>&1; echo rc=\$? \
	>>/tmp/ntbrdma-eng-loss" &
loss_pid=$!
wait_s=$(scaled 20)
expect_ok "a: writing to b" onsh a "timeout $wait_s sh -c 'until grep -q \
	writing /tmp/ntbrdma-eng-loss 2>/dev/null; do sleep 0.1; done'"
sleep 1
# While the traffic runs: the link and the QPs as rdma(8) shows them.
expect_ok "a: rdma link show: ntbrdma0 ACTIVE on ntb0" onsh a \
	"rdma link show | grep -E 'link ntbrdma0/1 state ACTIVE .*netdev ntb0'"
for vm in a b; do
	qps=$(on "$vm" rdma res show qp link ntbrdma0)
	echo "$qps"
	echo "$qps" | grep 'type RC state RTS' | grep -q 'comm ntbrdma-engine' ||
		fail "$vm: rdma res show qp: no RC QP of ntbrdma-engine-test in RTS"
	pass "$vm: rdma res show qp under traffic: the test's QP, RC, RTS"
done
# b answered the READs and atomics of the steps above: its log, before
# it goes.
expect_eq "b: no oops or warning" "" \
	"$(onsh b "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
"$TESTBED" kill b
wait "$loss_pid" || true
out=$(on a cat /tmp/ntbrdma-eng-loss)
echo "$out"
expect_eq "a: linkloss exit code" "rc=0" "$(echo "$out" | tail -n 1)"
expect_eq "a: no oops or warning" "" \
	"$(onsh a "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
"$TESTBED" start b
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
gb=$(gid_index b ntbrdma0 192.168.200.2) || fail "b: no GID after restart"
ga=$(gid_index a ntbrdma0 192.168.200.1) || fail "a: no GID"

# A new connection after the link came back, nothing reloaded on a.
onsh b "timeout 60 ibv_rc_pingpong -d ntbrdma0 -g $gb -n 50 -s 4096 \
	>/tmp/ntbrdma-eng-pp 2>&1 &"
wait_listen b 18515
out=$(on a timeout 60 ibv_rc_pingpong -d ntbrdma0 -g "$ga" -n 50 \
	-s 4096 192.168.200.2 2>&1) && rc=0 || rc=$?
echo "$out"
expect_eq "a -> b: ibv_rc_pingpong after b came back, exit code" 0 "$rc"
echo "$out" | grep -q '^50 iters in' ||
	fail "a -> b: ibv_rc_pingpong did not report its 50 iterations"
pass "a -> b: ibv_rc_pingpong after b came back: $(echo "$out" | grep iters)"

# Bandwidth (not pass/fail): ib_write_bw b (server) <- a (client).
if onsh a "command -v ib_write_bw" >/dev/null 2>&1; then
	onsh b "timeout 60 ib_write_bw -d ntbrdma0 -x $gb --report_gbits \
		>/tmp/ntbrdma-eng-bw 2>&1 &" || true
	sleep 2
	on a timeout 60 ib_write_bw -d ntbrdma0 -x "$ga" --report_gbits \
		192.168.200.2 2>&1 | tail -n 8 || echo "# ib_write_bw: failed"
	onsh b "sleep 1; tail -n 8 /tmp/ntbrdma-eng-bw" || true
fi

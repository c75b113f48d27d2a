#!/bin/bash
# Isolation of QPs and MRs against the three attackers (Documentation/
# security-model.md), with tests/vm/ntbrdma-isolation-test:
#  - a local process: a loopback QP aimed at another process's QP, which
#    is connected elsewhere, gets no answer (no receive completed, no
#    byte written or read); the responder QP's access flags and
#    max_dest_rd_atomic are enforced; IB_QP_CUR_STATE skips no state;
#  - through the NTB: requests to a QPN that does not exist or to a QP not
#    connected back get no answer; a WRITE into an MR of another PD than
#    the peer QP's, or to a peer QP without REMOTE_WRITE/READ, fails;
#  - a hostile peer (forged control messages from b's debugfs ctrl_send):
#    a RECV_DONE for a loopback QP is dropped; a RECV_POST beyond what the
#    publishing QP's RQ holds, SRQ_POSTs beyond what one SRQ may publish,
#    or a RECV_DONE longer than the receive, reset the link;
#  - a link that drops: an MR deregistered while the peer is stalled (its
#    VM stopped, the link down by heartbeat) stays pinned until the link
#    comes back.
. "$(dirname "$0")/lib.sh"

IT=$BUILD_DIR/tests/vm/ntbrdma-isolation-test
[ -x "$IT" ] || fail "$IT not built"
: "${TESTBED_DIR:?TESTBED_DIR must name the work directory of the testbed}"
W=/tmp/ntbrdma-iso
DBG_IB=/sys/kernel/debug/ntbrdma_ib/ntbrdma0

cleanup() {
	[ -f "$TESTBED_DIR/b.pid" ] && kill -CONT "$(cat "$TESTBED_DIR/b.pid")" 2>/dev/null
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

# le32 N / le16 N: N as little-endian hex bytes.
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
	$(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le16() { printf '%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)); }

# forge VM TYPE HEX: VM's ntbrdma sends one control message to its peer.
forge() {
	onsh "$1" "echo '$2 $3' > \$(ls -d /sys/kernel/debug/ntbrdma/*/ | head -n 1)ctrl_send"
}

# wait_file VM PATH: until PATH exists in VM (60 s).
wait_file() {
	onsh "$1" "for i in \$(seq 600); do [ -e $2 ] && exit 0; sleep 0.1; done; exit 1"
}

# bg VM CMD...: start CMD in VM's $W (made anew), output in $W/out.
bg() {
	local vm=$1
	shift
	onsh "$vm" "rm -rf $W; mkdir -p $W; $* >$W/out 2>&1 & echo \$! >$W/pid"
}

# bg_out VM: wait (60 s) for the program bg started, print its output.
bg_out() {
	onsh "$1" "p=\$(cat $W/pid); for i in \$(seq 600); do kill -0 \$p 2>/dev/null || break; sleep 0.1; done; cat $W/out"
}

# wait_dmesg VM TEXT: until VM's kernel log has TEXT (20 s); the log is
# read whole first (a grep -q on a pipe from the VM could kill its writer).
wait_dmesg() {
	local i log
	for i in $(seq 100); do
		log=$(on "$1" dmesg)
		grep -qF "$2" <<<"$log" && return 0
		sleep 0.2
	done
	return 1
}

# port_state VM: ntbrdma0's port state word (ACTIVE, DOWN).
port_state() {
	onsh "$1" "cat /sys/class/infiniband/ntbrdma0/ports/1/state" | awk '{print $2}'
}

# wait_port VM STATE: until the port is in STATE (60 s).
wait_port() {
	local i
	for i in $(seq 120); do
		[ "$(port_state "$1")" = "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
on a dmesg -c >/dev/null
on b dmesg -c >/dev/null

# --- a local attacker, one host -----------------------------------------
run_loop "a QP reaches only the QP connected back to it; QP permissions" "$IT"

# --- no bulk copy with interrupts off, no quadratic page walk --------------
# A 128 MiB loopback SEND over pages that are all discontiguous (32768
# sg entries), while another process wakes every 10 ms: with the copy
# walking its pages linearly and letting others run between them, that
# process is never kept off the (only) CPU for 2 s.
out=$(TESTBED_TIMEOUT=300 on a "$IT" bigsend ntbrdma0 128 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a: 128 MiB loopback SEND over discontiguous pages (exit $rc)"
pass "a: a 128 MiB copy over 32768 sg entries keeps no CPU for 2 s"

# --- requests through the NTB ---------------------------------------------
onsh b "timeout 120 $IT pserver ntbrdma0 18610 >/tmp/iso-srv 2>&1 &"
wait_listen b 18610
out=$(on a timeout 120 "$IT" pclient ntbrdma0 192.168.200.2 18610 2>&1) &&
	rc=0 || rc=$?
echo "$out"
srv=$(onsh b "sleep 1; cat /tmp/iso-srv")
echo "$srv"
[ "$rc" = 0 ] || fail "a: requests to peer QPs not connected back (exit $rc)"
echo "$srv" | grep -q '^FAIL' && fail "b: the server's MR was reached"
pass "a -> b: requests reach only a peer QP connected back, within its permissions"

# --- a hostile peer: forged control messages from b -------------------------
bg a timeout 300 "$IT" fvictim ntbrdma0 $W
wait_file a $W/qpns || fail "a: fvictim did not start"
read -r v1 spare < <(on a cat $W/qpns)
# RECV_DONE (25) for the loopback QP v1: dst, src, epoch, rq_index,
# byte_len, imm, opcode SEND, flags, status SUCCESS, reserved.  Its
# epoch is 2 (it has an inbox: epochs from 1; connect_qp went through
# RESET once): try the first few.
for epoch in 0 1 2 3; do
	forge b 25 "$(le32 "$v1")$(le32 4242)$(le32 $epoch)$(le32 0)$(le32 0x7fffffff)$(le32 0)0000000000000000"
done
# RECV_POST (24) of 2 receives from a QP whose RQ holds 1 (rq_order 0),
# to the spare QP in RESET: more than that QP could ever have published.
# The header: dst, src, epoch, pd, count, rnr_timer, access, rq_order,
# 3 reserved, srq_id 0 (no SRQ), reserved, no inbox (key, order, 3
# reserved, va).
forge b 24 "$(le32 "$spare")$(le32 4243)$(le32 1)$(le32 0)$(le16 2)000000000000$(le32 0)$(le32 0)$(le32 0)00000000$(le32 0)$(le32 0)$(le32 0)00000000$(le32 1)00000000"
wait_dmesg a "published more receives than its QP may: link reset" ||
	fail "a: no link reset for a RECV_POST beyond the publishing QP's RQ"
pass "a: a RECV_POST beyond what the peer QP's RQ holds resets the link"
wait_port a ACTIVE && wait_port b ACTIVE || fail "link did not come back"
pass "a, b: the link came back after the reset"
# SRQ_POST (32) of 61 receives (no SGE) each, of one SRQ: the 17th
# message takes it past NTBR_PUB_AHEAD (1024) receives held.
on a dmesg -c >/dev/null
srq_post=""
for k in $(seq 61); do srq_post+="$(le32 "$k")00000000"; done
for m in $(seq 17); do
	forge b 32 "$(le32 77)$(le16 61)0000$srq_post"
done
wait_dmesg a "published more receives than its SRQ may: link reset" ||
	fail "a: no link reset for SRQ_POSTs beyond NTBR_PUB_AHEAD"
pass "a: SRQ_POSTs beyond what one SRQ may publish reset the link"
wait_port a ACTIVE && wait_port b ACTIVE || fail "link did not come back"
onsh a "touch $W/go"
out=$(bg_out a)
echo "$out"
echo "$out" | grep -q '^FAIL' && fail "a: a forged RECV_DONE reached a loopback QP"
echo "$out" | grep -q 'legitimate SEND completes' ||
	fail "a: fvictim did not finish"
pass "a: a forged RECV_DONE for a loopback QP is dropped"

onsh b "timeout 300 $IT fpeer-srv ntbrdma0 18612 >/tmp/iso-fsrv 2>&1 &"
wait_listen b 18612
bg a timeout 300 "$IT" fpeer ntbrdma0 192.168.200.2 18612 $W
wait_file a $W/qpns || fail "a: fpeer did not connect"
read -r aq bq < <(on a cat $W/qpns)
on a dmesg -c >/dev/null
# a's QP has a receive inbox, so its epochs start at 1
# (rdma-datapath.md, "Stage A"), and it went through RESET once
# (connect_qp): its receives are epoch 2.
forge b 25 "$(le32 "$aq")$(le32 "$bq")$(le32 2)$(le32 0)$(le32 4096)$(le32 0)0000000000000000"
wait_dmesg a "filled a receive beyond its length: link reset" ||
	fail "a: no link reset for a RECV_DONE longer than the receive"
onsh a "touch $W/go"
out=$(bg_out a)
echo "$out"
echo "$out" | grep -q '^FAIL' && fail "a: the too long RECV_DONE completed the receive"
echo "$out" | grep -q 'does not complete it' || fail "a: fpeer did not finish"
pass "a: a RECV_DONE longer than the receive resets the link, the receive is flushed"
wait_port a ACTIVE && wait_port b ACTIVE || fail "link did not come back"

# --- the link drops while the peer may still write ---------------------------
bg a timeout 300 "$IT" mrhold ntbrdma0 $W
wait_file a $W/rkey || fail "a: mrhold did not start"
rkey=$(on a cat $W/rkey)
onsh b "grep -q 'rkey=$(printf '%#010x' "$rkey")' $DBG_IB/rmr" ||
	fail "b: MR $rkey of a not in b's table"
pass "b: holds a's MR $rkey"
# b stalls (its VM stopped, as a VM paused for seconds): a's heartbeat
# takes the link down, but b may still be in the middle of a copy.
kill -STOP "$(cat "$TESTBED_DIR/b.pid")"
wait_port a DOWN || fail "a: port did not go down with b stopped"
onsh a "touch $W/dereg"
wait_file a $W/dereged || fail "a: dereg_mr did not return"
dying=$(on a cat $DBG_IB/mr_dying 2>&1) || true
kill -CONT "$(cat "$TESTBED_DIR/b.pid")"
echo "$dying"
echo "$dying" | grep -q "rkey=$(printf '%#010x' "$rkey")" ||
	fail "a: MR $rkey unpinned while b could still write into it"
pass "a: MR $rkey stays pinned while the link is down"
wait_port a ACTIVE || fail "a: port did not come back"
for i in $(seq 60); do
	[ -z "$(on a cat $DBG_IB/mr_dying)" ] && break
	sleep 0.5
done
[ -z "$(on a cat $DBG_IB/mr_dying)" ] ||
	fail "a: MR $rkey still pinned after the link came back"
pass "a: MR $rkey unpinned once a new session proved b let go"
onsh a "touch $W/exit"
out=$(bg_out a)
echo "$out"
echo "$out" | grep -q '^FAIL' && fail "a: mrhold failed"

for vm in a b; do
	log=$(on "$vm" dmesg | grep -E 'BUG|WARNING|Oops|general protection|lockdep|KASAN' || true)
	[ -z "$log" ] || fail "$vm: kernel log: $log"
done
pass "a, b: no kernel report"

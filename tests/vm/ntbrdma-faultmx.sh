#!/bin/bash
# The fault matrix: every cell of {WRITE, READ, SEND, WRITE_WITH_IMM} x
# {64 B, 256 KiB} and {FETCH_AND_ADD, CMP_AND_SWP} x 8 B runs on its own RC
# QP pair, a requesting and b responding (ntbrdma-faultmx-test), when one
# fault strikes; each cell's outcome is checked:
#
# | fault (on b unless said)              | every cell (requester on a)              |
# |---------------------------------------|------------------------------------------|
# | modprobe -r ntbrdma on a and on b,    | refused (module in use), traffic goes on |
# |   user contexts open                  |   without a single error                 |
# | deregister every target MR            | WRITE/READ/WRITE_IMM/atomics:            |
# |                                       |   REM_ACCESS_ERR;                        |
# |                                       |   SEND: REM_OP_ERR (its receive's SGEs   |
# |                                       |   fail b's checks); rest flushed, ERR    |
# | destroy every responder QP            | RETRY_EXC_ERR, rest flushed, QP in ERR   |
# | b's QEMU stopped 2 s and until a took | RETRY_EXC_ERR or WR_FLUSH_ERR (link      |
# |   the link down (heartbeat lost)      |   down), rest flushed; the link returns  |
# | rdma link del ntbrdma0 on b           | link del waits while b's process has the |
# |                                       |   device open; once it is killed: link   |
# |                                       |   del completes, the cells fail with     |
# |                                       |   RETRY_EXC, REM_ACCESS or REM_OP_ERR    |
# | rdma link del ntbrdma0 on a           | waits for a's process; completes once it |
# |                                       |   is killed                              |
# | b's process killed and its device     | the same as for link del on b            |
# |   removed while a is idle (the NTB    |                                          |
# |   link stays up); a's traffic resumes |                                          |
# | b killed (SIGKILL of its QEMU)        | RETRY_EXC_ERR or WR_FLUSH_ERR, rest      |
# |                                       |   flushed; b boots again and works       |
#
# After every fault: no kernel report in either VM's log.  (pkill patterns
# start with [n] so that they do not match pkill's own command line.)  (No
# disassociate_ucontext yet: removing a device waits for its users, as on
# rxe and siw.)
. "$(dirname "$0")/lib.sh"

FT=$BUILD_DIR/tests/vm/ntbrdma-faultmx-test
[ -x "$FT" ] || fail "$FT not built"
REPORTS='BUG|WARNING|Oops|general protection|KASAN|UBSAN|possible circular|inconsistent lock|suspicious RCU|blocked for more than'
PORT=18800
TMPD=$(mktemp -d)
# The client's stop and go files, in VM a's /tmp: names of this run only
# (a VM's /tmp shows the host's, where another run may have left its own).
STOP=/tmp/ntbrdma-faultmx-stop.$$
GO=/tmp/ntbrdma-faultmx-go.$$

cleanup() {
	for vm in a b; do
		on "$vm" pkill -KILL -f '[n]tbrdma-faultmx-test' 2>/dev/null || true
	done
	kill -CONT "$(cat "$TESTBED_DIR/b.pid" 2>/dev/null)" 2>/dev/null || true
	ntbrdma_teardown a
	ntbrdma_teardown b
	rm -rf "$TMPD"
}
trap cleanup EXIT

no_reports() { # WHEN
	for vm in a b; do
		expect_eq "$vm: no kernel report ($1)" "" \
			"$(onsh "$vm" "dmesg | grep -E '$REPORTS' || true")"
	done
}

both_active() {
	ntbrdma_wait_active a
	ntbrdma_wait_active b
}

# start FAULT: server on b, client on a, until every cell has traffic.
start() {
	PORT=$((PORT + 1))
	# The client's own bounds add up to 240 s (30 traffic, 30 quiet, 90
	# told to go on, 90 drain): the agent's bound is longer, so a slow
	# client still prints which cells did what, and its server lives as
	# long.
	# Emptied here, not only by the redirections of the jobs below,
	# which happen in their own time: the wait for "# traffic" must not
	# find the previous fault's client's (it did, and the fault struck
	# before this client had a QP: no cell saw it).
	: >"$TMPD/cli"
	: >"$TMPD/srv"
	TESTBED_TIMEOUT=$(scaled 300) \
		on b "$FT" serve ntbrdma0 "$PORT" >"$TMPD/srv" 2>&1 &
	spid=$!
	wait_listen b "$PORT"
	TESTBED_TIMEOUT=$(scaled 300) \
		on a env NTBRDMA_FAULTMX_TIME_SCALE="${TESTBED_TIME_SCALE:-1}" \
		NTBRDMA_FAULTMX_STOP="$STOP" NTBRDMA_FAULTMX_GO="$GO" \
		"$FT" client ntbrdma0 192.168.200.2 "$PORT" "$1" \
		>"$TMPD/cli" 2>&1 &
	cpid=$!
	for _ in $(seq "$(scaled 300)"); do
		grep -q '^# traffic' "$TMPD/cli" && return 0
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.2
	done
	cat "$TMPD/cli" "$TMPD/srv"
	fail "$1: the cells never all had traffic"
}

# finish FAULT: the client's verdict; the server goes.
finish() {
	local rc
	wait "$cpid" && rc=0 || rc=$?
	on b pkill -KILL -f '[n]tbrdma-faultmx-test serve' 2>/dev/null || true
	wait "$spid" || true
	grep -v '^ok - ' "$TMPD/cli" | sed 's/^/a: /' || true
	grep -v '^ok - ' "$TMPD/srv" | sed 's/^/b: /' || true
	[ "$rc" = 0 ] || fail "$1: a cell's outcome is not the expected one"
	pass "$1: every cell as expected ($(grep -c '^ok - ' "$TMPD/cli") checks)"
	no_reports "$1"
}

# blocked VM: `rdma link del ntbrdma0` in VM waits while a process has it
# open; true if it is still waiting after 5 s (its pid in $ldpid).
link_del_blocks() {
	on "$1" rdma link del ntbrdma0 >"$TMPD/ld" 2>&1 &
	ldpid=$!
	sleep 5
	kill -0 "$ldpid" 2>/dev/null
}

ntbrdma_setup a 1
ntbrdma_setup b 2
both_active

# --- modprobe -r with user contexts open ---------------------------------------------
start none
for vm in a b; do
	on "$vm" pgrep -f '[n]tbrdma-faultmx-test' >/dev/null || {
		cat "$TMPD/cli" "$TMPD/srv"
		fail "$vm: no ntbrdma-faultmx-test process to hold ntbrdma0"
	}
	out=$(on "$vm" timeout "$(scaled 20)" modprobe -r ntbrdma 2>&1) &&
		rc=0 || rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'in use' <<<"$out" || {
		cat "$TMPD/cli" "$TMPD/srv"
		fail "$vm: modprobe -r ntbrdma with a process using it: exit $rc: $out"
	}
	pass "$vm: modprobe -r ntbrdma refused at once while a process uses it"
done
on a touch "$STOP" # the client's traffic ends
finish "modprobe -r with contexts open"

# --- the responder's MRs, then its QPs ------------------------------------------------
start dereg
finish "dereg_mr on b"
start destroy
finish "destroy_qp on b"

# --- b stopped 2 s: the heartbeat times out, the link goes and returns ---------------
# a_link_downs: how many times a's emulated NTB took the link down so far.
a_link_downs() {
	onsh a "dmesg | grep -c 'ntb_hw_ivshmem.*link down' || true"
}
start stop
downs=$(a_link_downs)
kill -STOP "$(cat "$TESTBED_DIR/b.pid")"
# 2 s with the default heartbeat timeout (600 ms); longer if it is raised.
sleep $((($(hb_timeout_ms a) + 1400) / 1000))
# And until a noticed: on a crowded host a's check may run late, and
# after the CONT it would find b's heartbeat going again.
for _ in $(seq "$(scaled 60)"); do
	[ "$(a_link_downs)" -gt "$downs" ] && break
	sleep 0.5
done
[ "$(a_link_downs)" -gt "$downs" ] ||
	fail "a did not take the link down while b was stopped"
kill -CONT "$(cat "$TESTBED_DIR/b.pid")"
finish "b's QEMU stopped for 2 s (or until a noticed)"
both_active

# --- rdma link del on the responder's side, then on the requester's -------------------
start linkdel
link_del_blocks b || fail "b: rdma link del did not wait for the process"
pass "b: rdma link del waits while the responder process has ntbrdma0 open"
on b pkill -KILL -f '[n]tbrdma-faultmx-test serve'
expect_ok "b: rdma link del completes once the process is gone" \
	timeout "$(scaled 30)" tail --pid="$ldpid" -f /dev/null
finish "rdma link del on b"
expect_ok "b: rdma link add again" \
	on b rdma link add ntbrdma0 type ntbrdma netdev ntb0
both_active

# --- b's device removed while a is idle: a's requests meet no device -------------------
start gone
for _ in $(seq "$(scaled 300)"); do
	grep -q '^# quiet' "$TMPD/cli" && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.2
done
grep -q '^# quiet' "$TMPD/cli" || {
	cat "$TMPD/cli" "$TMPD/srv"
	fail "gone: the cells never drained"
}
on b pkill -KILL -f '[n]tbrdma-faultmx-test serve'
wait "$spid" || true
expect_ok "b: rdma link del with its process gone" \
	on b timeout "$(scaled 30)" rdma link del ntbrdma0
on a touch "$GO" # the client's traffic resumes
finish "b's device removed, then a's traffic"
expect_ok "b: rdma link add again" \
	on b rdma link add ntbrdma0 type ntbrdma netdev ntb0
both_active

start none
link_del_blocks a || fail "a: rdma link del did not wait for the process"
pass "a: rdma link del waits while the requester process has ntbrdma0 open"
on a pkill -KILL -f '[n]tbrdma-faultmx-test client'
expect_ok "a: rdma link del completes once the process is gone" \
	timeout "$(scaled 30)" tail --pid="$ldpid" -f /dev/null
wait "$cpid" || true
on b pkill -KILL -f '[n]tbrdma-faultmx-test serve' 2>/dev/null || true
wait "$spid" || true
no_reports "rdma link del on a"
expect_ok "a: rdma link add again" \
	on a rdma link add ntbrdma0 type ntbrdma netdev ntb0
both_active

# --- b killed -------------------------------------------------------------------------
start kill
"$TESTBED" kill b
wait "$spid" || true
finish_kill() {
	local rc
	wait "$cpid" && rc=0 || rc=$?
	grep -v '^ok - ' "$TMPD/cli" | sed 's/^/a: /' || true
	[ "$rc" = 0 ] || fail "b killed: a cell's outcome is not the expected one"
	pass "b killed: every cell as expected ($(grep -c '^ok - ' "$TMPD/cli") checks)"
}
finish_kill
"$TESTBED" start b
ntbrdma_setup b 2
both_active
no_reports "b killed and back"

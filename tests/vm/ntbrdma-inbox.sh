#!/bin/bash
# Receive completions through inboxes (Documentation/rdma-datapath.md,
# "Stage A"; ntbrdma-inbox-test says what the program checks):
#  1. loopback on a: every receive completion of the QP is a slot our
#     kernel wrote into the inbox (debugfs inbox: local), none in the
#     ring but the flush's; and slots forged by the process itself (a
#     length beyond the receive, a status no CQE has) complete with
#     LOC_LEN_ERR (GENERAL_ERR), whether the flush or the provider
#     takes them;
#  2. a -> b through the NTB: a's kernel put the completion of every
#     message it placed into b's inbox (a: put), and b's kernel made no
#     CQE for them (b: done), the failed receive's slot is b's own
#     (b: local); the flush returns the slots b's provider had not taken,
#     in order, before the flushed receives;
#  3. the same with NTBRDMA_INBOX=0 (QPs without inboxes): the same
#     outcome, no inbox counter moves.
# 2 runs with NTBRDMA_EAGER=0: small SENDs would otherwise go from a's
# provider straight into b's inbox, without a's kernel (stage B,
# tests/vm/ntbrdma-eager.sh).
# No kernel report on either host.
. "$(dirname "$0")/lib.sh"

IT=$BUILD_DIR/tests/vm/ntbrdma-inbox-test
[ -x "$IT" ] || fail "$IT not built"
INBOX=/sys/kernel/debug/ntbrdma_ib/ntbrdma0/inbox

# inbox VM FIELD: a counter of VM's debugfs inbox (put, local, done).
inbox() {
	onsh "$1" "cat $INBOX" | awk -v f="$2" '$1 == f { print $2 }'
}

ntbrdma_pair

local0=$(inbox a local)
run_loop "inbox, loopback" "$IT"
local1=$(inbox a local)
# Phase 1's eight receives and phase 2's two completions.
[ $((local1 - local0)) -ge 10 ] ||
	fail "a: loopback completions not written into the inbox (local $local0 -> $local1)"
pass "a: loopback: $((local1 - local0)) completions through the inbox"

put0=$(inbox a put)
done0=$(inbox b done)
blocal0=$(inbox b local)
# Stage A's path: without eager SENDs (ntbrdma-eager.sh tests those),
# each message's completion is put by a's kernel.
serve_connect "inbox through the NTB" "$IT" 18541 180 NTBRDMA_EAGER=0
put1=$(inbox a put)
done1=$(inbox b done)
blocal1=$(inbox b local)
# Phase 1's eight messages and phase 2's first.
[ $((put1 - put0)) -ge 9 ] ||
	fail "a: completions not put into b's inbox (put $put0 -> $put1)"
[ $((done1 - done0)) -ge 9 ] ||
	fail "b: RECV_DONEs without the inbox flag (done $done0 -> $done1)"
[ $((blocal1 - blocal0)) -ge 1 ] ||
	fail "b: the failed receive's slot not written by b (local $blocal0 -> $blocal1)"
pass "a -> b: $((put1 - put0)) completions put into b's inbox, b made no CQE for $((done1 - done0))"

put0=$(inbox a put)
done0=$(inbox b done)
serve_connect "no inboxes (NTBRDMA_INBOX=0)" "$IT" 18542 180 NTBRDMA_INBOX=0
expect_eq "a: no inbox put with NTBRDMA_INBOX=0" "$put0" "$(inbox a put)"
expect_eq "b: no inbox completion with NTBRDMA_INBOX=0" "$done0" \
	"$(inbox b done)"

expect_no_oops a b

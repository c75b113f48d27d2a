#!/bin/bash
# Eager messages (Documentation/rdma-datapath.md, "Stage B";
# ntbrdma-eager-test says what the program checks), a -> b through the
# NTB:
#  1. SENDs of 0 B to 4 KiB around the 1 KiB eager threshold, every byte
#     checked, WRITE-then-SEND ordering, and a hostile requester that
#     forges slots and status words in b's inbox through its mapping: the
#     program passes on both hosts;
#  2. the messages of at most 1 KiB went without a's kernel: a's provider
#     mapped b's inbox (debugfs umap: made_inbox), and a's kernel put
#     fewer completions into b's inbox (inbox: put) than there were
#     messages of at most 1 KiB - the kernel puts one for every message it
#     sends;
#  3. nobody waited for an event, so no eager message was announced to
#     b's kernel (umap: notify on a).
# No kernel report on either host.
. "$(dirname "$0")/lib.sh"

ET=$BUILD_DIR/tests/vm/ntbrdma-eager-test
[ -x "$ET" ] || fail "$ET not built"
DBG=/sys/kernel/debug/ntbrdma_ib/ntbrdma0

# field VM FILE FIELD: FIELD of FILE whether "name value" lines or one
# line of "name value name value ...".
field() {
	onsh "$1" "cat $DBG/$2" | tr ' ' '\n' | grep -A1 -x "$3" |
		tail -n 1
}

ntbrdma_pair

put0=$(field a inbox put)
made0=$(field a umap made_inbox)
notify0=$(field a umap notify)
serve_connect "eager messages a -> b" "$ET" 18561 300
put1=$(field a inbox put)
made1=$(field a umap made_inbox)
notify1=$(field a umap notify)

[ $((made1 - made0)) -ge 1 ] ||
	fail "a: its provider never mapped b's inbox (made_inbox $made0 -> $made1)"
pass "a: b's inbox mapped $((made1 - made0)) time(s)"
# Phase 1: 60 messages, 45 of at most 1 KiB; 20 more of 8 bytes; one in
# phase 2.  The kernel puts one completion for each message it sends.
small=66
[ $((put1 - put0)) -lt $((60 - 45 + small / 2)) ] ||
	fail "a: its kernel sent $((put1 - put0)) messages, not eager ones (of $small small)"
pass "a: $((put1 - put0)) messages by the kernel, the rest of $small small ones eager"
expect_eq "a: no eager message announced to b's kernel" "$notify0" "$notify1"
expect_no_oops a b

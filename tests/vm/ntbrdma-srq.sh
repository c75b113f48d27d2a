#!/bin/bash
# Shared receive queues (ntbrdma_ib_srq.c): on a, QPs of one device
# connected to each other, two of them on one SRQ - receives taken in
# the order posted by whichever QP is sent to, data byte for byte, the
# limit event, RNR on an empty SRQ, LAST_WQE_REACHED, the errors of the
# SRQ verbs; then 4 QPs of a sending 400 messages of 64 B to 4 KiB to 4
# QPs of b on one SRQ through the NTB: each lands once, in the receive
# its completion names, on the QP it was sent to; the limit event as
# the peer consumes.  No kernel report on either host.
. "$(dirname "$0")/lib.sh"

ST=$BUILD_DIR/tests/vm/ntbrdma-srq-test
[ -x "$ST" ] || fail "$ST not built"

ntbrdma_pair

run_loop "SRQ, loopback" "$ST"

serve_connect "SRQ through the NTB" "$ST" 18531 180
pass "a -> b: SENDs to QPs of an SRQ through the NTB"

expect_no_oops a b

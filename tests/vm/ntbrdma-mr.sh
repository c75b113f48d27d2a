#!/bin/bash
# Memory registration: exact errors of reg_mr; MRs registered on b are
# announced to a (debugfs ntbrdma_ib/ntbrdma0/rmr lists exactly the ones
# with LOCAL_WRITE or REMOTE_* access, with their rkey, iova, length, access and pages);
# the lookup the data path uses (rmr_xlate: translation, ERANGE, EACCES,
# ENOENT); dereg removes the peer's entry; `rdma res show mr`; b dies ->
# a's table is empty; b back -> announced again; a re-created device asks
# for them again; unload with MRs registered is clean, and the survivor
# announces its MRs again when the peer comes back.
. "$(dirname "$0")/lib.sh"

MT=$BUILD_DIR/tests/vm/ntbrdma-mr-test
[ -x "$MT" ] || fail "$MT not built"
BAD='BUG|WARNING|Oops|general protection'
DBG=/sys/kernel/debug/ntbrdma_ib/ntbrdma0
REL=/tmp/ntbrdma-mr-release
HOLD=/tmp/ntbrdma-mr-hold

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do
		on "$vm" sh -c "touch $REL.1 $REL; sleep 1;
			rdma link del ntbrdma0 2>/dev/null;
			modprobe -r ntbrdma" || true
	done
}
trap cleanup EXIT

port_active() { # VM
	onsh "$1" "timeout 30 sh -c 'until ibv_devinfo -d ntbrdma0 |
		grep -q PORT_ACTIVE; do sleep 0.5; done'"
}

# start_hold: b registers the MRs and keeps them (background process).
start_hold() {
	onsh b "rm -f $REL $REL.1 $HOLD
		setsid $MT hold ntbrdma0 $REL >$HOLD 2>&1 </dev/null &
		timeout 60 sh -c 'until grep -q held $HOLD; do sleep 0.1; done'"
	on b cat "$HOLD"
}

rmr() { on a cat "$DBG/rmr"; }

# xlate RKEY VA LEN ACCESS: the result of a lookup on a.
xlate() {
	onsh a "echo '$1 $2 $3 $4' > $DBG/rmr_xlate && cat $DBG/rmr_xlate"
}

# wait_rmr_count N SECONDS: a's table has N entries.
wait_rmr_count() {
	onsh a "for i in \$(seq $(($2 * 5))); do
		[ \$(grep -c rkey= $DBG/rmr) = $1 ] && exit 0; sleep 0.2
		done; exit 1"
}

# check_announced HOLD_OUTPUT NAMES...: a's entries match b's MRs.
check_announced() {
	local out=$1 table name line rkey iova len acc np
	shift
	table=$(rmr)
	echo "$table"
	for name in "$@"; do
		line=$(echo "$out" | grep "^mr $name ")
		rkey=$(echo "$line" | sed 's/.* rkey=\([^ ]*\).*/\1/')
		iova=$(echo "$line" | sed 's/.* iova=\([^ ]*\).*/\1/')
		len=$(echo "$line" | sed 's/.* len=\([^ ]*\).*/\1/')
		acc=$(echo "$line" | sed 's/.* access=\([^ ]*\).*/\1/')
		np=$(echo "$line" | sed 's/.* npages=\([^ ]*\).*/\1/')
		echo "$table" | grep -q "^rkey=$(printf '%#010x' "$rkey") iova=$iova len=$len access=$acc state=READY npages=$np first_dma=0x[0-9a-f]*[1-9a-f][0-9a-f]* " ||
			fail "a: $name ($rkey) not announced as $line"
		pass "a: $name announced (rkey $rkey iova $iova len $len access $acc npages $np)"
	done
}

field() { # OUTPUT NAME FIELD
	echo "$1" | grep "^mr $2 " | sed "s/.* $3=\([^ ]*\).*/\1/"
}

ntbrdma_setup a 1
ntbrdma_setup b 2
expect_ok "a: port active" port_active a
expect_ok "b: port active" port_active b

# --- exact errors -------------------------------------------------------------
out=$(on b "$MT" errors ntbrdma0 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "b: ntbrdma-mr-test errors failed (exit $rc)"
pass "b: reg_mr errors and keys"
expect_eq "a: table empty after b's error checks" 0 \
	"$(rmr | grep -c rkey= || true)"

# --- announcement -------------------------------------------------------------
out=$(start_hold)
echo "$out"
expect_eq "a: exactly the 3 MRs the peer may write (LOCAL_WRITE or REMOTE_*)" 3 \
	"$(rmr | grep -c rkey= || true)"
check_announced "$out" rw4k rd1m all
ro=$(printf '%#010x' "$(field "$out" ro1 rkey)")
rmr | grep -q "rkey=$ro " && fail "a: the local-only MR was announced"
pass "a: local-only MR not announced"
expect_eq "b: rdma res show mr lists the 4 MRs" 4 \
	"$(on b rdma res show mr dev ntbrdma0 | grep -c 'comm ntbrdma-mr-te' || true)"

# --- the lookup of the data path ------------------------------------------------
rw=$(field "$out" rw4k rkey)
rwva=$(field "$out" rw4k iova)
rd=$(field "$out" rd1m rkey)
rdva=$(field "$out" rd1m iova)
al=$(field "$out" all rkey)
alva=$(field "$out" all iova)
r=$(xlate "$rw" "$rwva" 4096 2)
echo "xlate rw4k: $r"
echo "$r" | grep -Eq '^ok dma=0x[0-9a-f]*000 contig=4096$' ||
	fail "a: rw4k whole range, REMOTE_WRITE: $r"
pass "a: rw4k whole range, REMOTE_WRITE: $r"
r=$(xlate "$rw" $((rwva + 100)) 8 2)
echo "$r" | grep -Eq '^ok dma=0x[0-9a-f]*064 contig=3996$' ||
	fail "a: rw4k +100: $r"
pass "a: rw4k +100: $r"
expect_eq "a: rw4k one byte past the end" ERANGE \
	"$(xlate "$rw" "$rwva" 4097 2)"
expect_eq "a: rw4k below iova" ERANGE "$(xlate "$rw" $((rwva - 1)) 1 2)"
expect_eq "a: rw4k REMOTE_READ not granted" EACCES \
	"$(xlate "$rw" "$rwva" 8 4)"
expect_eq "a: rd1m REMOTE_WRITE not granted" EACCES \
	"$(xlate "$rd" "$rdva" 8 2)"
expect_eq "a: rd1m REMOTE_ATOMIC not granted" EACCES \
	"$(xlate "$rd" "$rdva" 8 8)"
r=$(xlate "$rd" $((rdva + 1048576)) 123 4)
echo "$r" | grep -q '^ok dma=' || fail "a: rd1m last bytes: $r"
pass "a: rd1m last 123 bytes: $r"
expect_eq "a: rd1m one byte more" ERANGE \
	"$(xlate "$rd" $((rdva + 1048576)) 124 4)"
r=$(xlate "$al" "$alva" 8192 14)
echo "$r" | grep -q '^ok dma=0x[0-9a-f]*064 ' ||
	fail "a: all (iova != address) translates: $r"
pass "a: all (iova != address): $r"
expect_eq "a: unknown rkey" ENOENT "$(xlate $((rw ^ 0x80)) "$rwva" 8 2)"
expect_eq "a: local-only rkey" ENOENT \
	"$(xlate "$(field "$out" ro1 rkey)" "$(field "$out" ro1 iova)" 1 0)"

# --- dereg --------------------------------------------------------------------
onsh b "touch $REL.1; timeout 20 sh -c 'until grep -q dereg1 $HOLD; do
	sleep 0.1; done'"
expect_ok "a: rw4k gone after b deregistered it" wait_rmr_count 2 10
expect_eq "a: rw4k lookup" ENOENT "$(xlate "$rw" "$rwva" 8 2)"
check_announced "$out" rd1m all

# --- a re-creates its device: asks b for its MRs again ------------------------
on a rdma link del ntbrdma0
on a rdma link add ntbrdma0 type ntbrdma netdev ntb0
expect_ok "a: re-created device got b's 2 MRs" wait_rmr_count 2 20
check_announced "$out" rd1m all

# --- b dies: a's table empties; b back: announced again --------------------------
"$TESTBED" kill b
expect_ok "a: table empty after b died" wait_rmr_count 0 20
"$TESTBED" start b
ntbrdma_setup b 2
expect_ok "b: port active after restart" port_active b
out=$(start_hold)
expect_eq "a: 3 MRs of the new b" 3 "$(rmr | grep -c rkey= || true)"
check_announced "$out" rw4k rd1m all

# --- unload with MRs registered --------------------------------------------------
# a goes while b holds MRs (a's table full): b's MRs stay usable locally.
expect_ok "a: unload with the peer's MRs in its table" \
	on a modprobe -r ntbrdma
expect_eq "a: no oops or warning" "" \
	"$(onsh a "dmesg | grep -E '$BAD' || true")"
# a back: b (which kept its MRs through the link loss) announces them again.
ntbrdma_setup a 1
expect_ok "a: port active again" port_active a
expect_ok "a: b's 3 MRs announced again after a came back" \
	wait_rmr_count 3 20
check_announced "$out" rw4k rd1m all
onsh b "touch $REL.1 $REL; timeout 20 sh -c 'until grep -q released $HOLD;
	do sleep 0.1; done'"
on b cat "$HOLD"
on b grep -q FAIL "$HOLD" && fail "b: hold reported a failure"
expect_ok "a: table empty after b released its MRs" wait_rmr_count 0 10
expect_eq "b: no MR left" 0 \
	"$(on b rdma res show mr dev ntbrdma0 | grep -c 'comm ntbrdma-mr-te' || true)"
expect_ok "b: unload" on b sh -c 'rdma link del ntbrdma0; modprobe -r ntbrdma'
expect_eq "b: no oops or warning" "" \
	"$(onsh b "dmesg | grep -E '$BAD' || true")"
expect_eq "b: every announcement answered (no 5 s wait)" "" \
	"$(onsh b "dmesg | grep 'did not answer' || true")"
expect_ok "a: unload" on a sh -c 'rdma link del ntbrdma0; modprobe -r ntbrdma'
expect_eq "a: no oops or warning at the end" "" \
	"$(onsh a "dmesg | grep -E '$BAD' || true")"

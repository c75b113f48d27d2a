#!/bin/bash
# Memory windows as real NTBs have them (Documentation/memory-windows.md):
# ntb_hw_ivshmem is reloaded on both VMs (1 GiB each; 2 GiB under the
# debug kernel, TESTBED_MEM) with mw= layouts,
#  1. two windows of different sizes covering all RAM (768M + 256M, or
#     1536M + 512M): MRs
#     whose pages lie in window 0, in window 1 and alternate between the
#     two take WRITE, READ and SEND byte for byte, both ways;
#  2. windows covering less than RAM (512M + 256M = 768M, not a power of
#     two): MRs with pages above the coverage are refused with ERANGE and
#     a log line saying why and what to change, never accepted; MRs in
#     either window still work byte for byte, and so does ntb0;
#  3. a window that cannot continue the covered range is left unused and
#     logged; the link comes up on the others;
#  4. different layouts on the two sides: the emulated link stays down and
#     says why.
# ntbrdma-window-test places the pages (memfd + /proc/self/pagemap).
. "$(dirname "$0")/lib.sh"

WT=$BUILD_DIR/tests/vm/ntbrdma-window-test
[ -x "$WT" ] || fail "$WT not built"
BAD='BUG|WARNING|Oops|general protection'
PORT=18560

# ivshmem_load VM PARAMS...: ntb_hw_ivshmem again in VM with PARAMS.
ivshmem_load() {
	local vm=$1
	shift
	ntbrdma_teardown "$vm"
	on "$vm" modprobe -r ntb_tool ntb_pingpong ntb_hw_ivshmem
	on "$vm" modprobe ntb_hw_ivshmem "$@"
}

TMPD=$(mktemp -d)
# Whatever happens: both VMs back on the default windows, without ntbrdma.
cleanup() {
	for vm in a b; do ivshmem_load "$vm" || true; done
	rm -rf "$TMPD"
}
trap cleanup EXIT

# ip_of VM: the host part of VM's ntb0 address (ntbrdma_setup VM N).
ip_of() { [ "$1" = a ] && echo 1 || echo 2; }

# no_reports: neither VM's log has an oops or warning (since the last clear).
no_reports() {
	for vm in a b; do
		expect_eq "$vm: no oops or warning" "" \
			"$(onsh "$vm" "dmesg | grep -E '$BAD' || true")"
	done
}

# layout PARAMS...: both VMs on PARAMS, ntbrdma up, ports active.
layout() {
	no_reports
	for vm in a b; do ivshmem_load "$vm" "$@"; done
	on a dmesg -C
	on b dmesg -C
	ntbrdma_setup a 1
	ntbrdma_setup b 2
	ntbrdma_wait_active a
	ntbrdma_wait_active b
}

coverage() { onsh "$1" 'cat /sys/kernel/debug/ntbrdma/*/coverage'; }

# has VM WHAT LINE: VM's coverage file has LINE.
has() {
	local c
	c=$(coverage "$1")
	grep -qxF "$3" <<<"$c" || {
		echo "$c"
		fail "$1: $2: no line '$3' in debugfs coverage"
	}
	pass "$1: $2: $3"
}

# data SERVER CLIENT RANGES: placed MRs, client -> server, both pass.
data() {
	local out rc srv spid
	PORT=$((PORT + 1))
	on "$1" "$WT" serve ntbrdma0 "$PORT" "$3" >"$TMPD/serve" 2>&1 &
	spid=$!
	# The server finds its pages first (hundreds of MiB searched when
	# other tests left the low memory in use): the client's 10 s of
	# connection attempts start only once it listens.
	on "$1" timeout "$(scaled 180)" sh -c "until ss -Hltn 'sport = :$PORT' |
		grep -q .; do sleep 0.2; done" >/dev/null 2>&1 || true
	out=$(on "$2" "$WT" client ntbrdma0 "192.168.200.$(ip_of "$1")" \
		"$PORT" "$3" 2>&1) && rc=0 || rc=$?
	wait "$spid" && srv=0 || srv=$?
	grep -v '^ok - ' "$TMPD/serve" | sed "s/^/$1: /" || true
	grep -v '^ok - ' <<<"$out" | sed "s/^/$2: /" || true
	[ "$rc" = 0 ] && [ "$srv" = 0 ] ||
		fail "$2 -> $1, pages in $3: client exit $rc, server exit $srv"
	pass "$2 -> $1: WRITE/READ/SEND byte for byte, MR pages in $3 ($(grep -c '^ok - ' <<<"$out") + $(grep -c '^ok - ' "$TMPD/serve") checks)"
}

# --- 1. 768M + 256M: all RAM, two windows of different sizes -------------------
# (1536M + 512M for VMs of 2 GiB: still all of their RAM.)
if [ "${TESTBED_MEM:-1G}" = 2G ]; then
	w0=1536M w1=512M e0=0x0-0x5fffffff e1=0x60000000-0x7fffffff
	ranges=0-60000000,60000000-80000000
else
	w0=768M w1=256M e0=0x0-0x2fffffff e1=0x30000000-0x3fffffff
	ranges=0-30000000,30000000-40000000
fi
layout "mw=$w0@0,$w1@$w0"
for vm in a b; do
	has "$vm" "two windows" "window 0 $e0"
	has "$vm" "two windows" "window 1 $e1"
	has "$vm" "the peer's windows" "peer_window 0 $e0"
	has "$vm" "the peer's windows" "peer_window 1 $e1"
	has "$vm" "all RAM" "all_ram_reachable yes"
done
data b a "$ranges"
data a b "$ranges"

# --- 2. 512M + 256M: coverage below RAM -----------------------------------------
layout mw=512M@0,256M@512M
for vm in a b; do
	has "$vm" "768 MiB" "coverage 0x0-0x2fffffff (805306368 bytes)"
	has "$vm" "768 MiB" "all_ram_reachable no"
done
log=$(onsh a "dmesg | grep 'is below the end of RAM' || true")
[ -n "$log" ] || fail "a: no warning that the coverage is below RAM"
pass "a: warned at link-up: ${log:0:100}..."
ram_end=$(coverage a | sed -n 's/^ram_end //p')
out=$(on a "$WT" refuse ntbrdma0 30000000 "${ram_end#0x}" 2>&1) && rc=0 || rc=$?
grep -v '^ok - ' <<<"$out" || true
[ "$rc" = 0 ] || fail "a: an MR above the coverage was accepted, or refused otherwise"
pass "a: MRs above the coverage refused with ERANGE ($(grep -c '^ok - ' <<<"$out") checks)"
log=$(onsh a "dmesg | grep 'reg_mr refused (ERANGE)' | head -n 1")
grep -q 'outside the windows' <<<"$log" && grep -q 'IOMMU' <<<"$log" ||
	fail "a: no log line saying why and what to change: '$log'"
pass "a: the refusal is logged: ${log:0:120}..."
data b a 0-20000000,20000000-30000000
data a b 0-20000000,20000000-30000000
expect_ok "ntb0 carries IP with receive buffers inside the coverage" \
	on a busybox ping -c 3 -s 8000 -W 5 192.168.200.2

# --- 3. a window that cannot continue the range ---------------------------------
layout mw=256M@0,256M@512M
has a "window 1 fixed at 512M, the range ends at 256M" "window 0 0x0-0xfffffff"
has a "window 1 left unused" "coverage 0x0-0xfffffff (268435456 bytes)"
log=$(onsh a "dmesg | grep 'inbound window 1 unused' || true")
[ -n "$log" ] || fail "a: window 1 unused, but not logged"
pass "a: logged: ${log:0:110}..."
data b a 0-10000000

# --- 4. different layouts on the two sides ---------------------------------------
no_reports
ivshmem_load b
on a dmesg -C
ivshmem_load a mw=512M@0,512M@512M
sleep 2
expect_ok "a: the link stays down and says why" \
	onsh a "dmesg | grep -q 'has other memory windows (mw=) than ours'"
expect_eq "a: no NTB link up with other windows on b" "" \
	"$(onsh a "dmesg | grep 'link up' || true")"
no_reports

#!/bin/bash
# Helpers for VM tests (sourced).  A VM test is an executable bash script in
# tests/vm/, run from the repository root by tests/run-tests with TESTBED set
# to the testbed script and the testbed up.  Exit 0 = pass, 1 = fail,
# 77 = skip.  Every check prints one line: "ok - ..." or "FAIL - ...".
set -euo pipefail

: "${TESTBED:?TESTBED must name the testbed script}"
# The build tree (the VMs see it at the same path); run-tests exports it.
: "${BUILD_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
export BUILD_DIR

# on VM CMD...: run CMD in VM, bounded to 120 s (scaled) unless
# TESTBED_TIMEOUT says.
on() {
	local vm=$1
	shift
	TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-$((120 * ${TESTBED_TIME_SCALE:-1}))} \
		"$TESTBED" run "$vm" -- "$@"
}

# onsh VM SCRIPT: run a shell script in VM.
onsh() { on "$1" sh -c "$2"; }

fail() {
	echo "FAIL - $*"
	exit 1
}

pass() { echo "ok - $*"; }

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# expect_ok DESCRIPTION CMD...: CMD must exit 0.
expect_ok() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc: '$*' failed: $out"
	fi
}

# expect_fail DESCRIPTION CMD...: CMD must exit non-zero.
expect_fail() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$desc: '$*' succeeded: $out"
	else
		pass "$desc"
	fi
}

# ntb_dbgfs VM CLIENT: the debugfs directory of CLIENT's (only) NTB device.
ntb_dbgfs() {
	local d
	d=$(onsh "$1" "ls -d /sys/kernel/debug/$2/*/ 2>/dev/null | head -n 1")
	[ -n "$d" ] || fail "$1: no $2 debugfs directory"
	echo "${d%/}"
}

# now_ms: host monotonic-ish wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# scaled SECONDS: a time limit for a VM operation, times TESTBED_TIME_SCALE
# (run-tests --debug sets it: the sanitizer kernel is several times slower
# under TCG).  Never a pass/fail timing: only how long to wait at most.
scaled() { echo $(($1 * ${TESTBED_TIME_SCALE:-1})); }

# hb_timeout_ms VM: after how many ms without a heartbeat VM's emulated NTB
# takes the link down (ntb_hw_ivshmem's hb_timeout_ms; the debug run raises
# it on the kernel command line).
hb_timeout_ms() {
	onsh "$1" "cat /sys/module/ntb_hw_ivshmem/parameters/hb_timeout_ms"
}

# ntbrdma_setup VM N [MODULE_ARGS]: load ntbrdma in VM (with MODULE_ARGS),
# address its ntb0 (192.168.200.N/24, fd00:200::N/64) and create the RDMA
# device ntbrdma0 on it.
ntbrdma_setup() {
	# $3 unquoted: the module arguments, one word each.
	# shellcheck disable=SC2086
	on "$1" modprobe ntbrdma ${3:-}
	onsh "$1" "ip link set ntb0 up &&
		ip addr replace 192.168.200.$2/24 dev ntb0 &&
		ip -6 addr replace fd00:200::$2/64 dev ntb0 nodad"
	expect_ok "$1: rdma link add ntbrdma0 type ntbrdma netdev ntb0" \
		on "$1" rdma link add ntbrdma0 type ntbrdma netdev ntb0
}

# bench_ntbrdma_up [MODULE_ARGS]: for benchmarks, which print figures and
# never fail: rxe0 out of the way (one device at a time), then ntbrdma
# loaded (with MODULE_ARGS if it was not loaded yet) and ntbrdma0 on a
# (.1) and b (.2), kept if it is there, and both ports ACTIVE (b set up
# before the wait: a's port turns active only once b is there).  Prints
# why not, and returns 1, at the first step that fails.
bench_ntbrdma_up() {
	local v n=1 args=${1:-}
	for v in a b; do
		on "$v" sh -c 'rdma link del rxe0 2>/dev/null; true' \
			>/dev/null 2>&1 || true
	done
	for v in a b; do
		# shellcheck disable=SC2016 # $1 expands in the VM
		# $2 unquoted: the module arguments, one word each.
		on "$v" sh -c 'modprobe ntbrdma $2 && ip link set ntb0 up &&
			ip addr replace 192.168.200.$1/24 dev ntb0 &&
			{ [ -e /sys/class/infiniband/ntbrdma0 ] ||
			rdma link add ntbrdma0 type ntbrdma netdev ntb0; }' \
			set "$n" "$args" >/dev/null 2>&1 || {
			echo "no ntbrdma0 on $v"
			return 1
		}
		n=$((n + 1))
	done
	for v in a b; do
		on "$v" timeout 60 sh -c 'until ibv_devinfo -d ntbrdma0 |
			grep -q PORT_ACTIVE; do sleep 0.5; done' >/dev/null 2>&1 || {
			echo "ntbrdma0 port not active on $v"
			return 1
		}
	done
}

# perf PORT DEV SUBNET GA GB TEST SIZE ITERS [FLAG...]: one perftest run
# (benchmarks), b serving and a connecting (a serving and b connecting
# with REVERSE=1), bandwidth runs for BW_SECONDS (-D), latency runs ITERS
# times, each end within LIMIT seconds; prints the figure (bw: average
# MB/s, lat: typical usec) or "fail" (and why on stderr).
perf() {
	local port=$1 dev=$2 subnet=$3 ga=$4 gb=$5 t=$6 size=$7 iters=$8
	local count=(-n "$iters")
	local out rc=0 src=0 srv pid
	local sv=b cl=a gs=$5 gc=$4 addr=$3.2
	shift 8
	[ "${REVERSE:-0}" = 0 ] || { sv=a cl=b gs=$ga gc=$gb addr=$subnet.1; }
	[[ $t == *_lat ]] || count=(-D "${BW_SECONDS:-3}")
	local args=(-d "$dev" -s "$size" "${count[@]}" -F "$@")
	srv=$(mktemp)
	on "$sv" timeout "${LIMIT:-120}" stdbuf -oL "$t" "${args[@]}" -x "$gs" \
		-p "$port" >"$srv" 2>&1 &
	pid=$!
	wait_listen "$sv" "$port"
	out=$(on "$cl" timeout "${LIMIT:-120}" stdbuf -oL "$t" "${args[@]}" -x "$gc" \
		-p "$port" "$addr" 2>&1) || rc=$?
	wait "$pid" || src=$?
	if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
		echo "fail"
		echo "  $dev $t -s $size: client exit $rc, server exit $src:" \
			"$(echo "$out" | tail -n 2 | tr '\n' ' ')" \
			"$(tail -n 2 "$srv" | tr '\n' ' ')" >&2
		rm -f "$srv"
		return 0
	fi
	rm -f "$srv"
	# the line after perftest's "#bytes ..." header
	echo "$out" | awk -v t="$t" '
		/^ *#bytes/ { getline; n = split($0, f, " ");
			print (t ~ /_lat$/ ? f[5] : f[4]); exit }' |
		grep -E '^[0-9.]+$' || echo "fail"
}

# dma_stat VM FIELD: a field of VM's ntbrdma debugfs dma file ("channel",
# "batches", ...; Documentation/admin-guide.md).
dma_stat() {
	onsh "$1" "sed -n 's/^$2: //p' /sys/kernel/debug/ntbrdma/*/dma"
}

# ntbrdma_teardown VM: remove ntbrdma0 and unload ntbrdma (for EXIT traps).
ntbrdma_teardown() {
	on "$1" sh -c 'rdma link del ntbrdma0 2>/dev/null; modprobe -r ntbrdma' ||
		true
}

# ntbrdma_pair [CLEANUP]: ntbrdma0 on a (192.168.200.1) and b (.2), both
# ports ACTIVE; at exit both are torn down, after the function CLEANUP if
# one is named.
ntbrdma_pair() {
	NTBRDMA_PAIR_CLEANUP=${1:-}
	trap ntbrdma_pair_down EXIT
	ntbrdma_setup a 1
	ntbrdma_setup b 2
	ntbrdma_wait_active a
	ntbrdma_wait_active b
}

ntbrdma_pair_down() {
	[ -z "$NTBRDMA_PAIR_CLEANUP" ] || "$NTBRDMA_PAIR_CLEANUP" || true
	ntbrdma_teardown a
	ntbrdma_teardown b
}

# expect_no_oops VM...: no BUG, WARNING, Oops or general protection fault
# in each VM's kernel log (a check each).
expect_no_oops() {
	local vm
	for vm in "$@"; do
		expect_eq "$vm: no oops or warning" "" \
			"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
	done
}

# run_loop WHAT PROG: "PROG loop ntbrdma0" in a (both ends of its QPs
# there) within 120 s; prints its output, then passes WHAT or fails the
# test.
run_loop() {
	local out rc
	out=$(on a timeout 120 "$2" loop ntbrdma0 2>&1) && rc=0 || rc=$?
	echo "$out"
	[ "$rc" = 0 ] || fail "a: $(basename "$2") loop failed (exit $rc)"
	pass "a: $1"
}

# serve_connect WHAT PROG PORT LIMIT [VAR=VALUE...]: a test program's two
# ends, "PROG server ntbrdma0 PORT" in b and "PROG client ntbrdma0
# 192.168.200.2 PORT" in a, each within LIMIT seconds, with the VAR=VALUE
# words in the environment of both.  Prints both outputs (b's lines with
# "b: " in front); fails the test unless both exit 0.
serve_connect() {
	local what=$1 prog=$2 port=$3 limit=$4 out rc srv wait_s
	local f=/tmp/ntbrdma-serve-$3
	shift 4
	wait_s=$(scaled 20)
	onsh b "rm -f $f; (env $* timeout $limit $prog server ntbrdma0 $port \
		>$f 2>&1; echo rc=\$? >>$f) >/dev/null 2>&1 &"
	wait_listen b "$port"
	out=$(on a env "$@" timeout "$limit" "$prog" client ntbrdma0 \
		192.168.200.2 "$port" 2>&1) && rc=0 || rc=$?
	echo "$out"
	onsh b "timeout $wait_s sh -c 'until grep -q ^rc= $f; \
		do sleep 0.2; done'" || true
	srv=$(onsh b "cat $f")
	echo "$srv" | sed 's/^/b: /'
	[ "$rc" = 0 ] || fail "a: $what: the client failed (exit $rc)"
	expect_eq "b: $what: the server's exit code" "rc=0" \
		"$(echo "$srv" | tail -n 1)"
}

# ntbrdma_res VM: ntbrdma0's resource counts in VM (pd, cq, qp, mr, ctx).
ntbrdma_res() {
	onsh "$1" "rdma res show" | grep ntbrdma0 |
		grep -o -E '(pd|cq|qp|mr|ctx) [0-9]+' | tr '\n' ' '
}

# meminfo VM FIELD [drop]: FIELD of VM's /proc/meminfo in KiB; with drop,
# once the caches are dropped.
meminfo() {
	[ "${3:-}" != drop ] ||
		onsh "$1" "sync; echo 3 > /proc/sys/vm/drop_caches" >/dev/null
	onsh "$1" "awk '/^$2:/ { print \$2 }' /proc/meminfo"
}

# raw_limits JSON: what tests/bench/raw-limit.sh wrote next to JSON (or in
# BUILD_DIR/bench), or nothing: the emulated NTB's raw limits.
raw_limits() {
	local f
	for f in "$(dirname "$1")/raw-limit.json" "$BUILD_DIR/bench/raw-limit.json"; do
		if [ -f "$f" ]; then
			cat "$f"
			return 0
		fi
	done
}

# jval V: V as a JSON number if it is one, else as a string (benchmarks).
jval() {
	if [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; then echo "$1"; else echo "\"$1\""; fi
}

# goal NAME VALUE OP LIMIT TEXT: one row of a benchmark's goals, "met",
# "not met" or "n/a" (a figure missing); OP is <= or >=.
goal() {
	local met="not met"
	if [[ $2 =~ ^[0-9.]+$ ]] && [[ $4 =~ ^[0-9.]+$ ]]; then
		awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
			exit !((op == "<=" && v <= l) || (op == ">=" && v >= l)) }' &&
			met=met
	else
		met="n/a"
	fi
	printf '  %-58s %s\n' "$1: $5" "$met"
}

# ratio A B [SCALE]: A / B * SCALE (default 1) with two decimals, or "fail"
# when either is not a number.
ratio() {
	if [[ $1 =~ ^[0-9.]+$ ]] && [[ $2 =~ ^[0-9.]+$ ]]; then
		awk -v a="$1" -v b="$2" -v k="${3:-1}" 'BEGIN {
			if (b == 0) print "fail"; else printf "%.2f\n", k * a / b }'
	else
		echo fail
	fi
}

# ntbrdma_wait_active VM: ntbrdma0's port turns ACTIVE within 30 s
# (scaled).
ntbrdma_wait_active() {
	local t
	t=$(scaled 30)
	expect_ok "$1: port active within 30 s" onsh "$1" "timeout $t sh -c 'until
		ibv_devinfo -d ntbrdma0 | grep -q PORT_ACTIVE; do sleep 0.5; done'"
}

# test_dev_init: the device under test, for tests that also validate
# themselves on soft-RoCE: DEV (NTBRDMA_TEST_DEV, default ntbrdma0), NET
# (NTBRDMA_TEST_NET: ntb0 or vlink) and SUBNET (192.168.200 on ntb0,
# 192.168.100 on vlink: VM a is .1, b is .2).
# shellcheck disable=SC2034 # DEV, NET and SUBNET are for the caller
test_dev_init() {
	DEV=${NTBRDMA_TEST_DEV:-ntbrdma0}
	NET=${NTBRDMA_TEST_NET:-ntb0}
	case $NET in
	ntb0) SUBNET=192.168.200 ;;
	vlink) SUBNET=192.168.100 ;;
	*) fail "NTBRDMA_TEST_NET=$NET: ntb0 or vlink" ;;
	esac
}

# rxe_setup VM DEV NET: soft-RoCE device DEV on NET in VM (kept if there).
rxe_setup() {
	expect_ok "$1: rdma link add $2 type rxe netdev $3" onsh "$1" \
		"modprobe rdma_rxe && { [ -e /sys/class/infiniband/$2 ] ||
		rdma link add $2 type rxe netdev $3; }"
}

# test_dev_setup: DEV on NET in both VMs (ntbrdma0: ports active too).
test_dev_setup() {
	if [ "$DEV" = ntbrdma0 ]; then
		ntbrdma_setup a 1
		ntbrdma_setup b 2
		ntbrdma_wait_active a
		ntbrdma_wait_active b
	else
		rxe_setup a "$DEV" "$NET"
		rxe_setup b "$DEV" "$NET"
	fi
}

# test_dev_teardown: remove DEV from both VMs (for EXIT traps).
test_dev_teardown() {
	local vm
	for vm in a b; do
		if [ "$DEV" = ntbrdma0 ]; then
			ntbrdma_teardown "$vm"
		else
			on "$vm" rdma link del "$DEV" >/dev/null 2>&1 || true
		fi
	done
}

# test_dev_start: test_dev_init, then DEV set up in both VMs and removed
# at exit; SRV_OUT names a temporary file for a server's output.
test_dev_start() {
	test_dev_init
	SRV_OUT=$(mktemp)
	trap 'rm -f "$SRV_OUT"; test_dev_teardown' EXIT
	test_dev_setup
}

# v4gid IP: the IPv4-mapped GID of IP as sysfs shows it.
v4gid() {
	local o1 o2 o3 o4
	IFS=. read -r o1 o2 o3 o4 <<<"$1"
	printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' \
		"$o1" "$o2" "$o3" "$o4"
}

# gid_index VM DEV IP: print the index of the RoCE v2 GID of IP on DEV
# port 1, waiting up to 30 s (scaled) for it; non-zero if it does not
# appear.
gid_index() {
	# shellcheck disable=SC2016 # $1.. expand in the VM
	on "$1" timeout "$(scaled 30)" sh -c 'while :; do
		for f in "$1"/gids/*; do
			i=${f##*/}
			[ "$(cat "$f")" = "$2" ] &&
			[ "$(cat "$1/gid_attrs/types/$i" 2>/dev/null)" = \
				"RoCE v2" ] && echo "$i" && exit 0
		done
		sleep 0.5
	done' gid "/sys/class/infiniband/$2/ports/1" "$(v4gid "$3")"
}

# wait_listen VM PORT: until a TCP socket listens on PORT in VM (30 s at
# most, scaled; clients give up at once if their server does not listen
# yet).
wait_listen() {
	on "$1" timeout "$(scaled 30)" sh -c "until ss -Hltn 'sport = :$2' | grep -q .; do
		sleep 0.2; done" >/dev/null 2>&1 || true
}

# Open MPI across the VMs (tests/vm/ntbrdma-mpi.sh, tests/bench/mpi-compare.sh).
MPI_RSH_PORT=7001
MPI_AGENT=$BUILD_DIR/tools/testbed/vm-agent

# mpi_setup: b runs a second vm-agent on its vlink address, the remote
# shell mpirun in a reaches b through (tools/testbed/vm-rsh); sets MPIRUN,
# the mpirun command line for one rank in a and one in b (its control
# traffic on vlink), to which a run adds its own options and program.
mpi_setup() {
	local rsh
	rsh=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools/testbed" && pwd)/vm-rsh
	onsh b "setsid $MPI_AGENT 192.168.100.2 $MPI_RSH_PORT </dev/null \
		>/tmp/ntbrdma-rsh.log 2>&1 &"
	wait_listen b "$MPI_RSH_PORT"
	[ "$(on a env TESTBED_VM_RUN="$BUILD_DIR/tools/testbed/vm-run" \
		"$rsh" 192.168.100.2 hostname)" = b ] ||
		fail "a: vm-rsh cannot run a command in b"
	MPIRUN=(env TESTBED_VM_RUN="$BUILD_DIR/tools/testbed/vm-run"
		mpirun --allow-run-as-root -np 2 -H 192.168.100.1,192.168.100.2
		--mca plm_rsh_agent "$rsh"
		--mca oob_tcp_if_include 192.168.100.0/24)
}

# mpi_cleanup: b's remote-shell agent, and any rank or orted left.
mpi_cleanup() {
	onsh b "pkill -f '^$MPI_AGENT 192.168.100.2'" 2>/dev/null || true
	for vm in a b; do
		onsh "$vm" "pkill -x orted" 2>/dev/null || true
	done
}

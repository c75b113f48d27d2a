#!/bin/bash
# mpi-compare: NetPIPE's MPI ping-pong (NPopenmpi, Debian's netpipe-openmpi)
# between the VMs, one rank in each, over three transports in one run:
#   ntbrdma  Open MPI's UCX PML over ntbrdma0 (UCX_NET_DEVICES=ntbrdma0:1)
#   ntbrdma-put  the same with UCX_RNDV_SCHEME=put_zcopy (large messages
#            by RDMA WRITE, not READ)
#   rxe      the same over soft-RoCE on the virtio link (rxe0 on vlink),
#            only with MPI_COMPARE_RXE=1: under TCG UCX's wire-up over
#            rxe0 times out (UD endpoint timeout at UCX's default, still
#            no result in 240 s with UCX_UD_TIMEOUT=300s)
#   tcp      Open MPI's ob1 PML with the TCP BTL on the virtio link
# Prints latency (usec) at 8 bytes and bandwidth (Mbit/s) at 64 KiB and
# 1 MiB for each, ntbrdma's ratios to the others, and its goals against
# perftest on ntbrdma0 in the same run (ib_send_lat 8 B, ib_write_bw
# 1 MiB): MPI latency at 8 B <= 2x ib_send_lat, MPI bandwidth at 1 MiB
# >= 70 % of ib_write_bw.  Writes JSON to $1 (default
# build/bench/mpi-compare.json).  Figures only: exit 0 unless this script
# itself is broken.  TCG: compare the ratios, not the figures.  Run with
# TESTBED set and the testbed up.
. "$(dirname "$0")/../vm/lib.sh"
export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-300}

json=${1:-build/bench/mpi-compare.json}
UPPER=1048576
LIMIT=240 # seconds per NetPIPE run

cleanup() {
	mpi_cleanup
	for v in a b; do
		onsh "$v" "pkill -x NPopenmpi; rdma link del rxe0" >/dev/null 2>&1 || true
		ntbrdma_teardown "$v" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

ntbrdma_setup a 1 >/dev/null
ntbrdma_setup b 2 >/dev/null
ntbrdma_wait_active a >/dev/null
ntbrdma_wait_active b >/dev/null
for v in a b; do
	onsh "$v" "modprobe rdma_rxe && { [ -e /sys/class/infiniband/rxe0 ] ||
		rdma link add rxe0 type rxe netdev vlink; }" >/dev/null 2>&1 ||
		echo "$v: no rxe0" >&2
done
mpi_setup >/dev/null

declare -A res
# np NAME MPIRUN-OPTIONS...: one NetPIPE run; fills res[NAME,lat8],
# res[NAME,bw64k], res[NAME,bw1m] (or "fail").
np() {
	local name=$1 out rc=0
	shift
	out=$(on a timeout "$LIMIT" sh -c "cd /tmp && rm -f np-$name.out &&
		${MPIRUN[*]} $* NPopenmpi -p 0 -u $UPPER -o /tmp/np-$name.out \
		>/dev/null 2>&1 && cat /tmp/np-$name.out" 2>&1) || rc=$?
	res[$name,lat8]=fail res[$name,bw64k]=fail res[$name,bw1m]=fail
	if [ "$rc" != 0 ]; then
		echo "$name: NetPIPE failed (exit $rc): $(tail -n 2 <<<"$out" |
			tr '\n' ' ')" >&2
		return 0
	fi
	# np.out: bytes, Mbit/s, seconds per transfer (half a round trip)
	res[$name,lat8]=$(awk '$1 == 8 { printf "%.1f", $3 * 1e6; exit }' <<<"$out")
	res[$name,bw64k]=$(awk '$1 == 65536 { print $2; exit }' <<<"$out")
	res[$name,bw1m]=$(awk '$1 == 1048576 { print $2; exit }' <<<"$out")
	echo "$name: 8 B ${res[$name,lat8]} usec, 64 KiB ${res[$name,bw64k]} Mbit/s, 1 MiB ${res[$name,bw1m]} Mbit/s" >&2
}

# ref TEST SIZE ITERS: perftest on ntbrdma0, b serving; prints the
# typical latency (usec) or the average bandwidth (MB/s), or "fail".
ref() {
	local t=$1 out ga gb
	ga=$(gid_index a ntbrdma0 192.168.200.1) &&
		gb=$(gid_index b ntbrdma0 192.168.200.2) || {
		echo fail
		return 0
	}
	on b timeout 120 "$t" -d ntbrdma0 -s "$2" -n "$3" -F -x "$gb" \
		-p 18890 >/dev/null 2>&1 &
	wait_listen b 18890
	out=$(on a timeout 120 "$t" -d ntbrdma0 -s "$2" -n "$3" -F -x "$ga" \
		-p 18890 192.168.200.2 2>&1) || out=
	wait || true
	awk -v t="$t" '/^ *#bytes/ { getline; n = split($0, f, " ");
		print (t ~ /_lat$/ ? f[5] : f[4]); exit }' <<<"$out" |
		grep -E '^[0-9.]+$' || echo fail
}
send_lat=$(ref ib_send_lat 8 200)
write_bw=$(ref ib_write_bw 1048576 200)
echo "perftest on ntbrdma0: ib_send_lat 8 B $send_lat usec, ib_write_bw 1 MiB $write_bw MB/s" >&2

np ntbrdma --mca pml ucx -x UCX_NET_DEVICES=ntbrdma0:1
# UCX's default rendezvous reads (RDMA READ: the responder's kernel on
# ntbrdma); the same with writes (RDMA WRITE: user space), for the cause.
np ntbrdma-put --mca pml ucx -x UCX_NET_DEVICES=ntbrdma0:1 \
	-x UCX_RNDV_SCHEME=put_zcopy
if [ "${MPI_COMPARE_RXE:-0}" = 1 ]; then
	np rxe --mca pml ucx -x UCX_NET_DEVICES=rxe0:1 -x UCX_UD_TIMEOUT=300s
else
	res[rxe,lat8]="n/a (MPI_COMPARE_RXE=1)" res[rxe,bw64k]=n/a res[rxe,bw1m]=n/a
fi
np tcp --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include vlink

echo
printf '%-10s %14s %16s %16s\n' "" "8 B (usec)" "64 KiB (Mbit/s)" "1 MiB (Mbit/s)"
for n in ntbrdma ntbrdma-put rxe tcp; do
	printf '%-10s %14s %16s %16s\n' "$n" "${res[$n,lat8]}" \
		"${res[$n,bw64k]}" "${res[$n,bw1m]}"
done
# ratio A B: A / B if both are numbers
ratio() {
	[[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] &&
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
}
for o in rxe tcp; do
	echo "ntbrdma against $o: latency 8 B x$(ratio "${res[$o,lat8]}" \
		"${res[ntbrdma,lat8]}") lower, bandwidth 1 MiB x$(ratio \
		"${res[ntbrdma,bw1m]}" "${res[$o,bw1m]}") higher"
done

l=${res[ntbrdma,lat8]} b=${res[ntbrdma,bw1m]}
if [[ $l =~ ^[0-9.]+$ && $send_lat =~ ^[0-9.]+$ ]]; then
	awk -v l="$l" -v s="$send_lat" 'BEGIN { printf "MPI 8 B latency %.2fx ib_send_lat 8 B (%s against %s usec; goal <= 2x): %s\n", l / s, l, s, (l <= 2 * s ? "met" : "not met") }'
fi
if [[ $b =~ ^[0-9.]+$ && $write_bw =~ ^[0-9.]+$ ]]; then
	# NetPIPE reports Mbit/s, perftest MB/s (10^6 bytes)
	awk -v b="$b" -v w="$write_bw" 'BEGIN { p = 100 * b / 8 / w; printf "MPI 1 MiB bandwidth %.0f%% of ib_write_bw 1 MiB (%.1f against %s MB/s; goal >= 70%%): %s\n", p, b / 8, w, (p >= 70 ? "met" : "not met") }'
fi
mkdir -p "$(dirname "$json")"
{
	echo "{"
	echo "  \"units\": {\"lat8\": \"usec\", \"bw64k\": \"Mbit/s\", \"bw1m\": \"Mbit/s\"},"
	echo "  \"ib_send_lat_8_usec\": $(jval "$send_lat"), \"ib_write_bw_1m_MBps\": $(jval "$write_bw"),"
	for n in ntbrdma ntbrdma-put rxe tcp; do
		sep=","
		[ "$n" = tcp ] && sep=""
		echo "  \"$n\": {\"lat8\": $(jval "${res[$n,lat8]}"), \"bw64k\": $(jval "${res[$n,bw64k]}"), \"bw1m\": $(jval "${res[$n,bw1m]}")}$sep"
	done
	echo "}"
} >"$json"
echo "mpi-compare: wrote $json"

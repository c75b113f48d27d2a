// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-dma-test: RDMA WRITEs that the DMA engine moves, and a
 * descriptor the engine fails (tests/vm/ntbrdma-dma.sh; the client makes
 * the emulated engine of its host fail its next descriptor through
 * ntb_hw_ivshmem's dma_inject_fail before the "inject" step).  Every check prints "ok - ..." or "FAIL - ...";
 * the exit code is 0 only if all passed.
 *
 *   ntbrdma-dma-test server DEV PORT
 *       responder: a zeroed buffer; at each barrier of the client it
 *       checks what the client says must be there, byte for byte
 *   ntbrdma-dma-test client DEV IP PORT
 *       1. pipelined: NWR signalled WRITEs of LEN bytes at once, each to
 *          its own place (unaligned ends), all complete in order with
 *          success; the server checks every byte and the gaps;
 *       2. inject: NWR WRITEs again (the first descriptor fails): the
 *          first completes with IBV_WC_LOC_QP_OP_ERR, every later one
 *          with IBV_WC_WR_FLUSH_ERR, in order, the QP is in ERR;
 *       3. recovery: the QP reset and connected again, one WRITE with a
 *          new pattern succeeds, and the server sees it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma-rc.h"

#define NWR 8
#define LEN (64u << 10)
/* Each WRITE's place in the server's buffer; a gap of 3 bytes between. */
#define OFF(i) (1u + (i) * (LEN + 3u))

static void fill_all(struct env *e, unsigned int seed)
{
	int i;

	for (i = 0; i < NWR; i++)
		fill(e->src + OFF(i), LEN, seed + (unsigned int)i);
}

static int post_all(struct peer *p)
{
	struct ibv_sge s;
	int i;

	for (i = 0; i < NWR; i++) {
		s = (struct ibv_sge){ (uintptr_t)(p->e.src + OFF(i)), LEN,
				      p->e.smr->lkey };
		if (post_rdma(p->qp, IBV_WR_RDMA_WRITE, (uint64_t)i, &s, 1,
			      p->them.addr + OFF(i), p->them.rkey, 0, 0)) {
			CHECK(false, "post WRITE %d", i);
			return -1;
		}
	}
	return 0;
}

/* The emulated engine's test knob (ntb_hw_ivshmem, Documentation/dma-engine.md). */
static int inject_fail(void)
{
	FILE *f = fopen("/sys/module/ntb_hw_ivshmem/parameters/dma_inject_fail",
			"w");
	int ret;

	if (!f)
		return -1;
	ret = fputs("1\n", f) < 0;
	return fclose(f) || ret ? -1 : 0;
}

static int client(const char *dev, const char *ip, int port)
{
	struct peer p;
	struct ibv_sge s;
	char what[64];
	int i;

	if (peer_open(&p, dev, ip, port))
		return 1;

	fill_all(&p.e, 1);
	if (!post_all(&p)) {
		for (i = 0; i < NWR; i++) {
			snprintf(what, sizeof(what), "pipelined WRITE %d", i);
			expect_status(p.e.scq, (uint64_t)i, IBV_WC_SUCCESS,
				      what);
		}
	}
	CHECK(!barrier(p.fd), "server checked the pipelined WRITEs");

	/* The server checked; the engine fails our next descriptor. */
	CHECK(!barrier(p.fd), "server done with the pipelined WRITEs");
	CHECK(!inject_fail(), "make the engine fail the next descriptor");
	fill_all(&p.e, 100);
	if (!post_all(&p)) {
		expect_status(p.e.scq, 0, IBV_WC_LOC_QP_OP_ERR,
			      "WRITE 0, whose descriptor failed");
		for (i = 1; i < NWR; i++) {
			snprintf(what, sizeof(what), "WRITE %d flushed", i);
			expect_status(p.e.scq, (uint64_t)i, IBV_WC_WR_FLUSH_ERR,
				      what);
		}
	}
	CHECK(query_state(p.qp) == IBV_QPS_ERR, "the QP is in ERR");

	CHECK(!ibv_modify_qp(p.qp,
			     &(struct ibv_qp_attr){ .qp_state = IBV_QPS_RESET },
			     IBV_QP_STATE),
	      "reset the QP");
	CHECK(!connect_qp(&p.e, p.qp, &p.them.gid, p.them.qpn, 7),
	      "connect it again");
	fill(p.e.src + OFF(0), LEN, 7);
	s = (struct ibv_sge){ (uintptr_t)(p.e.src + OFF(0)), LEN,
			      p.e.smr->lkey };
	if (!post_rdma(p.qp, IBV_WR_RDMA_WRITE, 99, &s, 1, p.them.addr + OFF(0),
		       p.them.rkey, 0, 0))
		expect_status(p.e.scq, 99, IBV_WC_SUCCESS,
			      "WRITE after recovery");
	CHECK(!barrier(p.fd), "server checked the WRITE after recovery");
	return failures ? 1 : 0;
}

/* The server's buffer holds WRITE i of seed + i at OFF(i) for i < n. */
static void check_dst(struct peer *p, unsigned int seed, int n,
		      const char *what)
{
	unsigned char *want = malloc(LEN);
	size_t gaps = 0;
	int i, bad = 0;
	size_t j;

	if (!want) {
		CHECK(false, "%s: memory", what);
		return;
	}
	for (i = 0; i < n; i++) {
		fill(want, LEN, seed + (unsigned int)i);
		if (memcmp(p->e.dst + OFF(i), want, LEN))
			bad++;
	}
	/* Byte 0, the gaps and the end: never written. */
	for (j = 0; j < OFF(NWR) + 64; j++) {
		bool in = j >= 1 && (j - 1) % (LEN + 3u) < LEN &&
			  (j - 1) / (LEN + 3u) < NWR;

		gaps += !in && p->e.dst[j] != 0;
	}
	CHECK(!bad, "%s: %d of %d WRITEs with every byte right", what, n - bad,
	      n);
	CHECK(!gaps, "%s: no byte written outside them (%zu)", what, gaps);
	free(want);
}

static int server(const char *dev, int port)
{
	struct peer p;

	if (peer_open(&p, dev, NULL, port))
		return 1;
	memset(p.e.dst, 0, BUF_SIZE);
	CHECK(!barrier(p.fd), "client: the pipelined WRITEs completed");
	check_dst(&p, 1, NWR, "pipelined");
	CHECK(!barrier(p.fd), "handed over to the client");
	CHECK(!barrier(p.fd), "client: recovered");
	check_dst(&p, 7, 1, "after recovery");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: %s server DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The victim's side of tests/vm/ntbrdma-fuzz-peer.sh: registered memory
 * that the peer must never get us to write.
 *
 *   ntbrdma-canary-test DEV SECONDS
 *
 * Registers MRs with every kind of access (remote write and read, remote
 * read only, local only), fills each with its own pattern, and for SECONDS
 * keeps a loopback QP pair busy (RDMA WRITE from a source MR into a scratch
 * MR, checked), so QPs and MRs exist for the peer's forged messages to aim
 * at; error completions are counted, not failures (a link reset flushes).
 * Then every canary MR must still hold its pattern byte for byte: the peer
 * writes our memory only through its window, itself; nothing it sends may
 * make us write registered memory on its behalf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntbrdma-rc.h"

#define CANARY_SIZE (256u << 10)
#define XFER 65536u

struct canary {
	const char *what;
	int access;
	unsigned int seed;
	unsigned char *p;
	struct ibv_mr *mr;
};

static bool same_as(const unsigned char *p, size_t n, unsigned int seed)
{
	unsigned char *want = malloc(n);
	bool ok = want != NULL;

	if (ok) {
		fill(want, n, seed);
		ok = !memcmp(p, want, n);
	}
	free(want);
	return ok;
}

int main(int argc, char **argv)
{
	struct canary c[] = {
		{ "remote write and read", ACCESS, 11, NULL, NULL },
		{ "remote read only", IBV_ACCESS_REMOTE_READ, 12, NULL, NULL },
		{ "local only", IBV_ACCESS_LOCAL_WRITE, 13, NULL, NULL },
	};
	unsigned long ok_wr = 0, err_wr = 0;
	struct ibv_qp *qa, *qb;
	struct ibv_wc wc;
	struct env e;
	time_t end;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: %s DEV SECONDS\n", argv[0]);
		return 2;
	}
	if (env_open(&e, argv[1]) || loop_pair(&e, &qa, &qb)) {
		CHECK(0, "device, MRs and a loopback QP pair");
		return 1;
	}
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		c[i].p = aligned_alloc(4096, CANARY_SIZE);
		if (!c[i].p)
			return 1;
		fill(c[i].p, CANARY_SIZE, c[i].seed);
		c[i].mr = ibv_reg_mr(e.pd, c[i].p, CANARY_SIZE, c[i].access);
		CHECK(c[i].mr, "canary MR (%s) registered, rkey %#x", c[i].what,
		      c[i].mr ? c[i].mr->rkey : 0);
		if (!c[i].mr)
			return 1;
	}
	printf("# running %s s\n", argv[2]);

	end = time(NULL) + atoi(argv[2]);
	for (unsigned int n = 0; time(NULL) < end; n++) {
		struct ibv_sge sge = { (uintptr_t)e.src, XFER, e.smr->lkey };

		fill(e.src, XFER, n);
		if (post_rdma(qa, IBV_WR_RDMA_WRITE, n, &sge, 1,
			      (uintptr_t)e.dst, e.dmr->rkey, 0, 0) ||
		    wait_wc(e.scq, &wc) || wc.status != IBV_WC_SUCCESS) {
			err_wr++;
			/* A reset flushed the pair: a new one, and go on. */
			if (loop_pair(&e, &qa, &qb))
				break;
			continue;
		}
		if (!same_as(e.dst, XFER, n)) {
			CHECK(0, "loopback RDMA WRITE %u landed byte for byte",
			      n);
			break;
		}
		ok_wr++;
	}
	printf("# loopback RDMA WRITEs: %lu ok, %lu in error\n", ok_wr, err_wr);
	CHECK(time(NULL) >= end, "loopback traffic ran the whole time (%lu ok)",
	      ok_wr);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		CHECK(same_as(c[i].p, CANARY_SIZE, c[i].seed),
		      "canary MR (%s) unchanged byte for byte", c[i].what);
	return failures ? 1 : 0;
}

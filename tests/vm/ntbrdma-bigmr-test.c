// SPDX-License-Identifier: GPL-2.0
/*
 * One very large MR a side (tests/vm/ntbrdma-bigmr.sh).
 *
 *   ntbrdma-bigmr-test serve DEV PORT MIB LIMIT_S
 *   ntbrdma-bigmr-test client DEV IP PORT MIB LIMIT_S
 *
 * Each side registers one MR of MIB MiB (local write, remote write and
 * read) and the two exchange its address and rkey.  Then, checked byte for
 * byte by the side that ends up holding the data:
 *   1. the client fills its MR and RDMA WRITEs all of it into the server's
 *      MR with one work request;
 *   2. the server fills its MR anew and the client RDMA READs all of it
 *      into its own with one work request;
 *   3. the client WRITEs its MR again as NCHUNK requests of MIB/NCHUNK
 *      MiB each (the pages of one MR reached from many offsets), all
 *      posted before the first completes.
 * LIMIT_S bounds the wait for each completion (not a pass/fail timing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

/* Step 3's requests: as many as the send queue (make_qp) holds. */
#define NCHUNK 64

struct bigmr {
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
};

static unsigned int limit_s;

/* One completion within limit_s seconds; 0 or -1. */
static int wait_long(struct ibv_cq *cq, struct ibv_wc *wc)
{
	double end = now_s() + limit_s;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? 0 : -1;
		usleep(1000);
	} while (now_s() < end);
	memset(wc, 0, sizeof(*wc));
	wc->status = IBV_WC_GENERAL_ERR;
	return -1;
}

/* The pattern of step: each MiB of the buffer seeded by its index. */
static void fill_all(unsigned char *p, uint64_t len, unsigned int step)
{
	uint64_t off;

	for (off = 0; off < len; off += 1u << 20)
		fill(p + off, 1u << 20,
		     step * 100003u + (unsigned int)(off >> 20));
}

/* The first MiB of p that is not the pattern of step, or -1. */
static long check_all(const unsigned char *p, uint64_t len, unsigned int step)
{
	static unsigned char want[1u << 20];
	uint64_t off;

	for (off = 0; off < len; off += 1u << 20) {
		fill(want, 1u << 20,
		     step * 100003u + (unsigned int)(off >> 20));
		if (memcmp(p + off, want, 1u << 20))
			return (long)(off >> 20);
	}
	return -1;
}

/* One signalled RDMA op of len bytes at offset off of both MRs. */
static int post_at(struct peer *p, struct ibv_mr *mr, const struct bigmr *them,
		   enum ibv_wr_opcode op, uint64_t id, uint64_t off,
		   uint64_t len)
{
	struct ibv_sge sge = { (uintptr_t)mr->addr + off, (uint32_t)len,
			       mr->lkey };

	return post_rdma(p->qp, op, id, &sge, 1, them->addr + off, them->rkey,
			 0, 0);
}

static void client_steps(struct peer *p, struct ibv_mr *mr, unsigned char *buf,
			 uint64_t len, const struct bigmr *them)
{
	uint64_t chunk = len / NCHUNK, n = NCHUNK, i, good = 0;
	struct ibv_wc wc;
	double t;
	long bad;

	fill_all(buf, len, 1);
	t = now_s();
	CHECK(!post_at(p, mr, them, IBV_WR_RDMA_WRITE, 1, 0, len) &&
		      !wait_long(p->e.scq, &wc) &&
		      wc.status == IBV_WC_SUCCESS && wc.wr_id == 1,
	      "client: one RDMA WRITE of %llu MiB completed (%.1f s)",
	      (unsigned long long)(len >> 20), now_s() - t);
	barrier(p->fd); /* 1: the server checks */
	barrier(p->fd); /* 2: the server filled its MR anew */

	memset(buf, 0, len);
	t = now_s();
	CHECK(!post_at(p, mr, them, IBV_WR_RDMA_READ, 2, 0, len) &&
		      !wait_long(p->e.scq, &wc) &&
		      wc.status == IBV_WC_SUCCESS && wc.wr_id == 2,
	      "client: one RDMA READ of %llu MiB completed (%.1f s)",
	      (unsigned long long)(len >> 20), now_s() - t);
	bad = check_all(buf, len, 2);
	CHECK(bad < 0,
	      "client: the READ brought the server's MR byte for byte (first bad MiB %ld)",
	      bad);

	fill_all(buf, len, 3);
	for (i = 0; i < n; i++)
		if (post_at(p, mr, them, IBV_WR_RDMA_WRITE, 100 + i, i * chunk,
			    chunk))
			break;
	CHECK(i == n, "client: %llu of %llu WRITEs of %llu KiB posted at once",
	      (unsigned long long)i, (unsigned long long)n,
	      (unsigned long long)(chunk >> 10));
	for (n = i, i = 0; i < n; i++)
		if (!wait_long(p->e.scq, &wc) && wc.status == IBV_WC_SUCCESS &&
		    wc.wr_id == 100 + i)
			good++;
	CHECK(good == n, "client: %llu of %llu completed in order",
	      (unsigned long long)good, (unsigned long long)n);
	barrier(p->fd); /* 3: the server checks */
}

static void server_steps(struct peer *p, unsigned char *buf, uint64_t len)
{
	long bad;

	barrier(p->fd);
	bad = check_all(buf, len, 1);
	CHECK(bad < 0,
	      "server: the one WRITE landed byte for byte (first bad MiB %ld)",
	      bad);
	fill_all(buf, len, 2);
	barrier(p->fd);
	barrier(p->fd);
	bad = check_all(buf, len, 3);
	CHECK(bad < 0,
	      "server: the WRITEs of MIB/%d landed byte for byte (first bad MiB %ld)",
	      NCHUNK, bad);
}

static int run(const char *dev, const char *ip, int port, uint64_t mib)
{
	uint64_t len = mib << 20;
	struct bigmr me, them;
	unsigned char *buf;
	struct ibv_mr *mr;
	struct peer p;
	double t;

	if (!mib || mib % 16 || mib > 2048) {
		fprintf(stderr, "MIB: a multiple of 16, at most 2048\n");
		return 2;
	}
	memset(&p, 0, sizeof(p));
	if (env_open_bare(&p.e, dev))
		return 1;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	CHECK(buf != MAP_FAILED, "%llu MiB mapped", (unsigned long long)mib);
	if (buf == MAP_FAILED)
		return 1;
	t = now_s();
	mr = ibv_reg_mr(p.e.pd, buf, len, ACCESS);
	CHECK(mr, "one MR of %llu MiB registered (%.1f s)",
	      (unsigned long long)mib, now_s() - t);
	if (!mr || peer_connect(&p, ip, port))
		return 1;
	me.addr = (uintptr_t)buf;
	me.len = len;
	me.rkey = mr->rkey;
	if (xchg(p.fd, &me, &them, sizeof(me)) || them.len != len) {
		CHECK(0, "big MRs exchanged");
		return 1;
	}
	if (ip)
		client_steps(&p, mr, buf, len, &them);
	else
		server_steps(&p, buf, len);
	barrier(p.fd);
	t = now_s();
	CHECK(!ibv_destroy_qp(p.qp) && !ibv_dereg_mr(mr),
	      "QP destroyed, MR deregistered (%.1f s)", now_s() - t);
	munmap(buf, len);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && !strcmp(argv[1], "serve")) {
		limit_s = (unsigned int)atoi(argv[5]);
		return run(argv[2], NULL, atoi(argv[3]),
			   (uint64_t)atoll(argv[4]));
	}
	if (argc == 7 && !strcmp(argv[1], "client")) {
		limit_s = (unsigned int)atoi(argv[6]);
		return run(argv[2], argv[3], atoi(argv[4]),
			   (uint64_t)atoll(argv[5]));
	}
	fprintf(stderr,
		"usage: %s serve DEV PORT MIB LIMIT_S | client DEV IP PORT MIB LIMIT_S\n",
		argv[0]);
	return 2;
}

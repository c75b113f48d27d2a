// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-cpubw: RDMA WRITE bandwidth and what it costs the requester's
 * CPU (tests/bench/dma-compare.sh).  perftest busy-polls its CQ, so its
 * CPU time is its run time whatever moves the data; this requester
 * sleeps in ibv_get_cq_event() between completions, so the CPU it and
 * its host use is the cost of moving the data: the copies (CPU or the
 * kernel's DMA descriptors), system calls, interrupts.
 *
 *   ntbrdma-cpubw server DEV PORT [huge]
 *       the target: a 2 MiB buffer registered with REMOTE_WRITE, until
 *       the client is done
 *   ntbrdma-cpubw client DEV IP PORT SIZE SECONDS [huge]
 *       16 signalled WRITEs of SIZE bytes (at most 1 MiB) in flight for
 *       SECONDS, each completion waited for by event; prints one line:
 *       "MBps X bytes N wall_s W proc_cpu_s P host_cpu_s H"
 *       (proc: getrusage of this process; host: the busy time of every
 *       CPU of this host in /proc/stat: user, nice, system, irq, softirq)
 *
 * huge: the buffers are one 2 MiB huge page each (MAP_HUGETLB; the
 * caller reserves them), physically contiguous, else 4 KiB pages from
 * aligned_alloc.  Exit 0 only if every WRITE succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define DEPTH 16
#define MAX_SIZE (1u << 20)

static void *buffer(bool huge)
{
	void *p;

	if (!huge)
		return aligned_alloc(4096, BUF_SIZE);
	p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Device, PD, a CQ with a completion channel, buffers, MRs, QP, peer. */
static int open_peer(struct peer *p, struct ibv_comp_channel **ch,
		     const char *dev, const char *ip, int port, bool huge)
{
	struct env *e = &p->e;

	memset(p, 0, sizeof(*p));
	if (env_open_bare(e, dev))
		return -1;
	*ch = ibv_create_comp_channel(e->ctx);
	if (!*ch)
		return -1;
	ibv_destroy_cq(e->scq);
	e->scq = ibv_create_cq(e->ctx, 2 * DEPTH, NULL, *ch, 0);
	e->src = buffer(huge);
	e->dst = buffer(huge);
	if (!e->scq || !e->src || !e->dst) {
		CHECK(0, "CQ and %s buffers", huge ? "huge-page" : "");
		return -1;
	}
	e->smr = ibv_reg_mr(e->pd, e->src, BUF_SIZE, ACCESS);
	e->dmr = ibv_reg_mr(e->pd, e->dst, BUF_SIZE, ACCESS);
	if (!e->smr || !e->dmr) {
		CHECK(0, "register the buffers");
		return -1;
	}
	return peer_connect(p, ip, port);
}

/* Busy time of all CPUs of this host, in seconds (/proc/stat). */
static double host_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6]);
	fclose(f);
	if (n != 7)
		return 0;
	/* user nice system [idle iowait] irq softirq */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) /
	       (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_s(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int post_one(struct peer *p, uint32_t size, uint64_t id)
{
	struct ibv_sge s = { (uintptr_t)p->e.src, size, p->e.smr->lkey };

	return post_rdma(p->qp, IBV_WR_RDMA_WRITE, id, &s, 1, p->them.addr,
			 p->them.rkey, 0, 0);
}

static int client(struct peer *p, struct ibv_comp_channel *ch, uint32_t size,
		  double seconds)
{
	double t0, p0, h0, end, t;
	unsigned long long bytes = 0;
	int out = 0, bad = 0, i, n;
	struct ibv_wc wc[DEPTH];
	struct ibv_cq *cq;
	void *ctx;

	fill(p->e.src, size, 5);
	if (ibv_req_notify_cq(p->e.scq, 0))
		return 1;
	t0 = now_s();
	p0 = proc_cpu_s();
	h0 = host_busy_s();
	end = t0 + seconds;
	for (i = 0; i < DEPTH; i++, out++)
		if (post_one(p, size, (uint64_t)i))
			return 1;
	while (out) {
		if (ibv_get_cq_event(ch, &cq, &ctx))
			return 1;
		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0))
			return 1;
		/*
		 * A WRITE the provider copies itself completes inside its
		 * post: this loop may go on for long, so the clock is read
		 * at every batch.
		 */
		while ((n = ibv_poll_cq(cq, DEPTH, wc)) > 0) {
			t = now_s();
			for (i = 0; i < n; i++) {
				out--;
				if (wc[i].status != IBV_WC_SUCCESS) {
					bad++;
					continue;
				}
				bytes += size;
				if (t < end && !bad) {
					if (post_one(p, size, wc[i].wr_id))
						return 1;
					out++;
				}
			}
		}
		if (n < 0)
			return 1;
	}
	t = now_s() - t0;
	printf("MBps %.1f bytes %llu wall_s %.3f proc_cpu_s %.3f host_cpu_s %.3f\n",
	       (double)bytes / t / 1e6, bytes, t, proc_cpu_s() - p0,
	       host_busy_s() - h0);
	CHECK(!bad, "every WRITE succeeded (%d failed)", bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool huge = argc > 1 && !strcmp(argv[argc - 1], "huge");
	struct ibv_comp_channel *ch;
	struct peer p;
	uint32_t size;
	char c = 0;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	argc -= huge;
	if (argc == 4 && !strcmp(argv[1], "server")) {
		if (open_peer(&p, &ch, argv[2], NULL, atoi(argv[3]), huge))
			return 1;
		ret = read(p.fd, &c, 1) == 1 ? 0 : 1;
		CHECK(!ret, "server: the client is done");
		return ret;
	}
	if (argc == 7 && !strcmp(argv[1], "client")) {
		size = (uint32_t)strtoul(argv[5], NULL, 0);
		if (!size || size > MAX_SIZE) {
			fprintf(stderr, "SIZE: 1 to %u\n", MAX_SIZE);
			return 2;
		}
		if (open_peer(&p, &ch, argv[2], argv[3], atoi(argv[4]), huge))
			return 1;
		ret = client(&p, ch, size, atof(argv[6]));
		if (write(p.fd, &c, 1) != 1)
			ret = 1;
		return ret;
	}
	fprintf(stderr,
		"usage: %s server DEV PORT [huge] | client DEV IP PORT SIZE SECONDS [huge]\n",
		argv[0]);
	return 2;
}

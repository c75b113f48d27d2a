// SPDX-License-Identifier: GPL-2.0
/*
 * Many connected QPs at once (tests/vm/ntbrdma-scale.sh).
 *
 *   ntbrdma-scale-test serve DEV PORT N TAG
 *   ntbrdma-scale-test client DEV IP PORT N TAG
 *
 * Both sides create N RC QPs on one PD and two CQs and connect QP i to the
 * other side's QP i.  Over every QP the client sends one 64-byte SEND and
 * one 64-byte RDMA WRITE into slot i of the server's MR, each holding (TAG,
 * i) and a pattern; the server checks every receive and every slot byte for
 * byte.  TAG tells concurrent processes' data apart.  Then all is torn down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma-rc.h"

#define MSG 64
#define MAXQ 2048

struct side {
	uint32_t n;
	union ibv_gid gid;
	uint64_t addr;
	uint32_t rkey;
	uint32_t qpn[MAXQ];
};

/* Message i of TAG: the tag, the index, then a pattern of both. */
static void make_msg(unsigned char *p, uint32_t tag, uint32_t i)
{
	memcpy(p, &tag, 4);
	memcpy(p + 4, &i, 4);
	fill(p + 8, MSG - 8, tag * 7919u + i);
}

static bool msg_ok(const unsigned char *p, uint32_t tag, uint32_t i)
{
	unsigned char want[MSG];

	make_msg(want, tag, i);
	return !memcmp(p, want, MSG);
}

static int run(const char *dev, const char *ip, int port, uint32_t n,
	       uint32_t tag)
{
	static struct side me, them;
	struct ibv_qp **qp = calloc(n, sizeof(*qp));
	unsigned char *buf = aligned_alloc(4096, 2 * (size_t)n * MSG + 4096);
	struct ibv_cq *scq, *rcq;
	struct ibv_mr *mr;
	struct ibv_wc wc;
	uint32_t i, ok = 0, made = 0, connected = 0;
	struct env e;
	int fd;

	if (!qp || !buf || n > MAXQ || env_open_bare(&e, dev))
		return 1;
	/* Slots [0, n) the peer WRITEs, [n, 2n) receives and sends. */
	memset(buf, 0, 2 * (size_t)n * MSG);
	mr = ibv_reg_mr(e.pd, buf, 2 * (size_t)n * MSG, ACCESS);
	scq = ibv_create_cq(e.ctx, (int)(2 * n), NULL, NULL, 0);
	rcq = ibv_create_cq(e.ctx, (int)n, NULL, NULL, 0);
	CHECK(mr && scq && rcq, "MR and CQs of %u entries", 2 * n);
	if (!mr || !scq || !rcq)
		return 1;
	e.scq = scq;
	e.rcq = rcq;
	for (i = 0; i < n; i++) {
		qp[i] = make_qp(&e);
		if (!qp[i])
			break;
		me.qpn[i] = qp[i]->qp_num;
		made++;
	}
	CHECK(made == n, "%u of %u QPs created", made, n);
	if (made != n)
		return 1;
	me.n = n;
	me.gid = e.gid;
	me.addr = (uintptr_t)buf;
	me.rkey = mr->rkey;
	fd = tcp_conn(ip, port);
	if (fd < 0 || xchg(fd, &me, &them, sizeof(me)) || them.n != n) {
		CHECK(0, "QP numbers exchanged");
		return 1;
	}
	for (i = 0; i < n; i++)
		connected += !connect_qp(&e, qp[i], &them.gid, them.qpn[i], 7);
	CHECK(connected == n, "%u of %u QPs connected to the peer's", connected,
	      n);
	if (!ip)
		for (i = 0; i < n; i++) {
			struct ibv_sge sge = { (uintptr_t)buf + (n + i) * MSG,
					       MSG, mr->lkey };

			post_recv(qp[i], i, &sge, 1);
		}
	barrier(fd);

	if (ip) {
		for (i = 0; i < n; i++) {
			struct ibv_sge sge = { (uintptr_t)buf + (n + i) * MSG,
					       MSG, mr->lkey };

			make_msg(buf + (n + i) * MSG, tag, i);
			ok += !post_rdma(qp[i], IBV_WR_RDMA_WRITE, i, &sge, 1,
					 them.addr + (uint64_t)i * MSG,
					 them.rkey, 0, 0) &&
			      !wait_wc(scq, &wc) &&
			      wc.status == IBV_WC_SUCCESS &&
			      !post_rdma(qp[i], IBV_WR_SEND, n + i, &sge, 1, 0,
					 0, 0, 0) &&
			      !wait_wc(scq, &wc) && wc.status == IBV_WC_SUCCESS;
		}
		CHECK(ok == n,
		      "client: WRITE and SEND completed on %u of %u QPs", ok,
		      n);
	} else {
		uint32_t got = 0, bad = 0;

		for (i = 0; i < n; i++) {
			if (wait_wc(rcq, &wc) || wc.status != IBV_WC_SUCCESS ||
			    wc.wr_id >= n || wc.byte_len != MSG)
				bad++;
			else
				got++;
		}
		for (i = 0; i < n; i++)
			ok += msg_ok(buf + (n + i) * MSG, tag, i) &&
			      msg_ok(buf + i * MSG, tag, i);
		CHECK(got == n && !bad, "server: %u receives of %u (%u bad)",
		      got, n, bad);
		CHECK(ok == n,
		      "server: %u of %u QPs' SEND and WRITE byte for byte", ok,
		      n);
	}
	barrier(fd);
	for (i = 0; i < n; i++)
		ibv_destroy_qp(qp[i]);
	CHECK(!ibv_dereg_mr(mr) && !ibv_destroy_cq(scq) && !ibv_destroy_cq(rcq),
	      "torn down");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && !strcmp(argv[1], "serve"))
		return run(argv[2], NULL, atoi(argv[3]),
			   (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]));
	if (argc == 7 && !strcmp(argv[1], "client"))
		return run(argv[2], argv[3], atoi(argv[4]),
			   (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]));
	fprintf(stderr,
		"usage: %s serve DEV PORT N TAG | client DEV IP PORT N TAG\n",
		argv[0]);
	return 2;
}

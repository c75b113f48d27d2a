// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-fault-test: the responder deregisters its MR, or destroys its
 * QP, while the requester on the other host sends and writes into it
 * (tests/vm/ntbrdma-fault.sh).  Every check prints "ok - ..." or
 * "FAIL - ..."; the exit code is 0 only if all passed.
 *
 *   ntbrdma-fault-test server DEV PORT dereg|destroy
 *       responder: receives posted and reposted; after 200 messages the
 *       fault; then its buffer must not change any more (no write lands
 *       after dereg_mr or destroy_qp returned, and a moment for the
 *       peer to hear of it)
 *   ntbrdma-fault-test client DEV IP PORT dereg|destroy
 *       requester: SENDs and RDMA WRITEs, 16 in flight, until an error
 *       completion: it must be one the fault explains, every later WQE
 *       flushed, nothing lost, completions in order, the QP in ERR
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define NRECV 32
#define MSG 4096
#define DEPTH 16

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void flood(struct env *e, struct ibv_qp *qp, const struct conn *t,
		  bool dereg)
{
	struct ibv_sge s = { (uintptr_t)e->src, MSG, e->smr->lkey };
	uint64_t posted = 0, done = 0, ok = 0, bad_after = 0, order = 0;
	enum ibv_wc_status first = IBV_WC_SUCCESS;
	struct ibv_wc wc[DEPTH];
	bool err = false;
	double t0 = now();
	int n, i;

	fill(e->src, MSG, 3);
	while (now() - t0 < 60) {
		while (!err && posted - done < DEPTH &&
		       !post_rdma(qp,
				  posted % 2 ? IBV_WR_RDMA_WRITE : IBV_WR_SEND,
				  posted, &s, 1, t->addr + (1 << 20), t->rkey,
				  0, 0))
			posted++;
		n = ibv_poll_cq(e->scq, DEPTH, wc);
		for (i = 0; i < n; i++, done++) {
			if (wc[i].wr_id != done)
				order++;
			if (!err && wc[i].status == IBV_WC_SUCCESS) {
				ok++;
			} else if (!err) {
				err = true;
				first = wc[i].status;
			} else if (wc[i].status != IBV_WC_WR_FLUSH_ERR) {
				bad_after++;
			}
		}
		if (err && done == posted)
			break;
		if (!n)
			usleep(50);
	}
	CHECK(ok >= 100, "client: %llu SEND/WRITEs succeeded before the fault",
	      (unsigned long long)ok);
	CHECK(err && (dereg ? first == IBV_WC_REM_ACCESS_ERR ||
				      first == IBV_WC_REM_OP_ERR ||
				      first == IBV_WC_RETRY_EXC_ERR :
			      first == IBV_WC_RETRY_EXC_ERR),
	      "client: the fault completes with %s",
	      err ? ibv_wc_status_str(first) : "nothing (60 s)");
	CHECK(done == posted, "client: all %llu posted WQEs completed",
	      (unsigned long long)posted);
	CHECK(!order, "client: completions in order (%llu out of order)",
	      (unsigned long long)order);
	CHECK(!bad_after,
	      "client: every WQE after the error flushed (%llu not)",
	      (unsigned long long)bad_after);
	CHECK(query_state(qp) == IBV_QPS_ERR, "client: QP in ERR");
}

/* Receive and repost until 200 messages, then the fault. */
static void serve(struct env *e, struct ibv_qp *qp, int fd, bool dereg)
{
	struct ibv_sge r[NRECV];
	unsigned char *snap;
	struct ibv_wc wc[NRECV];
	unsigned int got = 0;
	double t0;
	int i, n, bad = 0;

	for (i = 0; i < NRECV; i++) {
		r[i].addr = (uintptr_t)e->dst + (uint64_t)i * MSG;
		r[i].length = MSG;
		r[i].lkey = e->dmr->lkey;
		bad += !!post_recv(qp, (uint64_t)i, &r[i], 1);
	}
	CHECK(!bad && !barrier(fd), "server: %d receives posted", NRECV);
	t0 = now();
	while (got < 200 && now() - t0 < 30) {
		n = ibv_poll_cq(e->rcq, NRECV, wc);
		for (i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS)
				continue;
			got++;
			post_recv(qp, wc[i].wr_id, &r[wc[i].wr_id % NRECV], 1);
		}
		if (!n)
			usleep(50);
	}
	CHECK(got >= 200, "server: %u messages received before the fault", got);
	if (dereg) {
		CHECK(!ibv_dereg_mr(e->dmr),
		      "server: dereg_mr of the target MR under traffic");
		/*
		 * Receives with the dead key: the requester must fail its
		 * SEND on them, not wait on RNR forever (rnr_retry 7) for
		 * receives nobody posts.
		 */
		for (i = 0, bad = 0; i < NRECV; i++)
			bad += !!post_recv(qp, (uint64_t)i, &r[i], 1);
		CHECK(!bad, "server: %d receives posted with the dead key",
		      NRECV);
	} else {
		CHECK(!ibv_destroy_qp(qp), "server: destroy_qp under traffic");
	}
	/* The peer hears of a destroyed QP by a message: give it 0.5 s. */
	if (!dereg)
		usleep(500000);
	snap = malloc(BUF_SIZE);
	if (!snap)
		return;
	memcpy(snap, e->dst, BUF_SIZE);
	usleep(1000000);
	CHECK(!memcmp(snap, e->dst, BUF_SIZE),
	      "server: nothing written into the buffer after the %s",
	      dereg ? "dereg_mr" : "destroy_qp");
	free(snap);
}

static int run(const char *name, const char *ip, int port, const char *what)
{
	bool dereg = !strcmp(what, "dereg");
	struct ibv_qp *qp;
	struct peer p;
	struct env e;
	char c = 0;
	int fd;

	if (peer_open(&p, name, ip, port))
		return 1;
	e = p.e;
	qp = p.qp;
	fd = p.fd;
	if (ip) {
		CHECK(!barrier(fd), "client: the server's receives posted");
		flood(&e, qp, &p.them, dereg);
		CHECK(write(fd, &c, 1) == 1, "client: done");
		CHECK(!ibv_destroy_qp(qp), "client: destroy QP");
	} else {
		serve(&e, qp, fd, dereg);
		CHECK(read(fd, &c, 1) == 1, "server: the client finished");
		if (dereg)
			CHECK(!ibv_destroy_qp(qp), "server: destroy QP");
	}
	close(fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "server"))
		return run(argv[2], NULL, atoi(argv[3]), argv[4]);
	if (argc == 6 && !strcmp(argv[1], "client"))
		return run(argv[2], argv[3], atoi(argv[4]), argv[5]);
	fprintf(stderr,
		"usage: %s server DEV PORT dereg|destroy | "
		"client DEV IP PORT dereg|destroy\n",
		argv[0]);
	return 2;
}

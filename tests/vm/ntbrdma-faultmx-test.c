// SPDX-License-Identifier: GPL-2.0
/*
 * The fault matrix (tests/vm/ntbrdma-faultmx.sh): ten RC QP pairs between
 * the hosts, one per cell of {WRITE, READ, SEND, WRITE_WITH_IMM} x {64 B,
 * 256 KiB} and {FETCH_AND_ADD, CMP_AND_SWP} x 8 B, all under traffic when
 * one fault strikes; then every cell's outcome is checked against what the
 * fault must give.
 *
 *   ntbrdma-faultmx-test serve DEV PORT
 *	responder: one target MR per QP, receives kept posted; on the side
 *	channel "dereg" deregisters every target MR, "destroy" destroys
 *	every QP; runs until killed or the channel closes
 *   ntbrdma-faultmx-test client DEV IP PORT FAULT
 *	requester: 4 WRs in flight per QP; prints "# traffic" once every
 *	cell has completed work (the script injects its fault then), and for
 *	FAULT dereg or destroy sends the command itself.  Then until every
 *	cell failed and drained (90 s): the first error of each cell must be
 *	one the fault explains, every later WR flushed, the QP in ERR.
 *	FAULT none: traffic until the stop file exists (90 s at most), no
 *	error at all.  FAULT gone: after the traffic, every cell drains
 *	(no error), "# quiet" is printed, and the traffic resumes only
 *	once the go file exists: the script has removed b's device
 *	meanwhile.  The files are named by NTBRDMA_FAULTMX_STOP and
 *	NTBRDMA_FAULTMX_GO (the script makes them unique to its run: a
 *	VM's /tmp shows the host's), and the times are multiplied by
 *	NTBRDMA_FAULTMX_TIME_SCALE if set (the debug kernel).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define CELLS 10
#define DEPTH 4
#define MRSZ (1u << 20)
#define NRECV 32
/* FAULT none: the traffic goes on until this file exists (the script). */
static const char *stop_file = "/tmp/ntbrdma-faultmx-stop";
/* FAULT gone: the traffic resumes once this file exists (the script). */
static const char *go_file = "/tmp/ntbrdma-faultmx-go";

/* Cells 0-7: two sizes of four operations; 8, 9: the two atomics. */
static const enum ibv_wr_opcode ops[6] = {
	IBV_WR_RDMA_WRITE,
	IBV_WR_RDMA_READ,
	IBV_WR_SEND,
	IBV_WR_RDMA_WRITE_WITH_IMM,
	IBV_WR_ATOMIC_FETCH_AND_ADD,
	IBV_WR_ATOMIC_CMP_AND_SWP,
};
static const char *const op_name[6] = { "WRITE",     "READ",	  "SEND",
					"WRITE_IMM", "FETCH_ADD", "CMP_SWAP" };
static const uint32_t sizes[2] = { 64, 256u << 10 };

#define CELL_OP(c) ops[(c) < 8 ? (c) / 2 : (c)-4]
#define CELL_NAME(c) op_name[(c) < 8 ? (c) / 2 : (c)-4]
#define CELL_SIZE(c) ((c) < 8 ? sizes[(c) % 2] : 8)

/* One cell's QP end as the other side needs it. */
struct cellconn {
	uint32_t qpn, rkey;
	uint64_t addr;
};

struct wire {
	union ibv_gid gid;
	struct cellconn c[CELLS];
};

struct cell {
	struct ibv_qp *qp;
	struct ibv_cq *cq; /* the cell's own send CQ (client) */
	unsigned char *buf;
	struct ibv_mr *mr;
	uint64_t posted, done, ok;
	bool err;
	enum ibv_wc_status first;
	uint64_t bad_after;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Open, make the cells, exchange and connect; 0 or -1. */
static int setup(struct env *e, struct cell *c, struct cellconn *them,
		 const char *dev, const char *ip, int port, int *fd)
{
	struct wire me = {}, w;
	int i;

	if (env_open_bare(e, dev))
		return -1;
	for (i = 0; i < CELLS; i++) {
		struct ibv_qp_init_attr ia = {};

		c[i].cq = ibv_create_cq(e->ctx, 64, NULL, NULL, 0);
		c[i].buf = aligned_alloc(4096, MRSZ);
		if (!c[i].cq || !c[i].buf)
			return -1;
		memset(c[i].buf, 0, MRSZ);
		c[i].mr = ibv_reg_mr(e->pd, c[i].buf, MRSZ, ACCESS);
		ia.send_cq = c[i].cq;
		ia.recv_cq = e->rcq;
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = 16;
		ia.cap.max_recv_wr = NRECV;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		c[i].qp = ibv_create_qp(e->pd, &ia);
		if (!c[i].mr || !c[i].qp)
			return -1;
		me.c[i] = (struct cellconn){ c[i].qp->qp_num, c[i].mr->rkey,
					     (uintptr_t)c[i].buf };
	}
	me.gid = e->gid;
	*fd = tcp_conn(ip, port);
	if (*fd < 0 || xchg(*fd, &me, &w, sizeof(me)))
		return -1;
	for (i = 0; i < CELLS; i++) {
		them[i] = w.c[i];
		if (connect_qp(e, c[i].qp, &w.gid, w.c[i].qpn, 7))
			return -1;
	}
	return 0;
}

/* A receive for cell i (SEND: into its MR; WRITE_IMM: no SGE). */
static int repost(struct cell *c, int i, uint64_t id)
{
	struct ibv_sge sge = { (uintptr_t)c[i].buf, CELL_SIZE(i),
			       c[i].mr ? c[i].mr->lkey : 0 };
	bool imm = CELL_OP(i) == IBV_WR_RDMA_WRITE_WITH_IMM;

	return post_recv(c[i].qp, id, &sge, imm ? 0 : 1);
}

static int serve(const char *dev, int port)
{
	struct cellconn them[CELLS];
	struct cell c[CELLS] = {};
	struct ibv_wc wc[16];
	struct env e;
	char cmd[16];
	int fd, i, j, n;

	if (setup(&e, c, them, dev, NULL, port, &fd)) {
		CHECK(0, "server: cells set up and connected");
		return 1;
	}
	for (i = 0; i < CELLS; i++)
		if (CELL_OP(i) == IBV_WR_SEND ||
		    CELL_OP(i) == IBV_WR_RDMA_WRITE_WITH_IMM)
			for (j = 0; j < NRECV; j++)
				repost(c, i, (uint64_t)i << 32 | (unsigned)j);
	CHECK(1, "server: %d cells connected, receives posted", CELLS);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		n = ibv_poll_cq(e.rcq, 16, wc);
		for (j = 0; j < n; j++) {
			i = (int)(wc[j].wr_id >> 32);
			if (wc[j].status == IBV_WC_SUCCESS && c[i].qp)
				repost(c, i, wc[j].wr_id);
		}
		if (poll(&p, 1, n ? 0 : 1) <= 0)
			continue;
		n = (int)read(fd, cmd, sizeof(cmd) - 1);
		if (n <= 0)
			return failures ? 1 : 0;
		cmd[n] = 0;
		for (i = 0; i < CELLS; i++) {
			if (!strncmp(cmd, "dereg", 5) && c[i].mr) {
				CHECK(!ibv_dereg_mr(c[i].mr),
				      "server: cell %d target MR deregistered",
				      i);
				c[i].mr = NULL;
			}
			if (!strncmp(cmd, "destroy", 7) && c[i].qp) {
				CHECK(!ibv_destroy_qp(c[i].qp),
				      "server: cell %d QP destroyed", i);
				c[i].qp = NULL;
			}
		}
	}
}

/* One WR of cell i (an atomic adds 1, or swaps 0 for 0); post's result. */
static int post_cell(struct cell *c, int i, const struct cellconn *t)
{
	struct ibv_sge sge = { (uintptr_t)c[i].buf, CELL_SIZE(i),
			       c[i].mr->lkey };

	if (i < 8)
		return post_rdma(c[i].qp, CELL_OP(i), c[i].posted, &sge, 1,
				 t->addr, t->rkey, 0, 0);
	return post_atomic(c[i].qp, CELL_OP(i), c[i].posted, &sge, t->addr,
			   t->rkey, i == 8 ? 1 : 0, 0);
}

/* Collect cell i's completions. */
static void collect(struct cell *c, int i)
{
	struct ibv_wc wc[DEPTH];
	int n, k;

	n = ibv_poll_cq(c[i].cq, DEPTH, wc);
	for (k = 0; k < n; k++) {
		c[i].done++;
		if (wc[k].status == IBV_WC_SUCCESS && !c[i].err) {
			c[i].ok++;
		} else if (!c[i].err) {
			c[i].err = true;
			c[i].first = wc[k].status;
		} else if (wc[k].status != IBV_WC_WR_FLUSH_ERR) {
			c[i].bad_after++;
		}
	}
}

/* Keep DEPTH WRs in flight on cell i; collect its completions. */
static void drive(struct cell *c, int i, const struct cellconn *t)
{
	while (!c[i].err && c[i].posted - c[i].done < DEPTH &&
	       !post_cell(c, i, t))
		c[i].posted++;
	collect(c, i);
}

/*
 * FAULT gone: every cell's WRs completed, none in error, "# quiet"; then
 * wait (90 s at most) for the script to say go on.
 */
static void quiesce(struct cell *c, double scale)
{
	double t0 = now();
	bool all;
	int i;

	do {
		for (i = 0, all = true; i < CELLS; i++) {
			collect(c, i);
			all = all && c[i].done == c[i].posted;
		}
	} while (!all && now() - t0 < 30 * scale);
	for (i = 0; i < CELLS; i++)
		CHECK(c[i].done == c[i].posted && !c[i].err,
		      "%s %u B: drained before the fault (%llu ok)",
		      CELL_NAME(i), CELL_SIZE(i), (unsigned long long)c[i].ok);
	printf("# quiet\n");
	t0 = now();
	while (access(go_file, F_OK) && now() - t0 < 90 * scale)
		usleep(100000);
	CHECK(!access(go_file, F_OK), "client: told to go on after the fault");
}

/* What the first error of cell i may be after fault f ("none": nothing). */
static bool explained(const char *f, int i, enum ibv_wc_status st)
{
	enum ibv_wr_opcode op = CELL_OP(i);

	/* The link lost: the WQE being copied fails, the rest flushes. */
	if (!strcmp(f, "kill") || !strcmp(f, "stop"))
		return st == IBV_WC_RETRY_EXC_ERR || st == IBV_WC_WR_FLUSH_ERR;
	/*
	 * The rkey gone (READ and atomics: the responder's own check); a
	 * SEND's receive SGEs fail the responder's checks.
	 */
	if (!strcmp(f, "dereg"))
		return op == IBV_WR_SEND ? st == IBV_WC_REM_OP_ERR :
					   st == IBV_WC_REM_ACCESS_ERR;
	/* The responder QP gone: nobody answers. */
	if (!strcmp(f, "destroy"))
		return st == IBV_WC_RETRY_EXC_ERR;
	/*
	 * The responder process gone (its device removed): both of those;
	 * with the device gone too, the host answers READs and atomics.
	 */
	if (!strcmp(f, "linkdel") || !strcmp(f, "gone"))
		return st == IBV_WC_RETRY_EXC_ERR ||
		       st == IBV_WC_REM_ACCESS_ERR || st == IBV_WC_REM_OP_ERR;
	return false;
}

static int client(const char *dev, const char *ip, int port, const char *f)
{
	/* NTBRDMA_FAULTMX_TIME_SCALE: the bounds below times that (slow VMs). */
	const char *ts = getenv("NTBRDMA_FAULTMX_TIME_SCALE");
	const char *sf = getenv("NTBRDMA_FAULTMX_STOP");
	const char *gf = getenv("NTBRDMA_FAULTMX_GO");
	double scale = ts && atoi(ts) > 1 ? atoi(ts) : 1;
	struct cellconn them[CELLS];
	struct cell c[CELLS] = {};
	bool none = !strcmp(f, "none"), all;
	double t0, limit;
	struct env e;
	int fd, i;

	if (sf && *sf)
		stop_file = sf;
	if (gf && *gf)
		go_file = gf;
	if (setup(&e, c, them, dev, ip, port, &fd)) {
		CHECK(0, "client: cells set up and connected");
		return 1;
	}
	if (none)
		unlink(stop_file);
	unlink(go_file);
	/* Traffic on every cell before the fault. */
	t0 = now();
	do {
		for (i = 0, all = true; i < CELLS; i++) {
			drive(c, i, &them[i]);
			all = all && c[i].ok >= 4;
		}
	} while (!all && now() - t0 < 30 * scale);
	for (i = 0; i < CELLS; i++)
		CHECK(c[i].ok >= 4 && !c[i].err,
		      "%s %u B: traffic before the fault (%llu ok)",
		      CELL_NAME(i), CELL_SIZE(i), (unsigned long long)c[i].ok);
	printf("# traffic\n");
	if (!strcmp(f, "gone"))
		quiesce(c, scale);
	if (!strcmp(f, "dereg") || !strcmp(f, "destroy"))
		CHECK(write(fd, f, strlen(f)) == (ssize_t)strlen(f),
		      "client: '%s' sent to the server", f);

	/* Until every cell failed and drained, or the time is up. */
	t0 = now();
	limit = 90 * scale;
	do {
		for (i = 0, all = true; i < CELLS; i++) {
			drive(c, i, &them[i]);
			all = all && c[i].err && c[i].done == c[i].posted;
		}
	} while ((none ? access(stop_file, F_OK) : !all) && now() - t0 < limit);

	for (i = 0; i < CELLS; i++) {
		const char *op = CELL_NAME(i);
		unsigned int sz = CELL_SIZE(i);

		if (none) {
			CHECK(!c[i].err, "%s %u B, no fault: %llu ok, no error",
			      op, sz, (unsigned long long)c[i].ok);
			continue;
		}
		CHECK(c[i].err && explained(f, i, c[i].first),
		      "%s %u B, %s: first error %s", op, sz, f,
		      c[i].err ? ibv_wc_status_str(c[i].first) : "none (90 s)");
		CHECK(c[i].done == c[i].posted && !c[i].bad_after,
		      "%s %u B, %s: all %llu WRs completed, every one after "
		      "the error flushed",
		      op, sz, f, (unsigned long long)c[i].posted);
		CHECK(query_state(c[i].qp) == IBV_QPS_ERR,
		      "%s %u B, %s: QP in ERR", op, sz, f);
	}
	close(fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]), argv[5]);
	fprintf(stderr,
		"usage: %s serve DEV PORT | client DEV IP PORT "
		"none|kill|stop|dereg|destroy|linkdel|gone\n",
		argv[0]);
	return 2;
}

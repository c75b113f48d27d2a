// SPDX-License-Identifier: GPL-2.0
/*
 * The isolation of QPs and MRs against a hostile process and a hostile
 * peer (tests/vm/ntbrdma-isolation.sh runs it):
 *
 *   loop DEV             one host, two processes: an attacker QP aimed at
 *                        a victim's loopback QP (which is connected to
 *                        another QP) gets no answer, and the victim's
 *                        receives and MR stay untouched; the responder
 *                        QP's access flags and max_dest_rd_atomic are
 *                        enforced; IB_QP_CUR_STATE cannot skip states
 *   pserver DEV PORT     responder host: QPs connected back or not, of
 *                        another PD, without access; checks its MR
 *   pclient DEV IP PORT  requester host: requests to a QPN that does not
 *                        exist, to a QP not connected back, into an MR of
 *                        another PD, past the QP's access flags
 *   fvictim DEV DIR      loopback QPs whose receive a forged RECV_DONE
 *                        from the peer must not complete; a spare QP in
 *                        RESET for a forged RECV_POST (DIR/qpns, DIR/go)
 *   fpeer DEV IP PORT DIR / fpeer-srv DEV PORT
 *                        a connection to the peer whose receive a forged,
 *                        too long RECV_DONE must not complete (DIR/qpns,
 *                        DIR/go)
 *   mrhold DEV DIR       registers a REMOTE_WRITE MR (DIR/rkey), then
 *                        deregisters it when DIR/dereg appears
 *                        (DIR/dereged), exits at DIR/exit
 *   bigsend DEV MIB      a loopback SEND of MIB MiB from and into buffers
 *                        whose pages interleave (one sg entry a page),
 *                        checked byte for byte: the copy walks its pages
 *                        in linear time, never with interrupts off
 *
 * Exit 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define MSG 4096
#define LEGIT_OFF (1u << 20) /* where legitimate writes go in the MR */

/*
 * What a victim tells its attacker (a pipe or TCP, same host type); over
 * TCP both ends send one (a client's rkey and addr are 0).
 */
struct target {
	uint32_t qpn[6];
	uint32_t rkey;
	uint64_t addr;
	union ibv_gid gid;
};

static const struct qp_opts no_answer_opts = {
	.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	.max_dest_rd_atomic = 4,
	.timeout = 8, /* ~1 ms: a request nobody answers fails fast */
	.retry_cnt = 1,
	.rnr_retry = 0,
};

static const struct qp_opts full_opts = {
	.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	.max_dest_rd_atomic = 4,
	.timeout = 14,
	.retry_cnt = 7,
	.rnr_retry = 7,
};

/* One signalled op of len bytes from (or, READ, into) buf at off. */
static void op(struct env *e, struct ibv_qp *qp, enum ibv_wr_opcode opc,
	       uint64_t id, unsigned char *buf, struct ibv_mr *mr,
	       uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)buf, MSG, mr->lkey };

	if (post_rdma(qp, opc, id, &sge, 1, raddr, rkey, 0x1234, 0))
		printf("(post_send failed: %s)\n", strerror(errno));
	(void)e;
}

/* No completion on cq for about ms milliseconds. */
static int quiet(struct ibv_cq *cq, int ms)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < ms; i++) {
		if (ibv_poll_cq(cq, 1, &wc)) {
			printf("(unexpected completion: wr_id %llu %s len %u)\n",
			       (unsigned long long)wc.wr_id,
			       ibv_wc_status_str(wc.status), wc.byte_len);
			return 0;
		}
		usleep(1000);
	}
	return 1;
}

static int wait_file(const char *dir, const char *name, int seconds)
{
	char path[256];
	struct stat st;
	int i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < seconds * 10; i++) {
		if (!stat(path, &st))
			return 0;
		usleep(100000);
	}
	return -1;
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A legitimate SEND from q2 into q1's receive id rid: data and length. */
static void legit_send(struct env *e, struct ibv_qp *from, uint64_t rid,
		       uint32_t len, const char *who)
{
	struct ibv_sge sge = { (uintptr_t)e->src, len, e->smr->lkey };
	struct ibv_wc wc;
	int r;

	fill(e->src, len, 31);
	CHECK(!post_rdma(from, IBV_WR_SEND, 900, &sge, 1, 0, 0, 0, 0),
	      "%s: post a legitimate SEND", who);
	expect_status(e->scq, 900, IBV_WC_SUCCESS, "legitimate SEND");
	r = wait_wc(e->rcq, &wc);
	CHECK(!r && wc.wr_id == rid && wc.status == IBV_WC_SUCCESS &&
		      wc.byte_len == len && !memcmp(e->dst, e->src, len),
	      "%s: the legitimate SEND completes the receive, %u bytes intact "
	      "(got %s, len %u)",
	      who, len, ibv_wc_status_str(wc.status), wc.byte_len);
}

/* --- loop: two processes of one host -------------------------------- */

static int loop_attacker(const char *dev, int rfd, int wfd)
{
	static const struct {
		enum ibv_wr_opcode op;
		const char *name;
	} ops[] = { { IBV_WR_SEND, "SEND" },
		    { IBV_WR_RDMA_WRITE, "RDMA WRITE" },
		    { IBV_WR_RDMA_WRITE_WITH_IMM, "WRITE_WITH_IMM" },
		    { IBV_WR_RDMA_READ, "RDMA READ" } };
	struct target t;
	struct env e;
	struct ibv_qp *x;
	char what[96];
	size_t i;

	if (read(rfd, &t, sizeof(t)) != sizeof(t) || env_open(&e, dev))
		return 1;
	fill(e.src, MSG, 66);
	x = make_qp(&e);
	for (i = 0; x && i < sizeof(ops) / sizeof(ops[0]); i++) {
		CHECK(!connect_qp_opts(&e, x, &e.gid, t.qpn[0],
				       &no_answer_opts),
		      "attacker: QP %u connected to the victim's QP %u",
		      x->qp_num, t.qpn[0]);
		op(&e, x, ops[i].op, i,
		   ops[i].op == IBV_WR_RDMA_READ ? e.dst : e.src,
		   ops[i].op == IBV_WR_RDMA_READ ? e.dmr : e.smr, t.addr,
		   t.rkey);
		snprintf(what, sizeof(what),
			 "attacker: %s to a QP not connected back",
			 ops[i].name);
		expect_status(e.scq, i, IBV_WC_RETRY_EXC_ERR, what);
	}
	CHECK(x != NULL, "attacker: QP created");
	return write(wfd, "d", 1) == 1 && !failures ? 0 : 1;
}

/* The victim: v1 <-> v2 loopback, a receive on v1, an MR with data. */
static void loop_victim(struct env *e, int wfd, int rfd)
{
	unsigned char *orig = malloc(BUF_SIZE);
	struct ibv_sge rsge = { (uintptr_t)e->dst, MSG, e->dmr->lkey };
	struct target t = { 0 };
	struct ibv_qp *v1, *v2;
	char c;

	fill(e->dst, BUF_SIZE, 7);
	memcpy(orig, e->dst, BUF_SIZE);
	CHECK(!loop_pair(e, &v1, &v2) && !post_recv(v1, 100, &rsge, 1),
	      "victim: QPs connected to each other, a receive posted");
	t.qpn[0] = v1->qp_num;
	t.rkey = e->dmr->rkey;
	t.addr = (uintptr_t)e->dst;
	if (write(wfd, &t, sizeof(t)) != sizeof(t) || read(rfd, &c, 1) != 1)
		CHECK(0, "victim: the attacker ran");
	CHECK(quiet(e->rcq, 500),
	      "victim: no receive completed by the attacker's SEND");
	CHECK(!memcmp(orig, e->dst, BUF_SIZE),
	      "victim: its MR is unchanged by the attacker's WRITEs");
	legit_send(e, v2, 100, 32, "victim");
	ibv_destroy_qp(v1);
	ibv_destroy_qp(v2);
	free(orig);
}

/*
 * The responder QP's own permissions, as an HCA's responder checks
 * them: resp_access and resp_rd_atomic on r, a request op from q.
 */
static void loop_perm(struct env *e, struct ibv_qp *q, struct ibv_qp *r,
		      int access, uint8_t rd_atomic, enum ibv_wr_opcode opc,
		      enum ibv_wc_status want, const char *what)
{
	struct qp_opts ro = full_opts;

	ro.access = access;
	ro.max_dest_rd_atomic = rd_atomic;
	if (connect_qp_opts(e, r, &e->gid, q->qp_num, &ro) ||
	    connect_qp_opts(e, q, &e->gid, r->qp_num, &full_opts)) {
		CHECK(0, "%s: connect", what);
		return;
	}
	op(e, q, opc, 500, opc == IBV_WR_RDMA_READ ? e->src : e->src, e->smr,
	   (uintptr_t)e->dst + LEGIT_OFF, e->dmr->rkey);
	expect_status(e->scq, 500, want, what);
}

static void loop_perms(struct env *e)
{
	struct ibv_qp *q = make_qp(e), *r = make_qp(e);
	const int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

	if (!q || !r) {
		CHECK(0, "QPs for the permission checks");
		return;
	}
	loop_perm(e, q, r, 0, 4, IBV_WR_RDMA_WRITE, IBV_WC_REM_ACCESS_ERR,
		  "WRITE to a QP without REMOTE_WRITE");
	loop_perm(e, q, r, IBV_ACCESS_REMOTE_READ, 4,
		  IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WC_REM_ACCESS_ERR,
		  "WRITE_WITH_IMM to a QP without REMOTE_WRITE");
	loop_perm(e, q, r, IBV_ACCESS_REMOTE_WRITE, 4, IBV_WR_RDMA_READ,
		  IBV_WC_REM_ACCESS_ERR, "READ from a QP without REMOTE_READ");
	loop_perm(e, q, r, rw, 0, IBV_WR_RDMA_READ, IBV_WC_REM_INV_REQ_ERR,
		  "READ from a QP with max_dest_rd_atomic 0");
	fill(e->src, MSG, 12);
	loop_perm(e, q, r, rw, 4, IBV_WR_RDMA_WRITE, IBV_WC_SUCCESS,
		  "WRITE to a QP with REMOTE_WRITE");
	CHECK(!memcmp(e->dst + LEGIT_OFF, e->src, MSG),
	      "the permitted WRITE landed byte for byte");
	ibv_destroy_qp(q);
	ibv_destroy_qp(r);
}

/* IB_QP_CUR_STATE must be the QP's state, not a way around RESET/INIT. */
static void loop_cur_state(struct env *e)
{
	struct ibv_qp *q = make_qp(e);
	struct ibv_qp_attr a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.cur_qp_state = IBV_QPS_RTS;
	ret = q ? ibv_modify_qp(q, &a, IBV_QP_STATE | IBV_QP_CUR_STATE) : -1;
	CHECK(ret == EINVAL && query_state(q) == IBV_QPS_RESET,
	      "RESET -> RTS claiming cur_qp_state RTS: EINVAL, still RESET "
	      "(%d, state %d)",
	      ret, q ? (int)query_state(q) : -1);
	if (q)
		ibv_destroy_qp(q);
}

static int mode_loop(const char *dev)
{
	int tov[2], toa[2], st = 1;
	struct env e;
	pid_t pid;

	if (pipe(tov) || pipe(toa))
		return 1;
	/* Before any verbs: a process of its own, as another user's. */
	pid = fork();
	if (pid == 0)
		_exit(loop_attacker(dev, toa[0], tov[1]));
	if (pid < 0 || env_open(&e, dev)) {
		CHECK(0, "victim: device open");
		return 1;
	}
	loop_victim(&e, toa[1], tov[0]);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "attacker: all its checks");
	loop_perms(&e);
	loop_cur_state(&e);
	return failures ? 1 : 0;
}

/* --- pserver / pclient: the requester on another host ---------------- */

enum { P_NOCONN, P_OTHERPD, P_NOACCESS, P_NOREAD, P_LEGIT, P_N };
_Static_assert(P_N <= 6, "struct target holds the QPNs");

static int mode_pserver(const char *dev, int port)
{
	unsigned char *orig = malloc(BUF_SIZE);
	struct target t = { 0 }, them;
	struct ibv_qp *q[P_N];
	struct qp_opts o;
	struct ibv_pd *pd2;
	struct env e;
	int fd, i;

	if (env_open(&e, dev) || !orig)
		return 1;
	pd2 = ibv_alloc_pd(e.ctx);
	fill(e.dst, BUF_SIZE, 9);
	memcpy(orig, e.dst, BUF_SIZE);
	for (i = 0; i < P_N; i++) {
		q[i] = make_qp_pd(&e, i == P_OTHERPD ? pd2 : e.pd);
		t.qpn[i] = q[i] ? q[i]->qp_num : 0;
	}
	t.rkey = e.dmr->rkey;
	t.addr = (uintptr_t)e.dst;
	t.gid = e.gid;
	fd = tcp_conn(NULL, port);
	if (fd < 0 || xchg(fd, &t, &them, sizeof(t))) {
		CHECK(0, "server: exchange with the client");
		return 1;
	}
	for (i = 0; i < P_N; i++) {
		o = full_opts;
		if (i == P_NOACCESS)
			o.access = 0;
		if (i == P_NOREAD) {
			o.access = IBV_ACCESS_REMOTE_READ;
			o.max_dest_rd_atomic = 0;
		}
		CHECK(q[i] && !connect_qp_opts(&e, q[i], &them.gid, them.qpn[i],
					       &o),
		      "server: QP %u connected to the client's QP %u",
		      q[i] ? q[i]->qp_num : 0, them.qpn[i]);
	}
	/* The client runs its requests between the two barriers. */
	CHECK(!barrier(fd) && !barrier(fd), "server: the client ran");
	CHECK(!memcmp(orig, e.dst, LEGIT_OFF) &&
		      !memcmp(orig + LEGIT_OFF + MSG, e.dst + LEGIT_OFF + MSG,
			      BUF_SIZE - LEGIT_OFF - MSG),
	      "server: its MR changed only where the permitted WRITE went");
	fill(orig, MSG, 44);
	CHECK(!memcmp(orig, e.dst + LEGIT_OFF, MSG),
	      "server: the permitted WRITE landed byte for byte");
	close(fd);
	return failures ? 1 : 0;
}

static int mode_pclient(const char *dev, const char *ip, int port)
{
	struct target mine = { 0 }, t;
	struct ibv_qp *q[P_N], *x;
	struct env e;
	int fd, i;

	if (env_open(&e, dev))
		return 1;
	for (i = 0; i < P_N; i++) {
		q[i] = make_qp(&e);
		mine.qpn[i] = q[i] ? q[i]->qp_num : 0;
	}
	mine.gid = e.gid;
	x = make_qp(&e);
	fd = tcp_conn(ip, port);
	if (fd < 0 || xchg(fd, &mine, &t, sizeof(t)) || !x) {
		CHECK(0, "client: exchange with the server");
		return 1;
	}
	/*
	 * Connected to nothing the server has: the server's QP of P_NOCONN
	 * is connected to our q[P_NOCONN], never to x.  Its own RECV_POSTs
	 * go to q[P_NOCONN], which stays in RESET.
	 */
	CHECK(!barrier(fd), "client: the server connected its QPs");
	fill(e.src, MSG, 55);
	CHECK(!connect_qp_opts(&e, x, &t.gid, 0xfffff0, &no_answer_opts),
	      "client: QP connected to a QPN that does not exist there");
	op(&e, x, IBV_WR_RDMA_WRITE, 1, e.src, e.smr, t.addr, t.rkey);
	expect_status(e.scq, 1, IBV_WC_RETRY_EXC_ERR,
		      "WRITE with a valid rkey to a QPN that does not exist");
	CHECK(!connect_qp_opts(&e, x, &t.gid, t.qpn[P_NOCONN], &no_answer_opts),
	      "client: QP connected to a server QP not connected back");
	op(&e, x, IBV_WR_RDMA_WRITE, 2, e.src, e.smr, t.addr, t.rkey);
	expect_status(e.scq, 2, IBV_WC_RETRY_EXC_ERR,
		      "WRITE to a QP not connected back");
	CHECK(!connect_qp_opts(&e, x, &t.gid, t.qpn[P_NOCONN], &no_answer_opts),
	      "client: reconnected");
	op(&e, x, IBV_WR_SEND, 3, e.src, e.smr, 0, 0);
	expect_status(e.scq, 3, IBV_WC_RETRY_EXC_ERR,
		      "SEND to a QP not connected back");
	CHECK(!connect_qp_opts(&e, x, &t.gid, t.qpn[P_NOCONN], &no_answer_opts),
	      "client: reconnected");
	op(&e, x, IBV_WR_RDMA_READ, 4, e.dst, e.dmr, t.addr, t.rkey);
	expect_status(e.scq, 4, IBV_WC_RETRY_EXC_ERR,
		      "READ from a QP not connected back");

	for (i = P_OTHERPD; i < P_N; i++)
		CHECK(!connect_qp_opts(&e, q[i], &t.gid, t.qpn[i], &full_opts),
		      "client: QP %u connected to the server's QP %u",
		      q[i]->qp_num, t.qpn[i]);
	op(&e, q[P_OTHERPD], IBV_WR_RDMA_WRITE, 5, e.src, e.smr, t.addr,
	   t.rkey);
	expect_status(e.scq, 5, IBV_WC_REM_ACCESS_ERR,
		      "WRITE into an MR of another PD than the peer QP's");
	op(&e, q[P_NOACCESS], IBV_WR_RDMA_WRITE, 6, e.src, e.smr, t.addr,
	   t.rkey);
	expect_status(e.scq, 6, IBV_WC_REM_ACCESS_ERR,
		      "WRITE to a peer QP without REMOTE_WRITE");
	CHECK(!connect_qp_opts(&e, q[P_NOACCESS], &t.gid, t.qpn[P_NOACCESS],
			       &full_opts),
	      "client: reconnected");
	op(&e, q[P_NOACCESS], IBV_WR_RDMA_READ, 7, e.dst, e.dmr, t.addr,
	   t.rkey);
	expect_status(e.scq, 7, IBV_WC_REM_ACCESS_ERR,
		      "READ from a peer QP without REMOTE_READ");
	op(&e, q[P_NOREAD], IBV_WR_RDMA_READ, 8, e.dst, e.dmr, t.addr, t.rkey);
	expect_status(e.scq, 8, IBV_WC_REM_INV_REQ_ERR,
		      "READ from a peer QP with max_dest_rd_atomic 0");
	fill(e.src, MSG, 44);
	op(&e, q[P_LEGIT], IBV_WR_RDMA_WRITE, 9, e.src, e.smr,
	   t.addr + LEGIT_OFF, t.rkey);
	expect_status(e.scq, 9, IBV_WC_SUCCESS, "permitted WRITE");
	memset(e.dst, 0, MSG);
	op(&e, q[P_LEGIT], IBV_WR_RDMA_READ, 10, e.dst, e.dmr,
	   t.addr + LEGIT_OFF, t.rkey);
	expect_status(e.scq, 10, IBV_WC_SUCCESS, "permitted READ");
	CHECK(!memcmp(e.dst, e.src, MSG), "READ returned the written bytes");
	CHECK(!barrier(fd), "client: done");
	close(fd);
	return failures ? 1 : 0;
}

/* --- forged peer messages ---------------------------------------------- */

static int mode_fvictim(const char *dev, const char *dir)
{
	struct ibv_sge rsge;
	struct ibv_qp *v1, *v2, *spare;
	struct env e;
	char text[64];

	if (env_open(&e, dev))
		return 1;
	spare = make_qp(&e);
	rsge = (struct ibv_sge){ (uintptr_t)e.dst, 64, e.dmr->lkey };
	CHECK(spare && !loop_pair(&e, &v1, &v2) &&
		      !post_recv(v1, 200, &rsge, 1),
	      "fvictim: loopback QPs with a receive, a spare QP in RESET");
	snprintf(text, sizeof(text), "%u %u\n", v1->qp_num, spare->qp_num);
	put_file(dir, "qpns", text);
	CHECK(!wait_file(dir, "go", 180), "fvictim: the forgeries were sent");
	CHECK(quiet(e.rcq, 2000),
	      "fvictim: no receive of a loopback QP completed by the peer");
	CHECK(query_state(spare) == IBV_QPS_RESET,
	      "fvictim: spare still RESET");
	legit_send(&e, v2, 200, 32, "fvictim");
	return failures ? 1 : 0;
}

static int mode_fpeer(const char *dev, const char *ip, int port,
		      const char *dir)
{
	struct ibv_sge rsge;
	struct ibv_wc wc;
	struct conn me, them;
	struct ibv_qp *q;
	struct env e;
	char text[64];
	int fd, r;

	if (env_open(&e, dev))
		return 1;
	q = make_qp(&e);
	me = (struct conn){ .qpn = q ? q->qp_num : 0, .gid = e.gid };
	fd = tcp_conn(ip, port);
	if (!q || fd < 0 || xchg(fd, &me, &them, sizeof(me))) {
		CHECK(0, "fpeer: exchange");
		return 1;
	}
	rsge = (struct ibv_sge){ (uintptr_t)e.dst, 16, e.dmr->lkey };
	CHECK(!connect_qp(&e, q, &them.gid, them.qpn, 7) &&
		      !post_recv(q, 300, &rsge, 1) && !barrier(fd),
	      "fpeer: connected to the peer's QP %u, a 16-byte receive",
	      them.qpn);
	snprintf(text, sizeof(text), "%u %u\n", q->qp_num, them.qpn);
	put_file(dir, "qpns", text);
	CHECK(!wait_file(dir, "go", 180), "fpeer: the forgery was sent");
	/* The link is reset for it: the receive is flushed, never filled. */
	r = wait_wc(e.rcq, &wc);
	CHECK(!r && wc.wr_id == 300 && wc.status == IBV_WC_WR_FLUSH_ERR,
	      "fpeer: a RECV_DONE longer than the receive does not complete "
	      "it (%s, len %u)",
	      r ? "no completion" : ibv_wc_status_str(wc.status), wc.byte_len);
	(void)barrier(fd);
	return failures ? 1 : 0;
}

static int mode_fpeer_srv(const char *dev, int port)
{
	struct conn me, them;
	struct ibv_qp *q;
	struct env e;
	int fd;

	if (env_open(&e, dev))
		return 1;
	q = make_qp(&e);
	me = (struct conn){ .qpn = q ? q->qp_num : 0, .gid = e.gid };
	fd = tcp_conn(NULL, port);
	if (!q || fd < 0 || xchg(fd, &me, &them, sizeof(me))) {
		CHECK(0, "fpeer-srv: exchange");
		return 1;
	}
	CHECK(!connect_qp(&e, q, &them.gid, them.qpn, 7) && !barrier(fd),
	      "fpeer-srv: connected back");
	(void)barrier(fd); /* until the victim is done */
	return failures ? 1 : 0;
}

/* --- mrhold: an MR deregistered while the peer may still write --------- */

static int mode_mrhold(const char *dev, const char *dir)
{
	struct env e;
	char text[32];

	if (env_open(&e, dev))
		return 1;
	snprintf(text, sizeof(text), "%#x\n", e.dmr->rkey);
	put_file(dir, "rkey", text);
	CHECK(!wait_file(dir, "dereg", 180), "mrhold: asked to deregister");
	CHECK(!ibv_dereg_mr(e.dmr), "mrhold: dereg_mr returned");
	put_file(dir, "dereged", "1\n");
	CHECK(!wait_file(dir, "exit", 180), "mrhold: asked to exit");
	return failures ? 1 : 0;
}

/* --- bigsend: a large copy over many discontiguous pages ------------- */

/*
 * A process that wakes every 10 ms from "go" on rfd until "stop", then
 * writes the longest time it could not run to wfd.
 */
static void watcher(int rfd, int wfd)
{
	double last, t, gap = 0;
	char c;

	if (read(rfd, &c, 1) != 1)
		_exit(1);
	fcntl(rfd, F_SETFL, O_NONBLOCK);
	last = now_s();
	while (read(rfd, &c, 1) != 1) {
		usleep(10000);
		t = now_s();
		if (t - last > gap)
			gap = t - last;
		last = t;
	}
	_exit(write(wfd, &gap, sizeof(gap)) == sizeof(gap) ? 0 : 1);
}

static int mode_bigsend(const char *dev, size_t mib)
{
	size_t len = mib << 20, pg = (size_t)sysconf(_SC_PAGESIZE), i;
	unsigned char *src = aligned_alloc(pg, len),
		      *dst = aligned_alloc(pg, len);
	int tow[2], fromw[2], rc;
	struct ibv_mr *smr, *dmr;
	struct ibv_qp *q, *r;
	struct ibv_sge sge;
	struct ibv_wc wc;
	double gap = -1;
	struct env e;
	pid_t pid;

	/* The watcher first: no fork after verbs. */
	if (pipe(tow) || pipe(fromw))
		return 1;
	pid = fork();
	if (pid == 0)
		watcher(tow[0], fromw[1]);
	if (pid < 0 || !src || !dst || env_open(&e, dev))
		return 1;
	/*
	 * Small pages only, and alternate first touches: neither buffer
	 * gets two physically adjacent pages.
	 */
	madvise(src, len, MADV_NOHUGEPAGE);
	madvise(dst, len, MADV_NOHUGEPAGE);
	for (i = 0; i < len; i += pg) {
		src[i] = 1;
		dst[i] = 1;
	}
	fill(src, len, 77);
	memset(dst, 0, len);
	smr = ibv_reg_mr(e.pd, src, len, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(e.pd, dst, len, IBV_ACCESS_LOCAL_WRITE);
	CHECK(smr && dmr && !loop_pair(&e, &q, &r),
	      "bigsend: two %zu MiB MRs of interleaved pages, QPs connected",
	      mib);
	if (failures)
		return 1;
	sge = (struct ibv_sge){ (uintptr_t)dst, (uint32_t)len, dmr->lkey };
	CHECK(!post_recv(r, 1, &sge, 1), "bigsend: receive posted");
	sge = (struct ibv_sge){ (uintptr_t)src, (uint32_t)len, smr->lkey };
	if (write(tow[1], "g", 1) != 1)
		return 1;
	usleep(100000);
	CHECK(!post_rdma(q, IBV_WR_SEND, 2, &sge, 1, 0, 0, 0, 0),
	      "bigsend: SEND posted");
	expect_status(e.scq, 2, IBV_WC_SUCCESS, "bigsend: SEND");
	rc = wait_wc(e.rcq, &wc);
	if (write(tow[1], "s", 1) != 1 ||
	    read(fromw[0], &gap, sizeof(gap)) != sizeof(gap))
		gap = -1;
	waitpid(pid, NULL, 0);
	/* A liveness bound, not a figure: the copy lets others run. */
	CHECK(gap >= 0 && gap < 2.0,
	      "bigsend: another process ran during the copy, at most %.3f s "
	      "apart (bound 2 s)",
	      gap);
	CHECK(!rc && wc.status == IBV_WC_SUCCESS && wc.byte_len == len &&
		      !memcmp(src, dst, len),
	      "bigsend: %zu MiB received byte for byte", mib);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return mode_loop(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "pserver"))
		return mode_pserver(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "pclient"))
		return mode_pclient(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "fvictim"))
		return mode_fvictim(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "fpeer"))
		return mode_fpeer(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (argc == 4 && !strcmp(argv[1], "fpeer-srv"))
		return mode_fpeer_srv(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "mrhold"))
		return mode_mrhold(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "bigsend"))
		return mode_bigsend(argv[2], strtoul(argv[3], NULL, 0));
	fprintf(stderr,
		"usage: %s loop DEV | pserver DEV PORT | "
		"pclient DEV IP PORT | fvictim DEV DIR | "
		"fpeer DEV IP PORT DIR | fpeer-srv DEV PORT | "
		"mrhold DEV DIR | bigsend DEV MIB\n",
		argv[0]);
	return 2;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ctrlflow-test: the control channel flooded from both hosts at
 * once (tests/vm/ntbrdma-ctrlflow.sh).  RECV_POST, RECV_DONE, READ
 * requests and answers, MR announcements and removals all cross it; both
 * hosts make all of them at the same time, so both rings fill.  Proves
 * that nothing is lost and no verb stalls:
 *
 *   server DEV PORT [kill]       on b
 *   client DEV IP PORT [kill]    on a (IP: b's address on ntb0)
 *
 * Both sides, after one exchange (QPNs, GID, rkey) and a TCP barrier:
 * NQP RC QPs, QP i connected to the peer's QP i; in each round every QP
 * SENDs BURST 64-byte messages into the burst of receives (one
 * ibv_post_recv) the peer posted for it, a QP posting its next burst as
 * one completes, and every READ_EVERY-th QP READs 4 KiB of the peer's MR
 * NREAD times; meanwhile a thread registers and deregisters NMR MRs (4
 * KiB, announced to the peer; NTBRDMA_CTRLFLOW_MRS sets another count).  ROUNDS rounds, more until both MR
 * threads are done.  Every receive must complete once, successfully,
 * with the bytes of its QP, round and place; every SEND and READ
 * succeed (READ data checked); every reg_mr succeed and dereg_mr return
 * 0.  A round, barrier or drain not done in BOUND s fails; a verb not
 * returning in BOUND s makes a watchdog print "FAIL - WHO: VERB hung"
 * and exit 3.
 *
 * kill: rounds until the peer dies (killed after "# flooding"); then the
 * port must go down and every WR posted complete within BOUND s: success
 * before, IBV_WC_WR_FLUSH_ERR or IBV_WC_RETRY_EXC_ERR after, no success
 * after an error on its queue, no wrong data; then AFTER reg/dereg
 * pairs: dereg_mr returns 0 (reg_mr may fail).
 *
 * "ok - ..." / "FAIL - ..." per check, "# ..." details, "# counts: ..."
 * last.  Exit 0 only if every check passed.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define NQP 256
#define ROUNDS 8
#define BURST 32 /* receives per QP and round; as many SENDs */
#define MSG 64
#define READ_EVERY 4
#define NREAD 2 /* READs per reading QP and round */
#define RD_LEN 4096
#define NMR 10000 /* NTBRDMA_CTRLFLOW_MRS sets another count */
#define MR_WIN 32 /* MRs registered at a time */
#define MR_LEN 4096
#define AFTER 200 /* kill: reg/dereg pairs after the drain */
#define BOUND 60 /* seconds */
#define KILL_LIMIT 300 /* kill: the peer must die within this */
#define CQ_SIZE 16384
#define SHOW 5 /* wrong completions printed */

/* env.dst (BUF_SIZE): receive buffers, SEND payloads, READ targets. */
#define SEND_OFF (NQP * 2u * BURST * MSG)
#define READ_OFF (SEND_OFF + NQP * BURST * MSG)
_Static_assert(READ_OFF + NQP / READ_EVERY * NREAD * RD_LEN <= BUF_SIZE,
	       "buffers fit in env.dst");

enum kind { K_RECV = 1, K_SEND, K_READ };
enum thread { T_FLOOD, T_CHURN, NTHREAD };

/* The one exchange: what either side needs of the other. */
struct hello {
	uint32_t qpn[NQP];
	uint32_t rkey; /* of env.src, which the peer READs */
	uint32_t seed; /* env.src holds fill(seed), SENDs payload(seed) */
	uint64_t addr;
	union ibv_gid gid;
};

struct qst {
	struct ibv_qp *qp;
	uint32_t round[2]; /* the round whose receives RQ half k holds */
	uint32_t got[2]; /* bit j: receive j of that round completed */
	uint32_t bursts; /* bursts whose receives all completed */
	unsigned long long sq_posted, sq_done;
	bool sq_err, rq_err; /* an error completion seen on the queue */
};

struct counts {
	unsigned long long recv_posted, recv_done, recv_ok;
	unsigned long long sq_posted, sq_done, send_ok, read_ok;
	unsigned long long errors, causes, bad_status, late_ok, bad_data, dup;
	unsigned long long post_fail;
};

struct churn {
	struct ibv_pd *pd;
	unsigned char *buf; /* MR_WIN * MR_LEN */
	bool kill;
	atomic_bool stop, done;
	unsigned int reg, dereg, reg_fail, dereg_fail, after;
	double secs; /* how long it took */
};

struct flood {
	struct env e;
	struct qst q[NQP];
	struct hello me, them;
	unsigned char *expect; /* the peer's env.src */
	struct churn *churn;
	int fd;
	bool kill;
	uint32_t cur; /* the round under way */
	uint32_t upto; /* receives may be posted for rounds up to this */
	enum ibv_wc_status first; /* the first error that is no flush */
	struct counts n;
};

static const char *who = "client";
/* What each thread is doing, for the watchdog. */
static struct {
	atomic_uint n;
	_Atomic(const char *) what;
} beat[NTHREAD];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Thread t is about to do what (NULL: nothing the watchdog bounds). */
static void step(enum thread t, const char *what)
{
	atomic_store(&beat[t].what, what);
	atomic_fetch_add(&beat[t].n, 1);
}

/* A thread that stays in one verb for BOUND seconds ends the program. */
static void *watchdog(void *arg)
{
	unsigned int last[NTHREAD] = { 0 }, idle[NTHREAD] = { 0 }, n;
	const char *what;
	int t;

	for (;; sleep(1)) {
		for (t = 0; t < NTHREAD; t++) {
			n = atomic_load(&beat[t].n);
			what = atomic_load(&beat[t].what);
			idle[t] = n == last[t] && what ? idle[t] + 1 : 0;
			last[t] = n;
			if (idle[t] <= BOUND)
				continue;
			printf("FAIL - %s: %s hung (no return within %d s)\n",
			       who, what, BOUND);
			fflush(stdout);
			_exit(3);
		}
	}
	return arg;
}

/* Count one wrong thing in *ctr; the first SHOW are printed. */
static void note(unsigned long long *ctr, const char *fmt, ...)
{
	va_list ap;

	if ((*ctr)++ >= SHOW)
		return;
	va_start(ap, fmt);
	printf("# %s: ", who);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static uint64_t wrid(enum kind k, unsigned int qi, uint32_t r, unsigned int j)
{
	return (uint64_t)k << 56 | (uint64_t)qi << 40 | (uint64_t)r << 16 | j;
}

/* The 64 bytes a SEND of seed's side carries: QP, round, place, pattern. */
static void payload(unsigned char *p, uint32_t seed, unsigned int qi,
		    uint32_t r, unsigned int j)
{
	uint32_t h[3] = { qi, r, j };

	memcpy(p, h, sizeof(h));
	fill(p + sizeof(h), MSG - sizeof(h),
	     seed * 1000003u + qi * 7919u + r * 131u + j);
}

static unsigned char *recv_buf(struct flood *f, unsigned int qi, uint32_t r,
			       unsigned int j)
{
	return f->e.dst + ((qi * 2 + r % 2) * BURST + j) * MSG;
}

static unsigned char *read_buf(struct flood *f, unsigned int qi, unsigned int k)
{
	return f->e.dst + READ_OFF + (qi / READ_EVERY * NREAD + k) * RD_LEN;
}

/* Where READ k of QP qi in round r reads in the peer's env.src. */
static uint64_t read_off(unsigned int qi, uint32_t r, unsigned int k)
{
	return (uint64_t)(qi * 8 + r * NREAD + k) * RD_LEN % BUF_SIZE;
}

static void got_mark(struct flood *f, unsigned int qi, uint32_t r,
		     uint32_t bits);

/* One burst: BURST receives of round r on QP qi, one ibv_post_recv. */
static void post_recvs(struct flood *f, unsigned int qi, uint32_t r)
{
	struct ibv_recv_wr wr[BURST], *bad = NULL;
	struct ibv_sge sge[BURST];
	struct qst *q = &f->q[qi];
	unsigned char *p;
	unsigned int j;

	for (j = 0; j < BURST; j++) {
		p = recv_buf(f, qi, r, j);
		memset(p, 0, MSG);
		sge[j] = (struct ibv_sge){ (uintptr_t)p, MSG, f->e.dmr->lkey };
		wr[j] = (struct ibv_recv_wr){ wrid(K_RECV, qi, r, j),
					      &wr[j + 1], &sge[j], 1 };
	}
	wr[BURST - 1].next = NULL;
	q->round[r % 2] = r;
	q->got[r % 2] = 0;
	step(T_FLOOD, "ibv_post_recv");
	if (!ibv_post_recv(q->qp, wr, &bad)) {
		f->n.recv_posted += BURST;
		return;
	}
	j = bad ? (unsigned int)(bad - wr) : 0;
	note(&f->n.post_fail, "QP %u: ibv_post_recv failed at %u", qi, j);
	f->n.recv_posted += j;
	got_mark(f, qi, r, ~0u << j); /* never posted: not awaited */
}

/*
 * Receives of round r on QP qi completed: a whole burst frees its half
 * of the RQ for round r + 2, if that one is to come.
 */
static void got_mark(struct flood *f, unsigned int qi, uint32_t r,
		     uint32_t bits)
{
	struct qst *q = &f->q[qi];

	q->got[r % 2] |= bits;
	if (q->got[r % 2] != ~0u)
		return;
	q->bursts++;
	if (r + 2 <= f->upto && !f->n.errors)
		post_recvs(f, qi, r + 2);
}

/* Round r of QP qi: BURST SENDs (NREAD READs among them); one post. */
static void post_sq(struct flood *f, unsigned int qi, uint32_t r)
{
	struct ibv_send_wr wr[BURST + NREAD], *bad = NULL;
	struct ibv_sge sge[BURST + NREAD];
	unsigned int j, k = 0, n = 0;
	unsigned char *p;

	memset(wr, 0, sizeof(wr));
	for (j = 0; j < BURST; j++, n++) {
		if (qi % READ_EVERY == 0 && j % (BURST / NREAD) == 0) {
			p = read_buf(f, qi, k);
			memset(p, 0, RD_LEN);
			sge[n] = (struct ibv_sge){ (uintptr_t)p, RD_LEN,
						   f->e.dmr->lkey };
			wr[n].wr_id = wrid(K_READ, qi, r, k);
			wr[n].opcode = IBV_WR_RDMA_READ;
			wr[n].wr.rdma.remote_addr =
				f->them.addr + read_off(qi, r, k++);
			wr[n++].wr.rdma.rkey = f->them.rkey;
		}
		p = f->e.dst + SEND_OFF + (qi * BURST + j) * MSG;
		payload(p, f->me.seed, qi, r, j);
		sge[n] = (struct ibv_sge){ (uintptr_t)p, MSG, f->e.dmr->lkey };
		wr[n].wr_id = wrid(K_SEND, qi, r, j);
		wr[n].opcode = IBV_WR_SEND;
	}
	for (j = 0; j < n; j++) {
		wr[j].sg_list = &sge[j];
		wr[j].num_sge = 1;
		wr[j].send_flags = IBV_SEND_SIGNALED;
		wr[j].next = j + 1 < n ? &wr[j + 1] : NULL;
	}
	step(T_FLOOD, "ibv_post_send");
	if (ibv_post_send(f->q[qi].qp, wr, &bad)) {
		n = bad ? (unsigned int)(bad - wr) : 0;
		note(&f->n.post_fail, "QP %u: ibv_post_send failed at %u", qi,
		     n);
	}
	f->q[qi].sq_posted += n;
	f->n.sq_posted += n;
}

/*
 * An error completion: in kill mode a flush or retry exceeded is allowed,
 * nothing else ever.  The first errors that are no flush are printed:
 * they say why the QP went to ERR.
 */
static void on_error(struct flood *f, const struct ibv_wc *wc, bool *qerr)
{
	bool flush = wc->status == IBV_WC_WR_FLUSH_ERR;

	*qerr = true;
	f->n.errors++;
	if (!f->kill || (!flush && wc->status != IBV_WC_RETRY_EXC_ERR))
		f->n.bad_status++;
	if (flush)
		return;
	if (!f->n.causes)
		f->first = wc->status;
	note(&f->n.causes, "wr_id %#" PRIx64 ": %s", wc->wr_id,
	     ibv_wc_status_str(wc->status));
}

static void on_recv(struct flood *f, const struct ibv_wc *wc)
{
	unsigned int qi = wc->wr_id >> 40 & 0xffff, j = wc->wr_id & 0xffff;
	uint32_t r = wc->wr_id >> 16 & 0xffffff;
	unsigned char want[MSG];
	struct qst *q = &f->q[qi % NQP];

	if (wc->wr_id >> 56 != K_RECV || qi >= NQP || j >= BURST ||
	    q->round[r % 2] != r || q->got[r % 2] >> j & 1) {
		note(&f->n.dup, "receive %#" PRIx64 ": not posted or twice",
		     wc->wr_id);
		return;
	}
	f->n.recv_done++;
	payload(want, f->them.seed, qi, r, j);
	if (wc->status != IBV_WC_SUCCESS)
		on_error(f, wc, &q->rq_err);
	else if (q->rq_err)
		note(&f->n.late_ok, "QP %u receive %u/%u: success after error",
		     qi, r, j);
	else if (wc->byte_len != MSG ||
		 memcmp(recv_buf(f, qi, r, j), want, MSG))
		note(&f->n.bad_data,
		     "QP %u receive %u/%u: %u bytes or wrong data", qi, r, j,
		     wc->byte_len);
	else
		f->n.recv_ok++;
	got_mark(f, qi, r, 1u << j);
}

static void on_sq(struct flood *f, const struct ibv_wc *wc)
{
	unsigned int qi = wc->wr_id >> 40 & 0xffff, k = wc->wr_id & 0xffff;
	uint32_t r = wc->wr_id >> 16 & 0xffffff;
	enum kind kind = wc->wr_id >> 56;
	struct qst *q = &f->q[qi % NQP];

	if ((kind != K_SEND && kind != K_READ) || qi >= NQP ||
	    q->sq_done >= q->sq_posted) {
		note(&f->n.dup, "send %#" PRIx64 ": not posted or twice",
		     wc->wr_id);
		return;
	}
	q->sq_done++;
	f->n.sq_done++;
	if (wc->status != IBV_WC_SUCCESS)
		on_error(f, wc, &q->sq_err);
	else if (q->sq_err)
		note(&f->n.late_ok, "%#" PRIx64 ": success after error",
		     wc->wr_id);
	else if (kind == K_SEND)
		f->n.send_ok++;
	else if (memcmp(read_buf(f, qi, k), f->expect + read_off(qi, r, k),
			RD_LEN))
		note(&f->n.bad_data, "QP %u round %u READ %u: wrong data", qi,
		     r, k);
	else
		f->n.read_ok++;
}

/* Poll both CQs once; the number of completions. */
static int pump(struct flood *f)
{
	struct ibv_wc wc[64];
	int i, n, m;

	step(T_FLOOD, "ibv_poll_cq");
	n = ibv_poll_cq(f->e.rcq, 64, wc);
	for (i = 0; i < n; i++)
		on_recv(f, &wc[i]);
	m = ibv_poll_cq(f->e.scq, 64, wc);
	for (i = 0; i < m; i++)
		on_sq(f, &wc[i]);
	return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

/* QP i is done with round f->cur: its SQ idle, its receives all in. */
static bool qp_done(struct flood *f, unsigned int i)
{
	return f->q[i].sq_done == f->q[i].sq_posted && f->q[i].bursts > f->cur;
}

static bool round_done(struct flood *f)
{
	unsigned int i;

	for (i = 0; i < NQP && qp_done(f, i); i++)
		;
	return i == NQP;
}

static bool drained(struct flood *f)
{
	return f->n.sq_done == f->n.sq_posted &&
	       f->n.recv_done == f->n.recv_posted;
}

/* Poll until done(f), BOUND seconds at most (stop_on_error: or that). */
static int wait_for(struct flood *f, bool (*done)(struct flood *),
		    bool stop_on_error, const char *what)
{
	unsigned int i, late = 0;
	double t0 = now();

	while (!done(f)) {
		if (stop_on_error && f->n.errors)
			return 1;
		if (!pump(f))
			usleep(200);
		if (now() - t0 < BOUND)
			continue;
		for (i = 0; i < NQP; i++)
			if (!qp_done(f, i) && late++ < SHOW)
				printf("# %s: QP %u: SQ %llu/%llu, receives of round %u %#x, of round %u %#x\n",
				       who, i, f->q[i].sq_done,
				       f->q[i].sq_posted, f->q[i].round[0],
				       f->q[i].got[0], f->q[i].round[1],
				       f->q[i].got[1]);
		CHECK(0,
		      "%s: %s within %d s (round %u: %u QPs wait; SQ %llu/%llu, receives %llu/%llu)",
		      who, what, BOUND, f->cur, late, f->n.sq_done,
		      f->n.sq_posted, f->n.recv_done, f->n.recv_posted);
		return -1;
	}
	return 0;
}

/*
 * TCP barrier that also says whether this side wants another round
 * (*more in, both sides' wish out), polling the CQs meanwhile.
 */
static int sync_peer(struct flood *f, bool *more)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	char c = *more;
	double t0 = now();

	if (write(f->fd, &c, 1) != 1)
		return -1;
	while (poll(&p, 1, 1) <= 0) {
		pump(f);
		if ((f->kill && f->n.errors) || now() - t0 > BOUND)
			return -1;
	}
	if (read(f->fd, &c, 1) != 1)
		return -1;
	*more = *more || c;
	return 0;
}

/* Another round after the next, as this side sees it. */
static bool want_more(struct flood *f)
{
	return f->kill || f->cur + 2 < ROUNDS || !atomic_load(&f->churn->done);
}

/*
 * Round cur + 2 is to come: post its receives on every QP whose round cur
 * burst completed already (the others do as their last one completes).
 */
static void extend(struct flood *f)
{
	unsigned int i;

	f->upto = f->cur + 2;
	for (i = 0; i < NQP && !f->n.errors; i++)
		if (f->q[i].round[f->cur % 2] == f->cur &&
		    f->q[i].got[f->cur % 2] == ~0u)
			post_recvs(f, i, f->cur + 2);
}

/* The rounds; the number completed. */
static uint32_t flood_rounds(struct flood *f)
{
	uint32_t last = 1, done = 0;
	double t0 = now();
	unsigned int i;
	bool more;

	for (f->cur = 0; f->cur <= last; f->cur++) {
		more = f->cur + 1 == last && want_more(f);
		if (more)
			extend(f);
		for (i = 0; i < NQP && !f->n.errors; i++)
			post_sq(f, i, f->cur);
		if (wait_for(f, round_done, true, "round complete"))
			break;
		if (++done == 2 && f->kill)
			printf("# %s: flooding\n", who);
		if (f->cur == last || (f->kill && now() - t0 > KILL_LIMIT))
			break;
		if (sync_peer(f, &more)) {
			if (!f->kill) /* kill: the peer is gone */
				CHECK(0, "%s: barrier after round %u in %d s",
				      who, f->cur, BOUND);
			break;
		}
		if (more && f->upto < f->cur + 2)
			extend(f); /* the peer asked for it */
		if (more)
			last = f->cur + 2;
	}
	return done;
}

static void churn_dereg(struct churn *c, struct ibv_mr *mr)
{
	step(T_CHURN, "ibv_dereg_mr");
	c->dereg_fail += !!ibv_dereg_mr(mr);
	c->dereg++;
}

/* MRs the MR thread registers (NMR, or NTBRDMA_CTRLFLOW_MRS). */
static unsigned int nmr = NMR;

/* The MR thread: nmr reg/dereg (kill: until stopped, then AFTER more). */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	struct ibv_mr *mr[MR_WIN] = { NULL }, **m;
	double t0 = now();
	unsigned int i;

	for (i = 0; c->kill || i < nmr; i++) {
		if (atomic_load(&c->stop) && (!c->kill || c->after == AFTER))
			break;
		c->after += atomic_load(&c->stop);
		m = &mr[i % MR_WIN];
		if (*m)
			churn_dereg(c, *m);
		step(T_CHURN, "ibv_reg_mr");
		*m = ibv_reg_mr(c->pd, c->buf + i % MR_WIN * MR_LEN, MR_LEN,
				ACCESS);
		c->reg += !!*m;
		c->reg_fail += !*m;
	}
	for (i = 0; i < MR_WIN; i++)
		if (mr[i])
			churn_dereg(c, mr[i]);
	step(T_CHURN, NULL);
	c->secs = now() - t0;
	atomic_store(&c->done, true);
	return NULL;
}

/* Device, big CQs, QPs, the exchange over TCP, QPs connected. */
static int setup(struct flood *f, const char *dev, const char *ip, int port)
{
	/* NTBRDMA_CTRLFLOW_QP_TIMEOUT: the ACK timeout exponent (slow runs). */
	const char *qpt = getenv("NTBRDMA_CTRLFLOW_QP_TIMEOUT");
	const struct qp_opts o = {
		.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
		.max_dest_rd_atomic = 4,
		.timeout = (uint8_t)(qpt ? atoi(qpt) : 14),
		.retry_cnt = 7,
		.rnr_retry = 7,
	};
	unsigned int i, bad = 0;

	if (env_open(&f->e, dev)) {
		CHECK(0, "%s: device, PD, CQs, MRs, GID", who);
		return -1;
	}
	ibv_destroy_cq(f->e.scq); /* 256 entries: not enough */
	ibv_destroy_cq(f->e.rcq);
	f->e.scq = ibv_create_cq(f->e.ctx, CQ_SIZE, NULL, NULL, 0);
	f->e.rcq = ibv_create_cq(f->e.ctx, CQ_SIZE, NULL, NULL, 0);
	f->expect = malloc(BUF_SIZE);
	for (i = 0; i < NQP && f->e.scq && f->e.rcq; i++) {
		step(T_FLOOD, "ibv_create_qp");
		f->q[i].qp = make_qp(&f->e);
		bad += !f->q[i].qp;
	}
	CHECK(f->expect && i == NQP && !bad, "%s: %d QPs, CQs of %d", who, NQP,
	      CQ_SIZE);
	if (!f->expect || i < NQP || bad)
		return -1;
	f->me = (struct hello){ .rkey = f->e.smr->rkey,
				.seed = ip ? 1 : 2,
				.addr = (uintptr_t)f->e.src,
				.gid = f->e.gid };
	for (i = 0; i < NQP; i++)
		f->me.qpn[i] = f->q[i].qp->qp_num;
	fill(f->e.src, BUF_SIZE, f->me.seed);
	step(T_FLOOD, NULL); /* waits for the peer: the script bounds it */
	f->fd = tcp_conn(ip, port);
	CHECK(f->fd >= 0 && !xchg(f->fd, &f->me, &f->them, sizeof(f->me)),
	      "%s: exchange %d QPNs, GID, rkey over TCP", who, NQP);
	if (f->fd < 0)
		return -1;
	fill(f->expect, BUF_SIZE, f->them.seed);
	for (i = 0, bad = 0; i < NQP; i++) {
		step(T_FLOOD, "ibv_modify_qp (connect)");
		bad += !!connect_qp_opts(&f->e, f->q[i].qp, &f->them.gid,
					 f->them.qpn[i], &o);
	}
	CHECK(!bad, "%s: %d QPs connected to the peer's (%u failed)", who, NQP,
	      bad);
	return bad ? -1 : 0;
}

/* The first two bursts everywhere, the barrier, the MR thread. */
static int start(struct flood *f, struct churn *c, pthread_t *tc)
{
	bool more = true;
	unsigned int i;

	c->pd = f->e.pd;
	c->buf = aligned_alloc(4096, MR_WIN * MR_LEN);
	for (i = 0; i < NQP; i++) {
		post_recvs(f, i, 0);
		post_recvs(f, i, 1);
	}
	f->upto = 1;
	CHECK(c->buf && !sync_peer(f, &more),
	      "%s: both sides' first receives posted", who);
	return c->buf ? pthread_create(tc, NULL, churn_main, c) : -1;
}

/* kill: the port leaves ACTIVE within 5 s of the first error. */
static bool port_down(struct flood *f)
{
	struct ibv_port_attr pa;
	int i;

	for (i = 0; i < 50; i++, usleep(100000)) {
		step(T_FLOOD, "ibv_query_port");
		if (!ibv_query_port(f->e.ctx, 1, &pa) &&
		    pa.state != IBV_PORT_ACTIVE)
			return true;
	}
	return false;
}

/* What the first error that is no flush was, if any. */
static const char *cause(struct flood *f)
{
	if (!f->n.errors)
		return "none";
	return f->n.causes ? ibv_wc_status_str(f->first) : "flushes only";
}

static void report_flood(struct flood *f, uint32_t rounds)
{
	unsigned long long msgs = (unsigned long long)rounds * NQP * BURST;
	unsigned long long reads = msgs / BURST / READ_EVERY * NREAD;
	struct churn *c = f->churn;

	CHECK(rounds >= ROUNDS && !f->n.errors,
	      "%s: %u rounds, no error completion (%llu; first cause: %s)", who,
	      rounds, f->n.errors, cause(f));
	CHECK(f->n.recv_ok == msgs && f->n.recv_posted == msgs,
	      "%s: every receive completed once, with its data: %llu of %llu",
	      who, f->n.recv_ok, f->n.recv_posted);
	CHECK(f->n.send_ok == msgs && f->n.read_ok == reads &&
		      f->n.sq_posted == msgs + reads,
	      "%s: every SEND and READ succeeded: %llu and %llu of %llu", who,
	      f->n.send_ok, f->n.read_ok, f->n.sq_posted);
	CHECK(!f->n.dup && !f->n.bad_data && !f->n.post_fail,
	      "%s: no duplicate (%llu), wrong data (%llu), failed post (%llu)",
	      who, f->n.dup, f->n.bad_data, f->n.post_fail);
	CHECK(c->reg == nmr && !c->reg_fail && c->dereg == nmr &&
		      !c->dereg_fail,
	      "%s: %u of %u reg_mr (%u failed), %u dereg_mr (%u failed)", who,
	      c->reg, nmr, c->reg_fail, c->dereg, c->dereg_fail);
}

static void report_kill(struct flood *f, uint32_t rounds, bool down,
			bool drained)
{
	struct churn *c = f->churn;

	CHECK(rounds >= 2 && f->n.errors && down,
	      "%s: kill: %u rounds, then the port went down (%s) with %llu error completions (first cause: %s)",
	      who, rounds, down ? "yes" : "no", f->n.errors, cause(f));
	CHECK(drained,
	      "%s: kill: every posted WR completed: SQ %llu/%llu, receives %llu/%llu",
	      who, f->n.sq_done, f->n.sq_posted, f->n.recv_done,
	      f->n.recv_posted);
	CHECK(!f->n.bad_status && !f->n.late_ok && !f->n.bad_data && !f->n.dup,
	      "%s: kill: no status but flush or retry exceeded (%llu), success after error (%llu), wrong data (%llu), duplicate (%llu)",
	      who, f->n.bad_status, f->n.late_ok, f->n.bad_data, f->n.dup);
	CHECK(!c->dereg_fail && c->after >= AFTER,
	      "%s: kill: %u reg/dereg pairs after the drain, dereg_mr failed %u times (reg_mr %u: allowed)",
	      who, c->after, c->dereg_fail, c->reg_fail);
}

/* After the rounds: kill: drain; the MR thread stopped; the checks. */
static void finish(struct flood *f, uint32_t rounds, pthread_t tc, double t0)
{
	struct churn *c = f->churn;
	bool down = false, all_done = false, more = false;

	if (f->kill && f->n.errors)
		down = port_down(f);
	atomic_store(&c->stop, true);
	if (f->kill)
		all_done = !wait_for(f, drained, false, "drain");
	step(T_FLOOD, NULL); /* the MR thread is watched on its own */
	pthread_join(tc, NULL);
	printf("# %s: %u rounds in %.1f s, the MR thread took %.1f s\n", who,
	       rounds, now() - t0, c->secs);
	if (f->kill) {
		report_kill(f, rounds, down, all_done);
	} else {
		CHECK(!sync_peer(f, &more), "%s: the peer finished too", who);
		report_flood(f, rounds);
	}
	printf("# counts: %s receives %llu/%llu SENDs %llu READs %llu mr_reg %u mr_dereg %u errors %llu\n",
	       who, f->n.recv_ok, f->n.recv_posted, f->n.send_ok, f->n.read_ok,
	       c->reg, c->dereg - c->dereg_fail, f->n.errors);
}

static void teardown(struct flood *f)
{
	unsigned int i, bad = 0;

	for (i = 0; i < NQP; i++) {
		step(T_FLOOD, "ibv_destroy_qp");
		bad += !!ibv_destroy_qp(f->q[i].qp);
	}
	CHECK(!bad, "%s: %d QPs destroyed (%u failed)", who, NQP, bad);
	step(T_FLOOD, "ibv_dereg_mr");
	CHECK(!ibv_dereg_mr(f->e.smr) && !ibv_dereg_mr(f->e.dmr),
	      "%s: buffers deregistered", who);
	step(T_FLOOD, NULL);
	close(f->fd);
}

static int run(const char *dev, const char *ip, int port, bool kill)
{
	static struct flood f;
	static struct churn c;
	pthread_t tw, tc;
	double t0;

	who = ip ? "client" : "server";
	pthread_create(&tw, NULL, watchdog, NULL);
	f.kill = c.kill = kill;
	f.churn = &c;
	if (setup(&f, dev, ip, port) || start(&f, &c, &tc))
		return 1;
	t0 = now();
	finish(&f, flood_rounds(&f), tc, t0);
	teardown(&f);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool kill = argc > 1 && !strcmp(argv[argc - 1], "kill");
	const char *mrs = getenv("NTBRDMA_CTRLFLOW_MRS");
	int n = argc - kill;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mrs && atoi(mrs) > 0)
		nmr = (unsigned int)atoi(mrs);
	if (n == 4 && !strcmp(argv[1], "server"))
		return run(argv[2], NULL, atoi(argv[3]), kill);
	if (n == 5 && !strcmp(argv[1], "client"))
		return run(argv[2], argv[3], atoi(argv[4]), kill);
	fprintf(stderr,
		"usage: %s server DEV PORT [kill] | client DEV IP PORT [kill]\n",
		argv[0]);
	return 2;
}

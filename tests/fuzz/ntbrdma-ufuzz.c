// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: a hostile local user against ntbrdma's uverbs interface
 * (issue 9, "hostile-user fuzzer"; tests/fuzz/README says how to run it,
 * tests/vm/ntbrdma-fuzz-user.sh runs it in the testbed).
 *
 * Several threads share tables of PDs, CQs, MRs and QPs and run random,
 * structurally plausible operations on them until --seconds expire:
 *
 *  - through libibverbs (the provider): alloc/dealloc PD, create/destroy/
 *    resize/poll/arm CQ, reg/dereg MR (addresses in a guarded buffer, a
 *    read-only file mapping, unmapped, PROT_NONE, kernel, munmap'd after
 *    registration; lengths 0 to huge; random access flags), create/modify
 *    (every state, valid and random attributes, loopback and peer
 *    destinations)/destroy QP, post_send/post_recv chains with random
 *    opcodes, SGE counts, keys (live, stale, random), lengths and inline;
 *  - around it ("raw" objects): CQs and QPs created by uverbs write()
 *    commands on the context's fd, whose rings this program maps itself
 *    and writes directly: producer and consumer indices (also the words
 *    the kernel owns), armed words, random WQE slots; kicks and random
 *    post_send/post_recv commands; raw modify_qp with random attributes;
 *    raw destroys racing the other threads' ring writes, kicks and polls
 *    (the mapping stays until the slot is recycled, as the kernel must
 *    keep its pages); raw commands on random handles;
 *  - fork: a child that inherits the rings and the fd issues raw commands
 *    and writes the rings it inherited, then exits.
 *
 * Reproducible: each thread's sequence comes from its own generator seeded
 * by the 64-bit seed (printed at start) and the thread index, so one
 * thread (-t 1) with the same seed repeats the same operations (the
 * kernel's answers may still differ with timing).
 *
 * Oracles checked here: the process only sees errors and error
 * completions (a crash or a signal ends it as the test's failure), every
 * completion of a provider CQ has a valid status and opcode, the read-only
 * file mapping registered without LOCAL_WRITE is never written, no
 * operation hangs (60 s: exit 3), every fork child exits, and teardown
 * destroys everything.  Exit 0: all held.  The VM test checks the rest
 * (kernel log, leaked objects, a verified exchange afterwards).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/ntbrdma-abi.h>

#define MAX_THREADS 16
#define NPD 4
#define NCQ 12
#define NMR 24
#define NQP 24
#define NKEYS 64 /* stale keys and QP numbers remembered */
#define RW_SIZE (4u << 20) /* the read-write buffer MRs point into */
#define RO_SIZE (64u << 10) /* the read-only file mapping */
#define GUARD (64u << 10)
#define HANG_S 60.0 /* one operation longer than this is a hang */
#define CHILD_S 20.0 /* a fork child must exit within this */
#define MAX_INLINE_TRY 300

/* --- random numbers ------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

/* A 32-bit value biased to the edges: 0, 1, small, powers of two, ~0. */
static uint32_t edgy32(struct rng *r)
{
	switch (below(r, 8)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return below(r, 64);
	case 3:
		return 1u << below(r, 32);
	case 4:
		return (1u << below(r, 32)) - 1;
	case 5:
		return UINT32_MAX - below(r, 4);
	case 6:
		return 0x80000000u + below(r, 4) - 2;
	default:
		return (uint32_t)rnd(r);
	}
}

static void rfill(struct rng *r, void *p, size_t n)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		c[i] = (unsigned char)rnd(r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- statistics ------------------------------------------------------------ */

enum op {
	OP_PD_ALLOC,
	OP_PD_FREE,
	OP_CQ_CREATE,
	OP_CQ_CREATE_RAW,
	OP_CQ_DESTROY,
	OP_CQ_DESTROY_RAW,
	OP_CQ_RESIZE,
	OP_CQ_POLL,
	OP_CQ_NOTIFY,
	OP_CQ_RING,
	OP_MR_REG,
	OP_MR_DEREG,
	OP_QP_CREATE,
	OP_QP_CREATE_RAW,
	OP_QP_DESTROY,
	OP_QP_DESTROY_RAW,
	OP_QP_MODIFY,
	OP_QP_MODIFY_RAW,
	OP_QP_CONNECT,
	OP_QP_QUERY,
	OP_POST_SEND,
	OP_POST_RECV,
	OP_RING_WRITE,
	OP_KICK,
	OP_RAW_POST,
	OP_RAW_STRAY,
	OP_MMAP,
	OP_EVENTS,
	OP_FORK,
	OP_N
};

static const char *const op_names[OP_N] = {
	"pd_alloc",   "pd_dealloc",	"cq_create",	 "cq_create_raw",
	"cq_destroy", "cq_destroy_raw", "cq_resize",	 "cq_poll",
	"cq_notify",  "cq_ring_write",	"mr_reg",	 "mr_dereg",
	"qp_create",  "qp_create_raw",	"qp_destroy",	 "qp_destroy_raw",
	"qp_modify",  "qp_modify_raw",	"qp_connect",	 "qp_query",
	"post_send",  "post_recv",	"qp_ring_write", "kick",
	"raw_post",   "raw_stray_cmd",	"mmap_probe",	 "events",
	"fork",
};

static atomic_ulong st_calls[OP_N], st_ok[OP_N], st_err[OP_N];
static atomic_ulong st_wc[32]; /* completions by status (31: other) */
static atomic_ulong st_wc_bad, st_child_segv, st_child_ok, st_raw_cqe;
static atomic_int failed;

static void count(enum op op, int err)
{
	atomic_fetch_add(&st_calls[op], 1);
	if (err)
		atomic_fetch_add(&st_err[op], 1);
	else
		atomic_fetch_add(&st_ok[op], 1);
}

static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void failure(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	atomic_store(&failed, 1);
}

/* --- global state -------------------------------------------------------- */

static struct ibv_context *ctx;
static int cmd_fd;
static union ibv_gid gid, peer_gid;
static bool have_peer;
static int gid_index;
static int chan_fd = -1; /* a raw completion channel (read directly) */
static unsigned char *rw_buf, *ro_buf, *hole, *none_buf;
static int ro_fd;
static atomic_int stop;

static _Atomic uint32_t stale_keys[NKEYS];
static _Atomic uint32_t qpns[NKEYS];
static atomic_uint key_pos, qpn_pos;
static _Atomic uint32_t max_qpn;

static void remember_key(uint32_t k)
{
	atomic_store(&stale_keys[atomic_fetch_add(&key_pos, 1) % NKEYS], k);
}

static void remember_qpn(uint32_t q)
{
	uint32_t m = atomic_load(&max_qpn);

	atomic_store(&qpns[atomic_fetch_add(&qpn_pos, 1) % NKEYS], q);
	while (q > m && !atomic_compare_exchange_weak(&max_qpn, &m, q))
		;
}

struct pd_slot {
	pthread_rwlock_t lk;
	struct ibv_pd *pd;
};

enum kind { K_NONE, K_IBV, K_RAW };

struct cq_slot {
	pthread_rwlock_t lk;
	enum kind kind;
	struct ibv_cq *cq;
	uint32_t handle;
	atomic_int dead; /* raw: destroyed, mapping kept until recycled */
	void *ring;
	size_t size;
	uint32_t num;
};

struct mr_slot {
	pthread_rwlock_t lk;
	struct ibv_mr *mr;
	void *tmp; /* munmap'd after registration: its address range */
};

struct qp_slot {
	pthread_rwlock_t lk;
	enum kind kind;
	struct ibv_qp *qp;
	uint32_t handle, qpn;
	atomic_int dead;
	void *sq, *rq;
	size_t sq_size, rq_size;
	uint32_t sq_num, rq_num;
	atomic_uint sq_prod, rq_prod;
	uint32_t max_inline, max_send_sge, max_recv_sge;
};

static struct pd_slot pds[NPD];
static struct cq_slot cqs[NCQ];
static struct mr_slot mrs[NMR];
static struct qp_slot qps[NQP];

struct thr {
	pthread_t tid;
	int idx;
	struct rng r;
	_Atomic double op_start;
	atomic_int cur_op;
	unsigned long ops;
};

static struct thr thrs[MAX_THREADS];

/* --- raw uverbs commands ---------------------------------------------- */

/*
 * A legacy write() command: header, then req; in_words counts the header,
 * out_words the response.  0 or an errno value.
 */
static int ucmd(uint32_t command, const void *req, size_t len, size_t resp_len)
{
	unsigned char msg[1024];
	struct ib_uverbs_cmd_hdr hdr = {
		.command = command,
		.in_words = (uint16_t)((sizeof(hdr) + len) / 4),
		.out_words = (uint16_t)(resp_len / 4),
	};
	size_t n = sizeof(hdr) + len;

	if (n > sizeof(msg))
		return E2BIG;
	memcpy(msg, &hdr, sizeof(hdr));
	memcpy(msg + sizeof(hdr), req, len);
	return write(cmd_fd, msg, n) == (ssize_t)n ? 0 : errno;
}

struct raw_cq_resp {
	struct ib_uverbs_create_cq_resp core;
	struct ntbrdma_create_cq_resp drv;
};

static int raw_create_cq(uint32_t cqe, int channel, uint32_t *handle,
			 struct ntbrdma_create_cq_resp *drv)
{
	struct raw_cq_resp resp;
	struct ib_uverbs_create_cq cmd = {
		.response = (uintptr_t)&resp,
		.cqe = cqe,
		.comp_channel = channel,
	};
	int err;

	memset(&resp, 0, sizeof(resp));
	err = ucmd(IB_USER_VERBS_CMD_CREATE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (err)
		return err;
	*handle = resp.core.cq_handle;
	*drv = resp.drv;
	return 0;
}

static int raw_resize_cq(uint32_t handle, uint32_t cqe,
			 struct ntbrdma_resize_cq_resp *drv)
{
	struct {
		struct ib_uverbs_resize_cq_resp core;
		struct ntbrdma_resize_cq_resp drv;
	} resp;
	struct ib_uverbs_resize_cq cmd = {
		.response = (uintptr_t)&resp,
		.cq_handle = handle,
		.cqe = cqe,
	};
	int err;

	memset(&resp, 0, sizeof(resp));
	err = ucmd(IB_USER_VERBS_CMD_RESIZE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (!err)
		*drv = resp.drv;
	return err;
}

static int raw_destroy_cq(uint32_t handle)
{
	struct ib_uverbs_destroy_cq_resp resp;
	struct ib_uverbs_destroy_cq cmd = {
		.response = (uintptr_t)&resp,
		.cq_handle = handle,
	};

	return ucmd(IB_USER_VERBS_CMD_DESTROY_CQ, &cmd, sizeof(cmd),
		    sizeof(resp));
}

struct raw_qp_resp {
	struct ib_uverbs_create_qp_resp core;
	struct ntbrdma_create_qp_resp drv;
};

static int raw_destroy_qp(uint32_t handle)
{
	struct ib_uverbs_destroy_qp_resp resp;
	struct ib_uverbs_destroy_qp cmd = {
		.response = (uintptr_t)&resp,
		.qp_handle = handle,
	};

	return ucmd(IB_USER_VERBS_CMD_DESTROY_QP, &cmd, sizeof(cmd),
		    sizeof(resp));
}

/* post_send (sq) or post_recv with one empty request: the provider's kick. */
static int raw_kick(uint32_t handle, bool sq)
{
	unsigned char req[sizeof(struct ib_uverbs_post_send) +
			  sizeof(struct ib_uverbs_send_wr)];
	struct ib_uverbs_post_send_resp resp;

	memset(req, 0, sizeof(req));
	if (sq) {
		struct ib_uverbs_post_send cmd = {
			.response = (uintptr_t)&resp,
			.qp_handle = handle,
			.wr_count = 1,
			.wqe_size = sizeof(struct ib_uverbs_send_wr),
		};
		struct ib_uverbs_send_wr wr = { .opcode = IB_UVERBS_WR_SEND };

		memcpy(req, &cmd, sizeof(cmd));
		memcpy(req + sizeof(cmd), &wr, sizeof(wr));
		return ucmd(IB_USER_VERBS_CMD_POST_SEND, req, sizeof(req),
			    sizeof(resp));
	} else {
		struct ib_uverbs_post_recv cmd = {
			.response = (uintptr_t)&resp,
			.qp_handle = handle,
			.wr_count = 1,
			.wqe_size = sizeof(struct ib_uverbs_recv_wr),
		};
		struct ib_uverbs_recv_wr wr = { 0 };

		memcpy(req, &cmd, sizeof(cmd));
		memcpy(req + sizeof(cmd), &wr, sizeof(wr));
		return ucmd(IB_USER_VERBS_CMD_POST_RECV, req,
			    sizeof(cmd) + sizeof(wr), sizeof(resp));
	}
}

/*
 * A post_send or post_recv command with random requests and SGEs: counts,
 * sizes and fields random, lengths consistent or not.  The response
 * pointer always points at our buffer (a random one could be our memory).
 */
static int raw_post_random(struct rng *r, uint32_t handle)
{
	uint64_t body[96];
	struct ib_uverbs_post_send_resp resp;
	bool sq = chance(r, 60), sane = chance(r, 80);
	size_t len, hdr, wsz;
	uint32_t nwr = below(r, 4), nsge = below(r, 6), i;

	rfill(r, body, sizeof(body));
	hdr = sq ? sizeof(struct ib_uverbs_post_send) :
		   sizeof(struct ib_uverbs_post_recv);
	wsz = sq ? sizeof(struct ib_uverbs_send_wr) :
		   sizeof(struct ib_uverbs_recv_wr);
	if (sq) {
		struct ib_uverbs_post_send *cmd = (void *)body;

		cmd->qp_handle = handle;
		cmd->wr_count = sane ? nwr : edgy32(r);
		cmd->sge_count = sane ? nsge : edgy32(r);
		cmd->wqe_size = sane ? (uint32_t)wsz : edgy32(r);
	} else {
		struct ib_uverbs_post_recv *cmd = (void *)body;

		cmd->qp_handle = handle;
		cmd->wr_count = sane ? nwr : edgy32(r);
		cmd->sge_count = sane ? nsge : edgy32(r);
		cmd->wqe_size = sane ? (uint32_t)wsz : edgy32(r);
	}
	/* Plausible requests: SGE counts within the command's, opcodes. */
	for (i = 0; sane && i < nwr; i++) {
		char *w = (char *)body + hdr + i * wsz;

		if (sq) {
			struct ib_uverbs_send_wr *s = (void *)w;

			s->num_sge = below(r, nsge + 1);
			s->opcode = chance(r, 90) ? below(r, 9) : edgy32(r);
		} else {
			((struct ib_uverbs_recv_wr *)w)->num_sge =
				below(r, nsge + 1);
		}
	}
	body[0] = (uintptr_t)&resp;
	len = hdr + nwr * wsz + nsge * sizeof(struct ib_uverbs_sge);
	if (!sane || len > sizeof(body))
		len = (8 + below(r, sizeof(body) - 8)) & ~(size_t)3;
	return ucmd(sq ? IB_USER_VERBS_CMD_POST_SEND :
			 IB_USER_VERBS_CMD_POST_RECV,
		    body, len, sizeof(resp));
}

/* --- buffers --------------------------------------------------------------- */

/* A region of n bytes between PROT_NONE guards. */
static unsigned char *guarded(size_t n)
{
	unsigned char *p = mmap(NULL, n + 2 * GUARD, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return p + GUARD;
}

static unsigned char ro_pattern(size_t i)
{
	return (unsigned char)(i * 131 + 7);
}

static int buffers_init(void)
{
	size_t i;

	rw_buf = guarded(RW_SIZE);
	if (!rw_buf || mprotect(rw_buf, RW_SIZE, PROT_READ | PROT_WRITE))
		return -1;
	memset(rw_buf, 0xa5, RW_SIZE);
	ro_fd = memfd_create("ufuzz-ro", 0);
	if (ro_fd < 0 || ftruncate(ro_fd, RO_SIZE))
		return -1;
	for (i = 0; i < RO_SIZE; i++) {
		unsigned char c = ro_pattern(i);

		if (pwrite(ro_fd, &c, 1, (off_t)i) != 1)
			return -1;
	}
	ro_buf = guarded(RO_SIZE);
	if (!ro_buf || mmap(ro_buf, RO_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
			    ro_fd, 0) == MAP_FAILED)
		return -1;
	none_buf = guarded(GUARD); /* itself PROT_NONE */
	hole = mmap(NULL, GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!none_buf || hole == MAP_FAILED || munmap(hole, GUARD))
		return -1;
	return 0;
}

/* The read-only file was never written (through the MRs on it). */
static void check_ro(void)
{
	static unsigned char buf[RO_SIZE];
	size_t i;

	if (pread(ro_fd, buf, RO_SIZE, 0) != RO_SIZE) {
		failure("read-only file: cannot read it back");
		return;
	}
	for (i = 0; i < RO_SIZE; i++)
		if (buf[i] != ro_pattern(i)) {
			failure("read-only file mapping written at offset %zu "
				"(0x%02x, was 0x%02x)",
				i, buf[i], ro_pattern(i));
			return;
		}
	printf("# read-only file mapping: unchanged (%u bytes)\n", RO_SIZE);
}

/* An address and length for an MR or an SGE, of any kind. */
static void pick_range(struct rng *r, uint64_t *addr, uint64_t *len, bool mr)
{
	uint32_t off;

	switch (below(r, mr ? 10 : 6)) {
	case 0:
	case 1:
	case 2:
	case 3: /* inside the read-write buffer, maybe running off its end */
		off = below(r, RW_SIZE);
		*addr = (uintptr_t)rw_buf + off;
		*len = chance(r, 85) ? below(r, RW_SIZE - off + 1) :
				       below(r, RW_SIZE + 2 * GUARD);
		if (chance(r, 10))
			*len = 0;
		break;
	case 4: /* the read-only file mapping */
		off = below(r, RO_SIZE);
		*addr = (uintptr_t)ro_buf + off;
		*len = below(r, RO_SIZE - off + 1);
		break;
	case 5: /* random */
		*addr = rnd(r) & ~(uint64_t)below(r, 2);
		*len = edgy32(r);
		break;
	case 6: /* a hole */
		*addr = (uintptr_t)hole + below(r, GUARD);
		*len = 1 + below(r, GUARD);
		break;
	case 7: /* PROT_NONE */
		*addr = (uintptr_t)none_buf;
		*len = 1 + below(r, GUARD);
		break;
	case 8: /* kernel or non-canonical */
		*addr = chance(r, 50) ?
				0xffff888000000000ull + rnd(r) % (1ull << 30) :
				0x0000900000000000ull + rnd(r) % (1ull << 40);
		*len = 1 + below(r, 1u << 20);
		break;
	default: /* huge */
		*addr = (uintptr_t)rw_buf;
		*len = 1ull << (31 + below(r, 20));
		break;
	}
}

/* --- table helpers --------------------------------------------------------- */

static void rd(pthread_rwlock_t *l)
{
	pthread_rwlock_rdlock(l);
}

static void wr(pthread_rwlock_t *l)
{
	pthread_rwlock_wrlock(l);
}

static void un(pthread_rwlock_t *l)
{
	pthread_rwlock_unlock(l);
}

/* A key: of a live MR (racy read, may be stale by use), stale, random. */
static uint32_t pick_key(struct rng *r)
{
	struct ibv_mr *mr;

	switch (below(r, 4)) {
	case 0:
	case 1:
		mr = __atomic_load_n(&mrs[below(r, NMR)].mr, __ATOMIC_RELAXED);
		return mr ? (chance(r, 50) ? mr->lkey : mr->rkey) :
			    (uint32_t)rnd(r);
	case 2:
		return atomic_load(&stale_keys[below(r, NKEYS)]);
	default:
		return edgy32(r);
	}
}

/* Only the value of a live MR's pointer is read: mr->lkey needs it live. */
static uint32_t pick_live_key(struct rng *r, uint64_t *addr, uint32_t *len)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	uint32_t key = 0;

	rd(&m->lk);
	if (m->mr) {
		key = m->mr->lkey;
		*addr = (uintptr_t)m->mr->addr +
			(m->mr->length ? below(r, (uint32_t)m->mr->length) : 0);
		*len = below(r, 1 + (uint32_t)((uintptr_t)m->mr->addr +
					       m->mr->length - *addr));
	}
	un(&m->lk);
	return key;
}

static uint32_t pick_qpn(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:
	case 1:
		return atomic_load(&qpns[below(r, NKEYS)]);
	case 2:
		return 2 + below(r, atomic_load(&max_qpn) + 64);
	default:
		return edgy32(r) & 0xffffff;
	}
}

/* --- PDs ------------------------------------------------------------------- */

static void op_pd(struct rng *r, bool alloc)
{
	struct pd_slot *p = &pds[below(r, NPD)];
	int err = 0;

	wr(&p->lk);
	if (alloc && !p->pd) {
		p->pd = ibv_alloc_pd(ctx);
		err = p->pd ? 0 : errno;
		count(OP_PD_ALLOC, err);
	} else if (!alloc && p->pd) {
		err = ibv_dealloc_pd(p->pd);
		if (!err)
			p->pd = NULL;
		count(OP_PD_FREE, err);
	}
	un(&p->lk);
}

/* --- CQs ------------------------------------------------------------------- */

static uint32_t cq_size(struct rng *r)
{
	switch (below(r, 5)) {
	case 0:
		return edgy32(r);
	case 1:
		return 1u << below(r, 18);
	default:
		return 1 + below(r, 256);
	}
}

static void cq_unmap(struct cq_slot *c)
{
	if (c->ring)
		munmap(c->ring, c->size);
	c->ring = NULL;
}

static void op_cq_create(struct rng *r, bool raw)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ntbrdma_create_cq_resp drv;
	int err;

	wr(&c->lk);
	if (c->kind != K_NONE) {
		un(&c->lk);
		return;
	}
	if (!raw) {
		c->cq = ibv_create_cq(ctx, (int)cq_size(r), NULL, NULL,
				      chance(r, 90) ? 0 : (int)edgy32(r));
		err = c->cq ? 0 : errno;
		if (!err)
			c->kind = K_IBV;
		count(OP_CQ_CREATE, err);
		un(&c->lk);
		return;
	}
	err = raw_create_cq(cq_size(r), chance(r, 50) ? chan_fd : -1,
			    &c->handle, &drv);
	count(OP_CQ_CREATE_RAW, err);
	if (!err) {
		void *p;

		c->kind = K_RAW;
		atomic_store(&c->dead, 0);
		p = mmap(NULL, drv.mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, cmd_fd, (off_t)drv.mmap_offset);
		c->ring = p == MAP_FAILED ? NULL : p;
		c->size = drv.mmap_size;
		c->num = drv.num_cqe;
		if (!c->ring || !c->num || (c->num & (c->num - 1)) ||
		    c->size < NTBRDMA_CQ_CQE_OFFSET +
				      (uint64_t)c->num *
					      sizeof(struct ntbrdma_cqe))
			failure("raw create_cq: ring %p of %zu bytes, %u entries",
				c->ring, c->size, c->num);
	}
	un(&c->lk);
}

/* Destroy through libibverbs (ibv CQs) or the raw command and recycle. */
static void op_cq_destroy(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	int err;

	wr(&c->lk);
	if (c->kind == K_IBV) {
		err = ibv_destroy_cq(c->cq);
		if (!err) {
			c->kind = K_NONE;
			c->cq = NULL;
		}
		count(OP_CQ_DESTROY, err);
	} else if (c->kind == K_RAW) {
		err = atomic_load(&c->dead) ? 0 : raw_destroy_cq(c->handle);
		/* EBUSY: a QP uses it; stays.  Else gone (or never ours). */
		if (err != EBUSY) {
			cq_unmap(c);
			c->kind = K_NONE;
		}
		count(OP_CQ_DESTROY, err);
	}
	un(&c->lk);
}

/* Raw destroy under the read lock: races pollers and ring writers. */
static void op_cq_destroy_raw(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_RAW && !atomic_load(&c->dead)) {
		int err = raw_destroy_cq(c->handle);

		if (!err)
			atomic_store(&c->dead, 1);
		count(OP_CQ_DESTROY_RAW, err);
	}
	un(&c->lk);
}

static void op_cq_resize(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ntbrdma_resize_cq_resp drv;
	int err;

	if (chance(r, 50)) {
		rd(&c->lk);
		if (c->kind == K_IBV)
			count(OP_CQ_RESIZE,
			      ibv_resize_cq(c->cq, (int)cq_size(r)));
		un(&c->lk);
		return;
	}
	wr(&c->lk);
	if (c->kind == K_RAW) {
		err = raw_resize_cq(c->handle, cq_size(r), &drv);
		count(OP_CQ_RESIZE, err);
		if (!err) {
			void *p = mmap(NULL, drv.mmap_size,
				       PROT_READ | PROT_WRITE, MAP_SHARED,
				       cmd_fd, (off_t)drv.mmap_offset);

			if (p == MAP_FAILED) {
				failure("raw resize_cq: new ring does not map: "
					"%s",
					strerror(errno));
			} else {
				cq_unmap(c);
				c->ring = p;
				c->size = drv.mmap_size;
				c->num = drv.num_cqe;
			}
		}
	}
	un(&c->lk);
}

static void wc_check(const struct ibv_wc *wc)
{
	atomic_fetch_add(&st_wc[wc->status < 31 ? wc->status : 31], 1);
	if (wc->status > IBV_WC_TM_RNDV_INCOMPLETE ||
	    (wc->status == IBV_WC_SUCCESS && wc->opcode != IBV_WC_SEND &&
	     wc->opcode != IBV_WC_RDMA_WRITE &&
	     wc->opcode != IBV_WC_RDMA_READ && wc->opcode != IBV_WC_RECV &&
	     wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM &&
	     wc->opcode != IBV_WC_COMP_SWAP &&
	     wc->opcode != IBV_WC_FETCH_ADD)) {
		atomic_fetch_add(&st_wc_bad, 1);
		failure("completion with status %u opcode %u qp %u",
			(unsigned int)wc->status, (unsigned int)wc->opcode,
			wc->qp_num);
	}
}

static void op_cq_poll(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ibv_wc wc[16];
	int n, i;

	rd(&c->lk);
	if (c->kind == K_IBV) {
		n = ibv_poll_cq(c->cq, 1 + (int)below(r, 16), wc);
		for (i = 0; i < n; i++)
			wc_check(&wc[i]);
		count(OP_CQ_POLL, n < 0 ? -n : 0);
	} else if (c->kind == K_RAW && c->ring) {
		struct ntbrdma_cq_ctrl *ctl = c->ring;
		uint32_t prod = __atomic_load_n(&ctl->prod, __ATOMIC_ACQUIRE);
		uint32_t cons = __atomic_load_n(&ctl->cons, __ATOMIC_RELAXED);
		volatile struct ntbrdma_cqe *e =
			(void *)((char *)c->ring + NTBRDMA_CQ_CQE_OFFSET);
		uint32_t k, lim = prod - cons;

		if (lim > c->num)
			lim = c->num;
		for (k = 0; k < lim; k++) {
			uint32_t st = e[(cons + k) & (c->num - 1)].status;

			(void)st; /* may be our own garbage: only read */
			atomic_fetch_add(&st_raw_cqe, 1);
		}
		__atomic_store_n(&ctl->cons, cons + lim, __ATOMIC_RELEASE);
		count(OP_CQ_POLL, 0);
	}
	un(&c->lk);
}

static void op_cq_notify(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_IBV)
		count(OP_CQ_NOTIFY, ibv_req_notify_cq(c->cq, chance(r, 50)));
	un(&c->lk);
}

/* Write the ring of a raw CQ: indices (also the kernel's), armed, slots. */
static void op_cq_ring(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_RAW && c->ring) {
		struct ntbrdma_cq_ctrl *ctl = c->ring;
		uint32_t v;

		switch (below(r, 6)) {
		case 0: /* cons anywhere */
			v = __atomic_load_n(&ctl->prod, __ATOMIC_RELAXED);
			__atomic_store_n(&ctl->cons,
					 chance(r, 50) ?
						 v - below(r, 2 * c->num) :
						 edgy32(r),
					 __ATOMIC_RELEASE);
			break;
		case 1: /* the kernel's prod and flags */
			__atomic_store_n(&ctl->prod, edgy32(r),
					 __ATOMIC_RELAXED);
			if (chance(r, 30))
				__atomic_store_n(&ctl->flags, edgy32(r),
						 __ATOMIC_RELAXED);
			break;
		case 2: /* armed: plausible or not */
			__atomic_store_n(&ctl->armed,
					 chance(r, 70) ? below(r, 3) :
							 edgy32(r),
					 __ATOMIC_SEQ_CST);
			break;
		case 3: /* slots */
			rfill(r,
			      (char *)c->ring + NTBRDMA_CQ_CQE_OFFSET +
				      below(r, c->num) *
					      sizeof(struct ntbrdma_cqe),
			      sizeof(struct ntbrdma_cqe));
			break;
		case 4: /* reserved words */
			ctl->reserved0[below(r, 14)] = edgy32(r);
			ctl->reserved2[below(r, 15)] = edgy32(r);
			break;
		default: /* arm through the command as well */
			__atomic_store_n(&ctl->armed, NTBRDMA_CQ_ARM_NEXT,
					 __ATOMIC_SEQ_CST);
			break;
		}
		count(OP_CQ_RING, 0);
	}
	un(&c->lk);
}

/* Drain the raw completion channel (events of raw CQs). */
static void op_events(void)
{
	struct ib_uverbs_comp_event_desc ev[8];
	ssize_t n;

	n = read(chan_fd, ev, sizeof(ev));
	count(OP_EVENTS, n < 0 && errno != EAGAIN ? errno : 0);
}

/* --- MRs ------------------------------------------------------------------- */

static int mr_access(struct rng *r)
{
	static const int bits[] = {
		IBV_ACCESS_LOCAL_WRITE,	     IBV_ACCESS_REMOTE_WRITE,
		IBV_ACCESS_REMOTE_READ,	     IBV_ACCESS_REMOTE_ATOMIC,
		IBV_ACCESS_MW_BIND,	     IBV_ACCESS_ZERO_BASED,
		IBV_ACCESS_ON_DEMAND,	     IBV_ACCESS_HUGETLB,
		IBV_ACCESS_RELAXED_ORDERING,
	};
	int a = 0;
	size_t i;

	if (chance(r, 5))
		return (int)edgy32(r);
	if (chance(r, 50))
		return IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		       IBV_ACCESS_REMOTE_READ;
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (chance(r, i < 4 ? 50 : 5))
			a |= bits[i];
	return a;
}

static void op_mr_reg(struct rng *r)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	struct pd_slot *p = &pds[below(r, NPD)];
	uint64_t addr, len;
	int access = mr_access(r);
	void *tmp = NULL;

	wr(&m->lk);
	if (m->mr) {
		un(&m->lk);
		return;
	}
	if (chance(r, 10)) { /* registered, then unmapped */
		len = (1 + below(r, 16)) * 4096ull;
		tmp = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tmp == MAP_FAILED) {
			un(&m->lk);
			return;
		}
		memset(tmp, 0x3c, len);
		addr = (uintptr_t)tmp;
	} else {
		pick_range(r, &addr, &len, true);
	}
	rd(&p->lk);
	if (p->pd) {
		m->mr = ibv_reg_mr(p->pd, (void *)(uintptr_t)addr, len, access);
		count(OP_MR_REG, m->mr ? 0 : errno);
		if (m->mr) {
			remember_key(m->mr->lkey);
			if (addr >= (uintptr_t)ro_buf &&
			    addr < (uintptr_t)ro_buf + RO_SIZE &&
			    (access & IBV_ACCESS_LOCAL_WRITE))
				failure("MR with LOCAL_WRITE on a read-only "
					"mapping registered");
		}
	}
	un(&p->lk);
	if (tmp) {
		munmap(tmp, len);
		if (m->mr)
			m->tmp = tmp;
	}
	un(&m->lk);
}

static void op_mr_dereg(struct rng *r)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	int err;

	wr(&m->lk);
	if (m->mr) {
		uint32_t key = m->mr->lkey;

		err = ibv_dereg_mr(m->mr);
		count(OP_MR_DEREG, err);
		if (!err) {
			remember_key(key);
			m->mr = NULL;
			m->tmp = NULL;
		}
	}
	un(&m->lk);
}

/* --- QPs: creation and destruction ----------------------------------- */

static void qp_caps(struct rng *r, struct ibv_qp_cap *cap)
{
	bool sane = chance(r, 80);

	cap->max_send_wr = sane ? 1 + below(r, 128) : edgy32(r);
	cap->max_recv_wr = sane ? 1 + below(r, 128) : edgy32(r);
	cap->max_send_sge = sane ? below(r, NTBRDMA_MAX_SGE + 1) : edgy32(r);
	cap->max_recv_sge = sane ? 1 + below(r, NTBRDMA_MAX_SGE) : edgy32(r);
	cap->max_inline_data = sane ? below(r, NTBRDMA_MAX_INLINE + 1) :
				      edgy32(r);
}

static void qp_unmap(struct qp_slot *q)
{
	if (q->sq)
		munmap(q->sq, q->sq_size);
	if (q->rq)
		munmap(q->rq, q->rq_size);
	q->sq = q->rq = NULL;
}

static void *map_ring(uint64_t off, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		       (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

/* A CQ handle for a raw QP: of any slot (racy: may be gone), or random. */
static uint32_t pick_cq_handle(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	uint32_t h = (uint32_t)rnd(r) & 63;

	if (chance(r, 90)) {
		rd(&c->lk);
		if (c->kind == K_IBV)
			h = c->cq->handle;
		else if (c->kind == K_RAW)
			h = c->handle;
		un(&c->lk);
	}
	return h;
}

static void op_qp_create(struct rng *r, bool raw)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct pd_slot *p = &pds[below(r, NPD)];
	struct ibv_qp_init_attr ia;
	int err;

	wr(&q->lk);
	if (q->kind != K_NONE) {
		un(&q->lk);
		return;
	}
	memset(&ia, 0, sizeof(ia));
	qp_caps(r, &ia.cap);
	ia.qp_type = IBV_QPT_RC;
	if (chance(r, 10)) /* libibverbs itself needs more for XRC */
		ia.qp_type = raw ? (enum ibv_qp_type)below(r, 12) :
				   (enum ibv_qp_type)(2 + below(r, 3));
	ia.sq_sig_all = (int)below(r, 2);
	atomic_store(&q->dead, 0);
	atomic_store(&q->sq_prod, 0);
	atomic_store(&q->rq_prod, 0);
	if (!raw) {
		struct cq_slot *sc = &cqs[below(r, NCQ)];
		struct cq_slot *rc = &cqs[below(r, NCQ)];

		/* Both CQs' read locks, in index order (rc may be sc). */
		if (sc > rc) {
			struct cq_slot *t = sc;

			sc = rc;
			rc = t;
		}
		rd(&p->lk);
		rd(&sc->lk);
		if (rc != sc)
			rd(&rc->lk);
		if (p->pd && sc->kind == K_IBV && rc->kind == K_IBV) {
			ia.send_cq = chance(r, 50) ? sc->cq : rc->cq;
			ia.recv_cq = chance(r, 50) ? sc->cq : rc->cq;
			q->qp = ibv_create_qp(p->pd, &ia);
			err = q->qp ? 0 : errno;
			count(OP_QP_CREATE, err);
			if (!err) {
				q->kind = K_IBV;
				q->qpn = q->qp->qp_num;
				q->max_inline = ia.cap.max_inline_data;
				q->max_send_sge = ia.cap.max_send_sge;
				q->max_recv_sge = ia.cap.max_recv_sge;
				remember_qpn(q->qpn);
			}
		}
		if (rc != sc)
			un(&rc->lk);
		un(&sc->lk);
		un(&p->lk);
	} else {
		struct raw_qp_resp resp;
		struct ib_uverbs_create_qp cmd = {
			.response = (uintptr_t)&resp,
			.user_handle = (uintptr_t)q,
			.send_cq_handle = pick_cq_handle(r),
			.recv_cq_handle = pick_cq_handle(r),
			.max_send_wr = ia.cap.max_send_wr,
			.max_recv_wr = ia.cap.max_recv_wr,
			.max_send_sge = ia.cap.max_send_sge,
			.max_recv_sge = ia.cap.max_recv_sge,
			.max_inline_data = ia.cap.max_inline_data,
			.sq_sig_all = (uint8_t)ia.sq_sig_all,
			.qp_type = (uint8_t)ia.qp_type,
		};

		memset(&resp, 0, sizeof(resp));
		rd(&p->lk);
		cmd.pd_handle = p->pd ? p->pd->handle : (uint32_t)rnd(r) & 15;
		err = ucmd(IB_USER_VERBS_CMD_CREATE_QP, &cmd, sizeof(cmd),
			   sizeof(resp));
		un(&p->lk);
		count(OP_QP_CREATE_RAW, err);
		if (!err) {
			struct ntbrdma_create_qp_resp *d = &resp.drv;

			q->kind = K_RAW;
			q->handle = resp.core.qp_handle;
			q->qpn = resp.core.qpn;
			remember_qpn(q->qpn);
			q->sq = map_ring(d->sq_mmap_offset, d->sq_mmap_size);
			q->rq = map_ring(d->rq_mmap_offset, d->rq_mmap_size);
			q->sq_size = d->sq_mmap_size;
			q->rq_size = d->rq_mmap_size;
			q->sq_num = d->sq_num_wqe;
			q->rq_num = d->rq_num_wqe;
			q->max_inline = resp.core.max_inline_data;
			q->max_send_sge = resp.core.max_send_sge;
			q->max_recv_sge = resp.core.max_recv_sge;
			if (!q->sq || !q->rq || !q->sq_num || !q->rq_num ||
			    (q->sq_num & (q->sq_num - 1)) ||
			    (q->rq_num & (q->rq_num - 1)) ||
			    d->sq_wqe_size != sizeof(struct ntbrdma_send_wqe) ||
			    d->rq_wqe_size != sizeof(struct ntbrdma_recv_wqe) ||
			    q->sq_size < NTBRDMA_WQ_WQE_OFFSET +
						 (uint64_t)q->sq_num *
							 d->sq_wqe_size ||
			    q->rq_size < NTBRDMA_WQ_WQE_OFFSET +
						 (uint64_t)q->rq_num *
							 d->rq_wqe_size) {
				failure("raw create_qp: rings %p/%p, %u/%u "
					"slots, %zu/%zu bytes",
					q->sq, q->rq, q->sq_num, q->rq_num,
					q->sq_size, q->rq_size);
				qp_unmap(q);
			}
		}
	}
	un(&q->lk);
}

static void op_qp_destroy(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	int err;

	wr(&q->lk);
	if (q->kind == K_IBV) {
		err = ibv_destroy_qp(q->qp);
		count(OP_QP_DESTROY, err);
		if (!err) {
			q->kind = K_NONE;
			q->qp = NULL;
		}
	} else if (q->kind == K_RAW) {
		err = atomic_load(&q->dead) ? 0 : raw_destroy_qp(q->handle);
		count(OP_QP_DESTROY, err);
		qp_unmap(q);
		q->kind = K_NONE;
	}
	un(&q->lk);
}

/* Raw destroy under the read lock: races ring writers, kicks, modifies. */
static void op_qp_destroy_raw(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];

	rd(&q->lk);
	if (q->kind == K_RAW && !atomic_load(&q->dead)) {
		int err = raw_destroy_qp(q->handle);

		if (!err)
			atomic_store(&q->dead, 1);
		count(OP_QP_DESTROY_RAW, err);
	}
	un(&q->lk);
}

/* --- QPs: state ------------------------------------------------------------ */

static const union ibv_gid *pick_dgid(struct rng *r, union ibv_gid *tmp)
{
	if (have_peer && chance(r, 40))
		return &peer_gid;
	if (chance(r, 90))
		return &gid;
	rfill(r, tmp, sizeof(*tmp));
	return tmp;
}

/* Random attributes, each plausible or not. */
static void rand_attr(struct rng *r, struct ibv_qp_attr *a, int *mask)
{
	union ibv_gid g;

	memset(a, 0, sizeof(*a));
	*mask = chance(r, 70) ? (int)(rnd(r) & 0x1fffff) : (int)edgy32(r);
	if (chance(r, 70))
		*mask |= IBV_QP_STATE;
	a->qp_state =
		(enum ibv_qp_state)(chance(r, 90) ? below(r, 7) : edgy32(r));
	a->cur_qp_state = (enum ibv_qp_state)below(r, 8);
	a->path_mtu =
		(enum ibv_mtu)(chance(r, 80) ? 1 + below(r, 5) : edgy32(r));
	a->qkey = edgy32(r);
	a->rq_psn = edgy32(r);
	a->sq_psn = edgy32(r);
	a->dest_qp_num = pick_qpn(r);
	a->qp_access_flags = chance(r, 70) ? (int)below(r, 16) : (int)edgy32(r);
	a->pkey_index = (uint16_t)below(r, 3);
	a->port_num = (uint8_t)(chance(r, 90) ? 1 : edgy32(r));
	a->max_rd_atomic = (uint8_t)edgy32(r);
	a->max_dest_rd_atomic = (uint8_t)edgy32(r);
	a->min_rnr_timer = (uint8_t)below(r, 40);
	a->timeout = (uint8_t)below(r, 40);
	a->retry_cnt = (uint8_t)below(r, 9);
	a->rnr_retry = (uint8_t)below(r, 9);
	a->ah_attr.is_global = chance(r, 90);
	a->ah_attr.port_num = (uint8_t)(chance(r, 90) ? 1 : edgy32(r));
	a->ah_attr.grh.dgid = *pick_dgid(r, &g);
	a->ah_attr.grh.sgid_index =
		(uint8_t)(chance(r, 90) ? (uint32_t)gid_index : below(r, 256));
	a->ah_attr.grh.hop_limit = (uint8_t)edgy32(r);
	a->ah_attr.grh.traffic_class = (uint8_t)edgy32(r);
	a->ah_attr.grh.flow_label = edgy32(r);
	a->ah_attr.sl = (uint8_t)below(r, 20);
	a->ah_attr.dlid = (uint16_t)edgy32(r);
	a->ah_attr.static_rate = (uint8_t)below(r, 20);
	a->en_sqd_async_notify = (uint8_t)below(r, 2);
	a->sq_draining = (uint8_t)below(r, 2);
	a->path_mig_state = (enum ibv_mig_state)below(r, 4);
}

static void attr_to_raw(const struct ibv_qp_attr *a, int mask,
			struct ib_uverbs_modify_qp *c)
{
	memcpy(c->dest.dgid, a->ah_attr.grh.dgid.raw, 16);
	c->dest.flow_label = a->ah_attr.grh.flow_label;
	c->dest.dlid = a->ah_attr.dlid;
	c->dest.sgid_index = a->ah_attr.grh.sgid_index;
	c->dest.hop_limit = a->ah_attr.grh.hop_limit;
	c->dest.traffic_class = a->ah_attr.grh.traffic_class;
	c->dest.sl = a->ah_attr.sl;
	c->dest.static_rate = a->ah_attr.static_rate;
	c->dest.is_global = a->ah_attr.is_global;
	c->dest.port_num = a->ah_attr.port_num;
	c->attr_mask = (uint32_t)mask;
	c->qkey = a->qkey;
	c->rq_psn = a->rq_psn;
	c->sq_psn = a->sq_psn;
	c->dest_qp_num = a->dest_qp_num;
	c->qp_access_flags = (uint32_t)a->qp_access_flags;
	c->pkey_index = a->pkey_index;
	c->qp_state = (uint8_t)a->qp_state;
	c->cur_qp_state = (uint8_t)a->cur_qp_state;
	c->path_mtu = (uint8_t)a->path_mtu;
	c->path_mig_state = (uint8_t)a->path_mig_state;
	c->en_sqd_async_notify = a->en_sqd_async_notify;
	c->max_rd_atomic = a->max_rd_atomic;
	c->max_dest_rd_atomic = a->max_dest_rd_atomic;
	c->min_rnr_timer = a->min_rnr_timer;
	c->port_num = a->port_num;
	c->timeout = a->timeout;
	c->retry_cnt = a->retry_cnt;
	c->rnr_retry = a->rnr_retry;
}

static int raw_modify(uint32_t handle, const struct ibv_qp_attr *a, int mask)
{
	struct ib_uverbs_modify_qp cmd;

	memset(&cmd, 0, sizeof(cmd));
	attr_to_raw(a, mask, &cmd);
	cmd.qp_handle = handle;
	return ucmd(IB_USER_VERBS_CMD_MODIFY_QP, &cmd, sizeof(cmd), 0);
}

/* Modify the QP of slot q (its lock held) through the provider or raw. */
static int modify_slot(const struct qp_slot *q, struct ibv_qp_attr *a, int mask)
{
	return q->kind == K_IBV ? ibv_modify_qp(q->qp, a, mask) :
				  raw_modify(q->handle, a, mask);
}

/*
 * The valid path RESET -> INIT -> RTR -> RTS to a chosen destination, for
 * the QP of slot q (its lock held).  A provider QP also gets random access
 * flags now and then, and a random min_rnr_timer.
 */
static int connect_slot(struct rng *r, const struct qp_slot *q)
{
	bool ibv = q->kind == K_IBV;
	struct ibv_qp_attr a;
	union ibv_gid g;
	int err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	(void)modify_slot(q, &a, IBV_QP_STATE);
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = !ibv || chance(r, 80) ?
				    IBV_ACCESS_LOCAL_WRITE |
					    IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ :
				    (int)below(r, 16);
	err = modify_slot(q, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = pick_qpn(r);
	a.max_dest_rd_atomic = (uint8_t)below(r, 5);
	if (ibv)
		a.min_rnr_timer = (uint8_t)below(r, 8);
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = *pick_dgid(r, &g);
	a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
	a.ah_attr.grh.hop_limit = 64;
	err = modify_slot(q, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/* Short timeouts: a QP nobody answers fails fast. */
	a.timeout = (uint8_t)(8 + below(r, 6));
	a.retry_cnt = (uint8_t)below(r, 3);
	a.rnr_retry = (uint8_t)below(r, 3);
	a.max_rd_atomic = (uint8_t)below(r, 5);
	return modify_slot(q, &a,
			   IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				   IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				   IBV_QP_MAX_QP_RD_ATOMIC);
}

static void op_qp_modify(struct rng *r, enum op op)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_qp_attr a;
	int mask, err;

	rd(&q->lk);
	if (q->kind == K_NONE) {
		un(&q->lk);
		return;
	}
	if (op == OP_QP_CONNECT) {
		err = connect_slot(r, q);
	} else {
		rand_attr(r, &a, &mask);
		if (q->kind == K_IBV && op == OP_QP_MODIFY)
			err = ibv_modify_qp(q->qp, &a, mask);
		else
			err = raw_modify(q->kind == K_IBV ? q->qp->handle :
							    q->handle,
					 &a, mask);
	}
	count(op, err);
	un(&q->lk);
}

static void op_qp_query(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	rd(&q->lk);
	if (q->kind == K_IBV)
		count(OP_QP_QUERY,
		      ibv_query_qp(q->qp, &a, (int)(rnd(r) & 0x1fffff), &ia));
	un(&q->lk);
}

/* --- QPs: posting through the provider --------------------------------- */

static void rand_sge(struct rng *r, struct ibv_sge *s, bool readable)
{
	uint64_t addr, len;
	uint32_t l32 = 0;

	if (!readable && chance(r, 50)) {
		s->lkey = pick_live_key(r, &addr, &l32);
		if (s->lkey) {
			s->addr = addr;
			s->length = l32;
			return;
		}
	}
	if (readable) { /* the provider copies inline data from here */
		uint32_t off = below(r, RW_SIZE - MAX_INLINE_TRY);

		s->addr = (uintptr_t)rw_buf + off;
		s->length = below(r, MAX_INLINE_TRY / 2);
	} else {
		pick_range(r, &addr, &len, false);
		s->addr = addr;
		s->length = (uint32_t)len;
	}
	s->lkey = pick_key(r);
}

static enum ibv_wr_opcode rand_opcode(struct rng *r)
{
	if (chance(r, 90))
		return (enum ibv_wr_opcode)below(r, 8);
	return (enum ibv_wr_opcode)edgy32(r);
}

static void op_post_send(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_send_wr wrs[4], *bad;
	struct ibv_sge sges[4][NTBRDMA_MAX_SGE + 2];
	int n = 1 + (int)below(r, 4), i, k;

	rd(&q->lk);
	if (q->kind != K_IBV) {
		un(&q->lk);
		return;
	}
	memset(wrs, 0, sizeof(wrs));
	for (i = 0; i < n; i++) {
		struct ibv_send_wr *w = &wrs[i];
		bool inl = chance(r, 15);

		w->wr_id = rnd(r);
		w->next = i + 1 < n ? &wrs[i + 1] : NULL;
		w->opcode = rand_opcode(r);
		w->send_flags = (unsigned int)below(r, 16) & ~IBV_SEND_INLINE;
		if (inl)
			w->send_flags |= IBV_SEND_INLINE;
		w->num_sge = chance(r, 90) ? (int)below(r, 5) :
					     (int)below(r, NTBRDMA_MAX_SGE + 3);
		for (k = 0; k < w->num_sge; k++)
			rand_sge(r, &sges[i][k], inl);
		w->sg_list = sges[i];
		w->imm_data = (uint32_t)rnd(r);
		if (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
		    w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
			w->wr.atomic.remote_addr = rnd(r) & ~7ull;
			w->wr.atomic.rkey = pick_key(r);
			w->wr.atomic.compare_add = rnd(r);
			w->wr.atomic.swap = rnd(r);
		} else {
			uint64_t addr = 0;
			uint32_t len = 0;

			w->wr.rdma.rkey =
				chance(r, 60) ? pick_live_key(r, &addr, &len) :
						pick_key(r);
			w->wr.rdma.remote_addr = addr && chance(r, 90) ? addr :
									 rnd(r);
		}
	}
	count(OP_POST_SEND, ibv_post_send(q->qp, wrs, &bad));
	un(&q->lk);
}

static void op_post_recv(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_recv_wr wrs[4], *bad;
	struct ibv_sge sges[4][NTBRDMA_MAX_SGE + 2];
	int n = 1 + (int)below(r, 4), i, k;

	rd(&q->lk);
	if (q->kind != K_IBV) {
		un(&q->lk);
		return;
	}
	for (i = 0; i < n; i++) {
		wrs[i].wr_id = rnd(r);
		wrs[i].next = i + 1 < n ? &wrs[i + 1] : NULL;
		wrs[i].num_sge = chance(r, 90) ?
					 (int)below(r, 5) :
					 (int)below(r, NTBRDMA_MAX_SGE + 3);
		for (k = 0; k < wrs[i].num_sge; k++)
			rand_sge(r, &sges[i][k], false);
		wrs[i].sg_list = sges[i];
	}
	count(OP_POST_RECV, ibv_post_recv(q->qp, wrs, &bad));
	un(&q->lk);
}

/* --- QPs: the rings, written directly -------------------------------------- */

static void rand_wqe_sges(struct rng *r, struct ntbrdma_sge *s, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && i < NTBRDMA_MAX_SGE; i++) {
		struct ibv_sge g;

		rand_sge(r, &g, false);
		s[i].addr = g.addr;
		s[i].length = g.length;
		s[i].lkey = g.lkey;
	}
}

static void rand_send_wqe(struct rng *r, struct ntbrdma_send_wqe *w)
{
	struct ntbrdma_send_wqe t;

	if (chance(r, 10)) { /* pure garbage */
		rfill(r, &t, sizeof(t));
	} else {
		uint64_t addr = 0;
		uint32_t len = 0;

		memset(&t, 0, sizeof(t));
		t.wr_id = rnd(r);
		t.opcode = chance(r, 90) ? below(r, 8) : edgy32(r);
		t.flags = chance(r, 90) ? below(r, 16) : edgy32(r);
		if (t.flags & NTBRDMA_WQE_F_INLINE) {
			t.inline_len =
				chance(r, 80) ?
					below(r, NTBRDMA_MAX_INLINE + 1) :
					edgy32(r);
			rfill(r, t.d.inline_data, sizeof(t.d.inline_data));
		} else {
			t.num_sge = chance(r, 85) ? below(r, 5) : edgy32(r);
			rand_wqe_sges(r, t.d.sge, t.num_sge);
		}
		t.ex = (uint32_t)rnd(r);
		t.u.rdma.rkey = chance(r, 60) ? pick_live_key(r, &addr, &len) :
						pick_key(r);
		t.u.rdma.remote_addr = addr && chance(r, 90) ? addr : rnd(r);
		if (chance(r, 5))
			t.reserved0 = edgy32(r);
	}
	memcpy(w, &t, sizeof(t));
}

static void rand_recv_wqe(struct rng *r, struct ntbrdma_recv_wqe *w)
{
	struct ntbrdma_recv_wqe t;

	if (chance(r, 10)) {
		rfill(r, &t, sizeof(t));
	} else {
		memset(&t, 0, sizeof(t));
		t.wr_id = rnd(r);
		t.num_sge = chance(r, 85) ? below(r, 5) : edgy32(r);
		rand_wqe_sges(r, t.sge, t.num_sge);
	}
	memcpy(w, &t, sizeof(t));
}

/* A new prod: plausible (a few more), or anywhere. */
static uint32_t rand_prod(struct rng *r, atomic_uint *prod, uint32_t cons,
			  uint32_t num, uint32_t n)
{
	switch (below(r, 10)) {
	case 0:
		return edgy32(r);
	case 1:
		return cons + num + 1 + below(r, 4);
	case 2:
		return cons - 1 - below(r, 4);
	default:
		return atomic_fetch_add(prod, n) + n;
	}
}

static void op_ring_write(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ntbrdma_wq_ctrl *sc, *rc;
	uint32_t n, i, cons, p;

	rd(&q->lk);
	if (q->kind != K_RAW || !q->sq) {
		un(&q->lk);
		return;
	}
	sc = q->sq;
	rc = q->rq;
	switch (below(r, 8)) {
	case 0:
	case 1:
	case 2: /* SQ WQEs, then prod, then maybe a kick */
		n = 1 + below(r, 8);
		cons = __atomic_load_n(&sc->cons, __ATOMIC_ACQUIRE);
		p = atomic_load(&q->sq_prod);
		for (i = 0; i < n; i++)
			rand_send_wqe(
				r,
				(void *)((char *)q->sq + NTBRDMA_WQ_WQE_OFFSET +
					 ((p + i) & (q->sq_num - 1)) *
						 sizeof(struct ntbrdma_send_wqe)));
		__atomic_store_n(&sc->prod,
				 rand_prod(r, &q->sq_prod, cons, q->sq_num, n),
				 __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (chance(r, 70))
			raw_kick(q->handle, true);
		break;
	case 3:
	case 4: /* RQ WQEs */
		n = 1 + below(r, 8);
		cons = __atomic_load_n(&rc->cons, __ATOMIC_ACQUIRE);
		p = atomic_load(&q->rq_prod);
		for (i = 0; i < n; i++)
			rand_recv_wqe(
				r,
				(void *)((char *)q->rq + NTBRDMA_WQ_WQE_OFFSET +
					 ((p + i) & (q->rq_num - 1)) *
						 sizeof(struct ntbrdma_recv_wqe)));
		__atomic_store_n(&rc->prod,
				 rand_prod(r, &q->rq_prod, cons, q->rq_num, n),
				 __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (chance(r, 70))
			raw_kick(q->handle, false);
		break;
	case 5: /* the kernel's words */
		sc = chance(r, 50) ? sc : rc;
		switch (below(r, 4)) {
		case 0:
			sc->cons = edgy32(r);
			break;
		case 1:
			sc->qp_state = chance(r, 50) ? below(r, 7) : edgy32(r);
			break;
		case 2:
			sc->engine = edgy32(r);
			break;
		default:
			sc->reserved1[below(r, 13)] = edgy32(r);
			break;
		}
		break;
	case 6: /* a slot somewhere, garbage, no index change */
		rfill(r,
		      (char *)q->sq + NTBRDMA_WQ_WQE_OFFSET +
			      below(r, q->sq_num) *
				      sizeof(struct ntbrdma_send_wqe),
		      sizeof(struct ntbrdma_send_wqe));
		break;
	default: /* rewrite a slot the kernel may be reading now */
		cons = __atomic_load_n(&sc->cons, __ATOMIC_ACQUIRE);
		rand_send_wqe(
			r, (void *)((char *)q->sq + NTBRDMA_WQ_WQE_OFFSET +
				    (cons & (q->sq_num - 1)) *
					    sizeof(struct ntbrdma_send_wqe)));
		break;
	}
	count(OP_RING_WRITE, 0);
	un(&q->lk);
}

static void op_kick(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];

	rd(&q->lk);
	if (q->kind == K_RAW)
		count(OP_KICK, raw_kick(q->handle, chance(r, 60)));
	else if (q->kind == K_IBV)
		count(OP_KICK, raw_kick(q->qp->handle, chance(r, 60)));
	un(&q->lk);
}

static void op_raw_post(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	uint32_t h = (uint32_t)rnd(r) & 63;

	rd(&q->lk);
	if (q->kind == K_RAW)
		h = q->handle;
	else if (q->kind == K_IBV && chance(r, 50))
		h = q->qp->handle;
	count(OP_RAW_POST, raw_post_random(r, h));
	un(&q->lk);
}

/*
 * A raw command on a random handle: destroy, modify, resize, kick.  It
 * may hit one of our objects, provider ones included (the provider then
 * sees errors on its own calls: allowed, they are errors).  Only CQ and
 * QP handles of raw slots are destroyed this way (see op_cq_destroy_raw),
 * so libibverbs never frees an object whose handle we took away: its
 * destroy of a reused handle would destroy a raw object instead.
 */
static void op_raw_stray(struct rng *r)
{
	uint32_t h = (uint32_t)rnd(r) & 63;
	struct ntbrdma_resize_cq_resp drv;
	struct ibv_qp_attr a;
	int mask, err;

	switch (below(r, 3)) {
	case 0:
		rand_attr(r, &a, &mask);
		err = raw_modify(h, &a, mask);
		break;
	case 1:
		err = raw_resize_cq(h, cq_size(r), &drv);
		break;
	default:
		err = raw_kick(h, chance(r, 50));
		break;
	}
	count(OP_RAW_STRAY, err);
}

/* mmap at offsets we were not given, and beyond a ring's size. */
static void op_mmap(struct rng *r)
{
	size_t len = (1 + below(r, 8)) * 4096ul;
	off_t off = (off_t)((rnd(r) & 0xffff) * 4096ul);
	void *p;

	if (chance(r, 30))
		off = (off_t)(edgy32(r) & ~4095u);
	p = mmap(NULL, len, PROT_READ | (chance(r, 50) ? PROT_WRITE : 0),
		 MAP_SHARED, cmd_fd, off);
	count(OP_MMAP, p == MAP_FAILED ? errno : 0);
	if (p != MAP_FAILED)
		munmap(p, len);
}

/* --- fork ------------------------------------------------------------------ */

static sigjmp_buf child_jmp;

static void child_segv(int sig)
{
	(void)sig;
	siglongjmp(child_jmp, 1);
}

/*
 * The child inherits the context's fd and the ring mappings; it uses only
 * system calls (no malloc, no stdio, no libibverbs: another thread may
 * hold their locks), writes rings it inherited (a fault there ends it:
 * mappings need not be inherited) and exits.
 */
static void child_main(struct rng *r)
{
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = child_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(child_jmp, 1))
		_exit(10);
	for (i = 0; i < 32; i++) {
		struct qp_slot *q = &qps[below(r, NQP)];
		void *sq = q->sq;

		switch (below(r, 4)) {
		case 0:
			if (q->kind == K_RAW && sq) {
				__atomic_store_n(
					&((struct ntbrdma_wq_ctrl *)sq)->prod,
					edgy32(r), __ATOMIC_RELEASE);
				raw_kick(q->handle, true);
			}
			break;
		case 1:
			raw_kick((uint32_t)rnd(r) & 63, chance(r, 50));
			break;
		case 2:
			if (chance(r, 20))
				raw_destroy_qp((uint32_t)rnd(r) & 63);
			break;
		default:
			raw_post_random(r, (uint32_t)rnd(r) & 63);
			break;
		}
	}
	_exit(0);
}

static void op_fork(struct rng *r)
{
	struct rng cr = { rnd(r) };
	double t0;
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0) {
		count(OP_FORK, errno);
		return;
	}
	if (!pid)
		child_main(&cr);
	t0 = now_s();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() - t0 > CHILD_S) {
			failure("fork child %d did not exit within %.0f s",
				(int)pid, CHILD_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			count(OP_FORK, ETIMEDOUT);
			return;
		}
		usleep(2000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 10)
		atomic_fetch_add(&st_child_segv, 1);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		atomic_fetch_add(&st_child_ok, 1);
	else
		failure("fork child: status 0x%x", status);
	count(OP_FORK, 0);
}

/* --- the threads ----------------------------------------------------------- */

struct weight {
	enum op op;
	unsigned int w;
};

static const struct weight weights[] = {
	{ OP_PD_ALLOC, 3 },    { OP_PD_FREE, 1 },
	{ OP_CQ_CREATE, 4 },   { OP_CQ_CREATE_RAW, 4 },
	{ OP_CQ_DESTROY, 2 },  { OP_CQ_DESTROY_RAW, 1 },
	{ OP_CQ_RESIZE, 3 },   { OP_CQ_POLL, 12 },
	{ OP_CQ_NOTIFY, 3 },   { OP_CQ_RING, 4 },
	{ OP_MR_REG, 6 },      { OP_MR_DEREG, 3 },
	{ OP_QP_CREATE, 5 },   { OP_QP_CREATE_RAW, 5 },
	{ OP_QP_DESTROY, 3 },  { OP_QP_DESTROY_RAW, 1 },
	{ OP_QP_MODIFY, 5 },   { OP_QP_MODIFY_RAW, 4 },
	{ OP_QP_CONNECT, 8 },  { OP_QP_QUERY, 2 },
	{ OP_POST_SEND, 14 },  { OP_POST_RECV, 10 },
	{ OP_RING_WRITE, 16 }, { OP_KICK, 4 },
	{ OP_RAW_POST, 4 },    { OP_RAW_STRAY, 2 },
	{ OP_MMAP, 2 },	       { OP_EVENTS, 2 },
	{ OP_FORK, 0 },
};

static bool do_fork;

static enum op pick_op(struct rng *r)
{
	unsigned int total = 0, x;
	size_t i;

	for (i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
		total += weights[i].op == OP_FORK ? do_fork : weights[i].w;
	x = below(r, total);
	for (i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
		unsigned int w = weights[i].op == OP_FORK ? do_fork :
							    weights[i].w;

		if (x < w)
			return weights[i].op;
		x -= w;
	}
	return OP_CQ_POLL;
}

static void run_op(struct rng *r, enum op op)
{
	switch (op) {
	case OP_PD_ALLOC:
	case OP_PD_FREE:
		op_pd(r, op == OP_PD_ALLOC);
		break;
	case OP_CQ_CREATE:
	case OP_CQ_CREATE_RAW:
		op_cq_create(r, op == OP_CQ_CREATE_RAW);
		break;
	case OP_CQ_DESTROY:
		op_cq_destroy(r);
		break;
	case OP_CQ_DESTROY_RAW:
		op_cq_destroy_raw(r);
		break;
	case OP_CQ_RESIZE:
		op_cq_resize(r);
		break;
	case OP_CQ_POLL:
		op_cq_poll(r);
		break;
	case OP_CQ_NOTIFY:
		op_cq_notify(r);
		break;
	case OP_CQ_RING:
		op_cq_ring(r);
		break;
	case OP_MR_REG:
		op_mr_reg(r);
		break;
	case OP_MR_DEREG:
		op_mr_dereg(r);
		break;
	case OP_QP_CREATE:
	case OP_QP_CREATE_RAW:
		op_qp_create(r, op == OP_QP_CREATE_RAW);
		break;
	case OP_QP_DESTROY:
		op_qp_destroy(r);
		break;
	case OP_QP_DESTROY_RAW:
		op_qp_destroy_raw(r);
		break;
	case OP_QP_MODIFY:
	case OP_QP_MODIFY_RAW:
	case OP_QP_CONNECT:
		op_qp_modify(r, op);
		break;
	case OP_QP_QUERY:
		op_qp_query(r);
		break;
	case OP_POST_SEND:
		op_post_send(r);
		break;
	case OP_POST_RECV:
		op_post_recv(r);
		break;
	case OP_RING_WRITE:
		op_ring_write(r);
		break;
	case OP_KICK:
		op_kick(r);
		break;
	case OP_RAW_POST:
		op_raw_post(r);
		break;
	case OP_RAW_STRAY:
		op_raw_stray(r);
		break;
	case OP_MMAP:
		op_mmap(r);
		break;
	case OP_EVENTS:
		op_events();
		break;
	case OP_FORK:
		op_fork(r);
		break;
	case OP_N:
		break;
	}
}

static bool verbose;

static void *thread_main(void *arg)
{
	struct thr *t = arg;

	while (!atomic_load(&stop)) {
		enum op op = pick_op(&t->r);

		if (verbose)
			printf("t%d %lu %s\n", t->idx, t->ops, op_names[op]);
		atomic_store(&t->cur_op, (int)op);
		atomic_store(&t->op_start, now_s());
		run_op(&t->r, op);
		atomic_store(&t->op_start, 0.0);
		t->ops++;
	}
	return NULL;
}

/* --- teardown and summary ---------------------------------------------- */

static void teardown(void)
{
	int i, pass, left = 0;

	/* QPs first (they hold CQs and the PD), then MRs, CQs, PDs. */
	for (i = 0; i < NQP; i++) {
		struct qp_slot *q = &qps[i];

		if (q->kind == K_IBV && ibv_destroy_qp(q->qp)) {
			printf("# teardown: ibv_destroy_qp of QP %u: %s\n",
			       q->qpn, strerror(errno));
			left++;
		} else if (q->kind == K_RAW) {
			if (!atomic_load(&q->dead))
				(void)raw_destroy_qp(q->handle);
			qp_unmap(q);
		}
		q->kind = K_NONE;
	}
	for (i = 0; i < NMR; i++)
		if (mrs[i].mr && ibv_dereg_mr(mrs[i].mr)) {
			printf("# teardown: dereg_mr: %s\n", strerror(errno));
			left++;
		}
	/* A raw QP's destroy may have failed: retry CQs after QPs went. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < NCQ; i++) {
			struct cq_slot *c = &cqs[i];

			if (c->kind == K_IBV && !ibv_destroy_cq(c->cq))
				c->kind = K_NONE;
			else if (c->kind == K_RAW) {
				if (atomic_load(&c->dead) ||
				    raw_destroy_cq(c->handle) != EBUSY) {
					cq_unmap(c);
					c->kind = K_NONE;
				}
			}
		}
	for (i = 0; i < NCQ; i++)
		if (cqs[i].kind != K_NONE) {
			printf("# teardown: CQ slot %d left (%s)\n", i,
			       strerror(errno));
			left++;
		}
	for (i = 0; i < NPD; i++)
		if (pds[i].pd && ibv_dealloc_pd(pds[i].pd)) {
			printf("# teardown: dealloc_pd: %s\n", strerror(errno));
			left++;
		}
	/*
	 * An object whose handle a stray raw command took cannot be
	 * destroyed by libibverbs any more: closing the device frees
	 * everything the context holds.  Only counted.
	 */
	printf("# teardown: %d objects not destroyed one by one\n", left);
}

static void summary(double secs)
{
	unsigned long total = 0;
	int i;

	printf("# %-16s %10s %10s %10s\n", "operation", "calls", "ok",
	       "errors");
	for (i = 0; i < OP_N; i++) {
		unsigned long c = atomic_load(&st_calls[i]);

		total += c;
		if (c)
			printf("# %-16s %10lu %10lu %10lu\n", op_names[i], c,
			       atomic_load(&st_ok[i]), atomic_load(&st_err[i]));
	}
	printf("# raw CQ entries read: %lu\n", atomic_load(&st_raw_cqe));
	printf("# provider CQ completions by status:");
	for (i = 0; i < 32; i++)
		if (atomic_load(&st_wc[i]))
			printf(" %s%d=%lu", i == 31 ? ">=" : "", i,
			       atomic_load(&st_wc[i]));
	printf("\n# fork children: %lu exited, %lu faulted on an inherited "
	       "ring\n",
	       atomic_load(&st_child_ok), atomic_load(&st_child_segv));
	printf("# %lu operations in %.1f s\n", total, secs);
}

static int parse_gid4(const char *ip, union ibv_gid *g)
{
	struct in_addr a;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return -1;
	memset(g, 0, sizeof(*g));
	g->raw[10] = 0xff;
	g->raw[11] = 0xff;
	memcpy(&g->raw[12], &a, 4);
	return 0;
}

/*
 * Regression (found by seed 1): a zero-length MR at an address inside a
 * page pinned that page and was announced to the peer, which refused it
 * (length 0), with a warning on both hosts; every MR with a local or
 * remote write right is announced, so any user could fill both kernel
 * logs.  Length 0 is refused (EINVAL), wherever it starts.
 */
static void check_zero_mr(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr;
	int i;

	if (!pd) {
		failure("alloc_pd: %s", strerror(errno));
		return;
	}
	for (i = 0; i < 2; i++) {
		mr = ibv_reg_mr(pd, rw_buf + i * 100, 0,
				IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE);
		if (mr) {
			failure("a zero-length MR at offset %d registered",
				i * 100);
			ibv_dereg_mr(mr);
		}
	}
	ibv_dealloc_pd(pd);
}

static void usage(const char *me)
{
	fprintf(stderr,
		"usage: %s [-d DEV] [-g GID_INDEX] [-s SECONDS] [-S SEED] "
		"[-t THREADS] [-p PEER_IPV4] [-F] [-v]\n"
		"  -d, --dev       device (ntbrdma0)\n"
		"  -g, --gid-index RoCE v2 GID index for loopback (0)\n"
		"  -s, --seconds   run time (60)\n"
		"  -S, --seed      64-bit seed (random; printed)\n"
		"  -t, --threads   threads (4; 1 reproduces a seed exactly)\n"
		"  -p, --peer      the peer host's IPv4: QPs aimed there too\n"
		"  -F, --no-fork   no fork children\n"
		"  -v, --verbose   print every operation\n",
		me);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "gid-index", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "peer", required_argument, NULL, 'p' },
		{ "no-fork", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev_name = "ntbrdma0";
	struct ibv_device **list;
	double secs = 60, t0, end;
	uint64_t seed;
	int nthreads = 4, i, c, ndev;
	bool hung = false, joined[MAX_THREADS] = { false };

	do_fork = true;
	seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid()
								      << 32;
	while ((c = getopt_long(argc, argv, "d:g:s:S:t:p:Fv", lo, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			dev_name = optarg;
			break;
		case 'g':
			gid_index = atoi(optarg);
			break;
		case 's':
			secs = atof(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'p':
			if (parse_gid4(optarg, &peer_gid))
				usage(argv[0]);
			have_peer = true;
			break;
		case 'F':
			do_fork = false;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || secs <= 0)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# ntbrdma-ufuzz: seed %" PRIu64 " (0x%016" PRIx64
	       "), %d threads, %.0f s, %s%s\n",
	       seed, seed, nthreads, secs, dev_name,
	       have_peer ? ", with peer" : "");
	signal(SIGPIPE, SIG_IGN);

	list = ibv_get_device_list(&ndev);
	for (i = 0; list && i < ndev; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			ctx = ibv_open_device(list[i]);
	if (!ctx) {
		printf("FAIL: cannot open %s\n", dev_name);
		return 1;
	}
	ibv_free_device_list(list);
	cmd_fd = ctx->cmd_fd;
	if (ibv_query_gid(ctx, 1, gid_index, &gid)) {
		printf("FAIL: no GID %d on %s\n", gid_index, dev_name);
		return 1;
	}
	if (buffers_init()) {
		printf("FAIL: buffers: %s\n", strerror(errno));
		return 1;
	}
	{
		struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);

		if (!ch) {
			printf("FAIL: comp channel: %s\n", strerror(errno));
			return 1;
		}
		chan_fd = ch->fd;
		fcntl(chan_fd, F_SETFL, fcntl(chan_fd, F_GETFL) | O_NONBLOCK);
	}
	check_zero_mr();
	for (i = 0; i < NPD; i++)
		pthread_rwlock_init(&pds[i].lk, NULL);
	for (i = 0; i < NCQ; i++)
		pthread_rwlock_init(&cqs[i].lk, NULL);
	for (i = 0; i < NMR; i++)
		pthread_rwlock_init(&mrs[i].lk, NULL);
	for (i = 0; i < NQP; i++)
		pthread_rwlock_init(&qps[i].lk, NULL);

	t0 = now_s();
	end = t0 + secs;
	for (i = 0; i < nthreads; i++) {
		thrs[i].idx = i;
		thrs[i].r.s = seed + (uint64_t)i * 0xd1b54a32d192ed03ull;
		if (pthread_create(&thrs[i].tid, NULL, thread_main, &thrs[i])) {
			printf("FAIL: pthread_create\n");
			return 1;
		}
	}
	while (now_s() < end + HANG_S) {
		double t = now_s(), oldest = 0;
		int who = -1;

		if (t >= end)
			atomic_store(&stop, 1);
		for (i = 0; i < nthreads; i++) {
			double s = atomic_load(&thrs[i].op_start);

			if (s > 0 && t - s > oldest) {
				oldest = t - s;
				who = i;
			}
		}
		if (oldest > HANG_S) {
			printf("FAIL: thread %d hangs in %s for %.0f s (seed "
			       "%" PRIu64 ")\n",
			       who, op_names[atomic_load(&thrs[who].cur_op)],
			       oldest, seed);
			hung = true;
			break;
		}
		if (atomic_load(&stop)) {
			bool all = true;

			for (i = 0; i < nthreads; i++)
				if (!joined[i] &&
				    pthread_tryjoin_np(thrs[i].tid, NULL) ==
					    EBUSY)
					all = false;
				else
					joined[i] = true;
			if (all)
				break;
		}
		usleep(100000);
	}
	if (hung) {
		summary(now_s() - t0);
		fflush(stdout);
		_exit(3);
	}
	summary(now_s() - t0);
	check_ro();
	teardown();
	if (ibv_close_device(ctx))
		failure("ibv_close_device: %s", strerror(errno));
	check_ro();
	printf("# seed %" PRIu64 ": %s\n", seed,
	       atomic_load(&failed) ? "FAILED" : "passed");
	return atomic_load(&failed) ? 1 : 0;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma-ufuzz: declarations shared by its files - limits, the random
 * generator, the operations and their statistics, the object tables and
 * global state (ufuzz-util.c), raw uverbs commands (ufuzz-raw.c) and the
 * operations the threads pick from (ufuzz-objects.c, ufuzz-qp.c,
 * ufuzz-rings.c; ntbrdma-ufuzz.c runs them).
 */
#ifndef UFUZZ_H
#define UFUZZ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define CHILD_CMDS 32 /* commands a fork child issues */
#define CHILD_FAULTED 100 /* its exit status when an inherited ring faulted */
#define MAX_INLINE_TRY 300

/* --- random numbers ------------------------------------------------------ */

struct rng {
	uint64_t s;
};

/* --- operations and statistics (ufuzz-util.c) ------------------------- */

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
	OP_POST_WR,
	OP_RING_WRITE,
	OP_KICK,
	OP_RAW_POST,
	OP_RAW_STRAY,
	OP_MMAP,
	OP_MAP_PEER,
	OP_EVENTS,
	OP_FORK,
	OP_ANCHOR,
	OP_N
};

extern const char *const op_names[OP_N];
extern atomic_ulong st_calls[OP_N], st_ok[OP_N], st_err[OP_N];
extern atomic_ulong st_wc[32]; /* completions by status (31: other) */
extern atomic_ulong st_wc_bad, st_child_segv, st_child_ok, st_raw_cqe;
extern atomic_ulong st_qp_busy; /* QP destroys refused: in use */
/* map_peer_mr refusals: no such MR, not allowed, malformed; mapped. */
extern atomic_ulong st_map_noent, st_map_acces, st_map_inval, st_map_mapped;
extern atomic_ulong st_child_cmd_ok; /* fork children's commands passed */
extern atomic_int failed;

uint64_t rnd(struct rng *r);
uint32_t below(struct rng *r, uint32_t n);
bool chance(struct rng *r, unsigned int pct);
uint32_t edgy32(struct rng *r);
void rfill(struct rng *r, void *p, size_t n);
double now_s(void);
void count(enum op op, int err);
void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- global state and the tables (ufuzz-util.c) ------------------------- */

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
	/* The registered range, under mr_span_lock (len 0: none). */
	uint64_t span_addr, span_len;
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

struct raw_qp_resp {
	struct ib_uverbs_create_qp_resp core;
	struct ntbrdma_create_qp_resp drv;
};

extern struct ibv_context *ctx;
extern int cmd_fd;
extern union ibv_gid gid, peer_gid;
extern bool have_peer;
extern int gid_index;
extern int chan_fd; /* a raw completion channel (read directly) */
extern unsigned char *rw_buf, *ro_buf, *hole, *none_buf;
extern int ro_fd;
extern atomic_int stop;
/*
 * Read-held from a raw CQ create or resize until its new ring is mapped,
 * write-held by a resize on a random handle (op_raw_stray): that one may
 * hit the CQ in between and drop the ring before it is mapped.
 */
extern pthread_rwlock_t ring_map_lk;
extern _Atomic uint32_t stale_keys[NKEYS];
extern _Atomic uint32_t qpns[NKEYS];
extern atomic_uint key_pos, qpn_pos;
extern _Atomic uint32_t max_qpn;
extern struct pd_slot pds[NPD];
extern struct cq_slot cqs[NCQ];
extern struct mr_slot mrs[NMR];
extern struct qp_slot qps[NQP];

void remember_key(uint32_t k);
void remember_qpn(uint32_t q);
int buffers_init(void);
void check_ro(void);
void pick_range(struct rng *r, uint64_t *addr, uint64_t *len, bool mr);
void rd(pthread_rwlock_t *l);
void wr(pthread_rwlock_t *l);
void un(pthread_rwlock_t *l);
uint32_t pick_key(struct rng *r);
uint32_t pick_live_key(struct rng *r, uint64_t *addr, uint32_t *len);
uint32_t pick_qpn(struct rng *r);

/* --- raw uverbs commands (ufuzz-raw.c) ---------------------------------- */

int ucmd(uint32_t command, const void *req, size_t len, size_t resp_len);
int raw_map_peer(uint32_t handle, uint32_t op, uint32_t rkey,
		 struct ntbrdma_modify_qp_resp *drv);
int raw_create_cq(uint32_t cqe, int channel, uint32_t *handle,
		  struct ntbrdma_create_cq_resp *drv);
int raw_resize_cq(uint32_t handle, uint32_t cqe,
		  struct ntbrdma_resize_cq_resp *drv);
int raw_destroy_cq(uint32_t handle);
int raw_destroy_qp(uint32_t handle);
int raw_kick(uint32_t handle, bool sq);
int raw_post_random(struct rng *r, uint32_t handle);
int raw_modify(uint32_t handle, const struct ibv_qp_attr *a, int mask);

/* --- PDs, CQs and MRs (ufuzz-objects.c) --------------------------------- */

void op_pd(struct rng *r, bool alloc);
uint32_t cq_size(struct rng *r);
void cq_unmap(struct cq_slot *c);
int cq_slot_destroy(struct cq_slot *c);
void op_cq_create(struct rng *r, bool raw);
void op_cq_destroy(struct rng *r);
void op_cq_destroy_raw(struct rng *r);
void op_cq_resize(struct rng *r);
void op_cq_poll(struct rng *r);
void op_cq_notify(struct rng *r);
void op_events(void);
void op_mr_reg(struct rng *r);
void op_mr_dereg(struct rng *r);

/* --- QPs (ufuzz-qp.c) ---------------------------------------------------- */

void qp_unmap(struct qp_slot *q);
int qp_slot_destroy(struct qp_slot *q);
void op_qp_create(struct rng *r, bool raw);
void op_qp_destroy(struct rng *r);
void op_qp_destroy_raw(struct rng *r);
void rand_attr(struct rng *r, struct ibv_qp_attr *a, int *mask);
void op_qp_modify(struct rng *r, enum op op);
void op_qp_query(struct rng *r);
void rand_sge(struct rng *r, struct ibv_sge *s, bool readable);
void op_post_send(struct rng *r);
void op_post_wr(struct rng *r);
void op_post_recv(struct rng *r);

/* --- rings, stray commands, mmap, fork (ufuzz-rings.c) ------------------ */

void op_cq_ring(struct rng *r);

/* ufuzz-anchor.c: a QP and MR connected to the peer fuzzer's anchor. */
int anchor_init(const char *peer_ip);
struct ibv_qp *anchor_qp(void); /* NULL: no anchor */
uint32_t anchor_peer_rkey(void); /* the key the peer's anchor sent first */
void op_anchor(struct rng *r);
void anchor_fini(void);
void anchor_check(void);
void op_ring_write(struct rng *r);
void op_kick(struct rng *r);
void op_raw_post(struct rng *r);
void op_raw_stray(struct rng *r);
void op_mmap(struct rng *r);
void op_map_peer(struct rng *r);
void op_fork(struct rng *r);

#endif /* UFUZZ_H */

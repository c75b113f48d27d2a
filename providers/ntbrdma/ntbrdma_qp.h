/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libntbrdma: queue pairs (ntbrdma_qp.c) and shared receive queues
 * (ntbrdma_srq.c), for the verbs_context_ops table in ntbrdma.c; their
 * WRITEs from user space (ntbrdma_bypass.c); the extended QP's ibv_wr_*
 * interface (ntbrdma_qpex.c); receive inboxes (ntbrdma_inbox.c); eager
 * SENDs into the peer QP's inbox (ntbrdma_eager.c).
 */
#ifndef NTBRDMA_QP_H
#define NTBRDMA_QP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-pabi.h"

struct ntb_context;

struct ntb_wq {
	pthread_spinlock_t lock; /* producers of this ring */
	void *ring;
	size_t size;
	uint32_t num_wqe; /* a power of two */
	uint32_t prod; /* our copy of ctrl->prod (we own it) */
	struct ntbrdma_wq_ctrl *ctrl;
	char *wqe; /* slot 0 */
	size_t wqe_size;
};

/*
 * A peer MR mapped for this QP's WRITEs, or read-only for its READs
 * (ntbrdma_bypass.c): the MR's bytes [iova, iova + len) at addr, valid
 * while the SQ's map_gen is gen.  len 0: the kernel refused the rkey;
 * ask again after `retry` posts.
 */
struct ntb_pmap {
	uint32_t rkey;
	bool read;
	uint32_t gen;
	uint64_t iova;
	uint64_t len;
	char *addr;
	uint32_t retry;
};

#define NTB_PMAPS 16

/*
 * modify_qp with attribute mask 0 and a driver op (mappings of the
 * peer's memory: ntbrdma_bypass.c, ntbrdma_eager.c).
 */
struct ntb_map_cmd {
	struct ibv_modify_qp_ex ibv_cmd;
	struct ntbrdma_modify_qp_req drv;
};

struct ntb_map_resp {
	struct ib_uverbs_ex_modify_qp_resp ibv_resp;
	struct ntbrdma_modify_qp_resp drv;
};

/* A send work request built by ibv_wr_* (ntbrdma_qpex.c). */
struct ntb_wrx_ent {
	struct ibv_send_wr wr;
	struct ibv_sge sge[NTBRDMA_MAX_SGE];
	/* Inline data: its bytes at ntb_wrx.inl + inl_off; else -1. */
	int64_t inl_off;
};

/*
 * The work requests built since ibv_wr_start(), posted together by
 * ibv_wr_complete(); valid while sq.lock is held (start to complete).
 */
struct ntb_wrx {
	struct ntb_wrx_ent *ent;
	uint32_t n; /* built */
	uint32_t cap; /* allocated, at most sq.num_wqe */
	char *inl;
	size_t inl_len;
	size_t inl_cap;
	int err; /* the first error of a builder: wr_complete returns it */
};

/*
 * A receive inbox (ntbrdma_inbox.c): 1 << order slots at ent, in our
 * memory, registered as mr; on when the kernel accepted it.
 */
struct ntb_inbox {
	struct ntbrdma_inbox_ent *ent;
	size_t size;
	struct ibv_mr *mr;
	uint32_t order;
	bool on;
	struct ntb_qp *cq_next; /* in recv_cq's inbox_qps, under its lock */
	/*
	 * Receive n's wr_id and length, in entry n mod (1 << order): written
	 * by post_recv (rq.lock) before the receive is published, read by
	 * the take (recv CQ's lock) after its slot's tag says n.
	 */
	uint64_t *wr_id;
	uint32_t *len;
	/*
	 * Eager messages (ntbrdma_eager.c), when the kernel took the eager
	 * area: 1 << eager_order payload slots at payload, the status page
	 * the peer's provider writes; receive n's SGEs (for the copy of an
	 * eager payload) at sge[(n mod S) * max_sge], nsge[n mod S] of them.
	 */
	uint32_t eager_order;
	struct ntbrdma_inbox_status *status;
	char *payload;
	struct ibv_sge *sge;
	uint8_t *nsge;
	uint32_t max_sge;
	/* What we last wrote into the peer's status page (recv CQ lock). */
	uint64_t credit_sent;
	bool armed_sent;
};

/*
 * The peer QP's inbox MR mapped for this QP (ntbrdma_eager.c): its slots
 * at base, its status page and payload slots after them; valid while the
 * SQ's inbox_gen is gen.  lock: the send path (under sq.lock) and the
 * recv CQ's poll and arm (under its lock) use it; taken last.
 */
struct ntb_peer_inbox {
	pthread_mutex_t lock;
	char *base;
	size_t len;
	uint32_t gen;
	uint32_t order;
	uint32_t eager_order;
	uint32_t retry; /* uses before we ask the kernel again */
};

struct ntb_qp {
	/*
	 * First: libibverbs reads vqp.comp_mask of every QP
	 * (ibv_qp_to_qp_ex), and vqp.qp_ex of those created with
	 * send_ops_flags.
	 */
	union {
		struct ibv_qp ibqp;
		struct verbs_qp vqp;
	};
	struct ntb_wq sq;
	struct ntb_wq rq;
	uint32_t max_send_sge;
	uint32_t max_recv_sge;
	uint32_t max_inline;
	int sq_sig_all;
	/* Under sq.lock. */
	struct ntb_pmap pmap[NTB_PMAPS];
	uint32_t pmap_next; /* the slot to replace next */
	struct ntb_wrx wrx; /* under sq.lock */
	struct ntb_inbox inbox;
	/*
	 * Eager messages (ntbrdma_eager.c): the peer's published receives
	 * (kernel-owned ring in the SQ's mapping, which we only read; NULL:
	 * none), the peer's inbox, and
	 * eager_next (ours, under sq.lock; published in the SQ's word).
	 */
	const struct ntbrdma_pub_ent *pub;
	struct ntb_peer_inbox pin;
	uint64_t eager_next;
};

/* A shared receive queue (ntbrdma_srq.c). */
struct ntb_srq {
	struct ibv_srq ibsrq;
	struct ntb_wq rq;
	uint32_t max_sge;
};

static inline struct ntb_srq *to_srq(struct ibv_srq *ibsrq)
{
	return (struct ntb_srq *)((char *)ibsrq -
				  offsetof(struct ntb_srq, ibsrq));
}

static inline struct ntb_qp *to_qp(struct ibv_qp *ibqp)
{
	return (struct ntb_qp *)((char *)ibqp - offsetof(struct ntb_qp, ibqp));
}

struct ibv_qp *ntb_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *ntb_create_qp_ex(struct ibv_context *ibctx,
				struct ibv_qp_init_attr_ex *attr);
int ntb_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask,
		 struct ibv_qp_init_attr *init_attr);
int ntb_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask);
int ntb_destroy_qp(struct ibv_qp *ibqp);
int ntb_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int ntb_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);
/*
 * Under sq.lock: post the list wr whole or nothing of it; 0 or the errno
 * post_send would return for the first request that cannot go.
 */
int ntb_post_send_all_locked(struct ntb_qp *qp, struct ibv_send_wr *wr);

/* ntbrdma_qpex.c */
/* The send_ops_flags a QP of type may have; 0: none (no ibv_wr_*). */
uint64_t ntb_qpex_ops(enum ibv_qp_type type);
/* Set up the ibv_wr_* functions of send_ops_flags ops. */
void ntb_qpex_init(struct ntb_qp *qp, uint64_t ops);
/* Free what the ibv_wr_* functions allocated. */
void ntb_qpex_fini(struct ntb_qp *qp);

/* Ring helpers of ntbrdma_qp.c, also for SRQs. */
int ntb_wq_map(struct ntb_wq *wq, int cmd_fd, uint64_t offset, uint64_t size,
	       uint32_t num_wqe, uint32_t wqe_size, size_t expect_wqe_size);
void ntb_wq_unmap(struct ntb_wq *wq);
bool ntb_wq_full(struct ntb_wq *wq);
void *ntb_wq_slot(struct ntb_wq *wq);

/* ntbrdma_inbox.c */
/* An inbox for a QP created as attr says (unless NTBRDMA_INBOX=0). */
bool ntb_inbox_wanted(const struct ibv_qp_init_attr_ex *attr);
/* Allocate and register it; what create_qp's request says of it. */
int ntb_inbox_alloc(struct ntb_qp *qp, struct ibv_pd *pd, uint32_t max_recv_wr,
		    uint32_t max_recv_sge, struct ntbrdma_create_qp *req);
/* The kernel took the eager area (create_qp's answer): use it. */
void ntb_inbox_eager_on(struct ntb_qp *qp, uint32_t eager_order);
/* After destroy_qp (or a failed create): deregister and free it. */
void ntb_inbox_free(struct ntb_qp *qp);
/* Into / out of the recv CQ's list of inboxes that poll_cq visits. */
void ntb_inbox_attach(struct ntb_qp *qp);
void ntb_inbox_detach(struct ntb_qp *qp);
/*
 * Under rq.lock, before posting receive rq.prod: its inbox slot is free
 * (the completion of the receive S before it was taken), taking what
 * waits into the recv CQ's private queue if need be; false if it cannot
 * be (that queue is full: the CQ would overflow on an HCA).
 */
bool ntb_inbox_room(struct ntb_qp *qp);
/*
 * ntbrdma_eager.c.  create_qp: map the published-receive ring the kernel
 * gave (resp), set up the peer-inbox state; destroy_qp: undo it.
 */
int ntb_eager_qp_init(struct ntb_qp *qp, uint64_t pub_offset,
		      uint64_t pub_size);
void ntb_eager_qp_fini(struct ntb_qp *qp);
/*
 * Under recv CQ's lock, after taking completions or arming: what the
 * peer's provider needs in its status page - whether our recv CQ is
 * armed (set: read back, the peer sees it before we poll) and our
 * credit (when it moved enough).  arming: ask for the mapping now.
 */
void ntb_eager_status(struct ntb_qp *qp, bool arming);

/*
 * Receive publication of an eager inbox QP (Documentation/
 * rdma-datapath.md, "Stage B"): a post_recv may leave the kick for later
 * while the peer holds at least NTB_PUB_LOW published receives we have
 * not taken; a poll that finds fewer kicks (ntb_inbox_poll).
 */
#define NTB_PUB_LOW(rq) ((rq) / 4 ? (rq) / 4 : 1)
bool ntb_inbox_kick_later(struct ntb_qp *qp);

/* Under rq.lock: what the completion of receive n needs of its request. */
void ntb_inbox_note(struct ntb_qp *qp, uint32_t n, uint64_t wr_id,
		    const struct ibv_sge *sge, int nsge);

/* ntbrdma_srq.c */
struct ibv_srq *ntb_create_srq(struct ibv_pd *pd,
			       struct ibv_srq_init_attr *attr);
int ntb_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		   int attr_mask);
int ntb_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int ntb_destroy_srq(struct ibv_srq *ibsrq);
int ntb_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);

/*
 * ntbrdma_bypass.c, under sq.lock: execute wr (an RDMA WRITE that passed
 * the post checks, the QP in RTS) in user space.  NTB_BYPASS_NO: not possible, post it
 * for the kernel; NTB_BYPASS_DONE: done and completed if signalled;
 * NTB_BYPASS_DONE_CQE: done, but the completion must come from the
 * kernel (post it with NTBRDMA_WQE_F_DONE).
 */
enum ntb_bypass_res {
	NTB_BYPASS_NO,
	NTB_BYPASS_DONE,
	NTB_BYPASS_DONE_CQE,
	/* An eager SEND done; the peer's CQ armed: F_DONE | F_NOTIFY. */
	NTB_BYPASS_DONE_NOTIFY,
};

enum ntb_bypass_res ntb_bypass_write(struct ntb_qp *qp,
				     const struct ibv_send_wr *wr);
/* The same for an RDMA READ (at most ctx->bypass_read_max bytes). */
enum ntb_bypass_res ntb_bypass_read(struct ntb_qp *qp,
				    const struct ibv_send_wr *wr);
/*
 * ntbrdma_eager.c, under sq.lock: a SEND or SEND_WITH_IMM (checked, the QP
 * in RTS) placed eagerly into the peer QP's inbox; for
 * NTB_BYPASS_DONE_NOTIFY the receive it took in raw[0] (index), raw[1]
 * (epoch).
 */
enum ntb_bypass_res ntb_eager_send(struct ntb_qp *qp,
				   const struct ibv_send_wr *wr,
				   uint32_t raw[2]);
/* ntbrdma_bypass.c: the completion of a WQE done in user space. */
enum ntb_bypass_res ntb_bypass_complete(struct ntb_qp *qp,
					const struct ibv_send_wr *wr,
					uint32_t opcode, uint32_t byte_len);
/* Every SGE of wr in an MR of ours (pd, access need); mr_lock held. */
bool ntb_sges_ok(struct ntb_context *ctx, struct ibv_pd *pd,
		 const struct ibv_send_wr *wr, int need);
/* CPU stores into a write-combining window, the caller fences. */
void ntb_copy_to_window(char *dst, const char *src, size_t len);

/* Before the QP is destroyed: unmap its peer MRs. */
void ntb_bypass_qp_fini(struct ntb_qp *qp);

#endif /* NTBRDMA_QP_H */

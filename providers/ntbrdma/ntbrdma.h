/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libntbrdma: what the provider's files share: the context (with its
 * table of MRs registered through it), completion queues (the kernel's
 * ring and the provider's own completions, ntbrdma.c), queue pairs
 * (ntbrdma_qp.c), RDMA WRITE from user space (ntbrdma_bypass.c),
 * receive inboxes (ntbrdma_inbox.c) and eager messages into the peer's
 * inbox (ntbrdma_eager.c).
 */
#ifndef NTBRDMA_H
#define NTBRDMA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-pabi.h"

#define ntb_container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

struct ntb_device {
	struct verbs_device vdev;
};

struct ntb_qp;

/*
 * An MR registered through us: what the bypass checks an SGE against
 * (vmr.access: its access flags).  In the table only if registered at
 * its own address.
 */
struct ntb_mr {
	struct verbs_mr vmr;
	struct ntb_mr *next; /* in its hash chain */
};

#define NTB_MR_HASH 256

struct ntb_context {
	struct verbs_context vctx;
	uint32_t max_cqe;
	uint32_t max_inline_data;
	/* RDMA WRITE and READ from user space (NTBRDMA_BYPASS=0: off). */
	bool bypass;
	/* READs of at most this many bytes (NTBRDMA_BYPASS_READ_MAX). */
	uint32_t bypass_read_max;
	/* WRITEs below this many bytes; the kernel's DMA engine moves more. */
	uint64_t bypass_write_max;
	pthread_rwlock_t mr_lock;
	struct ntb_mr *mr_hash[NTB_MR_HASH]; /* by lkey */
};

/* An address handle: the kernel's index for it goes into UD WQEs. */
struct ntb_ah {
	struct ibv_ah ibah;
	uint32_t ah_num;
};

static inline struct ntb_ah *to_ah(struct ibv_ah *ibah)
{
	return (struct ntb_ah *)((char *)ibah - offsetof(struct ntb_ah, ibah));
}

struct ibv_ah *ntb_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int ntb_destroy_ah(struct ibv_ah *ibah);

struct ntb_priv_cqe {
	struct ntbrdma_cqe cqe;
	uint32_t mark; /* the ring's prod when it was made */
};

struct ntb_cq {
	/* ibv_cq_ex begins with ibv_cq (ibv_cq_ex_to_cq() is a cast). */
	union {
		struct ibv_cq ibcq;
		struct ibv_cq_ex ibcq_ex;
	};
	pthread_spinlock_t lock;
	void *ring;
	size_t ring_size;
	uint32_t num_cqe;
	uint32_t cons; /* our copy of ctrl->cons */
	struct ntbrdma_cq_ctrl *ctrl;
	struct ntbrdma_cqe *cqe;
	/*
	 * Completions of WRITEs done in user space, in order, under lock:
	 * returned once cons reached their mark (ntbrdma_bypass.c says why
	 * that is the order of the QP's work).  Allocated at the first.
	 */
	struct ntb_priv_cqe *priv;
	uint32_t priv_size; /* a power of two */
	uint32_t priv_head, priv_tail;
	/* Extended polling: the current entry, between start and end_poll. */
	const struct ntbrdma_cqe *cur;
	bool cur_priv; /* it is priv[priv_head] */
	/* QPs with an inbox whose receives complete here (under lock). */
	struct ntb_qp *inbox_qps;
};

static inline struct ntb_context *to_ctx(struct ibv_context *ibctx)
{
	return ntb_container_of(ibctx, struct ntb_context, vctx.context);
}

static inline struct ntb_cq *to_cq(struct ibv_cq *ibcq)
{
	return ntb_container_of(ibcq, struct ntb_cq, ibcq);
}

/*
 * ntbrdma.c: queue a completion of our own on cq, in order after what
 * its ring holds now.  False when the CQ is armed (the kernel must then
 * make the completion, to raise the event) or our queue is full.
 */
bool ntb_cq_priv_push(struct ntb_cq *cq, const struct ntbrdma_cqe *cqe);
/* Under cq->lock: room in the private queue (allocated if need be). */
bool ntb_cq_priv_room(struct ntb_cq *cq);
/* Under cq->lock, with room: queue cqe after ring entry mark. */
void ntb_cq_priv_push_mark(struct ntb_cq *cq, const struct ntbrdma_cqe *cqe,
			   uint32_t mark);

/* ntbrdma_inbox.c, under cq->lock: take the inboxes' completions. */
void ntb_inbox_poll(struct ntb_cq *cq);
/*
 * Under cq->lock: a ring entry the kernel's flush made of an eager slot
 * (NTBRDMA_CQE_VENDOR_EAGER): its payload into the receive, in place.
 */
void ntb_inbox_ring_fixup(struct ntb_cq *cq, struct ntbrdma_cqe *cqe);
/* Under cq->lock, just armed: tell the peers that send to us eagerly. */
void ntb_inbox_arm(struct ntb_cq *cq);

/* ntbrdma_bypass.c: the MR table. */
void ntb_mr_table_init(struct ntb_context *ctx);
void ntb_mr_table_add(struct ntb_context *ctx, struct ntb_mr *mr);
void ntb_mr_table_del(struct ntb_context *ctx, struct ntb_mr *mr);

#endif /* NTBRDMA_H */

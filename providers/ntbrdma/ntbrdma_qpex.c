// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: the extended QP's posting interface (ibv_wr_start,
 * ibv_wr_send, ibv_wr_set_sge, ..., ibv_wr_complete), for QPs created by
 * ibv_create_qp_ex() with IBV_QP_INIT_ATTR_SEND_OPS_FLAGS.
 *
 * ibv_wr_start() takes the SQ's lock; each operation call starts a work
 * request, built as a struct ibv_send_wr in the QP's ntb_wrx, and the
 * set_* calls complete the last one.  ibv_wr_complete() posts them all
 * through post_send's own path (checks, user-space WRITE, WQEs, kick) or
 * none: a builder's error, a request post_send would refuse or a send
 * queue without room for all of them fails the whole batch, as
 * ibv_wr_post(3) says.  ibv_wr_abort() drops them.  Either releases the
 * lock.  Inline data is copied when set_inline_data is called (the
 * caller may reuse its buffer at once), into ntb_wrx's inline buffer.
 *
 * Operations: SEND, SEND_WITH_IMM (RC, UC, UD), RDMA_WRITE,
 * RDMA_WRITE_WITH_IMM (RC, UC), RDMA_READ and the two atomics (RC).
 * Memory windows, invalidation, TSO and ATOMIC_WRITE are refused at
 * create (EOPNOTSUPP), as the device has none of them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma_qp.h"

#define NTB_WRX_FIRST 16 /* work requests allocated at the first use */

static struct ntb_qp *qpx_to_qp(struct ibv_qp_ex *qpx)
{
	return to_qp(&qpx->qp_base);
}

/* Remember the first error; wr_complete returns it. */
static void ntb_wrx_fail(struct ntb_wrx *x, int err)
{
	if (!x->err)
		x->err = err;
}

/* A new work request of opcode op, or NULL (error noted). */
static struct ntb_wrx_ent *ntb_wrx_new(struct ibv_qp_ex *qpx,
				       enum ibv_wr_opcode op)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);
	struct ntb_wrx *x = &qp->wrx;
	struct ntb_wrx_ent *e;
	uint32_t cap;

	if (x->err)
		return NULL;
	if (x->n == x->cap) {
		/* More than the ring holds could never be posted at once. */
		if (x->cap >= qp->sq.num_wqe) {
			ntb_wrx_fail(x, ENOMEM);
			return NULL;
		}
		cap = x->cap ? x->cap * 2 : NTB_WRX_FIRST;
		if (cap > qp->sq.num_wqe)
			cap = qp->sq.num_wqe;
		e = realloc(x->ent, (size_t)cap * sizeof(*e));
		if (!e) {
			ntb_wrx_fail(x, ENOMEM);
			return NULL;
		}
		x->ent = e;
		x->cap = cap;
	}
	e = &x->ent[x->n++];
	memset(&e->wr, 0, sizeof(e->wr));
	e->wr.wr_id = qpx->wr_id;
	/* Inline or not is what the data setter says. */
	e->wr.send_flags = qpx->wr_flags & ~IBV_SEND_INLINE;
	e->wr.opcode = op;
	e->wr.sg_list = e->sge;
	e->inl_off = -1;
	return e;
}

/* The work request the set_* calls apply to, or NULL (error noted). */
static struct ntb_wrx_ent *ntb_wrx_cur(struct ibv_qp_ex *qpx)
{
	struct ntb_wrx *x = &qpx_to_qp(qpx)->wrx;

	if (x->err)
		return NULL;
	if (!x->n) {
		ntb_wrx_fail(x, EINVAL); /* a setter before any operation */
		return NULL;
	}
	return &x->ent[x->n - 1];
}

static void ntb_wr_send(struct ibv_qp_ex *qpx)
{
	ntb_wrx_new(qpx, IBV_WR_SEND);
}

static void ntb_wr_send_imm(struct ibv_qp_ex *qpx, __be32 imm_data)
{
	struct ntb_wrx_ent *e = ntb_wrx_new(qpx, IBV_WR_SEND_WITH_IMM);

	if (e)
		e->wr.imm_data = imm_data;
}

static void ntb_wrx_rdma(struct ibv_qp_ex *qpx, enum ibv_wr_opcode op,
			 uint32_t rkey, uint64_t remote_addr, __be32 imm_data)
{
	struct ntb_wrx_ent *e = ntb_wrx_new(qpx, op);

	if (!e)
		return;
	e->wr.wr.rdma.rkey = rkey;
	e->wr.wr.rdma.remote_addr = remote_addr;
	e->wr.imm_data = imm_data;
}

static void ntb_wr_rdma_write(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t remote_addr)
{
	ntb_wrx_rdma(qpx, IBV_WR_RDMA_WRITE, rkey, remote_addr, 0);
}

static void ntb_wr_rdma_write_imm(struct ibv_qp_ex *qpx, uint32_t rkey,
				  uint64_t remote_addr, __be32 imm_data)
{
	ntb_wrx_rdma(qpx, IBV_WR_RDMA_WRITE_WITH_IMM, rkey, remote_addr,
		     imm_data);
}

static void ntb_wr_rdma_read(struct ibv_qp_ex *qpx, uint32_t rkey,
			     uint64_t remote_addr)
{
	ntb_wrx_rdma(qpx, IBV_WR_RDMA_READ, rkey, remote_addr, 0);
}

static void ntb_wrx_atomic(struct ibv_qp_ex *qpx, enum ibv_wr_opcode op,
			   uint32_t rkey, uint64_t remote_addr,
			   uint64_t compare_add, uint64_t swap)
{
	struct ntb_wrx_ent *e = ntb_wrx_new(qpx, op);

	if (!e)
		return;
	e->wr.wr.atomic.rkey = rkey;
	e->wr.wr.atomic.remote_addr = remote_addr;
	e->wr.wr.atomic.compare_add = compare_add;
	e->wr.wr.atomic.swap = swap;
}

static void ntb_wr_atomic_cmp_swp(struct ibv_qp_ex *qpx, uint32_t rkey,
				  uint64_t remote_addr, uint64_t compare,
				  uint64_t swap)
{
	ntb_wrx_atomic(qpx, IBV_WR_ATOMIC_CMP_AND_SWP, rkey, remote_addr,
		       compare, swap);
}

static void ntb_wr_atomic_fetch_add(struct ibv_qp_ex *qpx, uint32_t rkey,
				    uint64_t remote_addr, uint64_t add)
{
	ntb_wrx_atomic(qpx, IBV_WR_ATOMIC_FETCH_AND_ADD, rkey, remote_addr, add,
		       0);
}

static void ntb_wr_set_ud_addr(struct ibv_qp_ex *qpx, struct ibv_ah *ah,
			       uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct ntb_wrx_ent *e = ntb_wrx_cur(qpx);

	if (!e)
		return;
	e->wr.wr.ud.ah = ah;
	e->wr.wr.ud.remote_qpn = remote_qpn;
	e->wr.wr.ud.remote_qkey = remote_qkey;
}

static void ntb_wr_set_sge_list(struct ibv_qp_ex *qpx, size_t num_sge,
				const struct ibv_sge *sg_list)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);
	struct ntb_wrx_ent *e = ntb_wrx_cur(qpx);

	if (!e)
		return;
	if (num_sge > qp->max_send_sge) {
		ntb_wrx_fail(&qp->wrx, EINVAL);
		return;
	}
	if (num_sge)
		memcpy(e->sge, sg_list, num_sge * sizeof(*sg_list));
	e->wr.num_sge = (int)num_sge;
	e->wr.send_flags &= ~IBV_SEND_INLINE;
	e->inl_off = -1;
}

static void ntb_wr_set_sge(struct ibv_qp_ex *qpx, uint32_t lkey, uint64_t addr,
			   uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	ntb_wr_set_sge_list(qpx, 1, &sge);
}

/*
 * Copy the buffers into the inline buffer as one piece of data of the
 * current work request (at most max_inline bytes).
 */
static void ntb_wr_set_inline_data_list(struct ibv_qp_ex *qpx, size_t num_buf,
					const struct ibv_data_buf *buf_list)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);
	struct ntb_wrx *x = &qp->wrx;
	struct ntb_wrx_ent *e = ntb_wrx_cur(qpx);
	size_t total = 0, i, cap;
	char *p;

	if (!e)
		return;
	for (i = 0; i < num_buf; i++) {
		if (buf_list[i].length > qp->max_inline - total) {
			ntb_wrx_fail(x, EINVAL);
			return;
		}
		total += buf_list[i].length;
	}
	if (x->inl_cap - x->inl_len < total) {
		cap = x->inl_cap ? x->inl_cap :
				   NTB_WRX_FIRST * NTBRDMA_MAX_INLINE;
		while (cap - x->inl_len < total)
			cap *= 2;
		p = realloc(x->inl, cap);
		if (!p) {
			ntb_wrx_fail(x, ENOMEM);
			return;
		}
		x->inl = p;
		x->inl_cap = cap;
	}
	/* The address is set at wr_complete: x->inl may still move. */
	e->inl_off = (int64_t)x->inl_len;
	for (i = 0; i < num_buf; i++) {
		memcpy(x->inl + x->inl_len, buf_list[i].addr,
		       buf_list[i].length);
		x->inl_len += buf_list[i].length;
	}
	e->sge[0].addr = 0;
	e->sge[0].length = (uint32_t)total;
	e->sge[0].lkey = 0;
	e->wr.num_sge = 1;
	e->wr.send_flags |= IBV_SEND_INLINE;
}

static void ntb_wr_set_inline_data(struct ibv_qp_ex *qpx, void *addr,
				   size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	ntb_wr_set_inline_data_list(qpx, 1, &buf);
}

static void ntb_wrx_reset(struct ntb_wrx *x)
{
	x->n = 0;
	x->inl_len = 0;
	x->err = 0;
}

static void ntb_wr_start(struct ibv_qp_ex *qpx)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);

	pthread_spin_lock(&qp->sq.lock);
	ntb_wrx_reset(&qp->wrx);
}

static int ntb_wr_complete(struct ibv_qp_ex *qpx)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);
	struct ntb_wrx *x = &qp->wrx;
	struct ntb_wrx_ent *e;
	uint32_t i;
	int ret = x->err;

	if (!ret && x->n) {
		for (i = 0; i < x->n; i++) {
			e = &x->ent[i];
			if (e->inl_off >= 0)
				e->sge[0].addr =
					(uintptr_t)(x->inl + e->inl_off);
			e->wr.next = i + 1 < x->n ? &x->ent[i + 1].wr : NULL;
		}
		ret = ntb_post_send_all_locked(qp, &x->ent[0].wr);
	}
	ntb_wrx_reset(x);
	pthread_spin_unlock(&qp->sq.lock);
	return ret;
}

static void ntb_wr_abort(struct ibv_qp_ex *qpx)
{
	struct ntb_qp *qp = qpx_to_qp(qpx);

	ntb_wrx_reset(&qp->wrx);
	pthread_spin_unlock(&qp->sq.lock);
}

uint64_t ntb_qpex_ops(enum ibv_qp_type type)
{
	const uint64_t send = IBV_QP_EX_WITH_SEND |
			      IBV_QP_EX_WITH_SEND_WITH_IMM;
	const uint64_t write = IBV_QP_EX_WITH_RDMA_WRITE |
			       IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM;

	switch (type) {
	case IBV_QPT_RC:
		return send | write | IBV_QP_EX_WITH_RDMA_READ |
		       IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
		       IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
	case IBV_QPT_UC:
		return send | write;
	case IBV_QPT_UD:
		return send;
	default:
		return 0;
	}
}

void ntb_qpex_init(struct ntb_qp *qp, uint64_t ops)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;

	if (ops & IBV_QP_EX_WITH_SEND)
		qpx->wr_send = ntb_wr_send;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_IMM)
		qpx->wr_send_imm = ntb_wr_send_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE)
		qpx->wr_rdma_write = ntb_wr_rdma_write;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)
		qpx->wr_rdma_write_imm = ntb_wr_rdma_write_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_READ)
		qpx->wr_rdma_read = ntb_wr_rdma_read;
	if (ops & IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP)
		qpx->wr_atomic_cmp_swp = ntb_wr_atomic_cmp_swp;
	if (ops & IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
		qpx->wr_atomic_fetch_add = ntb_wr_atomic_fetch_add;
	qpx->wr_set_ud_addr = ntb_wr_set_ud_addr;
	qpx->wr_set_sge = ntb_wr_set_sge;
	qpx->wr_set_sge_list = ntb_wr_set_sge_list;
	qpx->wr_set_inline_data = ntb_wr_set_inline_data;
	qpx->wr_set_inline_data_list = ntb_wr_set_inline_data_list;
	qpx->wr_start = ntb_wr_start;
	qpx->wr_complete = ntb_wr_complete;
	qpx->wr_abort = ntb_wr_abort;
	qp->vqp.comp_mask |= VERBS_QP_EX;
}

void ntb_qpex_fini(struct ntb_qp *qp)
{
	free(qp->wrx.ent);
	free(qp->wrx.inl);
	memset(&qp->wrx, 0, sizeof(qp->wrx));
}

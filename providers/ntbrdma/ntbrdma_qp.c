// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: queue pairs.
 *
 * The control path (create, modify, query, destroy) goes through
 * libibverbs' ibv_cmd_* helpers.  The SQ and RQ are rings mapped from the
 * kernel (include/rdma/ntbrdma-abi.h): post_send and post_recv write WQEs
 * into them and publish the producer index, without a system call.
 *
 * The kernel's engine consumes the SQ.  After publishing prod, post_send
 * looks at the kernel-owned `engine` word of the SQ ring: while it says
 * RUNNING the engine will see the new WQEs; when clear, the provider
 * kicks it with a post_send system call carrying one empty work request
 * (the kernel ignores its contents, as siw).  The RQ's word works the
 * same way with post_recv: the kernel hands new receives to the peer
 * host (a QP of the same device needs no kick: its word stays set).  A post
 * to a QP that is already in ERR asks the kernel to flush (a modify to
 * ERR, legal from ERR), so that WQE completes as IB requires.
 *
 * An RDMA WRITE in RTS may instead be done here, by CPU stores through a
 * mapping of the peer's MR, without the kernel (ntbrdma_bypass.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-pabi.h"
#include "ntbrdma.h"
#include "ntbrdma_qp.h"

struct ntb_create_qp_cmd {
	struct ibv_create_qp ibv_cmd;
	struct ntbrdma_create_qp drv;
};

struct ntb_create_qp_resp {
	struct ib_uverbs_create_qp_resp ibv_resp;
	struct ntbrdma_create_qp_resp drv;
};

_Static_assert(sizeof(struct ntbrdma_wq_ctrl) == NTBRDMA_WQ_WQE_OFFSET,
	       "WQ control block");
_Static_assert(sizeof(struct ntbrdma_send_wqe) == 320, "send WQE size");
_Static_assert(sizeof(struct ntbrdma_recv_wqe) == 272, "recv WQE size");
_Static_assert(offsetof(struct ntb_create_qp_resp, drv) == 32, "resp layout");

int ntb_wq_map(struct ntb_wq *wq, int cmd_fd, uint64_t offset, uint64_t size,
	       uint32_t num_wqe, uint32_t wqe_size, size_t expect_wqe_size)
{
	void *ring;

	if (!num_wqe || (num_wqe & (num_wqe - 1)) ||
	    wqe_size != expect_wqe_size ||
	    size < NTBRDMA_WQ_WQE_OFFSET + (uint64_t)num_wqe * wqe_size)
		return EPROTO;
	ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		    (off_t)offset);
	if (ring == MAP_FAILED)
		return errno;
	wq->ring = ring;
	wq->size = size;
	wq->num_wqe = num_wqe;
	wq->wqe_size = wqe_size;
	wq->ctrl = ring;
	wq->wqe = (char *)ring + NTBRDMA_WQ_WQE_OFFSET;
	wq->prod = __atomic_load_n(&wq->ctrl->prod, __ATOMIC_RELAXED);
	pthread_spin_init(&wq->lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

void ntb_wq_unmap(struct ntb_wq *wq)
{
	if (!wq->ring)
		return;
	munmap(wq->ring, wq->size);
	pthread_spin_destroy(&wq->lock);
	wq->ring = NULL;
}

/*
 * A QP as attr asks (PD, CQs, caps; the kernel checks them) with its
 * rings mapped; attr->cap gets what the kernel granted.
 */
static struct ntb_qp *ntb_qp_new(struct ibv_context *ibctx,
				 struct ibv_qp_init_attr_ex *attr)
{
	struct ntb_create_qp_resp resp;
	struct ibv_qp_init_attr_ex ex;
	struct ntb_create_qp_cmd cmd;
	struct ntb_qp *qp;
	int ret;

	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	/* A receive inbox, if the kernel takes it (ntbrdma_inbox.c). */
	if (ntb_inbox_wanted(attr) &&
	    ntb_inbox_alloc(qp, attr->pd, attr->cap.max_recv_wr,
			    attr->cap.max_recv_sge, &cmd.drv))
		memset(&cmd.drv, 0, sizeof(cmd.drv));
	/*
	 * What the command carries: ibv_cmd_create_qp_ex() refuses
	 * IBV_QP_INIT_ATTR_CREATE_FLAGS (create_flags 0 here: checked).
	 */
	ex = *attr;
	ex.comp_mask &= IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ret = ibv_cmd_create_qp_ex(ibctx, &qp->vqp, &ex, &cmd.ibv_cmd,
				   sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	attr->cap = ex.cap;
	/* Not taken (an RQ larger than we thought, say): not needed. */
	if (resp.drv.flags & NTBRDMA_QP_F_INBOX)
		qp->inbox.on = true;
	else
		ntb_inbox_free(qp);
	if (qp->inbox.on && (resp.drv.flags & NTBRDMA_QP_F_EAGER))
		ntb_inbox_eager_on(qp, resp.drv.eager_order);
	pthread_mutex_init(&qp->pin.lock, NULL);
	ret = ntb_wq_map(&qp->sq, ibctx->cmd_fd, resp.drv.sq_mmap_offset,
			 resp.drv.sq_mmap_size, resp.drv.sq_num_wqe,
			 resp.drv.sq_wqe_size, sizeof(struct ntbrdma_send_wqe));
	if (ret)
		goto err_destroy;
	/* The peer's published receives (in the SQ's mapping), for eager. */
	ret = ntb_eager_qp_init(qp, resp.drv.pub_offset, resp.drv.pub_size);
	if (ret)
		goto err_unmap;
	/* A QP of an SRQ has no RQ ring: post_recv refuses. */
	if (!attr->srq) {
		ret = ntb_wq_map(&qp->rq, ibctx->cmd_fd,
				 resp.drv.rq_mmap_offset, resp.drv.rq_mmap_size,
				 resp.drv.rq_num_wqe, resp.drv.rq_wqe_size,
				 sizeof(struct ntbrdma_recv_wqe));
		if (ret)
			goto err_unmap;
	}
	/*
	 * What the kernel granted (IB: at least what was asked for);
	 * ibv_cmd_create_qp_ex stored it in attr->cap (the ioctl path leaves
	 * resp.ibv_resp unset).
	 */
	qp->max_send_sge = attr->cap.max_send_sge;
	qp->max_recv_sge = attr->cap.max_recv_sge;
	qp->max_inline = attr->cap.max_inline_data;
	if (qp->max_send_sge > NTBRDMA_MAX_SGE ||
	    qp->max_recv_sge > NTBRDMA_MAX_SGE ||
	    qp->max_inline > NTBRDMA_MAX_INLINE) {
		ret = EPROTO;
		goto err_unmap;
	}
	qp->sq_sig_all = attr->sq_sig_all;
	if (qp->inbox.on)
		ntb_inbox_attach(qp);
	return qp;

err_unmap:
	ntb_wq_unmap(&qp->rq);
	ntb_wq_unmap(&qp->sq);
err_destroy:
	ibv_cmd_destroy_qp(&qp->ibqp);
	ntb_eager_qp_fini(qp);
err_free:
	ntb_inbox_free(qp);
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *ntb_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ex;
	struct ntb_qp *qp;

	memset(&ex, 0, sizeof(ex));
	ex.qp_context = attr->qp_context;
	ex.send_cq = attr->send_cq;
	ex.recv_cq = attr->recv_cq;
	ex.srq = attr->srq;
	ex.cap = attr->cap;
	ex.qp_type = attr->qp_type;
	ex.sq_sig_all = attr->sq_sig_all;
	ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	ex.pd = pd;
	qp = ntb_qp_new(pd->context, &ex);
	if (!qp)
		return NULL;
	attr->cap = ex.cap;
	return &qp->ibqp;
}

/*
 * ibv_create_qp_ex() with more than a PD in comp_mask comes here (with
 * only a PD, libibverbs calls create_qp).  Accepted: a PD, no create
 * flags (IBV_QP_INIT_ATTR_CREATE_FLAGS with create_flags 0), and
 * send_ops_flags within what the QP type has (ntbrdma_qpex.c); anything
 * else is EOPNOTSUPP.
 */
struct ibv_qp *ntb_create_qp_ex(struct ibv_context *ibctx,
				struct ibv_qp_init_attr_ex *attr)
{
	const uint64_t known = IBV_QP_INIT_ATTR_PD |
			       IBV_QP_INIT_ATTR_CREATE_FLAGS |
			       IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	bool qpex = attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	struct ntb_qp *qp;

	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) ||
	    (attr->comp_mask & ~known) ||
	    ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	     attr->create_flags) ||
	    (qpex && (!attr->send_ops_flags ||
		      (attr->send_ops_flags & ~ntb_qpex_ops(attr->qp_type))))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!attr->pd || attr->pd->context != ibctx) {
		errno = EINVAL;
		return NULL;
	}
	qp = ntb_qp_new(ibctx, attr);
	if (!qp)
		return NULL;
	if (qpex)
		ntb_qpex_init(qp, attr->send_ops_flags);
	return &qp->ibqp;
}

int ntb_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask,
		 struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd;

	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_query_qp(ibqp, attr, attr_mask, init_attr, &cmd,
				sizeof(cmd));
}

int ntb_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask)
{
	struct ntb_qp *qp = to_qp(ibqp);
	struct ibv_modify_qp cmd;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_modify_qp(ibqp, attr, attr_mask, &cmd, sizeof(cmd));
	/*
	 * RESET: a later connection's epochs start again, so what eager
	 * messages took of this one must not match them.
	 */
	if (!ret && (attr_mask & IBV_QP_STATE) &&
	    attr->qp_state == IBV_QPS_RESET && qp->sq.ring) {
		pthread_spin_lock(&qp->sq.lock);
		qp->eager_next = 0;
		__atomic_store_n(&qp->sq.ctrl->eager_next, 0, __ATOMIC_RELEASE);
		pthread_spin_unlock(&qp->sq.lock);
	}
	return ret;
}

int ntb_destroy_qp(struct ibv_qp *ibqp)
{
	struct ntb_qp *qp = to_qp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;
	if (qp->inbox.on)
		ntb_inbox_detach(qp);
	ntb_inbox_free(qp);
	ntb_bypass_qp_fini(qp);
	ntb_eager_qp_fini(qp);
	ntb_qpex_fini(qp);
	ntb_wq_unmap(&qp->rq);
	ntb_wq_unmap(&qp->sq);
	free(qp);
	return 0;
}

/* The QP state as the kernel published it (kernel-owned word). */
static enum ibv_qp_state ntb_wq_state(struct ntb_wq *wq)
{
	return (enum ibv_qp_state)__atomic_load_n(&wq->ctrl->qp_state,
						  __ATOMIC_ACQUIRE);
}

bool ntb_wq_full(struct ntb_wq *wq)
{
	/* Pairs with the kernel's store-release of cons after reading. */
	uint32_t cons = __atomic_load_n(&wq->ctrl->cons, __ATOMIC_ACQUIRE);

	return wq->prod - cons >= wq->num_wqe;
}

void *ntb_wq_slot(struct ntb_wq *wq)
{
	return wq->wqe + (size_t)(wq->prod & (wq->num_wqe - 1)) * wq->wqe_size;
}

/*
 * Publish the WQEs written so far (slots before the index), then - with a
 * full barrier, pairing with the kernel's state store and barrier before
 * it reads prod to flush - look at the state: in ERR the kernel may have
 * flushed before it saw our WQEs, so ask it to flush again.
 */
static void ntb_wq_publish(struct ibv_qp *ibqp, struct ntb_wq *wq, bool posted,
			   struct ibv_ah *ah)
{
	struct ibv_modify_qp cmd;
	struct ibv_qp_attr attr;

	if (!posted)
		return;
	__atomic_store_n(&wq->ctrl->prod, wq->prod, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ntb_wq_state(wq) != IBV_QPS_ERR) {
		/* After the fence: pairs with the kernel's clear + barrier. */
		if (__atomic_load_n(&wq->ctrl->engine, __ATOMIC_ACQUIRE) &
		    NTBRDMA_WQ_ENGINE_RUNNING)
			return;
		/* The peer holds enough receives: a poll kicks later. */
		if (wq == &to_qp(ibqp)->rq && ntb_inbox_kick_later(to_qp(ibqp)))
			return;
		if (wq == &to_qp(ibqp)->sq) {
			struct ibv_send_wr kick = { .opcode = IBV_WR_SEND };
			struct ibv_send_wr *bad;

			/*
			 * libibverbs and uverbs resolve a UD work request's
			 * AH: the kick names one the caller just posted to.
			 */
			kick.wr.ud.ah = ah;

			(void)ibv_cmd_post_send(ibqp, &kick, &bad);
		} else {
			struct ibv_recv_wr kick = {};
			struct ibv_recv_wr *bad;

			(void)ibv_cmd_post_recv(ibqp, &kick, &bad);
		}
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_ERR;
	(void)ibv_cmd_modify_qp(ibqp, &attr, IBV_QP_STATE, &cmd, sizeof(cmd));
}

static bool ntb_opcode_ok(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return true;
	default:
		return false;
	}
}

static bool ntb_opcode_inline_ok(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
	       op == IBV_WR_SEND_WITH_INV || op == IBV_WR_RDMA_WRITE ||
	       op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

/* 0 or the errno of an invalid work request (nothing written). */
static int ntb_check_send_wr(struct ntb_qp *qp, const struct ibv_send_wr *wr)
{
	uint64_t total = 0;
	int i;

	if (!ntb_opcode_ok(wr->opcode))
		return EINVAL;
	/* UD: SEND and SEND_WITH_IMM to an AH of ours. */
	if (qp->ibqp.qp_type == IBV_QPT_UD &&
	    ((wr->opcode != IBV_WR_SEND && wr->opcode != IBV_WR_SEND_WITH_IMM) ||
	     !wr->wr.ud.ah || wr->wr.ud.ah->context != qp->ibqp.context))
		return EINVAL;
	/* UC has no READ and no atomics (as rxe refuses them at post). */
	if (qp->ibqp.qp_type == IBV_QPT_UC &&
	    (wr->opcode == IBV_WR_RDMA_READ ||
	     wr->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
	     wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD))
		return EINVAL;
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->max_send_sge)
		return EINVAL;
	/*
	 * An atomic returns 8 bytes into one SGE; a misaligned target is
	 * the responder's to refuse (IBV_WC_REM_INV_REQ_ERR), as on an HCA.
	 */
	if (wr->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
	    wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		if (wr->num_sge != 1 || wr->sg_list[0].length != 8)
			return EINVAL;
	}
	if (wr->send_flags & IBV_SEND_INLINE) {
		if (!ntb_opcode_inline_ok(wr->opcode))
			return EINVAL;
		for (i = 0; i < wr->num_sge; i++)
			total += wr->sg_list[i].length;
		if (total > qp->max_inline)
			return EINVAL;
	}
	return 0;
}

static void ntb_build_send_wqe(struct ntb_qp *qp, const struct ibv_send_wr *wr,
			       struct ntbrdma_send_wqe *wqe, uint32_t flags)
{
	uint32_t total = 0;
	int i;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode; /* IBV_WR_* == IB_UVERBS_WR_* */
	wqe->flags = flags;
	if ((wr->send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all)
		wqe->flags |= NTBRDMA_WQE_F_SIGNALED;
	if (wr->send_flags & IBV_SEND_SOLICITED)
		wqe->flags |= NTBRDMA_WQE_F_SOLICITED;
	if (wr->send_flags & IBV_SEND_FENCE)
		wqe->flags |= NTBRDMA_WQE_F_FENCE;
	if (qp->ibqp.qp_type == IBV_QPT_UD) {
		wqe->u.ud.ah = to_ah(wr->wr.ud.ah)->ah_num;
		wqe->u.ud.remote_qpn = wr->wr.ud.remote_qpn;
		wqe->u.ud.remote_qkey = wr->wr.ud.remote_qkey;
	}
	switch (wr->opcode) {
	case IBV_WR_SEND_WITH_IMM:
		wqe->ex = wr->imm_data; /* network order, as given */
		break;
	case IBV_WR_SEND_WITH_INV:
		wqe->ex = wr->invalidate_rkey;
		break;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		wqe->ex = wr->imm_data;
		/* fall through */
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_READ:
		wqe->u.rdma.remote_addr = wr->wr.rdma.remote_addr;
		wqe->u.rdma.rkey = wr->wr.rdma.rkey;
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		wqe->u.atomic.remote_addr = wr->wr.atomic.remote_addr;
		wqe->u.atomic.compare_add = wr->wr.atomic.compare_add;
		wqe->u.atomic.swap = wr->wr.atomic.swap;
		wqe->u.atomic.rkey = wr->wr.atomic.rkey;
		break;
	default:
		break;
	}
	if (wr->send_flags & IBV_SEND_INLINE) {
		for (i = 0; i < wr->num_sge; i++) {
			memcpy(wqe->d.inline_data + total,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			total += wr->sg_list[i].length;
		}
		wqe->flags |= NTBRDMA_WQE_F_INLINE;
		wqe->inline_len = total;
		return;
	}
	wqe->num_sge = (uint32_t)wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->d.sge[i].addr = wr->sg_list[i].addr;
		wqe->d.sge[i].length = wr->sg_list[i].length;
		wqe->d.sge[i].lkey = wr->sg_list[i].lkey;
	}
}

/* Under sq.lock, the QP in RTS: wr done in user space if it can be. */
static enum ntb_bypass_res
ntb_bypass(struct ntb_qp *qp, const struct ibv_send_wr *wr, uint32_t raw[2])
{
	switch (wr->opcode) {
	case IBV_WR_RDMA_WRITE:
		return ntb_bypass_write(qp, wr);
	case IBV_WR_RDMA_READ:
		return ntb_bypass_read(qp, wr);
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		return ntb_eager_send(qp, wr, raw);
	default:
		return NTB_BYPASS_NO;
	}
}

/*
 * Under sq.lock.  Returns 0 or an errno value (as libibverbs documents,
 * and as mlx5 does) with *bad_wr the first request not posted: EINVAL for
 * a QP that cannot send yet (RESET, INIT, RTR) or an invalid request,
 * ENOMEM for a full send queue.  Requests before bad_wr are posted.
 * checked: the caller checked every request and the room for all.
 */
static int ntb_post_send_locked(struct ntb_qp *qp, struct ibv_send_wr *wr,
				struct ibv_send_wr **bad_wr, bool checked)
{
	struct ntb_wq *wq = &qp->sq;
	struct ibv_ah *kick_ah = NULL;
	enum ibv_qp_state state;
	bool posted = false;
	uint32_t flags, raw[2];
	int ret = 0;

	state = ntb_wq_state(wq);
	if (state == IBV_QPS_RESET || state == IBV_QPS_INIT ||
	    state == IBV_QPS_RTR) {
		*bad_wr = wr;
		return EINVAL;
	}
	for (; wr; wr = wr->next) {
		if (!checked) {
			ret = ntb_check_send_wr(qp, wr);
			if (!ret && ntb_wq_full(wq))
				ret = ENOMEM;
			if (ret) {
				*bad_wr = wr;
				break;
			}
		}
		flags = 0;
		if (state == IBV_QPS_RTS) {
			switch (ntb_bypass(qp, wr, raw)) {
			case NTB_BYPASS_DONE:
				continue;
			case NTB_BYPASS_DONE_CQE:
				flags = NTBRDMA_WQE_F_DONE;
				break;
			case NTB_BYPASS_DONE_NOTIFY:
				flags = NTBRDMA_WQE_F_DONE |
					NTBRDMA_WQE_F_NOTIFY;
				break;
			default:
				break;
			}
		}
		ntb_build_send_wqe(qp, wr, ntb_wq_slot(wq), flags);
		/* Which receive of the peer the eager SEND took. */
		if (flags & NTBRDMA_WQE_F_NOTIFY) {
			struct ntbrdma_send_wqe *w = ntb_wq_slot(wq);

			w->u.raw[0] = raw[0];
			w->u.raw[1] = raw[1];
		}
		wq->prod++;
		posted = true;
		if (qp->ibqp.qp_type == IBV_QPT_UD)
			kick_ah = wr->wr.ud.ah;
	}
	ntb_wq_publish(&qp->ibqp, wq, posted, kick_ah);
	return ret;
}

int ntb_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr)
{
	struct ntb_qp *qp = to_qp(ibqp);
	int ret;

	pthread_spin_lock(&qp->sq.lock);
	ret = ntb_post_send_locked(qp, wr, bad_wr, false);
	pthread_spin_unlock(&qp->sq.lock);
	return ret;
}

int ntb_post_send_all_locked(struct ntb_qp *qp, struct ibv_send_wr *wr)
{
	struct ntb_wq *wq = &qp->sq;
	struct ibv_send_wr *w, *bad;
	uint32_t n = 0, cons;
	int ret;

	for (w = wr; w; w = w->next, n++) {
		ret = ntb_check_send_wr(qp, w);
		if (ret)
			return ret;
	}
	/*
	 * Room for every one (a WRITE done in user space takes none: this
	 * may refuse a batch that would have fitted, never the reverse).
	 * Pairs with the kernel's store-release of cons after reading.
	 */
	cons = __atomic_load_n(&wq->ctrl->cons, __ATOMIC_ACQUIRE);
	if (wq->num_wqe - (wq->prod - cons) < n)
		return ENOMEM;
	/* Only the state, checked first, can still refuse: then all of it. */
	return ntb_post_send_locked(qp, wr, &bad, true);
}

/* As post_send: EINVAL in RESET or for too many SGEs, ENOMEM when full. */
int ntb_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr)
{
	struct ntb_qp *qp = to_qp(ibqp);
	struct ntb_wq *wq = &qp->rq;
	struct ntbrdma_recv_wqe *wqe;
	bool posted = false;
	int ret = 0, i;

	/* Its receives go to its SRQ (IB: post_recv is an error). */
	if (!wq->ring) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&wq->lock);
	if (ntb_wq_state(wq) == IBV_QPS_RESET) {
		ret = EINVAL;
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->max_recv_sge)
			ret = EINVAL;
		else if (qp->inbox.on ? !ntb_inbox_room(qp) : ntb_wq_full(wq))
			ret = ENOMEM;
		if (ret) {
			*bad_wr = wr;
			break;
		}
		if (qp->inbox.on)
			ntb_inbox_note(qp, wq->prod, wr->wr_id, wr->sg_list,
				       wr->num_sge);
		wqe = ntb_wq_slot(wq);
		memset(wqe, 0, sizeof(*wqe));
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = (uint32_t)wr->num_sge;
		for (i = 0; i < wr->num_sge; i++) {
			wqe->sge[i].addr = wr->sg_list[i].addr;
			wqe->sge[i].length = wr->sg_list[i].length;
			wqe->sge[i].lkey = wr->sg_list[i].lkey;
		}
		wq->prod++;
		posted = true;
	}
out:
	ntb_wq_publish(ibqp, wq, posted, NULL);
	pthread_spin_unlock(&wq->lock);
	return ret;
}

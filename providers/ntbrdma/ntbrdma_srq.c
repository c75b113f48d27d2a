// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: shared receive queues.  The SRQ's ring is mapped from the
 * kernel (include/rdma/ntbrdma-abi.h, laid out as a QP's RQ):
 * post_srq_recv writes WQEs and publishes prod without a system call.
 * The kernel consumes it: it hands receives to the peer host's engine
 * while a QP of the SRQ is connected there, and local consumers take
 * them when they need one.  When the ring's kernel-owned `engine` word
 * is clear after prod is published, the provider kicks the kernel with
 * post_srq_recv carrying one empty work request, as post_recv does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma.h"
#include "ntbrdma_qp.h"

struct ntb_create_srq_resp {
	struct ib_uverbs_create_srq_resp ibv_resp;
	struct ntbrdma_create_srq_resp drv;
};

_Static_assert(offsetof(struct ntb_create_srq_resp, drv) == 16, "resp layout");

struct ibv_srq *ntb_create_srq(struct ibv_pd *pd,
			       struct ibv_srq_init_attr *attr)
{
	struct ntb_create_srq_resp resp;
	struct ibv_create_srq cmd;
	struct ntb_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_srq(pd, &srq->ibsrq, attr, &cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	ret = ntb_wq_map(&srq->rq, pd->context->cmd_fd, resp.drv.mmap_offset,
			 resp.drv.mmap_size, resp.drv.num_wqe,
			 resp.drv.wqe_size, sizeof(struct ntbrdma_recv_wqe));
	if (ret)
		goto err_destroy;
	/* What the kernel granted, as ibv_cmd_create_srq stored it. */
	srq->max_sge = attr->attr.max_sge;
	if (srq->max_sge > NTBRDMA_MAX_SGE) {
		ret = EPROTO;
		goto err_unmap;
	}
	return &srq->ibsrq;

err_unmap:
	ntb_wq_unmap(&srq->rq);
err_destroy:
	ibv_cmd_destroy_srq(&srq->ibsrq);
err_free:
	free(srq);
	errno = ret;
	return NULL;
}

int ntb_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		   int attr_mask)
{
	struct ibv_modify_srq cmd;

	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_modify_srq(ibsrq, attr, attr_mask, &cmd, sizeof(cmd));
}

int ntb_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd;

	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int ntb_destroy_srq(struct ibv_srq *ibsrq)
{
	struct ntb_srq *srq = to_srq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;
	ntb_wq_unmap(&srq->rq);
	free(srq);
	return 0;
}

/* EINVAL for too many SGEs, ENOMEM when the ring is full. */
int ntb_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct ntb_srq *srq = to_srq(ibsrq);
	struct ntb_wq *wq = &srq->rq;
	struct ntbrdma_recv_wqe *wqe;
	bool posted = false;
	int ret = 0, i;

	pthread_spin_lock(&wq->lock);
	for (; wr; wr = wr->next) {
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > srq->max_sge)
			ret = EINVAL;
		else if (ntb_wq_full(wq))
			ret = ENOMEM;
		if (ret) {
			*bad_wr = wr;
			break;
		}
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
	if (posted) {
		/* Slots before the index: pairs with the kernel's acquire. */
		__atomic_store_n(&wq->ctrl->prod, wq->prod, __ATOMIC_RELEASE);
		/* prod before the engine word: pairs with its clear + barrier. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!(__atomic_load_n(&wq->ctrl->engine, __ATOMIC_ACQUIRE) &
		      NTBRDMA_WQ_ENGINE_RUNNING)) {
			struct ibv_recv_wr kick = {};
			struct ibv_recv_wr *bad;

			(void)ibv_cmd_post_srq_recv(ibsrq, &kick, &bad);
		}
	}
	pthread_spin_unlock(&wq->lock);
	return ret;
}

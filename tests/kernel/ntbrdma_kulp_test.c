// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma_kulp_test: a kernel ULP on an ntbrdma device, for the tests
 * (tests/vm/ntbrdma-kulp.sh).
 *
 * Loading it with dev=NAME runs, on that RDMA device, a ping-pong of
 * zero-length SENDs between two kernel RC QPs connected to each other
 * (loopback), driven the way legacy kernel ULPs drive their CQs: the
 * completion handler polls the CQ and posts the next receive and the
 * next SEND on the same QPs from inside the handler.  A driver that calls
 * the handler while it holds a QP's ring lock deadlocks here.  The load
 * succeeds only when `rounds` receives completed within 30 s, in order
 * and without error; the module then stays loaded, holding nothing.
 */
#include <linux/completion.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_verbs.h>

static char *dev_name_param = "ntbrdma0";
module_param_named(dev, dev_name_param, charp, 0444);
MODULE_PARM_DESC(dev, "RDMA device to run on");

static unsigned int rounds = 1000;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds, "SENDs to complete");

struct kulp {
	struct ib_device *dev;
	struct ib_pd *pd;
	struct ib_cq *cq;
	struct ib_qp *q;		/* sends */
	struct ib_qp *r;		/* receives */
	unsigned int recvs;
	int err;			/* first error: errno or -wc status */
	struct completion done;
};

static int kulp_post_recv(struct kulp *k)
{
	struct ib_recv_wr wr = { .wr_id = k->recvs };

	return ib_post_recv(k->r, &wr, NULL);
}

static int kulp_post_send(struct kulp *k)
{
	struct ib_send_wr wr = { .wr_id = k->recvs, .opcode = IB_WR_SEND };

	return ib_post_send(k->q, &wr, NULL);
}

static void kulp_fail(struct kulp *k, int err)
{
	if (!k->err) {
		k->err = err;
		complete(&k->done);
	}
}

/* Completion handler: poll, then post again on the same QPs from here. */
static void kulp_comp(struct ib_cq *cq, void *ctx)
{
	struct kulp *k = ctx;
	struct ib_wc wc;

	do {
		while (!k->err && ib_poll_cq(cq, 1, &wc) > 0) {
			if (wc.status != IB_WC_SUCCESS || wc.opcode != IB_WC_RECV ||
			    wc.wr_id != k->recvs) {
				kulp_fail(k, wc.status ? -(int)wc.status : -EPROTO);
				return;
			}
			if (++k->recvs == rounds) {
				complete(&k->done);
				return;
			}
			if (kulp_post_recv(k) || kulp_post_send(k)) {
				kulp_fail(k, -EIO);
				return;
			}
		}
	} while (!k->err &&
		 ib_req_notify_cq(cq, IB_CQ_NEXT_COMP |
				  IB_CQ_REPORT_MISSED_EVENTS) > 0);
}

/* The device's RoCE v2 GID of an IPv4 address, and its index. */
static int kulp_gid(struct ib_device *dev, union ib_gid *gid, u8 *index)
{
	const struct ib_gid_attr *attr;
	unsigned int i;

	for (i = 0; i < dev->port_data[1].immutable.gid_tbl_len; i++) {
		attr = rdma_get_gid_attr(dev, 1, i);
		if (IS_ERR(attr))
			continue;
		if (attr->gid_type == IB_GID_TYPE_ROCE_UDP_ENCAP &&
		    ipv6_addr_v4mapped((struct in6_addr *)attr->gid.raw)) {
			*gid = attr->gid;
			*index = i;
			rdma_put_gid_attr(attr);
			return 0;
		}
		rdma_put_gid_attr(attr);
	}
	return -ENODEV;
}

/* RESET -> INIT -> RTR (to dqpn at gid) -> RTS. */
static int kulp_connect(struct ib_qp *qp, u32 dqpn, union ib_gid *gid,
			u8 index)
{
	struct ib_qp_attr a = {};
	int err;

	a.qp_state = IB_QPS_INIT;
	a.port_num = 1;
	err = ib_modify_qp(qp, &a, IB_QP_STATE | IB_QP_PKEY_INDEX |
			   IB_QP_PORT | IB_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IB_QPS_RTR;
	a.path_mtu = IB_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.type = RDMA_AH_ATTR_TYPE_ROCE;
	rdma_ah_set_port_num(&a.ah_attr, 1);
	rdma_ah_set_grh(&a.ah_attr, gid, 0, index, 64, 0);
	err = ib_modify_qp(qp, &a, IB_QP_STATE | IB_QP_AV | IB_QP_PATH_MTU |
			   IB_QP_DEST_QPN | IB_QP_RQ_PSN |
			   IB_QP_MAX_DEST_RD_ATOMIC | IB_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IB_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	return ib_modify_qp(qp, &a, IB_QP_STATE | IB_QP_SQ_PSN |
			    IB_QP_TIMEOUT | IB_QP_RETRY_CNT |
			    IB_QP_RNR_RETRY | IB_QP_MAX_QP_RD_ATOMIC);
}

static struct ib_qp *kulp_qp(struct kulp *k)
{
	struct ib_qp_init_attr ia = {
		.send_cq = k->cq,
		.recv_cq = k->cq,
		.qp_type = IB_QPT_RC,
		.sq_sig_type = IB_SIGNAL_REQ_WR,
		.cap = {
			.max_send_wr = 16,
			.max_recv_wr = 16,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};

	return ib_create_qp(k->pd, &ia);
}

static int kulp_run(struct kulp *k)
{
	struct ib_cq_init_attr cqa = { .cqe = 64 };
	union ib_gid gid;
	u8 index;
	int err;

	k->pd = ib_alloc_pd(k->dev, 0);
	if (IS_ERR(k->pd))
		return PTR_ERR(k->pd);
	k->cq = ib_create_cq(k->dev, kulp_comp, NULL, k, &cqa);
	if (IS_ERR(k->cq))
		return PTR_ERR(k->cq);
	k->q = kulp_qp(k);
	if (IS_ERR(k->q))
		return PTR_ERR(k->q);
	k->r = kulp_qp(k);
	if (IS_ERR(k->r))
		return PTR_ERR(k->r);
	err = kulp_gid(k->dev, &gid, &index);
	if (!err)
		err = kulp_connect(k->q, k->r->qp_num, &gid, index);
	if (!err)
		err = kulp_connect(k->r, k->q->qp_num, &gid, index);
	if (!err)
		err = ib_req_notify_cq(k->cq, IB_CQ_NEXT_COMP);
	if (!err)
		err = kulp_post_recv(k);
	if (!err)
		err = kulp_post_send(k);
	if (err)
		return err;
	if (!wait_for_completion_timeout(&k->done, 30 * HZ))
		return -ETIMEDOUT;
	return k->err;
}

static void kulp_free(struct kulp *k)
{
	if (!IS_ERR_OR_NULL(k->r))
		ib_destroy_qp(k->r);
	if (!IS_ERR_OR_NULL(k->q))
		ib_destroy_qp(k->q);
	if (!IS_ERR_OR_NULL(k->cq))
		ib_destroy_cq(k->cq);
	if (!IS_ERR_OR_NULL(k->pd))
		ib_dealloc_pd(k->pd);
}

static int __init kulp_init(void)
{
	struct kulp *k;
	int err;

	if (!rounds)
		return -EINVAL;
	k = kzalloc(sizeof(*k), GFP_KERNEL);
	if (!k)
		return -ENOMEM;
	init_completion(&k->done);
	k->dev = ib_device_get_by_name(dev_name_param, RDMA_DRIVER_UNKNOWN);
	if (!k->dev) {
		kfree(k);
		return -ENODEV;
	}
	err = kulp_run(k);
	/* Destroying the QPs flushes nothing: no WQE is left when done. */
	kulp_free(k);
	pr_info("ntbrdma_kulp_test: %s: %u of %u receives completed: %d\n",
		dev_name_param, k->recvs, rounds, err);
	ib_device_put(k->dev);
	kfree(k);
	return err;
}

static void __exit kulp_exit(void)
{
}

module_init(kulp_init);
module_exit(kulp_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ntbrdma test: a kernel ULP that posts from its CQ handler");

// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: UD datagrams, for UD QPs and the GSI QP1
 * (Documentation/rdma-datapath.md, "UD, GSI and SRQ").
 *
 * The responder's kernel is the only consumer of a UD QP's receive
 * queue: a datagram, from the peer or from a QP of this device, is
 * delivered by ntbr_ud_deliver(), which checks the QP (UD, RTR or later,
 * the datagram's Q_Key), takes the next posted receive in order (under
 * the QP's ud_rx_mutex, so the peer's handler and local engines never
 * race for one), writes the 40-byte GRH and the payload into it and
 * posts the completion.  Nothing is published to the peer.
 *
 * Requester (the engine, ntbr_ud_send): a SEND or SEND_WITH_IMM of at
 * most NTBR_UD_MAX_MSG bytes to the AH the WQE names (of the QP's PD).
 * The payload is gathered into the QP's ud_tx buffer; to a GID of ours it
 * is delivered at once, to the peer it goes in control messages: UD_SEND
 * with the header and the first bytes, UD_MORE with the rest, all under
 * ud->tx_lock after a look at the control queue, so no other datagram's
 * messages come between them and the queue grows past its soft limit by
 * one datagram at most (NTBR_UD_MSGS_MAX, counted in ntbrdma_ib_mr.c).
 * UD is unacknowledged: the WQE succeeds once the datagram is handed on,
 * whatever becomes of it.
 *
 * Responder (the control handler, in order): UD_SEND starts a datagram
 * in the device's one reassembly buffer, UD_MORE continues it; a piece
 * that does not continue what is there, or lengths that do not add up,
 * drop the datagram (logged).  A complete datagram is delivered.
 *
 * What each attacker reaches: the peer, our UD QPs only through
 * ntbr_ud_deliver's checks and its own Q_Key, into receives our MRs
 * allow, with one bounded buffer; a local process, only AHs of its PD,
 * and datagrams any UD sender may send.
 */
#include <linux/debugfs.h>
#include <linux/ip.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <rdma/ib_pack.h>

#include "ntbrdma_ib_peer.h"

/* First piece: header and up to NTBR_UD_FIRST bytes of payload. */
#define NTBR_UD_FIRST \
	(NTBR_CTRL_MAX_PAYLOAD - sizeof(struct ntbr_ud_msg_send))
#define NTBR_UD_PIECE \
	(NTBR_CTRL_MAX_PAYLOAD - sizeof(struct ntbr_ud_msg_more))
static_assert(NTBR_UD_MSGS_MAX ==
	      1 + DIV_ROUND_UP(NTBR_UD_MAX_MSG - NTBR_UD_FIRST,
			       NTBR_UD_PIECE));

/* The bytes of UDP, BTH, DETH and ICRC around a RoCE v2 UD payload. */
#define NTBR_UD_WIRE_EXTRA	(8 + IB_BTH_BYTES + IB_DETH_BYTES + 4)

struct ntbr_ud_dev {
	struct mutex tx_lock;		/* a datagram's messages together */
	/* Reassembly, the control handler's only (in order, one at once). */
	u32 rx_len;			/* bytes of payload there, 0: none */
	bool rx_busy;			/* a datagram is being reassembled */
	atomic_t dropped;		/* datagrams no QP took */
	struct ntbr_ud_msg_send rx_hdr;
	u8 rx_buf[NTBR_UD_MAX_MSG];
};

/* A UD QP's scratch: the datagram it sends, the receive it fills. */
struct ntbr_ud_qp {
	/* tx_buf right after tx_hdr: the first UD_SEND is sent from here. */
	struct ntbr_ud_msg_send tx_hdr;
	u8 tx_buf[NTBR_UD_MAX_MSG];
	u8 tx_more[NTBR_CTRL_MAX_PAYLOAD];	/* one UD_MORE */
	struct ntbrdma_recv_wqe rwqe;
	struct ntbr_seg rseg[NTBRDMA_MAX_SGE];
	u8 grh[sizeof(struct ib_grh)];
};

static_assert(offsetof(struct ntbr_ud_qp, tx_buf) ==
	      sizeof(struct ntbr_ud_msg_send));

int ntbr_ud_dev_init(struct ntbr_ib_dev *dev)
{
	dev->ud = kzalloc(sizeof(*dev->ud), GFP_KERNEL);
	if (!dev->ud)
		return -ENOMEM;
	mutex_init(&dev->ud->tx_lock);
	return 0;
}

void ntbr_ud_dev_fini(struct ntbr_ib_dev *dev)
{
	if (!dev->ud)
		return;
	mutex_destroy(&dev->ud->tx_lock);
	kfree(dev->ud);
	dev->ud = NULL;
}

/* debugfs ud_dropped: datagrams no receive took (UD drops, by design). */
void ntbr_ud_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir)
{
	debugfs_create_atomic_t("ud_dropped", 0400, dir, &dev->ud->dropped);
}

int ntbr_ud_qp_init(struct ntbr_qp *qp)
{
	if (!ntbr_qp_ud(qp))
		return 0;
	qp->ud = kzalloc(sizeof(*qp->ud), GFP_KERNEL);
	if (!qp->ud)
		return -ENOMEM;
	mutex_init(&qp->ud_rx_mutex);
	return 0;
}

void ntbr_ud_qp_fini(struct ntbr_qp *qp)
{
	if (!qp->ud)
		return;
	mutex_destroy(&qp->ud_rx_mutex);
	kfree(qp->ud);
	qp->ud = NULL;
}

/* The 40 bytes before the payload, as a RoCE v2 HCA writes them. */
static void ntbr_ud_grh(const struct ntbr_ud_msg_send *h, u32 len, u8 *grh)
{
	u32 flow = le32_to_cpu(h->flow_label) & 0xfffff;

	memset(grh, 0, sizeof(struct ib_grh));
	if (h->flags & NTBR_UD_F_IPV4) {
		/* The IPv4 header in the last 20 bytes, the rest zero. */
		struct iphdr *ip = (struct iphdr *)(grh + 20);

		ip->version = 4;
		ip->ihl = 5;
		ip->tos = h->traffic_class;
		ip->tot_len = htons(sizeof(*ip) + NTBR_UD_WIRE_EXTRA + len);
		ip->ttl = h->hop_limit;
		ip->protocol = IPPROTO_UDP;
		memcpy(&ip->saddr, h->sgid + 12, 4);
		memcpy(&ip->daddr, h->dgid + 12, 4);
		ip->check = ip_fast_csum((u8 *)ip, ip->ihl);
	} else {
		struct ib_grh *g = (struct ib_grh *)grh;

		g->version_tclass_flow =
			cpu_to_be32(6U << 28 | (u32)h->traffic_class << 20 |
				    flow);
		g->paylen = cpu_to_be16(NTBR_UD_WIRE_EXTRA + len);
		g->next_hdr = IPPROTO_UDP;
		g->hop_limit = h->hop_limit;
		memcpy(g->sgid.raw, h->sgid, 16);
		memcpy(g->dgid.raw, h->dgid, 16);
	}
}

/* The QP still takes datagrams: UD (or GSI), RTR or later, not ERR. */
static bool ntbr_ud_qp_rcv(struct ntbr_qp *qp)
{
	enum ib_qp_state s = READ_ONCE(qp->state);

	return ntbr_qp_ud(qp) && (s == IB_QPS_RTR || s == IB_QPS_RTS ||
				  s == IB_QPS_SQD || s == IB_QPS_SQE);
}

/*
 * Deliver the datagram h (len bytes of payload at data) to its QP, as
 * the responder: see the top of the file.  Caller holds eng_sem (read);
 * process context.  True if a receive took it (also in error).
 */
static bool ntbr_ud_deliver(struct ntbr_ib_dev *dev,
			    const struct ntbr_ud_msg_send *h, const void *data,
			    u32 len)
{
	struct ntbr_qp *qp = xa_load(&dev->qps, le32_to_cpu(h->dst_qpn));
	struct ntbrdma_cqe cqe = {
		.opcode = IB_WC_RECV,
		.byte_len = sizeof(struct ib_grh) + len,
		.src_qp = le32_to_cpu(h->src_qpn) & 0xffffff,
		.wc_flags = NTBRDMA_CQE_F_GRH | NTBRDMA_CQE_F_WITH_NET_TYPE,
		.port_num = 1,
	};
	struct ntbr_dst d = { .dev = dev };
	struct ntbr_ud_qp *u;
	u32 index = 0, epoch = 0, prod, nseg;
	unsigned long flags;
	u64 room;
	bool took = false;

	lockdep_assert_held(&dev->eng_sem);
	if (!qp || !ntbr_ud_qp_rcv(qp) ||
	    le32_to_cpu(h->qkey) != READ_ONCE(qp->attr.qkey))
		return false;
	u = qp->ud;
	mutex_lock(&qp->ud_rx_mutex);
	if (qp->ibqp.srq) {
		if (!ntbr_srq_take(to_ntbr_srq(qp->ibqp.srq), &u->rwqe))
			goto out;	/* no receive: dropped */
	} else {
		spin_lock_irqsave(&qp->rq_lock, flags);
		if (!ntbr_wq_prod(qp, &qp->rq, &prod) || prod == qp->rq.cons) {
			spin_unlock_irqrestore(&qp->rq_lock, flags);
			goto out;	/* no receive: dropped (UD has no RNR) */
		}
		index = qp->rq.cons;
		epoch = qp->rq_epoch;
		memcpy(&u->rwqe, ntbr_wq_slot(&qp->rq, index),
		       sizeof(u->rwqe));
		spin_unlock_irqrestore(&qp->rq_lock, flags);
	}

	cqe.wr_id = u->rwqe.wr_id;
	cqe.qp_num = qp->ibqp.qp_num;
	cqe.network_hdr_type = h->flags & NTBR_UD_F_IPV4 ? RDMA_NETWORK_IPV4 :
							   RDMA_NETWORK_IPV6;
	/* The IP version where UCX's RoCE code looks for it (as mlx5). */
	cqe.sl = h->flags & NTBR_UD_F_IPV4 ? 2 : 3;
	if (h->flags & NTBR_UD_F_IMM) {
		cqe.ex = h->imm;
		cqe.wc_flags |= NTBRDMA_CQE_F_WITH_IMM;
	}
	if (ntbr_eng_sges(dev, qp->ibqp.pd, u->rwqe.sge,
			  min_t(u32, u->rwqe.num_sge, NTBRDMA_MAX_SGE),
			  IB_ACCESS_LOCAL_WRITE, u->rseg, &nseg, &room)) {
		cqe.status = IB_WC_LOC_PROT_ERR;
	} else if (room < sizeof(struct ib_grh) + len) {
		cqe.status = IB_WC_LOC_LEN_ERR;
	} else {
		d.seg = u->rseg;
		d.nseg = nseg;
		ntbr_ud_grh(h, len, u->grh);
		if (ntbr_eng_copy(NULL, 0, u->grh, sizeof(u->grh), &d) ||
		    (len && ntbr_eng_copy(NULL, 0, data, len, &d)))
			cqe.status = IB_WC_LOC_PROT_ERR;
	}
	spin_lock_irqsave(&qp->rq_lock, flags);
	if (qp->ibqp.srq) {
		/* The SRQ's receive is the QP's now; flushed if it stopped. */
		if (!ntbr_ud_qp_rcv(qp))
			cqe.status = IB_WC_WR_FLUSH_ERR;
		ntbr_cq_post(to_ntbr_cq(qp->ibqp.recv_cq), &cqe, &qp->ibqp,
			     h->flags & NTBR_UD_F_SOLICITED);
		took = true;
	} else if (qp->rq.cons == index && qp->rq_epoch == epoch) {
		/* (Flushed or reset while we copied: that receive is gone.) */
		ntbr_wq_set_cons(&qp->rq, index + 1);
		ntbr_cq_post(to_ntbr_cq(qp->ibqp.recv_cq), &cqe, &qp->ibqp,
			     h->flags & NTBR_UD_F_SOLICITED);
		took = true;
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
out:
	mutex_unlock(&qp->ud_rx_mutex);
	return took;
}

/* Send the datagram in qp's ud_tx to the peer; -EBUSY: queue long. */
static int ntbr_ud_send_peer(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			     u32 len)
{
	struct ntbr_ud_qp *u = qp->ud;
	struct ntbr_ud_msg_more *more = (struct ntbr_ud_msg_more *)u->tx_more;
	u32 off, n;

	for (;;) {
		mutex_lock(&dev->ud->tx_lock);
		if (!ntbr_ctrl_congested(dev->nd))
			break;
		mutex_unlock(&dev->ud->tx_lock);
		/* ntbr_eng_ctrl_room() runs the QP again. */
		if (ntbr_eng_ctrl_wait(qp, NTBR_QP_WAIT_SQ))
			return -EBUSY;
	}
	n = min_t(u32, len, NTBR_UD_FIRST);
	/* -ENOTCONN: the link went; the datagram is lost, as UD may. */
	if (ntbr_mr_send(dev, NTBR_CTRL_QP_UD_SEND, &u->tx_hdr,
			 sizeof(u->tx_hdr) + n))
		goto out;
	for (off = n; off < len; off += n) {
		n = min_t(u32, len - off, NTBR_UD_PIECE);
		more->offset = cpu_to_le32(off);
		more->rsvd = 0;
		memcpy(more->data, u->tx_buf + off, n);
		if (ntbr_mr_send(dev, NTBR_CTRL_QP_UD_MORE, more,
				 sizeof(*more) + n))
			break;
	}
out:
	mutex_unlock(&dev->ud->tx_lock);
	return 0;
}

int ntbr_ud_send(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
		 struct ntbr_eng_ctx *c, u32 nsrc)
{
	const struct ntbrdma_send_wqe *w = &c->wqe;
	struct ntbr_ud_msg_send *h = &qp->ud->tx_hdr;
	struct ntbr_dst d = { .dev = dev };
	struct ntbr_ah_info ai;
	u32 qkey = w->u.ud.remote_qkey;

	lockdep_assert_held(&qp->mutex);
	if (w->opcode != IB_UVERBS_WR_SEND &&
	    w->opcode != IB_UVERBS_WR_SEND_WITH_IMM)
		return IB_WC_LOC_QP_OP_ERR;
	if (c->len > NTBR_UD_MAX_MSG)
		return IB_WC_LOC_LEN_ERR;
	if (!ntbr_ah_copy(dev, w->u.ud.ah, qp->ibqp.pd, &ai))
		return IB_WC_LOC_QP_OP_ERR;
	/* IB: a Q_Key with the high bit set means the QP's own. */
	if (qkey & 0x80000000U)
		qkey = qp->attr.qkey;
	memset(h, 0, sizeof(*h));
	h->dst_qpn = cpu_to_le32(w->u.ud.remote_qpn & 0xffffff);
	h->src_qpn = cpu_to_le32(qp->ibqp.qp_num);
	h->qkey = cpu_to_le32(qkey);
	h->len = cpu_to_le32(c->len);
	h->imm = w->ex;
	h->flags = (w->opcode == IB_UVERBS_WR_SEND_WITH_IMM ? NTBR_UD_F_IMM :
							      0) |
		   (w->flags & NTBRDMA_WQE_F_SOLICITED ? NTBR_UD_F_SOLICITED :
							 0) |
		   (ai.ipv4 ? NTBR_UD_F_IPV4 : 0);
	h->hop_limit = ai.hop_limit;
	h->traffic_class = ai.traffic_class;
	h->flow_label = cpu_to_le32(ai.flow_label);
	memcpy(h->sgid, ai.sgid.raw, 16);
	memcpy(h->dgid, ai.dgid.raw, 16);
	d.buf = qp->ud->tx_buf;
	d.buf_len = c->len;
	if (ntbr_eng_copy(c->src, nsrc,
			  w->flags & NTBRDMA_WQE_F_INLINE ? w->d.inline_data :
							    NULL,
			  c->len, &d))
		return IB_WC_LOC_PROT_ERR;
	if (!ai.local)
		return ntbr_ud_send_peer(dev, qp, c->len);
	if (!ntbr_ud_deliver(dev, h, qp->ud->tx_buf, c->len))
		atomic_inc(&dev->ud->dropped);
	return IB_WC_SUCCESS;
}

/* The datagram being reassembled is complete: deliver it, start over. */
static void ntbr_ud_rx_done(struct ntbr_ib_dev *dev)
{
	struct ntbr_ud_dev *ud = dev->ud;

	down_read(&dev->eng_sem);
	if (!ntbr_ud_deliver(dev, &ud->rx_hdr, ud->rx_buf, ud->rx_len))
		atomic_inc(&ud->dropped);
	up_read(&dev->eng_sem);
	ud->rx_busy = false;
	ud->rx_len = 0;
}

void ntbr_ud_h_send(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_ud_msg_send *h = p;
	struct ntbr_ud_dev *ud = dev->ud;
	u32 total, n;

	if (ud->rx_busy) {
		/* The previous datagram never ended: the peer's fault. */
		ud->rx_busy = false;
		ntbr_peer_bad(dev, "UD datagram cut short", 0);
	}
	if (len < sizeof(*h))
		return ntbr_peer_bad(dev, "malformed UD_SEND", 0);
	total = le32_to_cpu(h->len);
	n = len - sizeof(*h);
	if (total > NTBR_UD_MAX_MSG || n > total ||
	    (n < total && n != NTBR_UD_FIRST))
		return ntbr_peer_bad(dev, "malformed UD_SEND",
				     le32_to_cpu(h->dst_qpn));
	ud->rx_hdr = *h;
	memcpy(ud->rx_buf, h->data, n);
	ud->rx_len = n;
	ud->rx_busy = true;
	if (n == total)
		ntbr_ud_rx_done(dev);
}

void ntbr_ud_h_more(struct ntbr_ib_dev *dev, const void *p, size_t len)
{
	const struct ntbr_ud_msg_more *m = p;
	struct ntbr_ud_dev *ud = dev->ud;
	u32 total = le32_to_cpu(ud->rx_hdr.len), n;

	if (!ud->rx_busy || len <= sizeof(*m) ||
	    le32_to_cpu(m->offset) != ud->rx_len) {
		ud->rx_busy = false;
		return ntbr_peer_bad(dev, "UD_MORE out of place", 0);
	}
	n = len - sizeof(*m);
	if (n > total - ud->rx_len ||
	    (ud->rx_len + n < total && n != NTBR_UD_PIECE)) {
		ud->rx_busy = false;
		return ntbr_peer_bad(dev, "malformed UD_MORE", 0);
	}
	memcpy(ud->rx_buf + ud->rx_len, m->data, n);
	ud->rx_len += n;
	if (ud->rx_len == total)
		ntbr_ud_rx_done(dev);
}

/* The link went: a datagram half received never ends. */
void ntbr_ud_link_down(struct ntbr_ib_dev *dev)
{
	/*
	 * The control handlers and the link work share one ordered
	 * workqueue, so no handler runs now.
	 */
	dev->ud->rx_busy = false;
	dev->ud->rx_len = 0;
}

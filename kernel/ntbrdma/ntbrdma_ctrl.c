// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: the control channel.
 *
 * One ring per direction (ntbrdma_ring.h): we produce into the peer's
 * ctrl_in[] and ctrl_in_prod, the peer writes back how far it consumed into
 * our ctrl_out_cons; the peer produces into our ctrl_in[] and ctrl_in_prod,
 * we write our consumer index into its ctrl_out_cons.  The consumer is a
 * work item on the device's ordered workqueue that only runs when asked, so
 * every send rings doorbell NTBR_DB_CTRL (control messages are rare).
 * Handlers run in that work, in order, in process context.
 */

#include <linux/rwsem.h>

#include "ntbrdma_transport.h"

static DECLARE_RWSEM(ntbr_ctrl_rwsem);	/* protects ntbr_ctrl_handlers */
static ntbr_ctrl_handler_t ntbr_ctrl_handlers[NTBR_CTRL_TYPE_MAX];

int ntbr_ctrl_register(u16 type, ntbr_ctrl_handler_t handler)
{
	int ret = 0;

	if (type < NTBR_CTRL_TYPE_IB || type >= NTBR_CTRL_TYPE_MAX || !handler)
		return -EINVAL;
	down_write(&ntbr_ctrl_rwsem);
	if (ntbr_ctrl_handlers[type])
		ret = -EBUSY;
	else
		ntbr_ctrl_handlers[type] = handler;
	up_write(&ntbr_ctrl_rwsem);

	return ret;
}

/* On return no handler of @type runs any more. */
void ntbr_ctrl_unregister(u16 type)
{
	if (type >= NTBR_CTRL_TYPE_MAX)
		return;
	down_write(&ntbr_ctrl_rwsem);
	ntbr_ctrl_handlers[type] = NULL;
	up_write(&ntbr_ctrl_rwsem);
}

void ntbr_ctrl_init(struct ntbr_dev *nd)
{
	spin_lock_init(&nd->ctrl_lock);
	INIT_WORK(&nd->ctrl_work, ntbr_ctrl_work);
}

/* A new session: both rings start empty (the area was zeroed). */
void ntbr_ctrl_ready(struct ntbr_dev *nd)
{
	unsigned long flags;

	spin_lock_irqsave(&nd->ctrl_lock, flags);
	nd->ctrl_out_prod = 0;
	nd->ctrl_out_cons = 0;
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	nd->ctrl_in_cons = 0;
	nd->ping_seq = 0;
	nd->ping_next = 0;
	nd->pong_next = 0;
}

/* Doorbell NTBR_DB_CTRL (hard irq): a message or a hello arrived. */
void ntbr_ctrl_db(struct ntbr_dev *nd)
{
	if (READ_ONCE(nd->ready))
		queue_work(nd->wq, &nd->ctrl_work);
	else
		ntbr_link_kick(nd);
}

/* Any type, the transport's own included. */
int ntbr_ctrl_xmit(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len)
{
	struct ntbr_ctrl_hdr hdr;
	unsigned long flags;
	u32 cons, slot;
	int idx, ret = 0;

	if (len > NTBR_CTRL_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (type >= NTBR_CTRL_TYPE_MAX)
		return -EINVAL;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready)) {
		ret = -ENOTCONN;
		goto out;
	}
	spin_lock_irqsave(&nd->ctrl_lock, flags);
	/* The peer (consumer) writes ctrl_out_cons: untrusted. */
	cons = le32_to_cpu(READ_ONCE(nd->area->ctrl_out_cons.val));
	if (!ntbr_index_ok(nd->ctrl_out_cons, cons,
			   nd->ctrl_out_prod - nd->ctrl_out_cons)) {
		spin_unlock_irqrestore(&nd->ctrl_lock, flags);
		ntbr_link_reset(nd, "bad control consumer index");
		ret = -ENOTCONN;
		goto out;
	}
	nd->ctrl_out_cons = cons;
	if (ntbr_ring_used(nd->ctrl_out_prod, cons) >= NTBR_CTRL_RING) {
		spin_unlock_irqrestore(&nd->ctrl_lock, flags);
		ret = -EAGAIN;
		goto out;
	}

	slot = nd->ctrl_out_prod & (NTBR_CTRL_RING - 1);
	hdr.type = cpu_to_le16(type);
	hdr.len = cpu_to_le16(len);
	hdr.rsvd = 0;
	ntbr_win_copy(nd, ntbr_peer_field(nd, ctrl_in[slot].hdr), &hdr,
		      sizeof(hdr));
	if (len)
		ntbr_win_copy(nd, ntbr_peer_field(nd, ctrl_in[slot].payload),
			      payload, len);
	wmb(); /* the entry before the producer index that publishes it */
	nd->ctrl_out_prod++;
	/* ctrl_in_prod in the peer's area: we (the producer) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_in_prod.val),
			 nd->ctrl_out_prod);
	spin_unlock_irqrestore(&nd->ctrl_lock, flags);
	ntbr_peer_db(nd, NTBR_DB_CTRL);
out:
	srcu_read_unlock(&nd->srcu, idx);

	return ret;
}

int ntbr_ctrl_send(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len)
{
	if (type < NTBR_CTRL_TYPE_IB)
		return -EINVAL;

	return ntbr_ctrl_xmit(nd, type, payload, len);
}

/* Take the next message from our ring: 1 got one, 0 empty, <0 reset. */
static int ntbr_ctrl_next(struct ntbr_dev *nd, struct ntbr_ctrl_entry *e)
{
	u32 prod, slot;
	int idx, ret = 1;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready)) {
		ret = 0;
		goto out;
	}
	/* ctrl_in_prod: the peer (producer) writes it; untrusted. */
	prod = le32_to_cpu(READ_ONCE(nd->area->ctrl_in_prod.val));
	if (!ntbr_index_ok(nd->ctrl_in_cons, prod, NTBR_CTRL_RING)) {
		ntbr_link_reset(nd, "bad control producer index");
		ret = -EIO;
		goto out;
	}
	if (prod == nd->ctrl_in_cons) {
		ret = 0;
		goto out;
	}
	rmb(); /* the producer index before the entry it publishes */
	slot = nd->ctrl_in_cons & (NTBR_CTRL_RING - 1);
	/* Copy first: the peer could change the entry while we look at it. */
	memcpy(e, &nd->area->ctrl_in[slot], sizeof(*e));
	nd->ctrl_in_cons++;
	/* ctrl_out_cons in the peer's area: we (the consumer) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, ctrl_out_cons.val),
			 nd->ctrl_in_cons);
out:
	srcu_read_unlock(&nd->srcu, idx);

	return ret;
}

void ntbr_ctrl_work(struct work_struct *work)
{
	struct ntbr_dev *nd = container_of(work, struct ntbr_dev, ctrl_work);
	struct ntbr_ctrl_entry e;
	ntbr_ctrl_handler_t h;
	u16 type, len;
	int n;

	for (n = 0; n < NTBR_CTRL_RING; n++) {
		if (ntbr_ctrl_next(nd, &e) <= 0)
			return;
		type = le16_to_cpu(e.hdr.type);
		len = le16_to_cpu(e.hdr.len);
		if (len > NTBR_CTRL_MAX_PAYLOAD || type >= NTBR_CTRL_TYPE_MAX) {
			ntbr_link_reset(nd, "bad control message");
			return;
		}
		if (type == NTBR_CTRL_BYE) {
			ntbr_link_bye(nd);
			return;
		}
		if (type < NTBR_CTRL_TYPE_IB) {
			ntbr_dbg_ctrl(nd, type, e.payload, len);
			continue;
		}
		down_read(&ntbr_ctrl_rwsem);
		h = ntbr_ctrl_handlers[type];
		if (h)
			h(nd, type, e.payload, len);
		up_read(&ntbr_ctrl_rwsem);
	}
	/* More than a ring's worth: give other work a turn. */
	queue_work(nd->wq, &nd->ctrl_work);
}

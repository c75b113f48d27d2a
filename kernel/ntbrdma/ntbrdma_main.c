// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: the NTB client, one struct ntbr_dev per NTB device:
 * probe and remove, doorbells, the accessors of ntbrdma.h.
 *
 * Memory model (ntbrdma_window.c): our inbound windows cover our DMA
 * address space from 0, so the peer reaches a page DMA-mapped for the NTB
 * device at its DMA address; we reach the peer's pages at their DMA
 * addresses through its windows, mapped write-combining.
 */

#include <linux/module.h>
#include <linux/slab.h>

#include "ntbrdma_transport.h"

#define NTBR_DB_OWN (BIT_ULL(NTBR_DB_CTRL) | BIT_ULL(NTBR_DB_NET))

/* --- doorbells ------------------------------------------------------------ */

void ntbr_peer_db(struct ntbr_dev *nd, int bit)
{
	/* ntb_peer_db_set() orders our window stores before the doorbell. */
	ntb_peer_db_set(nd->ntb, BIT_ULL(bit));
}

u64 ntbr_db_ib_mask(struct ntbr_dev *nd)
{
	return ntb_db_valid_mask(nd->ntb) & ~NTBR_DB_OWN;
}

void ntbr_db_set_handler(struct ntbr_dev *nd, ntbr_db_handler_t handler)
{
	WRITE_ONCE(nd->db_handler, handler);
}

int ntbr_peer_db_set(struct ntbr_dev *nd, u64 db_bits)
{
	if (!db_bits || (db_bits & ~ntbr_db_ib_mask(nd)))
		return -EINVAL;
	if (!READ_ONCE(nd->ready))
		return -ENOTCONN;

	return ntb_peer_db_set(nd->ntb, db_bits);
}

static void ntbr_db_event(void *ctx, int vector)
{
	struct ntbr_dev *nd = ctx;
	struct ntb_dev *ntb = nd->ntb;
	ntbr_db_handler_t handler;
	u64 vmask, bits;

	if (vector >= 0 && vector < ntb_db_vector_count(ntb))
		vmask = ntb_db_vector_mask(ntb, vector);
	else
		vmask = ntb_db_valid_mask(ntb);
	bits = ntb_db_read(ntb) & vmask;
	if (!bits)
		return;
	/* Clear before acting: a doorbell rung after this is not lost. */
	ntb_db_clear(ntb, bits);

	if (bits & BIT_ULL(NTBR_DB_CTRL))
		ntbr_ctrl_db(nd);
	if (bits & BIT_ULL(NTBR_DB_NET))
		ntbr_net_db(nd);
	bits &= ~NTBR_DB_OWN;
	handler = READ_ONCE(nd->db_handler);
	if (bits && handler)
		handler(nd, bits);
}

static const struct ntb_ctx_ops ntbr_ctx_ops = {
	.link_event = ntbr_link_event,
	.db_event = ntbr_db_event,
	.msg_event = ntbr_msg_event,
};

/* --- accessors of ntbrdma.h ---------------------------------------------- */

struct net_device *ntbr_netdev(struct ntbr_dev *nd)
{
	return nd->netdev;
}

struct ntb_dev *ntbr_ntb(struct ntbr_dev *nd)
{
	return nd->ntb;
}

struct device *ntbr_dma_device(struct ntbr_dev *nd)
{
	return nd->dma_dev;
}

bool ntbr_link_ready(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->ready);
}

void ntbr_set_ib(struct ntbr_dev *nd, void *ib)
{
	WRITE_ONCE(nd->ib, ib);
}

void *ntbr_get_ib(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->ib);
}

void ntbr_dev_free(struct kref *ref)
{
	struct ntbr_dev *nd = container_of(ref, struct ntbr_dev, ref);

	cleanup_srcu_struct(&nd->srcu);
	kfree(nd);
}

void ntbr_dev_put(struct ntbr_dev *nd)
{
	kref_put(&nd->ref, ntbr_dev_free);
}

/* --- probe and remove ------------------------------------------------------ */

static int ntbr_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct device *dev = &ntb->dev;
	struct ntbr_dev *nd;
	int ret;

	if (ntb_peer_port_count(ntb) != 1)
		dev_warn(dev, "%d peers: ntbrdma uses the first one only\n",
			 ntb_peer_port_count(ntb));
	if ((ntb_db_valid_mask(ntb) & NTBR_DB_OWN) != NTBR_DB_OWN) {
		dev_err(dev, "doorbell bits 0 and 1 are needed\n");
		return -ENODEV;
	}

	nd = kzalloc(sizeof(*nd), GFP_KERNEL);
	if (!nd)
		return -ENOMEM;
	kref_init(&nd->ref);
	nd->ntb = ntb;
	nd->dma_dev = ntb_get_dma_dev(ntb);
	ret = init_srcu_struct(&nd->srcu);
	if (ret) {
		kfree(nd);
		return ret;
	}

	ret = ntbr_outbound_map(nd);
	if (ret)
		goto err_put;
	ret = ntbr_dma_init(nd);
	if (ret)
		goto err_put;

	/*
	 * High priority: control messages complete receives and answer
	 * READs while applications spin on their CQs.
	 */
	nd->wq = alloc_ordered_workqueue("ntbrdma-%s",
					 WQ_MEM_RECLAIM | WQ_HIGHPRI,
					 dev_name(dev));
	if (!nd->wq) {
		ret = -ENOMEM;
		goto err_put;
	}
	ret = ntbr_link_init(nd);
	if (ret)
		goto err_wq;
	ntbr_ctrl_init(nd);

	ret = ntbr_net_create(nd);
	if (ret)
		goto err_wq;

	ret = ntb_set_ctx(ntb, nd, &ntbr_ctx_ops);
	if (ret)
		goto err_net;

	ntbr_debugfs_add(nd);
	ntbr_link_start(nd);
	dev_info(dev, "ntbrdma: %s, bring-up through %s\n",
		 netdev_name(nd->netdev),
		 nd->use_msg ? "message registers" : "scratchpads");

	return 0;

err_net:
	ntbr_net_destroy(nd);
err_wq:
	destroy_workqueue(nd->wq);
err_put:
	ntbr_dma_exit(nd);
	ntbr_dev_put(nd);
	return ret;
}

static void ntbr_remove(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct ntbr_dev *nd = ntb->ctx;

	ntbr_debugfs_remove(nd);
	/* No more writes into the peer; the peer is told we are going. */
	ntbr_link_stop(nd);
	ntb_clear_ctx(ntb);
	/* Control handlers still queued see the link down and return. */
	drain_workqueue(nd->wq);
	ntbr_ctrl_stop(nd);
	/*
	 * No more writes of the peer into our memory either: the RDMA half
	 * may unpin pages the peer never acknowledged letting go of.
	 */
	ntbr_inbound_close(nd);

	ntbr_ib_remove(nd);
	ntbr_net_destroy(nd);

	destroy_workqueue(nd->wq);
	ntbr_inbound_free(nd);
	/* Every copy by it ended at ntbr_link_stop() (SRCU). */
	ntbr_dma_exit(nd);
	ntbr_dev_put(nd);
}

static struct ntb_client ntbr_client = {
	.ops = {
		.probe = ntbr_probe,
		.remove = ntbr_remove,
	},
};

static int __init ntbr_init(void)
{
	int ret;

	ntbr_debugfs_init();
	ret = ntbr_ib_init();
	if (ret)
		goto err_dbg;
	ret = ntb_register_client(&ntbr_client);
	if (ret)
		goto err_ib;

	return 0;

err_ib:
	ntbr_ib_exit();
err_dbg:
	ntbr_debugfs_exit();
	return ret;
}
module_init(ntbr_init);

static void __exit ntbr_exit(void)
{
	ntb_unregister_client(&ntbr_client);
	ntbr_ib_exit();
	ntbr_debugfs_exit();
}
module_exit(ntbr_exit);

MODULE_DESCRIPTION("RDMA verbs and Ethernet over a PCIe Non-Transparent Bridge");
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: the Ethernet netdev (ntb0, ntb1, ...), virtio-like.
 *
 * The receiver posts receive buffers (DMA addresses of its own page frags)
 * into the sender's area (net_post[], net_post_prod); the sender copies a
 * frame through the window into the next posted buffer and writes the
 * completion {len} of the same index into the receiver's area (net_comp[],
 * net_comp_prod).  The receiver's NAPI builds skbs around the buffers (zero
 * copy) and posts new ones.  A page frag the peer cannot reach (above the
 * inbound windows' coverage, with neither an IOMMU nor swiotlb to map it)
 * is posted as a coherent copy buffer of the slot's instead, copied into
 * the frag on receipt.  The completion index is also the sender's
 * consumer index of the posted ring: a buffer is only posted again once its
 * completion was consumed, so neither ring can overflow.
 *
 * Signalling (doorbell NTBR_DB_NET): the receiver, going idle, writes a new
 * value into the sender's net_rx_armed and re-checks; the sender rings when
 * it published a completion and net_rx_armed changed since it last rang.
 * The sender, out of buffers, stops its queue, writes a new value into the
 * receiver's net_tx_wait and re-checks; the receiver rings after posting
 * buffers when net_tx_wait changed.  Through a real NTB a posted write may
 * still be in flight when the other side re-checks, so the link work also
 * polls every NTBR_READY_POLL as a backstop.
 *
 * MTU: 1500 by default, up to NTBR_NET_MAX_MTU (the receive buffer size).
 */

#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/swiotlb.h>
#include <linux/u64_stats_sync.h>

#include "ntbrdma_transport.h"

#define NTBR_NET_MAX_MTU	9000
#define NTBR_RX_HEADROOM	(NET_SKB_PAD + NET_IP_ALIGN)
#define NTBR_RX_LEN		(VLAN_ETH_HLEN + NTBR_NET_MAX_MTU)
#define NTBR_RX_TRUESIZE	(SKB_DATA_ALIGN(NTBR_RX_HEADROOM + NTBR_RX_LEN) + \
				 SKB_DATA_ALIGN(sizeof(struct skb_shared_info)))

struct ntbr_rxbuf {
	void *va;		/* page frag, NULL when none */
	dma_addr_t dma;		/* of va + NTBR_RX_HEADROOM, or of copy */
	bool copied;		/* posted copy, not va: memcpy on receipt */
	void *copy;		/* the slot's copy buffer (coherent), or NULL */
	dma_addr_t copy_dma;
};

struct ntbr_net_stats {
	u64 packets;
	u64 bytes;
	u64 dropped;
	u64 errors;
	struct u64_stats_sync syncp;
};

struct ntbr_net {
	struct ntbr_dev *nd;
	struct net_device *netdev;
	struct napi_struct napi;
	bool napi_on;
	bool running;		/* between ntbr_net_up() and ntbr_net_down() */

	/* Sending (xmit, under the tx lock). */
	u32 tx_cons;		/* ours: posted buffers used = completions */
	u32 tx_wait_gen;	/* ours: last value written to net_tx_wait */
	u32 rx_armed_seen;	/* the peer's net_rx_armed we last rang for */
	struct ntbr_net_stats tx;

	/* Receiving (NAPI). */
	u32 rx_prod;		/* ours: buffers posted */
	u32 rx_cons;		/* ours: completions consumed */
	u32 rx_arm_gen;		/* ours: last value written to net_rx_armed */
	u32 tx_wait_seen;	/* the peer's net_tx_wait we last rang for */
	struct ntbr_net_stats rx;
	struct ntbr_rxbuf rxbuf[NTBR_NET_RING];
};

static const struct net_device_ops ntbr_netdev_ops;

static void ntbr_stats_add(struct ntbr_net_stats *s, u64 packets, u64 bytes,
			   u64 dropped, u64 errors)
{
	u64_stats_update_begin(&s->syncp);
	s->packets += packets;
	s->bytes += bytes;
	s->dropped += dropped;
	s->errors += errors;
	u64_stats_update_end(&s->syncp);
}

static u32 ntbr_next_gen(u32 *gen)
{
	if (!++*gen)
		++*gen;
	return *gen;
}

/* --- sending --------------------------------------------------------------- */

/* Posted buffers available to us; -1 (and a link reset) if the index is bad. */
static int ntbr_tx_avail(struct ntbr_net *net)
{
	/* net_post_prod: the peer (receiver) writes it; untrusted. */
	u32 prod = le32_to_cpu(READ_ONCE(net->nd->area->net_post_prod.val));

	if (!ntbr_index_ok(net->tx_cons, prod, NTBR_NET_RING)) {
		ntbr_link_reset(net->nd, "bad posted buffer index");
		return -1;
	}

	return ntbr_ring_used(prod, net->tx_cons);
}

/* Out of buffers: stop and ask for a doorbell; true if we may go on. */
static bool ntbr_tx_stop(struct ntbr_net *net)
{
	struct ntbr_dev *nd = net->nd;

	netif_stop_queue(net->netdev);
	/* net_tx_wait in the peer's area: we (the sender) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, net_tx_wait.val),
			 ntbr_next_gen(&net->tx_wait_gen));
	mb(); /* our wait word before re-reading the peer's post index */
	if (ntbr_tx_avail(net) > 0) {
		netif_start_queue(net->netdev);
		return true;
	}

	return false;
}

static void ntbr_tx_copy(struct ntbr_dev *nd, u64 addr, struct sk_buff *skb)
{
	unsigned int i, len = skb_headlen(skb);

	ntbr_win_copy(nd, addr, skb->data, len);
	addr += len;
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		ntbr_win_copy(nd, addr, skb_frag_address(f), skb_frag_size(f));
		addr += skb_frag_size(f);
	}
}

static netdev_tx_t ntbr_net_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct ntbr_net *net = netdev_priv(dev);
	struct ntbr_dev *nd = net->nd;
	struct ntbr_net_comp comp = {};
	u32 slot, blen, armed;
	u64 addr;
	int idx, avail;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready) || !READ_ONCE(net->running))
		goto drop;
	avail = ntbr_tx_avail(net);
	if (avail < 0)
		goto drop;
	if (!avail && !ntbr_tx_stop(net)) {
		srcu_read_unlock(&nd->srcu, idx);
		return NETDEV_TX_BUSY;
	}
	rmb(); /* the post index before the entry it publishes */

	slot = net->tx_cons & (NTBR_NET_RING - 1);
	/* The posted buffer: the peer (receiver) writes it; untrusted. */
	addr = le64_to_cpu(READ_ONCE(nd->area->net_post[slot].addr));
	blen = le32_to_cpu(READ_ONCE(nd->area->net_post[slot].len));
	if (!ntbr_win_range_ok(nd, addr, blen)) {
		ntbr_link_reset(nd, "bad posted buffer");
		goto drop;
	}
	if (skb->len > blen) {
		net_warn_ratelimited("%s: %u byte frame, the peer's buffers hold %u\n",
				     dev->name, skb->len, blen);
		goto drop;
	}

	ntbr_tx_copy(nd, addr, skb);
	comp.len = cpu_to_le32(skb->len);
	ntbr_win_copy(nd, ntbr_peer_field(nd, net_comp[slot]), &comp,
		      sizeof(comp));
	net->tx_cons++;
	wmb(); /* frame and completion before the index that publishes them */
	/* net_comp_prod in the peer's area: we (the sender) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, net_comp_prod.val),
			 net->tx_cons);
	ntbr_stats_add(&net->tx, 1, skb->len, 0, 0);
	dev_consume_skb_any(skb);

	if (ntbr_tx_avail(net) == 0)
		ntbr_tx_stop(net);
	if (!netdev_xmit_more() || netif_queue_stopped(dev)) {
		mb(); /* the completion index before reading the armed word */
		/* net_rx_armed: the peer (receiver) writes it. */
		armed = le32_to_cpu(READ_ONCE(nd->area->net_rx_armed.val));
		if (armed != net->rx_armed_seen) {
			net->rx_armed_seen = armed;
			ntbr_peer_db(nd, NTBR_DB_NET);
		}
	}
	srcu_read_unlock(&nd->srcu, idx);

	return NETDEV_TX_OK;

drop:
	srcu_read_unlock(&nd->srcu, idx);
	ntbr_stats_add(&net->tx, 0, 0, 1, 0);
	dev_kfree_skb_any(skb);

	return NETDEV_TX_OK;
}

/* --- receiving --------------------------------------------------------------- */

/*
 * The peer can write the frag at va as itself, or through a bounce slot
 * that dma_unmap_single() copies back (fine here, unlike an MR).  Not when
 * it lies above the coverage with neither an IOMMU nor swiotlb: the
 * mapping would fail (and warn).  A frag is physically contiguous.
 */
static bool ntbr_rx_mappable(struct ntbr_net *net, void *va)
{
	struct ntbr_dev *nd = net->nd;
	void *start = va + NTBR_RX_HEADROOM;

	return is_swiotlb_active(nd->dma_dev) ||
	       (ntbr_page_reachable(nd, virt_to_page(start)) &&
		ntbr_page_reachable(nd,
				    virt_to_page(start + NTBR_RX_LEN - 1)));
}

/* Post the slot's copy buffer (coherent: inside the DMA limits) for va. */
static bool ntbr_rx_use_copy(struct ntbr_net *net, struct ntbr_rxbuf *b)
{
	struct device *dma = net->nd->dma_dev;

	if (!b->copy)
		b->copy = dma_alloc_coherent(dma, NTBR_RX_LEN, &b->copy_dma,
					     GFP_ATOMIC);
	if (!b->copy || !ntbr_dma_reachable(net->nd, b->copy_dma,
					    NTBR_RX_LEN)) {
		net_warn_ratelimited("%s: no receive buffer inside the inbound windows' coverage (%#llx bytes)\n",
				     netdev_name(net->netdev),
				     ntbr_inbound_coverage(net->nd));
		return false;
	}
	b->dma = b->copy_dma;
	b->copied = true;
	return true;
}

static bool ntbr_rx_alloc(struct ntbr_net *net, struct ntbr_rxbuf *b)
{
	struct device *dma = net->nd->dma_dev;

	b->va = napi_alloc_frag(NTBR_RX_TRUESIZE);
	if (!b->va)
		return false;
	b->copied = false;
	if (!ntbr_rx_mappable(net, b->va)) {
		if (ntbr_rx_use_copy(net, b))
			return true;
		skb_free_frag(b->va);
		b->va = NULL;
		return false;
	}
	b->dma = dma_map_single(dma, b->va + NTBR_RX_HEADROOM, NTBR_RX_LEN,
				DMA_FROM_DEVICE);
	if (dma_mapping_error(dma, b->dma)) {
		skb_free_frag(b->va);
		b->va = NULL;
		return false;
	}
	/*
	 * The peer writes the frame at b->dma: it must be inside what the
	 * window reaches.  A bounce slot is fine here (unlike an MR): the
	 * frame is read only after dma_unmap_single() copied it back.
	 */
	if (!ntbr_dma_reachable(net->nd, b->dma, NTBR_RX_LEN)) {
		net_warn_ratelimited("%s: receive buffer at DMA %pad is outside the inbound windows' coverage (%#llx bytes); enable the IOMMU in translation mode for the NTB device, or use NTB windows covering all RAM\n",
				     netdev_name(net->netdev), &b->dma,
				     ntbr_inbound_coverage(net->nd));
		dma_unmap_single(dma, b->dma, NTBR_RX_LEN, DMA_FROM_DEVICE);
		skb_free_frag(b->va);
		b->va = NULL;
		return false;
	}

	return true;
}

static void ntbr_rx_free(struct ntbr_net *net, struct ntbr_rxbuf *b)
{
	if (b->copy)
		dma_free_coherent(net->nd->dma_dev, NTBR_RX_LEN, b->copy,
				  b->copy_dma);
	b->copy = NULL;
	if (!b->va)
		return;
	if (!b->copied)
		dma_unmap_single(net->nd->dma_dev, b->dma, NTBR_RX_LEN,
				 DMA_FROM_DEVICE);
	skb_free_frag(b->va);
	b->va = NULL;
}

/* Post buffers for every free slot; ring the peer if it waits for them. */
static void ntbr_rx_refill(struct ntbr_net *net)
{
	struct ntbr_dev *nd = net->nd;
	struct ntbr_net_post post = {};
	struct ntbr_rxbuf *b;
	bool posted = false;
	u32 wait, slot;

	while (ntbr_ring_used(net->rx_prod, net->rx_cons) < NTBR_NET_RING) {
		slot = net->rx_prod & (NTBR_NET_RING - 1);
		b = &net->rxbuf[slot];
		if (!b->va && !ntbr_rx_alloc(net, b))
			break;	/* the backstop poll tries again */
		post.addr = cpu_to_le64(b->dma);
		post.len = cpu_to_le32(NTBR_RX_LEN);
		ntbr_win_copy(nd, ntbr_peer_field(nd, net_post[slot]), &post,
			      sizeof(post));
		net->rx_prod++;
		posted = true;
	}
	if (!posted)
		return;
	wmb(); /* the posted entries before the index that publishes them */
	/* net_post_prod in the peer's area: we (the receiver) own it. */
	ntbr_win_write32(nd, ntbr_peer_field(nd, net_post_prod.val),
			 net->rx_prod);
	mb(); /* the post index before reading the peer's wait word */
	/* net_tx_wait: the peer (sender) writes it. */
	wait = le32_to_cpu(READ_ONCE(nd->area->net_tx_wait.val));
	if (wait != net->tx_wait_seen) {
		net->tx_wait_seen = wait;
		ntbr_peer_db(nd, NTBR_DB_NET);
	}
}

/* Completions pending; -1 (and a link reset) if the index is bad. */
static int ntbr_rx_pending(struct ntbr_net *net)
{
	/* net_comp_prod: the peer (sender) writes it; untrusted. */
	u32 prod = le32_to_cpu(READ_ONCE(net->nd->area->net_comp_prod.val));

	if (!ntbr_index_ok(net->rx_cons, prod,
			   ntbr_ring_used(net->rx_prod, net->rx_cons))) {
		ntbr_link_reset(net->nd, "bad completion index");
		return -1;
	}

	return ntbr_ring_used(prod, net->rx_cons);
}

static int ntbr_rx(struct ntbr_net *net, int budget)
{
	struct ntbr_area *area = net->nd->area;
	struct ntbr_rxbuf *b;
	struct sk_buff *skb;
	int n, done = 0;
	u32 slot, len;
	u64 bytes = 0, dropped = 0;

	n = ntbr_rx_pending(net);
	if (n <= 0)
		return 0;
	rmb(); /* the completion index before the entries and frames */
	while (done < min(n, budget)) {
		slot = net->rx_cons & (NTBR_NET_RING - 1);
		b = &net->rxbuf[slot];
		/* The completion: the peer (sender) writes it; untrusted. */
		len = le32_to_cpu(READ_ONCE(area->net_comp[slot].len));
		if (len < ETH_HLEN || len > NTBR_RX_LEN || !b->va) {
			ntbr_link_reset(net->nd, "bad received frame length");
			break;
		}
		if (b->copied)
			memcpy(b->va + NTBR_RX_HEADROOM, b->copy, len);
		else
			dma_unmap_single(net->nd->dma_dev, b->dma,
					 NTBR_RX_LEN, DMA_FROM_DEVICE);
		skb = napi_build_skb(b->va, NTBR_RX_TRUESIZE);
		if (skb) {
			skb_reserve(skb, NTBR_RX_HEADROOM);
			skb_put(skb, len);
			skb->protocol = eth_type_trans(skb, net->netdev);
			napi_gro_receive(&net->napi, skb);
			bytes += len;
		} else {
			skb_free_frag(b->va);
			dropped++;
		}
		b->va = NULL;
		net->rx_cons++;
		done++;
	}
	ntbr_stats_add(&net->rx, done - dropped, bytes, dropped, 0);

	return done;
}

/* Our queue waits for buffers and the peer posted some: go on. */
static void ntbr_tx_wake(struct ntbr_net *net)
{
	if (netif_queue_stopped(net->netdev) && ntbr_tx_avail(net) > 0)
		netif_wake_queue(net->netdev);
}

static int ntbr_net_poll(struct napi_struct *napi, int budget)
{
	struct ntbr_net *net = container_of(napi, struct ntbr_net, napi);
	struct ntbr_dev *nd = net->nd;
	int idx, done = 0;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready) || !READ_ONCE(net->running)) {
		napi_complete(napi);
		goto out;
	}
	done = ntbr_rx(net, budget);
	ntbr_rx_refill(net);
	ntbr_tx_wake(net);
	if (done < budget && napi_complete_done(napi, done)) {
		/* net_rx_armed in the peer's area: we (the receiver) own it. */
		ntbr_win_write32(nd, ntbr_peer_field(nd, net_rx_armed.val),
				 ntbr_next_gen(&net->rx_arm_gen));
		mb(); /* our armed word before re-reading the indices */
		if (ntbr_rx_pending(net) > 0 ||
		    (netif_queue_stopped(net->netdev) &&
		     ntbr_tx_avail(net) > 0))
			napi_schedule(napi);
	}
out:
	srcu_read_unlock(&nd->srcu, idx);

	return done;
}

/* Doorbell NTBR_DB_NET (hard irq). */
void ntbr_net_db(struct ntbr_dev *nd)
{
	if (READ_ONCE(nd->net->running))
		napi_schedule(&nd->net->napi);
}

/* From the link work while ready: a doorbell lost in flight costs a poll. */
void ntbr_net_backstop(struct ntbr_dev *nd)
{
	local_bh_disable();
	ntbr_net_db(nd);
	local_bh_enable();
}

/* debugfs: a completion index no valid sender writes (the peer resets). */
void ntbr_net_inject(struct ntbr_dev *nd)
{
	int idx = srcu_read_lock(&nd->srcu);

	if (READ_ONCE(nd->ready)) {
		ntbr_win_write32(nd, ntbr_peer_field(nd, net_comp_prod.val),
				 READ_ONCE(nd->net->tx_cons) + 1000);
		ntbr_peer_db(nd, NTBR_DB_NET);
	}
	srcu_read_unlock(&nd->srcu, idx);
}

/* --- link up / down (link work) ------------------------------------------------ */

void ntbr_net_up(struct ntbr_dev *nd)
{
	struct ntbr_net *net = nd->net;

	/* Both rings start empty; buffers we still hold are posted again. */
	net->tx_cons = 0;
	net->tx_wait_gen = 0;
	net->rx_armed_seen = 0;
	net->rx_prod = 0;
	net->rx_cons = 0;
	net->rx_arm_gen = 0;
	net->tx_wait_seen = 0;
	WRITE_ONCE(net->running, true);
	napi_enable(&net->napi);
	net->napi_on = true;
	netif_carrier_on(net->netdev);
	if (netif_running(net->netdev))
		netif_wake_queue(net->netdev);
	ntbr_net_backstop(nd);
}

/* After teardown synchronized SRCU: nothing writes into the peer. */
void ntbr_net_down(struct ntbr_dev *nd)
{
	struct ntbr_net *net = nd->net;

	WRITE_ONCE(net->running, false);
	netif_carrier_off(net->netdev);
	netif_tx_disable(net->netdev);
	if (net->napi_on) {
		napi_disable(&net->napi);
		net->napi_on = false;
	}
}

/* --- net_device ------------------------------------------------------------------ */

static int ntbr_net_open(struct net_device *dev)
{
	struct ntbr_net *net = netdev_priv(dev);

	if (READ_ONCE(net->running))
		netif_start_queue(dev);
	return 0;
}

static int ntbr_net_stop(struct net_device *dev)
{
	netif_stop_queue(dev);
	return 0;
}

static void ntbr_net_get_stats64(struct net_device *dev,
				 struct rtnl_link_stats64 *st)
{
	struct ntbr_net *net = netdev_priv(dev);
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&net->tx.syncp);
		st->tx_packets = net->tx.packets;
		st->tx_bytes = net->tx.bytes;
		st->tx_dropped = net->tx.dropped;
		st->tx_errors = net->tx.errors;
	} while (u64_stats_fetch_retry(&net->tx.syncp, start));
	do {
		start = u64_stats_fetch_begin(&net->rx.syncp);
		st->rx_packets = net->rx.packets;
		st->rx_bytes = net->rx.bytes;
		st->rx_dropped = net->rx.dropped;
		st->rx_errors = net->rx.errors;
	} while (u64_stats_fetch_retry(&net->rx.syncp, start));
}

static const struct net_device_ops ntbr_netdev_ops = {
	.ndo_open = ntbr_net_open,
	.ndo_stop = ntbr_net_stop,
	.ndo_start_xmit = ntbr_net_xmit,
	.ndo_get_stats64 = ntbr_net_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

struct ntbr_dev *ntbr_dev_from_netdev(struct net_device *netdev)
{
	struct ntbr_net *net;

	if (!netdev || netdev->netdev_ops != &ntbr_netdev_ops)
		return NULL;
	net = netdev_priv(netdev);
	kref_get(&net->nd->ref);

	return net->nd;
}

int ntbr_net_create(struct ntbr_dev *nd)
{
	struct net_device *dev;
	struct ntbr_net *net;
	int ret;

	dev = alloc_netdev(sizeof(*net), "ntb%d", NET_NAME_ENUM, ether_setup);
	if (!dev)
		return -ENOMEM;
	net = netdev_priv(dev);
	net->nd = nd;
	net->netdev = dev;
	u64_stats_init(&net->tx.syncp);
	u64_stats_init(&net->rx.syncp);

	dev->netdev_ops = &ntbr_netdev_ops;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = NTBR_NET_MAX_MTU;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->features = NETIF_F_SG;
	dev->hw_features = NETIF_F_SG;
	eth_hw_addr_random(dev);
	SET_NETDEV_DEV(dev, &nd->ntb->dev);
	netif_napi_add(dev, &net->napi, ntbr_net_poll);
	netif_carrier_off(dev);

	nd->net = net;
	nd->netdev = dev;
	ret = register_netdev(dev);
	if (ret) {
		nd->net = NULL;
		nd->netdev = NULL;
		free_netdev(dev);
	}

	return ret;
}

/* After ntbr_link_stop(): the link is down for good. */
void ntbr_net_destroy(struct ntbr_dev *nd)
{
	struct ntbr_net *net = nd->net;
	int i;

	if (!net)
		return;
	unregister_netdev(net->netdev);
	for (i = 0; i < NTBR_NET_RING; i++)
		ntbr_rx_free(net, &net->rxbuf[i]);
	nd->net = NULL;
	nd->netdev = NULL;
	free_netdev(net->netdev);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: the emulated NTB's DMA engine, as a dmaengine device
 * (Documentation/dma-engine.md).  tools/ivshmem-server executes the copies
 * on the host, beside the VMs, the way a hardware engine copies beside the
 * CPU; this file posts descriptors into our DMA area of the shared region
 * (include/ntb-ivshmem.h) and completes them when the server says so.
 *
 * One channel, DMA_MEMCPY.  Addresses are DMA addresses of the doorbell
 * device: our RAM (no IOMMU in the testbed: DMA address = guest-physical
 * address) or the memory-window BAR of the ivshmem-plain device, which a
 * client maps with dma_map_resource() (ntb_perf, ntbrdma); the latter are
 * posted as offsets into the peer's RAM, which is what the window reaches.
 *
 * Who writes what in our DMA area: we write the descriptors and prod; the
 * server writes each descriptor's status, then cons.  Order: descriptor
 * fields, wmb(), prod, then the kick (a doorbell to the engine's peer id);
 * the server's cons, then (dma_rmb) the statuses of the slots it passed.
 * Completion: the server raises NTB_IVSHMEM_DMA_VECTOR; the handler
 * schedules a tasklet that reaps in order and calls the callbacks.
 */

#include <linux/dmaengine.h>
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iopoll.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "ntb_hw_ivshmem.h"

static bool dma = true;
module_param(dma, bool, 0444);
MODULE_PARM_DESC(dma,
		 "Register the emulated DMA engine when the ivshmem server has one (default: yes)");

/*
 * Fault injection for the tests of DMA clients (ntbrdma's DMA error
 * path): the next inject_fail descriptors posted carry a flag the server
 * does not know, so it refuses them (EINVAL, nothing copied) exactly as
 * it refuses a malformed descriptor of a hardware engine's.
 */
static atomic_t inject_fail = ATOMIC_INIT(0);
#define NTB_IVSHMEM_DMA_F_INJECTED	BIT(31)
static_assert(!(NTB_IVSHMEM_DMA_F_INJECTED & NTB_IVSHMEM_DMA_F_KNOWN));

static int inject_fail_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	if (n > INT_MAX)
		return -EINVAL;
	atomic_set(&inject_fail, n);
	return 0;
}

static int inject_fail_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&inject_fail));
}

static const struct kernel_param_ops inject_fail_ops = {
	.set = inject_fail_set,
	.get = inject_fail_get,
};
module_param_cb(dma_inject_fail, &inject_fail_ops, NULL, 0600);
MODULE_PARM_DESC(dma_inject_fail,
		 "Test only: the next N DMA descriptors are posted malformed, so the engine fails them");

/* One memcpy, from prep to its callback. */
struct ntb_ivshmem_dma_tx {
	struct dma_async_tx_descriptor tx;
	struct list_head node;
	u64 src;	/* tagged: NTB_IVSHMEM_DMA_PEER or our own address */
	u64 dst;
	u32 len;
	bool failed;		/* the server's status was not OK */
	bool terminated;	/* terminate_all: complete it silently */
};

struct ntb_ivshmem_dma {
	struct dma_device dd;
	struct dma_chan chan;
	struct ntb_ivshmem_dbdev *db;
	struct ntb_ivshmem_dma_area __iomem *area;
	u32 kick;		/* Doorbell register value: (dma_id << 16) | 0 */
	int irq;
	phys_addr_t win_phys;	/* the window BAR: peer RAM offset 0 */
	resource_size_t win_size;
	struct tasklet_struct reap;

	/* Protects everything below. */
	spinlock_t lock;
	u32 prod;		/* descriptors posted (ours; mirrors area) */
	u32 cons;		/* descriptors reaped */
	struct list_head submitted;	/* tx_submit()ed, not in the ring */
	struct list_head issued;	/* in the ring, in order */
};

static struct ntb_ivshmem_dma *to_idma(struct dma_chan *c)
{
	return container_of(c, struct ntb_ivshmem_dma, chan);
}

static struct ntb_ivshmem_dma_tx *to_itx(struct dma_async_tx_descriptor *t)
{
	return container_of(t, struct ntb_ivshmem_dma_tx, tx);
}

/*
 * Cookies (the channel's last assigned and last completed; both under
 * the lock): assigned in submit order, completed in the same order.
 */
static dma_cookie_t ntb_ivshmem_cookie_assign(struct dma_async_tx_descriptor *t)
{
	struct dma_chan *c = t->chan;
	dma_cookie_t cookie = c->cookie + 1;

	if (cookie < DMA_MIN_COOKIE)
		cookie = DMA_MIN_COOKIE;
	c->cookie = cookie;
	t->cookie = cookie;
	return cookie;
}

static void ntb_ivshmem_cookie_complete(struct dma_async_tx_descriptor *t)
{
	t->chan->completed_cookie = t->cookie;
	t->cookie = 0;
}

static enum dma_status ntb_ivshmem_cookie_status(struct dma_chan *c,
						 dma_cookie_t cookie,
						 struct dma_tx_state *state)
{
	struct ntb_ivshmem_dma *d = to_idma(c);
	dma_cookie_t used, done;
	unsigned long flags;

	spin_lock_irqsave(&d->lock, flags);
	used = c->cookie;
	done = c->completed_cookie;
	spin_unlock_irqrestore(&d->lock, flags);
	dma_set_tx_state(state, done, used, 0);
	return dma_async_is_complete(cookie, done, used);
}

/* A DMA address as the engine takes it; false if it is neither RAM nor window. */
static bool ntb_ivshmem_dma_addr(struct ntb_ivshmem_dma *d, dma_addr_t a,
				 size_t len, u64 *tagged)
{
	if (a >= d->win_phys && len <= d->win_size &&
	    a - d->win_phys <= d->win_size - len) {
		*tagged = NTB_IVSHMEM_DMA_PEER | (a - d->win_phys);
		return true;
	}
	/* Our RAM: the server checks it against our RAM file's size. */
	if (a & NTB_IVSHMEM_DMA_PEER)
		return false;
	*tagged = a;
	return true;
}

static dma_cookie_t ntb_ivshmem_dma_submit(struct dma_async_tx_descriptor *t)
{
	struct ntb_ivshmem_dma *d = to_idma(t->chan);
	unsigned long flags;
	dma_cookie_t cookie;

	spin_lock_irqsave(&d->lock, flags);
	cookie = ntb_ivshmem_cookie_assign(t);
	list_add_tail(&to_itx(t)->node, &d->submitted);
	spin_unlock_irqrestore(&d->lock, flags);
	return cookie;
}

static struct dma_async_tx_descriptor *
ntb_ivshmem_dma_prep_memcpy(struct dma_chan *c, dma_addr_t dst,
			    dma_addr_t src, size_t len, unsigned long flags)
{
	struct ntb_ivshmem_dma *d = to_idma(c);
	struct ntb_ivshmem_dma_tx *t;
	u64 s, dd;

	if (!len || len > NTB_IVSHMEM_DMA_MAX_LEN ||
	    !ntb_ivshmem_dma_addr(d, src, len, &s) ||
	    !ntb_ivshmem_dma_addr(d, dst, len, &dd))
		return NULL;
	t = kzalloc(sizeof(*t), GFP_NOWAIT);
	if (!t)
		return NULL;
	dma_async_tx_descriptor_init(&t->tx, c);
	t->tx.tx_submit = ntb_ivshmem_dma_submit;
	t->tx.flags = flags;
	t->src = s;
	t->dst = dd;
	t->len = len;
	return &t->tx;
}

/* Move submitted descriptors into the ring while it has room; lock held. */
static void ntb_ivshmem_dma_post(struct ntb_ivshmem_dma *d)
{
	struct ntb_ivshmem_dma_tx *t, *n;
	u32 prod = d->prod;

	list_for_each_entry_safe(t, n, &d->submitted, node) {
		struct ntb_ivshmem_dma_desc __iomem *slot;
		u32 flags = NTB_IVSHMEM_DMA_F_IRQ;

		if (prod - d->cons >= NTB_IVSHMEM_DMA_SLOTS)
			break;
		if (atomic_add_unless(&inject_fail, -1, 0))
			flags |= NTB_IVSHMEM_DMA_F_INJECTED;
		slot = &d->area->desc[prod % NTB_IVSHMEM_DMA_SLOTS];
		lo_hi_writeq(t->src, &slot->src);
		lo_hi_writeq(t->dst, &slot->dst);
		iowrite32(t->len, &slot->len);
		iowrite32(flags, &slot->flags);
		list_move_tail(&t->node, &d->issued);
		prod++;
	}
	if (prod == d->prod)
		return;
	d->prod = prod;
	/* The descriptors before prod: the server reads them after it. */
	wmb();
	iowrite32(prod, &d->area->prod);
	iowrite32(d->kick, d->db->regs + IVSHMEM_REG_DOORBELL);
}

static void ntb_ivshmem_dma_issue_pending(struct dma_chan *c)
{
	struct ntb_ivshmem_dma *d = to_idma(c);
	unsigned long flags;

	spin_lock_irqsave(&d->lock, flags);
	ntb_ivshmem_dma_post(d);
	spin_unlock_irqrestore(&d->lock, flags);
}

/*
 * Complete, in order, what the server executed; post what waited for room;
 * then the callbacks, outside the lock.
 */
static void ntb_ivshmem_dma_reap(struct ntb_ivshmem_dma *d)
{
	struct ntb_ivshmem_dma_tx *t, *n;
	struct dmaengine_result res;
	unsigned long flags;
	LIST_HEAD(done);
	u32 cons;

	spin_lock_irqsave(&d->lock, flags);
	cons = ioread32(&d->area->cons);
	/* A server that claims more than we posted: take what we posted. */
	if (cons - d->cons > d->prod - d->cons)
		cons = d->prod;
	/* The statuses of the slots before cons, after cons. */
	dma_rmb();
	while (d->cons != cons) {
		t = list_first_entry_or_null(&d->issued,
					     struct ntb_ivshmem_dma_tx, node);
		if (WARN_ON_ONCE(!t))
			break;
		if (ioread32(&d->area->desc[d->cons % NTB_IVSHMEM_DMA_SLOTS]
				      .status) != NTB_IVSHMEM_DMA_OK)
			t->failed = true;
		ntb_ivshmem_cookie_complete(&t->tx);
		list_move_tail(&t->node, &done);
		d->cons++;
	}
	ntb_ivshmem_dma_post(d);
	spin_unlock_irqrestore(&d->lock, flags);

	list_for_each_entry_safe(t, n, &done, node) {
		res.result = t->failed ? DMA_TRANS_ABORTED : DMA_TRANS_NOERROR;
		res.residue = t->failed ? t->len : 0;
		if (t->terminated)
			;
		else if (t->tx.callback_result)
			t->tx.callback_result(t->tx.callback_param, &res);
		else if (t->tx.callback)
			t->tx.callback(t->tx.callback_param);
		dma_descriptor_unmap(&t->tx);
		kfree(t);
	}
}

static void ntb_ivshmem_dma_tasklet(struct tasklet_struct *tl)
{
	struct ntb_ivshmem_dma *d = from_tasklet(d, tl, reap);

	ntb_ivshmem_dma_reap(d);
}

static irqreturn_t ntb_ivshmem_dma_isr(int irq, void *data)
{
	struct ntb_ivshmem_dma *d = data;

	tasklet_schedule(&d->reap);
	return IRQ_HANDLED;
}

static enum dma_status ntb_ivshmem_dma_tx_status(struct dma_chan *c,
						 dma_cookie_t cookie,
						 struct dma_tx_state *state)
{
	enum dma_status st = ntb_ivshmem_cookie_status(c, cookie, state);

	if (st == DMA_COMPLETE)
		return st;
	/* Polling clients: what completed since the last interrupt. */
	ntb_ivshmem_dma_reap(to_idma(c));
	return ntb_ivshmem_cookie_status(c, cookie, state);
}

/*
 * Nothing posted can be taken back from the server: descriptors not yet
 * in the ring are dropped, those in it complete without their callback.
 */
static int ntb_ivshmem_dma_terminate_all(struct dma_chan *c)
{
	struct ntb_ivshmem_dma *d = to_idma(c);
	struct ntb_ivshmem_dma_tx *t, *n;
	unsigned long flags;
	LIST_HEAD(drop);

	spin_lock_irqsave(&d->lock, flags);
	list_splice_init(&d->submitted, &drop);
	list_for_each_entry(t, &d->issued, node)
		t->terminated = true;
	spin_unlock_irqrestore(&d->lock, flags);
	list_for_each_entry_safe(t, n, &drop, node) {
		dma_descriptor_unmap(&t->tx);
		kfree(t);
	}
	return 0;
}

/* Wait (bounded) until the server executed everything in the ring. */
static void ntb_ivshmem_dma_synchronize(struct dma_chan *c)
{
	struct ntb_ivshmem_dma *d = to_idma(c);
	u32 cons;

	if (readx_poll_timeout(ioread32, &d->area->cons, cons,
			       cons == READ_ONCE(d->prod), 1000, 5000000))
		dev_warn(d->dd.dev, "DMA engine: %u descriptors still in the ring after 5 s\n",
			 READ_ONCE(d->prod) - cons);
	ntb_ivshmem_dma_reap(d);
	tasklet_kill(&d->reap);
}

static void ntb_ivshmem_dma_free_chan(struct dma_chan *c)
{
	ntb_ivshmem_dma_terminate_all(c);
	ntb_ivshmem_dma_synchronize(c);
}

/*
 * Register the engine if the server has one (header fields set, the DMA
 * vector allocated).  Returns NULL without one; an error is logged.
 */
struct ntb_ivshmem_dma *ntb_ivshmem_dma_init(struct ntb_ivshmem_dev *nd)
{
	struct ntb_ivshmem_dbdev *db = nd->db;
	struct device *dev = &db->pdev->dev;
	struct ntb_ivshmem_dma *d;
	int ret;

	if (!dma || !db->dma_size || db->nvec <= NTB_IVSHMEM_DMA_VECTOR)
		return NULL;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return NULL;
	d->db = db;
	d->area = db->shm + db->dma_offset + (size_t)db->own_id * db->dma_size;
	d->kick = db->dma_id << 16;
	d->win_phys = nd->win->phys;
	d->win_size = nd->win->size;
	spin_lock_init(&d->lock);
	INIT_LIST_HEAD(&d->submitted);
	INIT_LIST_HEAD(&d->issued);
	tasklet_setup(&d->reap, ntb_ivshmem_dma_tasklet);
	/* Start where the server is (a previous load's descriptors ran). */
	d->cons = ioread32(&d->area->cons);
	d->prod = d->cons;
	iowrite32(d->prod, &d->area->prod);

	d->irq = pci_irq_vector(db->pdev, NTB_IVSHMEM_DMA_VECTOR);
	ret = d->irq < 0 ? d->irq :
			   request_irq(d->irq, ntb_ivshmem_dma_isr, 0,
				       KBUILD_MODNAME "-dma", d);
	if (ret)
		goto err_free;

	dma_cap_set(DMA_MEMCPY, d->dd.cap_mask);
	d->dd.dev = dev;
	d->dd.src_addr_widths = BIT(DMA_SLAVE_BUSWIDTH_8_BYTES);
	d->dd.dst_addr_widths = BIT(DMA_SLAVE_BUSWIDTH_8_BYTES);
	d->dd.directions = BIT(DMA_MEM_TO_MEM);
	d->dd.residue_granularity = DMA_RESIDUE_GRANULARITY_DESCRIPTOR;
	d->dd.device_prep_dma_memcpy = ntb_ivshmem_dma_prep_memcpy;
	d->dd.device_issue_pending = ntb_ivshmem_dma_issue_pending;
	d->dd.device_tx_status = ntb_ivshmem_dma_tx_status;
	d->dd.device_terminate_all = ntb_ivshmem_dma_terminate_all;
	d->dd.device_synchronize = ntb_ivshmem_dma_synchronize;
	d->dd.device_free_chan_resources = ntb_ivshmem_dma_free_chan;
	INIT_LIST_HEAD(&d->dd.channels);
	d->chan.device = &d->dd;
	d->chan.cookie = DMA_MIN_COOKIE;
	d->chan.completed_cookie = DMA_MIN_COOKIE;
	list_add_tail(&d->chan.device_node, &d->dd.channels);
	ret = dma_async_device_register(&d->dd);
	if (ret)
		goto err_irq;
	dev_info(dev, "DMA engine %s: %u descriptors, executed by the ivshmem server (peer id %u)\n",
		 dma_chan_name(&d->chan), NTB_IVSHMEM_DMA_SLOTS, db->dma_id);
	return d;

err_irq:
	free_irq(d->irq, d);
err_free:
	dev_err(dev, "cannot register the DMA engine: %d\n", ret);
	tasklet_kill(&d->reap);
	kfree(d);
	return NULL;
}

/* After the NTB clients went (they release their channels then). */
void ntb_ivshmem_dma_fini(struct ntb_ivshmem_dma *d)
{
	if (!d)
		return;
	dma_async_device_unregister(&d->dd);
	ntb_ivshmem_dma_synchronize(&d->chan);
	free_irq(d->irq, d);
	tasklet_kill(&d->reap);
	kfree(d);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: an NTB hardware driver emulated on QEMU ivshmem devices.
 *
 * Every VM of the testbed has two ivshmem devices (PCI 1af4:1110):
 *  - ivshmem-plain, without MSI-X: BAR2 maps the peer VM's RAM.  It holds
 *    the memory windows: all of it, or the parts that the module
 *    parameter mw= names (see ntb_hw_ivshmem_mw.c).
 *  - ivshmem-doorbell, with MSI-X: BAR0 holds the ivshmem registers (our
 *    peer id, the Doorbell register that raises an MSI-X vector in another
 *    VM), BAR2 a region shared by all VMs, created by tools/ivshmem-server
 *    and described by include/ntb-ivshmem.h.  It carries the doorbells,
 *    scratchpads, message registers and link heartbeat.
 * The driver binds to both, tells them apart (MSI-X and a valid header:
 * doorbell; no MSI-X: window), and registers one ntb_dev with the NTB core
 * once it has one of each, in either probe order.  Removing either device
 * unregisters the ntb_dev.
 *
 * Keep it simple: one pair of devices, i.e. one NTB, per system, and two VMs
 * (peer ids 0 and 1).  A second device of a kind, or a higher peer id, is
 * refused with a log line.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/stddef.h>

#include "ntb_hw_ivshmem.h"

#define PCI_DEVICE_ID_IVSHMEM	0x1110

static bool hide_spads;
module_param(hide_spads, bool, 0444);
MODULE_PARM_DESC(hide_spads,
		 "Expose no scratchpads, like IDT multi-port switches (default: no)");

static bool hide_msgs;
module_param(hide_msgs, bool, 0444);
MODULE_PARM_DESC(hide_msgs, "Expose no message registers (default: no)");

/* The one pair of devices; see the top of this file. */
static DEFINE_MUTEX(ntb_ivshmem_pair_lock);
static struct ntb_ivshmem_dbdev *ntb_ivshmem_db;
static struct ntb_ivshmem_windev *ntb_ivshmem_win;
static struct ntb_ivshmem_dev *ntb_ivshmem_nd;

static int ntb_ivshmem_port_number(struct ntb_dev *ntb)
{
	return ntb_ivshmem_of(ntb)->db->own_id;
}

static int ntb_ivshmem_peer_port_count(struct ntb_dev *ntb)
{
	return 1;
}

static int ntb_ivshmem_peer_port_number(struct ntb_dev *ntb, int pidx)
{
	if (pidx != 0)
		return -EINVAL;

	return ntb_ivshmem_of(ntb)->db->peer_id;
}

static int ntb_ivshmem_peer_port_idx(struct ntb_dev *ntb, int port)
{
	if (port < 0 || port != ntb_ivshmem_of(ntb)->db->peer_id)
		return -EINVAL;

	return 0;
}

static const struct ntb_dev_ops ntb_ivshmem_ops = {
	.port_number		= ntb_ivshmem_port_number,
	.peer_port_count	= ntb_ivshmem_peer_port_count,
	.peer_port_number	= ntb_ivshmem_peer_port_number,
	.peer_port_idx		= ntb_ivshmem_peer_port_idx,
	.link_is_up		= ntb_ivshmem_link_is_up,
	.link_enable		= ntb_ivshmem_link_enable,
	.link_disable		= ntb_ivshmem_link_disable,
	.mw_count		= ntb_ivshmem_mw_count,
	.mw_get_align		= ntb_ivshmem_mw_get_align,
	.mw_set_trans		= ntb_ivshmem_mw_set_trans,
	.mw_clear_trans		= ntb_ivshmem_mw_clear_trans,
	.peer_mw_count		= ntb_ivshmem_peer_mw_count,
	.peer_mw_get_addr	= ntb_ivshmem_peer_mw_get_addr,
	.db_valid_mask		= ntb_ivshmem_db_valid_mask,
	.db_vector_count	= ntb_ivshmem_db_vector_count,
	.db_vector_mask		= ntb_ivshmem_db_vector_mask,
	.db_read		= ntb_ivshmem_db_read,
	.db_set			= ntb_ivshmem_db_set,
	.db_clear		= ntb_ivshmem_db_clear,
	.db_read_mask		= ntb_ivshmem_db_read_mask,
	.db_set_mask		= ntb_ivshmem_db_set_mask,
	.db_clear_mask		= ntb_ivshmem_db_clear_mask,
	.peer_db_addr		= ntb_ivshmem_peer_db_addr,
	.peer_db_set		= ntb_ivshmem_peer_db_set,
	.peer_db_clear		= ntb_ivshmem_peer_db_clear,
	.peer_db_read_mask	= ntb_ivshmem_peer_db_read_mask,
	.peer_db_set_mask	= ntb_ivshmem_peer_db_set_mask,
	.peer_db_clear_mask	= ntb_ivshmem_peer_db_clear_mask,
	.spad_count		= ntb_ivshmem_spad_count,
	.spad_read		= ntb_ivshmem_spad_read,
	.spad_write		= ntb_ivshmem_spad_write,
	.peer_spad_addr		= ntb_ivshmem_peer_spad_addr,
	.peer_spad_read		= ntb_ivshmem_peer_spad_read,
	.peer_spad_write	= ntb_ivshmem_peer_spad_write,
	.msg_count		= ntb_ivshmem_msg_count,
	.msg_inbits		= ntb_ivshmem_msg_inbits,
	.msg_outbits		= ntb_ivshmem_msg_outbits,
	.msg_read_sts		= ntb_ivshmem_msg_read_sts,
	.msg_clear_sts		= ntb_ivshmem_msg_clear_sts,
	.msg_set_mask		= ntb_ivshmem_msg_set_mask,
	.msg_clear_mask		= ntb_ivshmem_msg_clear_mask,
	.msg_read		= ntb_ivshmem_msg_read,
	.peer_msg_write		= ntb_ivshmem_peer_msg_write,
};

/* The ops of this ntb_dev: hidden features have no ops at all. */
static void ntb_ivshmem_init_ops(struct ntb_dev_ops *ops)
{
	*ops = ntb_ivshmem_ops;
	if (hide_spads) {
		ops->spad_count = NULL;
		ops->spad_read = NULL;
		ops->spad_write = NULL;
		ops->peer_spad_addr = NULL;
		ops->peer_spad_read = NULL;
		ops->peer_spad_write = NULL;
	}
	if (hide_msgs) {
		ops->msg_count = NULL;
		ops->msg_inbits = NULL;
		ops->msg_outbits = NULL;
		ops->msg_read_sts = NULL;
		ops->msg_clear_sts = NULL;
		ops->msg_set_mask = NULL;
		ops->msg_clear_mask = NULL;
		ops->msg_read = NULL;
		ops->peer_msg_write = NULL;
	}
}

static int ntb_ivshmem_bus_notify(struct notifier_block *nb,
				  unsigned long action, void *data)
{
	struct ntb_ivshmem_dev *nd = container_of(nb, struct ntb_ivshmem_dev,
						  bus_nb);

	if (data == &nd->ntb.dev && action == BUS_NOTIFY_BIND_DRIVER)
		ntb_ivshmem_client_reset(nd);

	return NOTIFY_DONE;
}

/* Build and register the ntb_dev of a complete pair. */
static struct ntb_ivshmem_dev *ntb_ivshmem_pair(struct ntb_ivshmem_dbdev *db,
						struct ntb_ivshmem_windev *win)
{
	struct device *dev = &db->pdev->dev;
	struct ntb_ivshmem_dev *nd;
	int ret, i;

	nd = kzalloc(sizeof(*nd), GFP_KERNEL);
	if (!nd)
		return ERR_PTR(-ENOMEM);

	nd->db = db;
	nd->win = win;
	nd->own = db->shm + db->side_offset +
		  (size_t)db->own_id * db->side_size;
	nd->peer = db->shm + db->side_offset +
		   (size_t)db->peer_id * db->side_size;
	nd->spad_count = hide_spads ? 0 : NTB_IVSHMEM_SPAD_COUNT;
	nd->msg_count = hide_msgs ? 0 : NTB_IVSHMEM_MSG_COUNT;
	nd->inbound_size = win->size;
	ret = ntb_ivshmem_mw_init(nd);
	if (ret) {
		kfree(nd);
		return ERR_PTR(ret);
	}
	/*
	 * The link starts enabled, as a hardware link trains at power-up:
	 * clients that never call ntb_link_enable() (ntb_tool) see it come
	 * up.  ntb_link_disable() takes it down until ntb_link_enable().
	 */
	nd->link_enabled = true;
	spin_lock_init(&nd->lock);
	timer_setup(&nd->hb_timer, ntb_ivshmem_hb_timer, 0);
	INIT_DELAYED_WORK(&nd->poll_work, ntb_ivshmem_poll_work);
	init_irq_work(&nd->db_work, ntb_ivshmem_db_work);
	ntb_ivshmem_init_ops(&nd->ops);

	nd->ntb.pdev = db->pdev;
	/*
	 * Two ports joined back to back: id 0 plays the upstream side, id 1
	 * the downstream one, so the NTB core's default port numbers agree
	 * with ours (port number = ivshmem peer id).  ntb_transport,
	 * ntb_tool, ntb_pingpong and ntb_perf do not depend on the topology.
	 */
	nd->ntb.topo = db->own_id == 0 ? NTB_TOPO_B2B_USD : NTB_TOPO_B2B_DSD;
	nd->ntb.ops = &nd->ops;

	ntb_ivshmem_side_init(nd);
	/* Before the clients probe: they look for a channel there. */
	nd->dma = ntb_ivshmem_dma_init(nd);

	/* Clients may probe, and call our ops, inside this call. */
	ret = ntb_register_device(&nd->ntb);
	if (ret) {
		dev_err(dev, "cannot register the NTB device: %d\n", ret);
		ntb_ivshmem_link_stop(nd);
		irq_work_sync(&nd->db_work);
		ntb_ivshmem_dma_fini(nd->dma);
		kfree(nd);
		return ERR_PTR(ret);
	}

	ret = ntb_ivshmem_irq_setup(nd);
	if (ret) {
		ntb_ivshmem_link_stop(nd);
		irq_work_sync(&nd->db_work);
		ntb_unregister_device(&nd->ntb);
		ntb_ivshmem_dma_fini(nd->dma);
		kfree(nd);
		return ERR_PTR(ret);
	}
	ntb_ivshmem_link_start(nd);
	/* Only now is the NTB bus known; a client bound so far found defaults */
	nd->bus_nb.notifier_call = ntb_ivshmem_bus_notify;
	ret = bus_register_notifier(nd->ntb.dev.bus, &nd->bus_nb);
	if (ret) {
		nd->bus_nb.notifier_call = NULL;
		dev_warn(dev, "no client bind notifications (%d): a new client may find the link disabled by the previous one\n",
			 ret);
	}

	dev_info(dev, "NTB %s registered: port %u, peer port %u, %d memory window(s) in %pa bytes at %pa (%s), %d scratchpads, %d message registers, %d doorbells\n",
		 dev_name(&nd->ntb.dev), db->own_id, db->peer_id, nd->mw_count,
		 &win->size, &win->phys, pci_name(win->pdev), nd->spad_count,
		 nd->msg_count, NTB_IVSHMEM_DB_COUNT);
	for (i = 0; i < nd->mw_count; i++)
		dev_info(dev, "memory window %d: %#llx bytes at BAR2 offset %#llx\n",
			 i, nd->mw[i].size, nd->mw[i].offset);

	return nd;
}

static void ntb_ivshmem_unpair(struct ntb_ivshmem_dev *nd)
{
	struct device *dev = &nd->db->pdev->dev;

	/* Leave (the peer sees the link go down at once), stop all events */
	ntb_ivshmem_link_stop(nd);
	ntb_ivshmem_irq_teardown(nd);
	/* then let the clients go: the ops they call on the way still work. */
	ntb_unregister_device(&nd->ntb);
	/* Their DMA channels went with them. */
	ntb_ivshmem_dma_fini(nd->dma);
	if (nd->bus_nb.notifier_call)
		bus_unregister_notifier(nd->ntb.dev.bus, &nd->bus_nb);
	dev_info(dev, "NTB unregistered\n");
	kfree(nd);
}

/* Add a probed device; register the ntb_dev when the pair is complete. */
static int ntb_ivshmem_add(struct pci_dev *pdev, struct ntb_ivshmem_dbdev *db,
			   struct ntb_ivshmem_windev *win)
{
	struct ntb_ivshmem_dev *nd;
	int ret = 0;

	mutex_lock(&ntb_ivshmem_pair_lock);
	if ((db && ntb_ivshmem_db) || (win && ntb_ivshmem_win)) {
		dev_err(&pdev->dev, "second ivshmem-%s device, but only one NTB (one device pair) per system is supported: not binding\n",
			db ? "doorbell" : "plain");
		ret = -EBUSY;
		goto out;
	}
	if (db)
		ntb_ivshmem_db = db;
	else
		ntb_ivshmem_win = win;

	if (!ntb_ivshmem_db || !ntb_ivshmem_win) {
		dev_info(&pdev->dev, "waiting for the ivshmem-%s device\n",
			 db ? "plain" : "doorbell");
		goto out;
	}

	nd = ntb_ivshmem_pair(ntb_ivshmem_db, ntb_ivshmem_win);
	if (IS_ERR(nd)) {
		ret = PTR_ERR(nd);
		if (db)
			ntb_ivshmem_db = NULL;
		else
			ntb_ivshmem_win = NULL;
		goto out;
	}
	ntb_ivshmem_nd = nd;
out:
	mutex_unlock(&ntb_ivshmem_pair_lock);
	return ret;
}

static void ntb_ivshmem_remove(struct pci_dev *pdev)
{
	mutex_lock(&ntb_ivshmem_pair_lock);
	if (ntb_ivshmem_nd) {
		ntb_ivshmem_unpair(ntb_ivshmem_nd);
		ntb_ivshmem_nd = NULL;
	}
	if (ntb_ivshmem_db && ntb_ivshmem_db->pdev == pdev)
		ntb_ivshmem_db = NULL;
	if (ntb_ivshmem_win && ntb_ivshmem_win->pdev == pdev)
		ntb_ivshmem_win = NULL;
	mutex_unlock(&ntb_ivshmem_pair_lock);
}

/* Check the header that tools/ivshmem-server wrote; copy what we need. */
static int ntb_ivshmem_check_hdr(struct ntb_ivshmem_dbdev *db,
				 resource_size_t bar_size)
{
	struct ntb_ivshmem_hdr __iomem *hdr = db->shm;
	struct device *dev = &db->pdev->dev;
	u32 version, hdr_size, vectors, max_peers, side_offset, side_size;
	u64 magic, shm_size;

	magic = lo_hi_readq(&hdr->magic);
	version = ioread32(&hdr->version);
	if (magic != NTB_IVSHMEM_MAGIC) {
		dev_err(dev, "shared region has no NTB header (magic %#llx, expected %#llx): not served by tools/ivshmem-server? not binding\n",
			magic, NTB_IVSHMEM_MAGIC);
		return -ENODEV;
	}
	if (version != NTB_IVSHMEM_VERSION) {
		dev_err(dev, "shared region header version %u, this driver knows %u: not binding\n",
			version, NTB_IVSHMEM_VERSION);
		return -ENODEV;
	}

	hdr_size = ioread32(&hdr->hdr_size);
	shm_size = lo_hi_readq(&hdr->shm_size);
	vectors = ioread32(&hdr->vectors);
	max_peers = ioread32(&hdr->max_peers);
	side_offset = ioread32(&hdr->side_offset);
	side_size = ioread32(&hdr->side_size);
	/* A header without the DMA engine's fields ends before them. */
	if (hdr_size < offsetof(struct ntb_ivshmem_hdr, dma_offset) ||
	    shm_size > bar_size ||
	    vectors < NTB_IVSHMEM_VECTORS || max_peers < NTB_IVSHMEM_IDS ||
	    side_offset < hdr_size || !IS_ALIGNED(side_offset, 8) ||
	    side_size < sizeof(struct ntb_ivshmem_side) ||
	    !IS_ALIGNED(side_size, 8) ||
	    side_offset + (u64)max_peers * side_size > shm_size) {
		dev_err(dev, "inconsistent shared region header (hdr_size %u, shm_size %llu in a BAR of %pa, vectors %u (need %d), max_peers %u (need %d), side areas at %u of %u bytes (need %zu)): not binding\n",
			hdr_size, shm_size, &bar_size, vectors,
			NTB_IVSHMEM_VECTORS, max_peers, NTB_IVSHMEM_IDS,
			side_offset, side_size, sizeof(struct ntb_ivshmem_side));
		return -ENODEV;
	}

	db->side_offset = side_offset;
	db->side_size = side_size;

	/* The DMA engine: used only if its areas lie inside the region. */
	if (hdr_size >= sizeof(*hdr) && ioread32(&hdr->dma_size)) {
		u32 off = ioread32(&hdr->dma_offset);
		u32 size = ioread32(&hdr->dma_size);
		u32 id = ioread32(&hdr->dma_id);

		if (size < sizeof(struct ntb_ivshmem_dma_area) ||
		    !IS_ALIGNED(off, 8) || !IS_ALIGNED(size, 8) ||
		    off < side_offset + (u64)max_peers * side_size ||
		    off + (u64)NTB_IVSHMEM_IDS * size > shm_size ||
		    id < NTB_IVSHMEM_IDS || id > 0xffff ||
		    ioread32(&hdr->dma_slots) != NTB_IVSHMEM_DMA_SLOTS) {
			dev_warn(dev, "DMA engine announced with an inconsistent layout (areas at %u of %u bytes, id %u): not used\n",
				 off, size, id);
		} else {
			db->dma_offset = off;
			db->dma_size = size;
			db->dma_id = id;
		}
	}

	return 0;
}

static int ntb_ivshmem_probe_db(struct pci_dev *pdev, int nvec)
{
	struct device *dev = &pdev->dev;
	struct ntb_ivshmem_dbdev *db;
	void __iomem * const *iomap;
	int ret;

	if (nvec < NTB_IVSHMEM_VECTORS) {
		dev_err(dev, "ivshmem-doorbell with %d MSI-X vectors, %d needed (vectors=%d): not binding\n",
			nvec, NTB_IVSHMEM_VECTORS, NTB_IVSHMEM_VECTORS);
		return -ENODEV;
	}
	if (!(pci_resource_flags(pdev, IVSHMEM_REG_BAR) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, IVSHMEM_REG_BAR) < IVSHMEM_REG_SIZE ||
	    !(pci_resource_flags(pdev, IVSHMEM_SHM_BAR) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, IVSHMEM_SHM_BAR) <
	    sizeof(struct ntb_ivshmem_hdr)) {
		dev_err(dev, "ivshmem-doorbell without usable BAR0 and BAR2: not binding\n");
		return -ENODEV;
	}

	db = devm_kzalloc(dev, sizeof(*db), GFP_KERNEL);
	if (!db)
		return -ENOMEM;
	db->pdev = pdev;

	ret = pcim_iomap_regions(pdev, BIT(IVSHMEM_REG_BAR) |
				 BIT(IVSHMEM_SHM_BAR), KBUILD_MODNAME);
	if (ret) {
		dev_err(dev, "cannot map BAR0 and BAR2: %d\n", ret);
		return ret;
	}
	iomap = pcim_iomap_table(pdev);
	db->regs = iomap[IVSHMEM_REG_BAR];
	db->shm = iomap[IVSHMEM_SHM_BAR];
	db->shm_phys = pci_resource_start(pdev, IVSHMEM_SHM_BAR);

	ret = ntb_ivshmem_check_hdr(db, pci_resource_len(pdev,
							 IVSHMEM_SHM_BAR));
	if (ret)
		return ret;

	db->own_id = ioread32(db->regs + IVSHMEM_REG_IVPOSITION);
	if (db->own_id >= NTB_IVSHMEM_IDS) {
		dev_err(dev, "ivshmem peer id %u: this driver joins two VMs, with peer ids 0 and 1: not binding\n",
			db->own_id);
		return -ENODEV;
	}
	db->peer_id = NTB_IVSHMEM_IDS - 1 - db->own_id;

	/*
	 * The peer reaches our RAM at window offset = DMA address: with no
	 * IOMMU the DMA address is the guest-physical address, and all the
	 * RAM of a testbed guest (q35, at most 2 GiB) lies below the window
	 * size.  Clients check addresses against ntb_mw_get_align().
	 */
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret) {
		dev_err(dev, "cannot set the DMA mask: %d\n", ret);
		return ret;
	}
	/* MSI-X messages are memory writes of the device. */
	pci_set_master(pdev);
	/* Managed: pcim_enable_device() frees the vectors on unbind. */
	/* One more for the DMA engine when the device has it. */
	ret = pci_alloc_irq_vectors(pdev, NTB_IVSHMEM_VECTORS,
				    NTB_IVSHMEM_DMA_VECTORS, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(dev, "cannot allocate %d MSI-X vectors: %d\n",
			NTB_IVSHMEM_VECTORS, ret);
		return ret;
	}
	db->nvec = ret;

	dev_info(dev, "ivshmem-doorbell: peer id %u, shared region at %pa, %d MSI-X vectors\n",
		 db->own_id, &db->shm_phys, db->nvec);

	return ntb_ivshmem_add(pdev, db, NULL);
}

/* An ivshmem-doorbell device with MSI-X switched off would look like this */
static bool ntb_ivshmem_has_hdr(struct pci_dev *pdev)
{
	void __iomem *p;
	u64 magic;

	p = pci_iomap_range(pdev, IVSHMEM_SHM_BAR, 0, sizeof(magic));
	if (!p)
		return false;
	magic = lo_hi_readq(p);
	pci_iounmap(pdev, p);

	return magic == NTB_IVSHMEM_MAGIC;
}

static int ntb_ivshmem_probe_win(struct pci_dev *pdev)
{
	resource_size_t size = pci_resource_len(pdev, IVSHMEM_SHM_BAR);
	struct device *dev = &pdev->dev;
	struct ntb_ivshmem_windev *win;
	int ret;

	if (!(pci_resource_flags(pdev, IVSHMEM_SHM_BAR) & IORESOURCE_MEM) ||
	    !size || !IS_ALIGNED(size, PAGE_SIZE)) {
		dev_err(dev, "ivshmem device with neither MSI-X nor a usable BAR2: not binding\n");
		return -ENODEV;
	}
	if (ntb_ivshmem_has_hdr(pdev)) {
		dev_err(dev, "ivshmem device with the NTB shared region but without MSI-X: use ivshmem-doorbell with vectors=%d and MSI-X on; not binding\n",
			NTB_IVSHMEM_VECTORS);
		return -ENODEV;
	}

	win = devm_kzalloc(dev, sizeof(*win), GFP_KERNEL);
	if (!win)
		return -ENOMEM;
	win->pdev = pdev;
	win->phys = pci_resource_start(pdev, IVSHMEM_SHM_BAR);
	win->size = size;

	/* Clients map it; we only claim it (released on unbind: pcim). */
	ret = pci_request_region(pdev, IVSHMEM_SHM_BAR, KBUILD_MODNAME);
	if (ret) {
		dev_err(dev, "cannot claim BAR2: %d\n", ret);
		return ret;
	}

	dev_info(dev, "ivshmem-plain: memory window of %pa bytes at %pa\n",
		 &win->size, &win->phys);

	return ntb_ivshmem_add(pdev, NULL, win);
}

static int ntb_ivshmem_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	int ret, nvec;

	ret = pcim_enable_device(pdev);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable the device: %d\n", ret);
		return ret;
	}

	nvec = pci_msix_vec_count(pdev);
	if (nvec > 0)
		return ntb_ivshmem_probe_db(pdev, nvec);

	return ntb_ivshmem_probe_win(pdev);
}

static const struct pci_device_id ntb_ivshmem_pci_tbl[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_DEVICE_ID_IVSHMEM) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ntb_ivshmem_pci_tbl);

static struct pci_driver ntb_ivshmem_pci_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= ntb_ivshmem_pci_tbl,
	.probe		= ntb_ivshmem_probe,
	.remove		= ntb_ivshmem_remove,
};

static int __init ntb_ivshmem_init(void)
{
	/* The side area layout is ABI between the two VMs. */
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, plain_bar_size) != 0x20);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, msg_out) != 0x40);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, msg_ack_session) !=
		     0x80);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, msg_ack) != 0x90);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, spad) != 0xc0);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, mw_count) != 0x100);
	BUILD_BUG_ON(offsetof(struct ntb_ivshmem_side, mw) != 0x110);
	BUILD_BUG_ON(sizeof(struct ntb_ivshmem_side) != 0x150);
	BUILD_BUG_ON(sizeof(struct ntb_ivshmem_side) > NTB_IVSHMEM_SIDE_SIZE);

	if (hide_spads && hide_msgs) {
		pr_err("hide_spads=1 and hide_msgs=1 together leave clients no way to exchange setup data: refusing to load\n");
		return -EINVAL;
	}
	if (ntb_ivshmem_mw_parse())
		return -EINVAL;

	return pci_register_driver(&ntb_ivshmem_pci_driver);
}
module_init(ntb_ivshmem_init);

static void __exit ntb_ivshmem_exit(void)
{
	pci_unregister_driver(&ntb_ivshmem_pci_driver);
}
module_exit(ntb_ivshmem_exit);

MODULE_DESCRIPTION("NTB hardware emulated on QEMU ivshmem devices");
MODULE_LICENSE("GPL");

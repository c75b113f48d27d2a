// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: MSI-X vectors and doorbells.
 *
 * The peer rings our doorbell bit v (0..15) by writing (our id << 16) | v to
 * its Doorbell register, which raises our MSI-X vector v; we report it to
 * ntb_db_event() as doorbell vector v (0-based, one bit per vector).  Vector
 * NTB_IVSHMEM_CTRL_VECTOR only makes us poll the peer's side area (link
 * changes, messages).  The doorbell, mask and pending bits are local state:
 * nothing about doorbells lives in shared memory.
 */

#include <linux/bitops.h>
#include <linux/interrupt.h>
#include <linux/io.h>

#include "ntb_hw_ivshmem.h"

/* Deliver events for @bits from the irq_work; the caller holds nd->lock. */
static void ntb_ivshmem_db_replay(struct ntb_ivshmem_dev *nd, u64 bits)
{
	nd->db_replay |= bits;
	if (nd->db_replay && !nd->stopped)
		irq_work_queue(&nd->db_work);
}

/*
 * Events that no interrupt announced (ntb_db_set(), unmasking pending bits)
 * are delivered from an irq_work, as a hardware NTB would raise its interrupt
 * after the register write: never from inside the caller's ntb_db_*() call,
 * which may hold the caller's locks.
 */
void ntb_ivshmem_db_work(struct irq_work *work)
{
	struct ntb_ivshmem_dev *nd = container_of(work, struct ntb_ivshmem_dev,
						  db_work);
	unsigned long flags, pending;
	int v;

	spin_lock_irqsave(&nd->lock, flags);
	pending = nd->db_replay & nd->db_bits & ~nd->db_mask;
	nd->db_replay = 0;
	if (nd->stopped)
		pending = 0;
	spin_unlock_irqrestore(&nd->lock, flags);

	for_each_set_bit(v, &pending, NTB_IVSHMEM_DB_COUNT)
		ntb_db_event(&nd->ntb, v);
}

static irqreturn_t ntb_ivshmem_db_isr(int irq, void *data)
{
	struct ntb_ivshmem_vec *vec = data;
	struct ntb_ivshmem_dev *nd = vec->nd;
	u64 bit = BIT_ULL(vec->vector);
	bool event;

	spin_lock(&nd->lock);
	nd->db_bits |= bit;
	event = !(nd->db_mask & bit) && !nd->stopped;
	spin_unlock(&nd->lock);

	if (event)
		ntb_db_event(&nd->ntb, vec->vector);

	return IRQ_HANDLED;
}

static irqreturn_t ntb_ivshmem_ctrl_isr(int irq, void *data)
{
	struct ntb_ivshmem_vec *vec = data;

	ntb_ivshmem_poll_soon(vec->nd);

	return IRQ_HANDLED;
}

int ntb_ivshmem_irq_setup(struct ntb_ivshmem_dev *nd)
{
	struct pci_dev *pdev = nd->db->pdev;
	irq_handler_t handler;
	int v, irq, ret;

	for (v = 0; v < NTB_IVSHMEM_VECTORS; v++) {
		nd->vec[v].nd = nd;
		nd->vec[v].vector = v;
		handler = v == NTB_IVSHMEM_CTRL_VECTOR ?
			  ntb_ivshmem_ctrl_isr : ntb_ivshmem_db_isr;
		irq = pci_irq_vector(pdev, v);
		ret = irq < 0 ? irq : request_irq(irq, handler, 0,
						  KBUILD_MODNAME, &nd->vec[v]);
		if (ret) {
			dev_err(&pdev->dev, "cannot set up MSI-X vector %d: %d\n",
				v, ret);
			goto err_free;
		}
	}

	return 0;

err_free:
	while (v--)
		free_irq(pci_irq_vector(pdev, v), &nd->vec[v]);

	return ret;
}

/* After ntb_ivshmem_link_stop(): nothing re-queues the irq_work any more. */
void ntb_ivshmem_irq_teardown(struct ntb_ivshmem_dev *nd)
{
	struct pci_dev *pdev = nd->db->pdev;
	int v;

	for (v = 0; v < NTB_IVSHMEM_VECTORS; v++)
		free_irq(pci_irq_vector(pdev, v), &nd->vec[v]);
	irq_work_sync(&nd->db_work);
}

u64 ntb_ivshmem_db_valid_mask(struct ntb_dev *ntb)
{
	return NTB_IVSHMEM_DB_MASK;
}

int ntb_ivshmem_db_vector_count(struct ntb_dev *ntb)
{
	return NTB_IVSHMEM_DB_COUNT;
}

u64 ntb_ivshmem_db_vector_mask(struct ntb_dev *ntb, int db_vector)
{
	if (db_vector < 0 || db_vector >= NTB_IVSHMEM_DB_COUNT)
		return 0;

	return BIT_ULL(db_vector);
}

u64 ntb_ivshmem_db_read(struct ntb_dev *ntb)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;
	u64 bits;

	spin_lock_irqsave(&nd->lock, flags);
	bits = nd->db_bits;
	spin_unlock_irqrestore(&nd->lock, flags);

	return bits;
}

int ntb_ivshmem_db_set(struct ntb_dev *ntb, u64 db_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (db_bits & ~NTB_IVSHMEM_DB_MASK)
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->db_bits |= db_bits;
	ntb_ivshmem_db_replay(nd, db_bits & ~nd->db_mask);
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

int ntb_ivshmem_db_clear(struct ntb_dev *ntb, u64 db_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (db_bits & ~NTB_IVSHMEM_DB_MASK)
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->db_bits &= ~db_bits;
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

u64 ntb_ivshmem_db_read_mask(struct ntb_dev *ntb)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;
	u64 mask;

	spin_lock_irqsave(&nd->lock, flags);
	mask = nd->db_mask;
	spin_unlock_irqrestore(&nd->lock, flags);

	return mask;
}

int ntb_ivshmem_db_set_mask(struct ntb_dev *ntb, u64 db_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (db_bits & ~NTB_IVSHMEM_DB_MASK)
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->db_mask |= db_bits;
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

/* Unmasking a bit that is already set must produce its event. */
int ntb_ivshmem_db_clear_mask(struct ntb_dev *ntb, u64 db_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;
	u64 unmasked;

	if (db_bits & ~NTB_IVSHMEM_DB_MASK)
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	unmasked = nd->db_mask & db_bits;
	nd->db_mask &= ~db_bits;
	ntb_ivshmem_db_replay(nd, unmasked & nd->db_bits);
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

/*
 * Writing @db_data (32 bits) to @db_addr rings doorbell @db_bit of the peer:
 * that is the Doorbell register of our ivshmem-doorbell device.
 */
int ntb_ivshmem_peer_db_addr(struct ntb_dev *ntb, phys_addr_t *db_addr,
			     resource_size_t *db_size, u64 *db_data,
			     int db_bit)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (db_bit < 0 || db_bit >= NTB_IVSHMEM_DB_COUNT)
		return -EINVAL;

	if (db_addr)
		*db_addr = pci_resource_start(nd->db->pdev, IVSHMEM_REG_BAR) +
			   IVSHMEM_REG_DOORBELL;
	if (db_size)
		*db_size = sizeof(u32);
	if (db_data)
		*db_data = (u64)nd->db->peer_id << 16 | db_bit;

	return 0;
}

int ntb_ivshmem_peer_db_set(struct ntb_dev *ntb, u64 db_bits)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long bits = db_bits;
	int v;

	if (db_bits & ~NTB_IVSHMEM_DB_MASK)
		return -EINVAL;

	/*
	 * The caller's stores into the peer's memory (often through a
	 * write-combining mapping of the window) must land before the
	 * doorbell that announces them.
	 */
	wmb();
	for_each_set_bit(v, &bits, NTB_IVSHMEM_DB_COUNT)
		iowrite32(nd->db->peer_id << 16 | v,
			  nd->db->regs + IVSHMEM_REG_DOORBELL);

	return 0;
}

/*
 * The peer's doorbell and mask are local state of the peer: we cannot clear
 * or mask its bits.  These stubs exist only because the ntb_peer_db_clear(),
 * ntb_peer_db_read_mask(), ntb_peer_db_set_mask() and
 * ntb_peer_db_clear_mask() wrappers of <linux/ntb.h> test for the local op
 * (db_clear, db_read_mask, ...) but then call the peer op: without them a
 * client calling one of those would oops.  They behave as if absent.
 */
int ntb_ivshmem_peer_db_clear(struct ntb_dev *ntb, u64 db_bits)
{
	return -EINVAL;
}

u64 ntb_ivshmem_peer_db_read_mask(struct ntb_dev *ntb)
{
	return 0;
}

int ntb_ivshmem_peer_db_set_mask(struct ntb_dev *ntb, u64 db_bits)
{
	return -EINVAL;
}

int ntb_ivshmem_peer_db_clear_mask(struct ntb_dev *ntb, u64 db_bits)
{
	return -EINVAL;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntb_hw_ivshmem: an NTB hardware driver emulated on two QEMU ivshmem devices.
 *
 * Private declarations shared by the files of the driver:
 *   ntb_hw_ivshmem_main.c  PCI probe/remove, device pairing, ntb_dev ops table
 *   ntb_hw_ivshmem_link.c  side area, heartbeat, link state, event polling
 *   ntb_hw_ivshmem_db.c    MSI-X vectors and doorbells
 *   ntb_hw_ivshmem_msg.c   message registers
 *   ntb_hw_ivshmem_spad.c  scratchpads
 *   ntb_hw_ivshmem_mw.c    memory windows
 *   ntb_hw_ivshmem_dma.c   the emulated DMA engine (a dmaengine device)
 */
#ifndef NTB_HW_IVSHMEM_H
#define NTB_HW_IVSHMEM_H

#include <linux/irq_work.h>
#include <linux/notifier.h>
#include <linux/ntb.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include <ntb-ivshmem.h>

/* Registers of the ivshmem device (BAR0). */
#define IVSHMEM_REG_BAR		0
#define IVSHMEM_REG_INTR_MASK	0x00	/* INTx only, unused with MSI-X */
#define IVSHMEM_REG_INTR_STATUS	0x04	/* INTx only, unused with MSI-X */
#define IVSHMEM_REG_IVPOSITION	0x08	/* our ivshmem peer id */
#define IVSHMEM_REG_DOORBELL	0x0c	/* write (peer id << 16) | vector */
#define IVSHMEM_REG_SIZE	0x10
/* The shared memory of both device types is BAR2. */
#define IVSHMEM_SHM_BAR		2

/* This driver joins exactly two VMs: peer ids 0 and 1. */
#define NTB_IVSHMEM_IDS		2

#define NTB_IVSHMEM_DB_MASK	GENMASK_ULL(NTB_IVSHMEM_DB_COUNT - 1, 0)
/*
 * Message status bits: bit i is inbound register i (a message waits in it),
 * bit 16 + i outbound register i (a write to it found it full).
 */
#define NTB_IVSHMEM_MSG_INBITS	GENMASK_ULL(NTB_IVSHMEM_MSG_COUNT - 1, 0)
#define NTB_IVSHMEM_MSG_OUTSHIFT 16
#define NTB_IVSHMEM_MSG_OUTBITS	(NTB_IVSHMEM_MSG_INBITS << \
				 NTB_IVSHMEM_MSG_OUTSHIFT)

/* The ivshmem-doorbell device: MSI-X, registers and the shared region. */
struct ntb_ivshmem_dbdev {
	struct pci_dev *pdev;
	void __iomem *regs;
	void __iomem *shm;
	resource_size_t shm_phys;
	/* Copied from the validated header; never read from it again. */
	u32 side_offset;
	u32 side_size;
	u32 own_id;
	u32 peer_id;
	int nvec;	/* MSI-X vectors allocated */
	/* The emulated DMA engine's, from the header (dma_size 0: none). */
	u32 dma_offset;
	u32 dma_size;
	u32 dma_id;
};

/* The ivshmem-plain device: BAR2 maps the peer's RAM (the memory windows). */
struct ntb_ivshmem_windev {
	struct pci_dev *pdev;
	phys_addr_t phys;
	resource_size_t size;
};

/*
 * One memory window (ntb_hw_ivshmem_mw.c): BAR2 [offset, offset + size) of
 * the ivshmem-plain device outbound; inbound, the peer's same range of its
 * BAR2 reaches our RAM from DMA address offset (fixed translation).
 */
struct ntb_ivshmem_mw {
	u64 offset;
	u64 size;
	u64 trans;	/* inbound translation size set, 0: none; under lock */
};

struct ntb_ivshmem_dev;

/* Context of one MSI-X vector. */
struct ntb_ivshmem_vec {
	struct ntb_ivshmem_dev *nd;
	int vector;
};

/*
 * The emulated NTB, alive from the moment both devices are bound until
 * either of them is removed.
 */
struct ntb_ivshmem_dev {
	struct ntb_dev ntb;
	/* Copy of the ops table without the features hidden by parameters. */
	struct ntb_dev_ops ops;
	struct ntb_ivshmem_dbdev *db;
	struct ntb_ivshmem_windev *win;
	/* Our side area (we own it) and the peer's (it owns it). */
	struct ntb_ivshmem_side __iomem *own;
	struct ntb_ivshmem_side __iomem *peer;
	int spad_count;
	int msg_count;
	/* Memory windows: fixed at pairing, but for mw[].trans. */
	struct ntb_ivshmem_mw mw[NTB_IVSHMEM_MW_MAX];
	int mw_count;
	bool mw_whole;	/* default: one window, all of BAR2 */
	u32 mw_warned;	/* poll work: peer session told "other windows" */

	/* Heartbeat value; only the heartbeat timer touches it. */
	u32 heartbeat;
	struct timer_list hb_timer;
	/* Link state and message polling (every 100 ms and on a kick). */
	struct delayed_work poll_work;
	/* Delivers doorbell events that no interrupt announced. */
	struct irq_work db_work;
	/* Tells us when a client binds to our ntb_dev. */
	struct notifier_block bus_nb;
	struct ntb_ivshmem_vec vec[NTB_IVSHMEM_VECTORS];
	/* The DMA engine (ntb_hw_ivshmem_dma.c), NULL without one. */
	struct ntb_ivshmem_dma *dma;

	/* Protects every field below; never held across an ntb_*_event(). */
	spinlock_t lock;
	/* Set on teardown: nothing may be queued or re-armed any more. */
	bool stopped;

	/* Link: local copies of what we publish, and what we saw of the peer */
	bool link_enabled;
	bool link_up;
	u32 session;
	u32 state;
	u32 peer_session;
	u32 peer_hb;
	unsigned long peer_hb_time;
	bool peer_alive;
	/* Size of the peer's BAR2: our RAM it reaches from DMA address 0. */
	resource_size_t inbound_size;

	/* Doorbells: local state only. */
	u64 db_bits;
	u64 db_mask;
	u64 db_replay;

	/* Messages: local copies of our msg_out[].seq, msg_ack[] etc. */
	u32 msg_seq[NTB_IVSHMEM_MSG_COUNT];
	u32 msg_ack[NTB_IVSHMEM_MSG_COUNT];
	u32 msg_ack_session;
	/* Inbound sequence numbers already announced by a message event */
	u32 msg_seen[NTB_IVSHMEM_MSG_COUNT];
	u64 msg_mask;
	u64 msg_out_fail;
	bool msg_force_event;
};

static inline struct ntb_ivshmem_dev *ntb_ivshmem_of(struct ntb_dev *ntb)
{
	return container_of(ntb, struct ntb_ivshmem_dev, ntb);
}

/* ntb_hw_ivshmem_link.c */
void ntb_ivshmem_side_init(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_link_start(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_link_stop(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_client_reset(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_kick_peer(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_poll_soon(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_poll_work(struct work_struct *work);
void ntb_ivshmem_hb_timer(struct timer_list *t);
u32 ntb_ivshmem_peer_session(struct ntb_ivshmem_dev *nd);
u64 ntb_ivshmem_link_is_up(struct ntb_dev *ntb, enum ntb_speed *speed,
			   enum ntb_width *width);
int ntb_ivshmem_link_enable(struct ntb_dev *ntb, enum ntb_speed max_speed,
			    enum ntb_width max_width);
int ntb_ivshmem_link_disable(struct ntb_dev *ntb);

/* ntb_hw_ivshmem_db.c */
int ntb_ivshmem_irq_setup(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_irq_teardown(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_db_work(struct irq_work *work);
u64 ntb_ivshmem_db_valid_mask(struct ntb_dev *ntb);
int ntb_ivshmem_db_vector_count(struct ntb_dev *ntb);
u64 ntb_ivshmem_db_vector_mask(struct ntb_dev *ntb, int db_vector);
u64 ntb_ivshmem_db_read(struct ntb_dev *ntb);
int ntb_ivshmem_db_set(struct ntb_dev *ntb, u64 db_bits);
int ntb_ivshmem_db_clear(struct ntb_dev *ntb, u64 db_bits);
u64 ntb_ivshmem_db_read_mask(struct ntb_dev *ntb);
int ntb_ivshmem_db_set_mask(struct ntb_dev *ntb, u64 db_bits);
int ntb_ivshmem_db_clear_mask(struct ntb_dev *ntb, u64 db_bits);
int ntb_ivshmem_peer_db_addr(struct ntb_dev *ntb, phys_addr_t *db_addr,
			     resource_size_t *db_size, u64 *db_data,
			     int db_bit);
int ntb_ivshmem_peer_db_set(struct ntb_dev *ntb, u64 db_bits);
int ntb_ivshmem_peer_db_clear(struct ntb_dev *ntb, u64 db_bits);
u64 ntb_ivshmem_peer_db_read_mask(struct ntb_dev *ntb);
int ntb_ivshmem_peer_db_set_mask(struct ntb_dev *ntb, u64 db_bits);
int ntb_ivshmem_peer_db_clear_mask(struct ntb_dev *ntb, u64 db_bits);

/* ntb_hw_ivshmem_msg.c */
void ntb_ivshmem_msg_init(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_msg_poll(struct ntb_ivshmem_dev *nd);
int ntb_ivshmem_msg_count(struct ntb_dev *ntb);
u64 ntb_ivshmem_msg_inbits(struct ntb_dev *ntb);
u64 ntb_ivshmem_msg_outbits(struct ntb_dev *ntb);
u64 ntb_ivshmem_msg_read_sts(struct ntb_dev *ntb);
int ntb_ivshmem_msg_clear_sts(struct ntb_dev *ntb, u64 sts_bits);
int ntb_ivshmem_msg_set_mask(struct ntb_dev *ntb, u64 mask_bits);
int ntb_ivshmem_msg_clear_mask(struct ntb_dev *ntb, u64 mask_bits);
u32 ntb_ivshmem_msg_read(struct ntb_dev *ntb, int *pidx, int midx);
int ntb_ivshmem_peer_msg_write(struct ntb_dev *ntb, int pidx, int midx,
			       u32 msg);

/* ntb_hw_ivshmem_spad.c */
int ntb_ivshmem_spad_count(struct ntb_dev *ntb);
u32 ntb_ivshmem_spad_read(struct ntb_dev *ntb, int sidx);
int ntb_ivshmem_spad_write(struct ntb_dev *ntb, int sidx, u32 val);
int ntb_ivshmem_peer_spad_addr(struct ntb_dev *ntb, int pidx, int sidx,
			       phys_addr_t *spad_addr);
u32 ntb_ivshmem_peer_spad_read(struct ntb_dev *ntb, int pidx, int sidx);
int ntb_ivshmem_peer_spad_write(struct ntb_dev *ntb, int pidx, int sidx,
				u32 val);

/* ntb_hw_ivshmem_dma.c */
struct ntb_ivshmem_dma;
struct ntb_ivshmem_dma *ntb_ivshmem_dma_init(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_dma_fini(struct ntb_ivshmem_dma *d);

/* ntb_hw_ivshmem_mw.c */
int ntb_ivshmem_mw_parse(void);
int ntb_ivshmem_mw_init(struct ntb_ivshmem_dev *nd);
void ntb_ivshmem_mw_publish(struct ntb_ivshmem_dev *nd);
bool ntb_ivshmem_mw_match(struct ntb_ivshmem_dev *nd);
resource_size_t ntb_ivshmem_check_inbound(struct ntb_ivshmem_dev *nd,
					  u64 size);
int ntb_ivshmem_mw_count(struct ntb_dev *ntb, int pidx);
int ntb_ivshmem_mw_get_align(struct ntb_dev *ntb, int pidx, int widx,
			     resource_size_t *addr_align,
			     resource_size_t *size_align,
			     resource_size_t *size_max);
int ntb_ivshmem_mw_set_trans(struct ntb_dev *ntb, int pidx, int widx,
			     dma_addr_t addr, resource_size_t size);
int ntb_ivshmem_mw_clear_trans(struct ntb_dev *ntb, int pidx, int widx);
int ntb_ivshmem_peer_mw_count(struct ntb_dev *ntb);
int ntb_ivshmem_peer_mw_get_addr(struct ntb_dev *ntb, int widx,
				 phys_addr_t *base, resource_size_t *size);

#endif /* NTB_HW_IVSHMEM_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma: RDMA verbs over a PCIe Non-Transparent Bridge.
 *
 * The module has two halves with this header between them:
 *
 *  - the transport (ntbrdma_main.c, ntbrdma_link.c, ntbrdma_ctrl.c,
 *    ntbrdma_netdev.c, ...): an NTB client.  For every NTB device it owns one
 *    struct ntbr_dev: it maps the peer's memory window, brings the link up
 *    (version and layout exchanged through scratchpads or message registers),
 *    runs a control channel of memory rings, and provides an Ethernet netdev
 *    (ntb0, ntb1, ...) over the same window and doorbells;
 *
 *  - the RDMA half (ntbrdma_ib*.c): `rdma link add NAME type ntbrdma netdev
 *    ntbX` creates an ib_device on the ntbr_dev behind ntbX; verbs, memory
 *    registration and queue pairs live there.
 *
 * The RDMA half only uses what is declared here; the transport never looks
 * inside the RDMA half's structures.
 */
#ifndef NTBRDMA_H
#define NTBRDMA_H

#include <linux/completion.h>
#include <linux/netdevice.h>
#include <linux/types.h>

struct ntbr_dev;
struct ntb_dev;

/* --- transport -> RDMA half ------------------------------------------- */

/*
 * Called by the transport, in process context, without transport locks
 * held.  link_up/link_down bracket every period in which the link is ready
 * (the peer's transport answered the handshake of this session); remove is
 * called once, before the ntbr_dev goes away (NTB device removed or module
 * unloading), and must not return before the RDMA half stopped using it.
 */
void ntbr_ib_link_up(struct ntbr_dev *nd);
void ntbr_ib_link_down(struct ntbr_dev *nd);
void ntbr_ib_remove(struct ntbr_dev *nd);
/*
 * The control queue has room again after ntbr_ctrl_congested() said it
 * had none, or it was emptied with the link: what held back may go on.
 * Process context, no transport lock held.
 */
void ntbr_ib_ctrl_room(struct ntbr_dev *nd);

/* Module init/exit of the RDMA half (rdma_link_ops registration etc.). */
int ntbr_ib_init(void);
void ntbr_ib_exit(void);

/* --- RDMA half -> transport ------------------------------------------- */

/*
 * The ntbr_dev behind a netdev, or NULL if the netdev is not one of ours.
 * Takes a reference (ntbr_dev_put() drops it); the caller holds the RTNL
 * lock or a reference on the netdev.
 */
struct ntbr_dev *ntbr_dev_from_netdev(struct net_device *netdev);
void ntbr_dev_put(struct ntbr_dev *nd);

struct net_device *ntbr_netdev(struct ntbr_dev *nd);
struct ntb_dev *ntbr_ntb(struct ntbr_dev *nd);

/* The device to DMA-map memory for (ib_umem, dma_map_*): the NTB's PCI. */
struct device *ntbr_dma_device(struct ntbr_dev *nd);

/*
 * What the peer reaches (Documentation/memory-windows.md).  Our inbound
 * windows translate to DMA addresses [0, coverage) of ntbr_dma_device();
 * the peer's writes reach a buffer only if its DMA addresses lie there
 * and are the buffer itself: a streaming mapping that swiotlb bounced
 * gives the bounce slot's address, and the peer would write the slot,
 * never the buffer (silent loss).  Every buffer the peer writes into is
 * checked with these before its address is handed out.
 *
 * ntbr_inbound_coverage(): the bytes covered from DMA address 0; 0 until
 * the first NTB link-up set the window up (nothing is reachable then).
 * ntbr_dma_reachable(): [dma, dma + len) lies inside the coverage.
 * ntbr_page_reachable(): before mapping: page can be mapped as itself
 * inside the coverage.  With an IOMMU translating for the NTB device
 * (a DMA-API domain) true (the IOVA is checked after mapping); without,
 * false when swiotlb bounces every mapping (swiotlb=force) or the page's
 * own DMA address is outside the coverage (the DMA API would bounce it).
 * ntbr_page_mapped_ok(): after mapping: dma is page's own address (the
 * IOMMU translates it to the page; without an IOMMU it is the page's
 * direct DMA address, not a bounce slot) and is inside the coverage.
 * ntbr_reach_why(): for a log line, why page (mapped at dma, or not yet
 * mapped: DMA_MAPPING_ERROR) is not reachable.
 */
u64 ntbr_inbound_coverage(struct ntbr_dev *nd);
bool ntbr_dma_reachable(struct ntbr_dev *nd, dma_addr_t dma, size_t len);
bool ntbr_page_reachable(struct ntbr_dev *nd, struct page *page);
bool ntbr_page_mapped_ok(struct ntbr_dev *nd, struct page *page,
			 dma_addr_t dma);
const char *ntbr_reach_why(struct ntbr_dev *nd, struct page *page,
			   dma_addr_t dma);

/* True while the link is ready (between link_up and link_down). */
bool ntbr_link_ready(struct ntbr_dev *nd);

/*
 * False once the transport has torn down our inbound window translation
 * for good (the NTB device is being removed): from then on no write of
 * the peer reaches our memory, whatever state the peer is in.  (The
 * emulated NTB cannot revoke its window; real hardware does.)
 */
bool ntbr_peer_can_write(struct ntbr_dev *nd);

/*
 * Something the peer wrote breaks the protocol in a way no correct peer
 * can (an impossible length, more than it may publish): stop writing to
 * it now and start the link over (any context).  The RDMA half then sees
 * link_down (its QPs flush) and, when the peer comes back, link_up.
 */
void ntbr_link_reset(struct ntbr_dev *nd, const char *why);

/*
 * Per-device storage for the RDMA half (its ib_device), set and read under
 * its own locking; the transport only stores it.
 */
void ntbr_set_ib(struct ntbr_dev *nd, void *ib);
void *ntbr_get_ib(struct ntbr_dev *nd);

/*
 * Control channel: small messages to the peer's transport, delivered in
 * order, exactly once while the link stays ready (a link that goes down
 * takes what was not delivered with it); each is handed to the handler
 * registered for its type on the peer, in process context.  Types below
 * NTBR_CTRL_TYPE_IB are the transport's own.
 *
 * Flow control (Documentation/control-channel.md): a message that finds
 * the peer's ring full waits in a per-link queue, in order; the sender
 * never waits.  Senders whose messages can wait at their source (new
 * requests, publications) ask ntbr_ctrl_congested() first and hold back
 * while it says so; they are called back by ntbr_ib_ctrl_room().  Answers
 * and completions are always queued.  A queue of NTBR_CTRL_Q_MAX
 * messages (a peer that stopped consuming, or one that floods us with
 * requests) resets the link: every QP on it flushes.
 */
#define NTBR_CTRL_Q_SOFT	256	/* ntbr_ctrl_congested() from here */
#define NTBR_CTRL_Q_MAX		16384	/* link reset */
#define NTBR_CTRL_MAX_PAYLOAD 496
enum ntbr_ctrl_type {
	NTBR_CTRL_TYPE_IB = 16,	/* first type the RDMA half may use */
	NTBR_CTRL_TYPE_MAX = 64,
};

typedef void (*ntbr_ctrl_handler_t)(struct ntbr_dev *nd, u16 type,
				    const void *payload, size_t len);
int ntbr_ctrl_register(u16 type, ntbr_ctrl_handler_t handler);
void ntbr_ctrl_unregister(u16 type);
/*
 * 0 (written into the ring or queued behind what waits), -ENOTCONN (link
 * not ready, or reset now: queue overflow, no memory), -EMSGSIZE or
 * -EINVAL.  Process context; never waits for the peer.
 */
int ntbr_ctrl_send(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len);
/*
 * True when NTBR_CTRL_Q_SOFT messages wait: hold back what can wait and
 * expect ntbr_ib_ctrl_room().  Set what ntbr_ib_ctrl_room() looks at
 * before calling this (the callback may run as soon as it returns).
 */
bool ntbr_ctrl_congested(struct ntbr_dev *nd);

/*
 * Data path: copy len bytes from src (kernel virtual) to the peer's memory
 * at DMA address peer_addr, through the memory window, by the CPU (the DMA
 * engine's way is the batch below).  -ENOTCONN when the link is not
 * ready, -EINVAL when [peer_addr, peer_addr + len) is outside the window.
 */
int ntbr_peer_write(struct ntbr_dev *nd, u64 peer_addr, const void *src,
		    size_t len);
/*
 * Copies by the DMA engine (ntbrdma_dma.c).  ntbr_dma_min_len(): the
 * smallest copy worth giving to it, 0 without a usable engine;
 * ntbr_dma_wanted(): len is at least that.  A batch: ntbr_dma_begin()
 * (-ENOTCONN when the link is not ready; nothing else to undo then),
 * any number of ntbr_dma_to_peer() (src a DMA address of the NTB's DMA
 * device, peer_addr as for ntbr_peer_write; -ENOTCONN once the link is
 * no longer ready, -EINVAL outside the window,
 * -EIO when the engine took no descriptor: the caller may copy that
 * piece with ntbr_peer_write), then always ntbr_dma_end(), which sleeps
 * until every descriptor completed: 0, -EIO when one failed, or
 * -ETIMEDOUT when the engine did not answer (then nothing says which
 * ones ran).  Process context, no spinlock held; the batch holds the
 * link's SRCU read section from begin to end.
 *
 * A mark records the failure of the descriptors submitted while it is
 * the batch's current one (b->mark; begin sets the batch's own): one
 * batch may carry the copies of several work requests, each with its
 * own mark (ntbrdma_ib_engine.c, pipelined WRITEs).
 */
struct ntbr_dma_batch;

struct ntbr_dma_mark {
	struct ntbr_dma_batch *b;
	bool failed;
};

struct ntbr_dma_batch {
	struct ntbr_dev *nd;
	atomic_t pending;		/* descriptors + 1 until end */
	struct completion done;
	bool failed;			/* a descriptor failed */
	int srcu_idx;
	u32 ndesc;
	u64 bytes;
	struct ntbr_dma_mark own;
	struct ntbr_dma_mark *mark;	/* of the next descriptors */
};

u32 ntbr_dma_min_len(struct ntbr_dev *nd);
/* The average contiguous piece a copy needs for the engine (0: any). */
u32 ntbr_dma_min_piece(struct ntbr_dev *nd);
bool ntbr_dma_wanted(struct ntbr_dev *nd, u64 len);
int ntbr_dma_begin(struct ntbr_dev *nd, struct ntbr_dma_batch *b);
int ntbr_dma_to_peer(struct ntbr_dma_batch *b, dma_addr_t src, u64 peer_addr,
		     size_t len);
/* Let the engine start on what was submitted so far (end does too). */
void ntbr_dma_issue(struct ntbr_dma_batch *b);
int ntbr_dma_end(struct ntbr_dma_batch *b);

/*
 * One aligned 8-byte store of val at the peer's DMA address peer_addr
 * (a word another host reads as a whole, e.g. an inbox slot's tag); as
 * ntbr_peer_write, and -EINVAL when peer_addr is not 8-byte aligned.
 */
int ntbr_peer_write_u64(struct ntbr_dev *nd, u64 peer_addr, u64 val);

/*
 * Doorbells.  Bit NTBR_DB_CTRL (0) signals the control channel and bit
 * NTBR_DB_NET (1) the netdev; both belong to the transport.  Every valid bit
 * from NTBR_DB_IB_SHIFT (2) up belongs to the RDMA half: ntbr_db_ib_mask()
 * says which bits exist on this device, ntbr_peer_db_set() rings them in
 * the peer (only while the link is ready) and the handler registered with
 * ntbr_db_set_handler() receives the ones that fired here, already cleared,
 * in hard interrupt context (NULL handler: the bits are dropped).
 */
#define NTBR_DB_CTRL 0
#define NTBR_DB_NET 1
#define NTBR_DB_IB_SHIFT 2
typedef void (*ntbr_db_handler_t)(struct ntbr_dev *nd, u64 db_bits);
void ntbr_db_set_handler(struct ntbr_dev *nd, ntbr_db_handler_t handler);
u64 ntbr_db_ib_mask(struct ntbr_dev *nd);
/* 0, -ENOTCONN (link not ready) or -EINVAL (bits not the RDMA half's). */
int ntbr_peer_db_set(struct ntbr_dev *nd, u64 db_bits);

#endif /* NTBRDMA_H */

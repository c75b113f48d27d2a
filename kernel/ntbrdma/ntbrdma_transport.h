/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma transport: private declarations shared by ntbrdma_main.c,
 * ntbrdma_link.c, ntbrdma_ctrl.c and ntbrdma_netdev.c.
 */
#ifndef NTBRDMA_TRANSPORT_H
#define NTBRDMA_TRANSPORT_H

#include <linux/kref.h>
#include <linux/netdevice.h>
#include <linux/ntb.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "ntbrdma.h"
#include "ntbrdma_ring.h"

#define NTBR_PIDX 0		/* our only peer */

/*
 * Link bring-up words, published through the peer's scratchpads 0..3 or
 * message registers 0..3 (same index, same meaning).
 */
enum {
	NTBR_INFO_SESSION,	/* our session: random, non-zero, per bring-up */
	NTBR_INFO_AREA,		/* our area: NTBR_AREA_WORD(window, offset) */
	NTBR_INFO_VERSIZE,	/* version << 24 | area size in pages */
	NTBR_INFO_ACK,		/* the peer session we have seen (0: none) */
	NTBR_INFO_WORDS,
};

#define NTBR_VERSIZE(ver, pages) ((u32)(ver) << 24 | (pages))

/*
 * Where our area is: in inbound window w (the peer's outbound window w), at
 * byte offset off (4 KiB aligned, below 512 GiB).  A window and an offset,
 * not a DMA address: the peer must write its hello before it knows which
 * of our DMA addresses its windows reach (the hello tells it).
 */
#define NTBR_AREA_UNIT_SHIFT	12
#define NTBR_AREA_WIN_SHIFT	27
#define NTBR_AREA_WORD(w, off) \
	((u32)(w) << NTBR_AREA_WIN_SHIFT | (u32)((off) >> NTBR_AREA_UNIT_SHIFT))
#define NTBR_AREA_WORD_WIN(word)	((word) >> NTBR_AREA_WIN_SHIFT)
#define NTBR_AREA_WORD_OFF(word) \
	((u64)((word) & GENMASK(NTBR_AREA_WIN_SHIFT - 1, 0)) << \
	 NTBR_AREA_UNIT_SHIFT)

/* The transport's own control message types (below NTBR_CTRL_TYPE_IB). */
enum {
	NTBR_CTRL_BYE = 1,	/* the sender is going away: stop writing */
	NTBR_CTRL_PING,		/* debugfs ctrl_ping: {seq, fill} */
	NTBR_CTRL_PONG,		/* answer to a ping: {seq} */
};

enum ntbr_state {
	NTBR_DOWN,		/* NTB link down: nothing published */
	NTBR_HANDSHAKE,		/* our info published, waiting for the peer */
	NTBR_READY,		/* hello exchanged: rings and netdev run */
};

struct ntbr_net;

/* One of our inbound windows: the peer reaches DMA [base, base + size). */
struct ntbr_in_win {
	u64 base;
	u64 size;
	int widx;
};

/*
 * One of the peer's windows: our mapping of it reaches the peer's DMA
 * addresses [base, base + size), as the peer said in its hello.
 */
struct ntbr_out_win {
	u64 base;
	u64 size;
	void __iomem *map;
	int widx;
};

/* debugfs ctrl_stats: what the control channel's flow control did. */
struct ntbr_ctrl_stats {
	u64 sent;		/* messages written into the peer's ring */
	u64 queued;		/* of those, messages that waited in ctrl_q */
	u32 peak;		/* deepest ctrl_q */
	u64 full;		/* times a message found the ring full */
	u64 wait_ns;		/* total time queued messages waited */
	u64 wait_max_ns;	/* longest wait of one message */
	u64 arms;		/* times we asked the peer for room */
	u64 room_doorbells;	/* doorbells we rang to say "room" */
	u64 discarded;		/* queued messages dropped with the link */
	u64 overflows;		/* link resets: ctrl_q at NTBR_CTRL_Q_MAX */
	u64 doorbells;		/* doorbells we rang for messages */
	u64 db_saved;		/* sends that needed none: the peer was busy */
};

#define NTBR_DOWN_CAUSES	16

/* debugfs dma: what the DMA engine did (ntbrdma_dma.c). */
struct ntbr_dma_stats {
	atomic64_t batches;	/* copies given to the engine */
	atomic64_t descs;	/* descriptors submitted */
	atomic64_t bytes;	/* bytes of the copies that succeeded */
	atomic64_t errors;	/* copies with a descriptor the engine failed */
	atomic64_t timeouts;	/* copies the engine did not finish */
};

struct ntbr_dev {
	struct kref ref;
	struct ntb_dev *ntb;
	struct device *dma_dev;
	struct net_device *netdev;
	struct ntbr_net *net;
	void *ib;			/* the RDMA half's */
	ntbr_db_handler_t db_handler;	/* the RDMA half's */

	/*
	 * The peer's windows, mapped write-combining at probe; only ever
	 * written (ntbrdma_window.c).
	 */
	void __iomem *peer_mw[NTBR_MAX_MW];
	phys_addr_t peer_mw_phys[NTBR_MAX_MW];	/* where each is mapped */
	resource_size_t peer_mw_size[NTBR_MAX_MW];
	int peer_mw_count;
	/*
	 * The DMA engine (ntbrdma_dma.c), chosen at probe and released at
	 * remove; the peer's windows as the channel reaches them.  broken:
	 * it stopped answering, the CPU copies from then on.
	 */
	struct dma_chan *dma_chan;
	dma_addr_t peer_mw_dma[NTBR_MAX_MW];
	int peer_mw_dma_count;
	bool dma_broken;
	struct ntbr_dma_stats dma_stats;
	/*
	 * The peer's DMA addresses each of them reaches, from its hello,
	 * sorted by base: set by the link work while not ready, read by
	 * writers that saw ready (SRCU).
	 */
	struct ntbr_out_win out_win[NTBR_MAX_MW];
	int out_count;

	/*
	 * Inbound windows laid out from DMA address 0 at the first link-up,
	 * set again at every later one; the coverage is where they end:
	 * DMA addresses [0, coverage) reach our memory (0 until then).
	 */
	struct ntbr_in_win in_win[NTBR_MAX_MW];
	int in_count;
	u64 coverage;
	u32 area_word;			/* NTBR_AREA_WORD() of our area */
	/* The NTB DMA device's limits before we narrowed them (remove). */
	u64 saved_dma_mask;
	u64 saved_coherent_mask;
	u64 saved_bus_limit;

	/* Our area (the peer writes it); allocated at the first link-up. */
	struct ntbr_area *area;
	dma_addr_t area_dma;
	/* Our inbound translation is gone for good (removal): no peer write. */
	bool inbound_closed;

	/*
	 * Every write into the peer's window happens inside an SRCU read
	 * section that saw ->ready true; teardown clears ->ready and
	 * synchronizes before anything else.
	 */
	struct srcu_struct srcu;
	bool ready;
	/* The peer's area: its DMA address, valid while ready ... */
	u64 peer_area;
	/* ... and where it said it is (window, offset), for the hello. */
	u32 peer_area_word;

	/* Link state machine: only the link work touches these. */
	struct workqueue_struct *wq;
	struct delayed_work link_work;
	struct work_struct stop_work;
	enum ntbr_state state;
	bool use_msg;			/* message registers, not scratchpads */
	bool zeroed;			/* area cleared for this session */
	bool hello_sent;
	u32 session;			/* ours, for this bring-up */
	u32 peer_session;		/* the peer's, as acknowledged */
	u32 info_out[NTBR_INFO_WORDS];	/* what we publish */
	unsigned long out_pending;	/* msg mode: words still to send */
	u32 info_in[NTBR_INFO_WORDS];	/* msg mode: what we received */
	spinlock_t lock;		/* removing, reset_why, down_causes */
	bool removing;
	const char *reset_why;		/* set: tear down and start over */

	/*
	 * Control channel (ntbrdma_ctrl.c, Documentation/control-channel.md).
	 * Consumer side: ctrl_work only.  Producer side and the queue of
	 * messages waiting for room: under ctrl_lock.
	 */
	struct work_struct ctrl_work;	/* consumes ctrl_in[], runs handlers */
	struct delayed_work ctrl_tx_work; /* moves ctrl_q into the ring */
	spinlock_t ctrl_lock;
	u32 ctrl_out_prod;		/* ours: messages we sent */
	u32 ctrl_out_cons;		/* last valid value the peer wrote */
	u32 ctrl_armed_seen;		/* producer: peer's arm value we rang for */
	u32 ctrl_arm_gen;		/* consumer (ctrl_work): our last arm value */
	u32 ctrl_in_cons;		/* ours: messages we consumed */
	u32 ctrl_in_wait_seen;		/* consumer: peer's wait value answered */
	bool ctrl_stalled;		/* debugfs inject: consume nothing */
	u32 ctrl_wait_seq;		/* ours: last value of peer's ctrl_in_wait */
	bool ctrl_armed;		/* we asked for room, no progress since */
	unsigned long ctrl_arm_at;	/* jiffies of the last request */
	bool ctrl_room_wanted;		/* a sender held back: call it back */
	struct list_head ctrl_q;	/* messages waiting for room, in order */
	u32 ctrl_q_len;			/* written under ctrl_lock */
	wait_queue_head_t ctrl_room_wq;	/* ntbr_ctrl_wait_room() */
	/* Under ctrl_lock, but room_doorbells: ctrl_work's (consumer). */
	struct ntbr_ctrl_stats ctrl_stats;
	/* Link downs by cause (under lock): the causes are string literals. */
	struct {
		const char *why;
		u32 count;
	} down_causes[NTBR_DOWN_CAUSES];

	/* debugfs: control channel self-test counters (ordered wq). */
	struct dentry *dbg;
	u32 ping_seq;			/* next ping we send */
	u32 ping_next;			/* next ping we expect */
	u32 pong_next;			/* next pong we expect */
	u32 ping_ok, ping_bad, pong_ok, pong_bad;
};

/* What the inbound window reaches (ntbr_reach_info(), debugfs coverage). */
struct ntbr_reach {
	u64 coverage;		/* bytes from DMA address 0; 0: not known yet */
	bool iommu;		/* an IOMMU translates for the NTB device */
	bool force_bounce;	/* swiotlb bounces every streaming mapping */
	phys_addr_t max_phys;	/* highest registrable without an IOMMU */
	phys_addr_t ram_end;	/* end of the highest node's memory */
	bool all_ram;		/* every page of RAM can be registered */
};

/* ntbrdma_main.c */
void ntbr_dev_free(struct kref *ref);
void ntbr_peer_db(struct ntbr_dev *nd, int bit);

/* ntbrdma_window.c */
void ntbr_reach_info(struct ntbr_dev *nd, struct ntbr_reach *r);
int ntbr_outbound_map(struct ntbr_dev *nd);
int ntbr_inbound_setup(struct ntbr_dev *nd);
void ntbr_inbound_close(struct ntbr_dev *nd);
void ntbr_inbound_free(struct ntbr_dev *nd);
bool ntbr_hello_target_ok(struct ntbr_dev *nd, u32 area_word);
void ntbr_hello_send(struct ntbr_dev *nd, u32 area_word, u32 from, u32 to);
int ntbr_peer_layout_take(struct ntbr_dev *nd, u32 area_word);
void ntbr_win_write32(struct ntbr_dev *nd, u64 addr, u32 val);
/*
 * Read back a 32-bit word of the peer's area through the window: the
 * posted writes before it reached the peer when it returns.
 */
u32 ntbr_win_read32(struct ntbr_dev *nd, u64 addr);
void ntbr_win_copy(struct ntbr_dev *nd, u64 addr, const void *src,
		   size_t len);
bool ntbr_win_range_ok(struct ntbr_dev *nd, u64 addr, u64 len);
const struct ntbr_out_win *ntbr_win_find(struct ntbr_dev *nd, u64 addr);
int ntbr_win_page_phys(struct ntbr_dev *nd, u64 addr, phys_addr_t *phys);

/* Offset of a field of the peer's area: the window address to write. */
#define ntbr_peer_field(nd, field) \
	((nd)->peer_area + offsetof(struct ntbr_area, field))

/* ntbrdma_dma.c */
int ntbr_dma_init(struct ntbr_dev *nd);
void ntbr_dma_exit(struct ntbr_dev *nd);
void ntbr_dma_debugfs(struct ntbr_dev *nd, struct dentry *dir);

/* ntbrdma_link.c */
int ntbr_link_init(struct ntbr_dev *nd);
void ntbr_link_start(struct ntbr_dev *nd);
void ntbr_link_stop(struct ntbr_dev *nd);
void ntbr_link_event(void *ctx);
void ntbr_msg_event(void *ctx);
void ntbr_link_kick(struct ntbr_dev *nd);
void ntbr_link_bye(struct ntbr_dev *nd);

/* ntbrdma_ctrl.c */
void ntbr_ctrl_init(struct ntbr_dev *nd);
void ntbr_ctrl_ready(struct ntbr_dev *nd);
void ntbr_ctrl_db(struct ntbr_dev *nd);
/* Link work, every NTBR_READY_POLL: look at our ring (a doorbell lost). */
void ntbr_ctrl_backstop(struct ntbr_dev *nd);
void ntbr_ctrl_work(struct work_struct *work);
void ntbr_ctrl_discard(struct ntbr_dev *nd);
void ntbr_ctrl_stop(struct ntbr_dev *nd);
int ntbr_ctrl_xmit(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len);
int ntbr_ctrl_wait_room(struct ntbr_dev *nd);

/* ntbrdma_debugfs.c */
void ntbr_debugfs_init(void);
void ntbr_debugfs_exit(void);
void ntbr_debugfs_add(struct ntbr_dev *nd);
void ntbr_debugfs_remove(struct ntbr_dev *nd);
void ntbr_dbg_ctrl(struct ntbr_dev *nd, u16 type, const void *payload,
		   size_t len);

/* ntbrdma_netdev.c */
int ntbr_net_create(struct ntbr_dev *nd);
void ntbr_net_destroy(struct ntbr_dev *nd);
void ntbr_net_up(struct ntbr_dev *nd);
void ntbr_net_down(struct ntbr_dev *nd);
void ntbr_net_db(struct ntbr_dev *nd);
void ntbr_net_backstop(struct ntbr_dev *nd);
void ntbr_net_inject(struct ntbr_dev *nd);

#endif /* NTBRDMA_TRANSPORT_H */

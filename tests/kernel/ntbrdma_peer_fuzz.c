// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma_peer_fuzz - a hostile peer for ntbrdma, as a test-only NTB client
 * (never built into ntbrdma.ko).  Loaded on one VM instead of ntbrdma, it
 * brings the link up with the ntbrdma on the other VM (the victim) exactly
 * as ntbrdma does (Documentation/memory-windows.md, ntbrdma_link.c), then
 * writes seeded random and mutated data into everything a peer may write in
 * the victim's area: control messages (every type, plausible and random
 * fields), ring indices (control, netdev), the netdev's completions and
 * posted buffers, the flow-control words, the hello; and rings the
 * doorbells.  When the victim resets the link it comes back up and goes on.
 *
 * It writes nothing but the victim's area, and only through our window;
 * every address it hands the victim points into a scratch buffer of ours.  The
 * oracles (tests/vm/ntbrdma-fuzz-peer.sh) are that the victim never crashes
 * or reports, resets the link at worst, never writes its own registered
 * memory on our behalf, and works with a real ntbrdma peer afterwards.
 *
 * debugfs /sys/kernel/debug/ntbrdma_peer_fuzz/
 *   run    w: "SEED SECONDS": fuzz for SECONDS (at most 3600) from SEED;
 *             returns when done
 *   stats  r: "seed S actions N messages M index_writes I bring_ups B
 *             victim_resets R" of the last run
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ntb.h>
#include <linux/random.h>
#include <linux/sizes.h>

#include "ntbrdma_transport.h"
#include "ntbrdma_ib_mr.h"
#include "ntbrdma_ib_peer.h"

#define PF_PIDX		0
#define PF_MAX_SECONDS	3600
#define PF_AREA_SIZE	PAGE_ALIGN(sizeof(struct ntbr_area))
/*
 * Where the addresses we hand the victim point (posted netdev buffers, SGEs,
 * page lists): ours, so that whatever the victim writes there (at most a
 * 9018-byte frame or a page list from the first half) hurts nobody.
 */
#define PF_SCRATCH	SZ_64K

struct pf_stats {
	u64 seed, actions, messages, index_writes, bring_ups, victim_resets;
};

struct pf_dev {
	struct ntb_dev *ntb;
	struct dentry *dir;
	struct mutex lock;		/* one run at a time; stats */
	void __iomem *peer_mw;		/* the victim's memory, window 0 */
	resource_size_t peer_mw_size;
	resource_size_t in_size;	/* our inbound window 0 */
	struct ntbr_area *area;		/* ours: the victim writes it */
	dma_addr_t area_dma;
	void *scratch;			/* ours: what our addresses point to */
	dma_addr_t scratch_dma;
	u64 peer_area;			/* the victim's, in its DMA space */
	u32 session, peer_session;
	u64 rng;
	u32 ctrl_prod, net_comp_prod, net_post_prod;
	struct pf_stats st;
};

static struct dentry *pf_root;

/* xorshift64*: the same SEED gives the same sequence of choices. */
static u64 pf_rand(struct pf_dev *pf)
{
	pf->rng ^= pf->rng >> 12;
	pf->rng ^= pf->rng << 25;
	pf->rng ^= pf->rng >> 27;
	return pf->rng * 0x2545f4914f6cdd1dULL;
}

static u32 pf_below(struct pf_dev *pf, u32 n)
{
	return (u32)(pf_rand(pf) % n);
}

/* A value a field might hold: edges, small numbers, random. */
static u64 pf_value(struct pf_dev *pf)
{
	static const u64 edge[] = { 0, 1, 2, 7, 8, 63, 64, 255, 256, 4095,
				    4096, 65535, 65536, 0x7fffffff, 0x80000000,
				    0xffffffff, 0x100000000ULL, U64_MAX };

	switch (pf_below(pf, 4)) {
	case 0:
		return edge[pf_below(pf, ARRAY_SIZE(edge))];
	case 1:
		return pf_below(pf, 16);
	case 2:	/* an address of ours the victim reaches: the scratch */
		return pf->scratch_dma + (pf_below(pf, 2) ?
		       pf_below(pf, PF_SCRATCH / 2) :
		       pf_below(pf, PF_SCRATCH / 2 / PAGE_SIZE) * PAGE_SIZE);
	default:
		return pf_rand(pf);
	}
}

/* --- writing the victim's area ---------------------------------------------- */

static bool pf_in_window(struct pf_dev *pf, u64 off, size_t len)
{
	return off <= pf->peer_mw_size && len <= pf->peer_mw_size - off;
}

static void pf_write32(struct pf_dev *pf, size_t field, u32 val)
{
	if (pf_in_window(pf, pf->peer_area + field, 4))
		iowrite32(val, pf->peer_mw + pf->peer_area + field);
}

static void pf_copy(struct pf_dev *pf, size_t field, const void *src,
		    size_t len)
{
	if (pf_in_window(pf, pf->peer_area + field, len))
		memcpy_toio(pf->peer_mw + pf->peer_area + field, src, len);
}

#define PF_FIELD(f) offsetof(struct ntbr_area, f)

/* --- bring-up, as ntbrdma_link.c does it -------------------------------------- */

static void pf_publish(struct pf_dev *pf, u32 ack)
{
	struct ntb_dev *ntb = pf->ntb;

	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_SESSION, 0);
	wmb(); /* no session while the words change */
	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_AREA,
			    NTBR_AREA_WORD(0, pf->area_dma));
	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_VERSIZE,
			    NTBR_VERSIZE(NTBR_PROTO_VERSION,
					 PF_AREA_SIZE >> PAGE_SHIFT));
	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_ACK, ack);
	wmb(); /* the words before the session that covers them */
	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_SESSION, pf->session);
}

/* Our hello, with our one inbound window, into the victim's area. */
static void pf_hello(struct pf_dev *pf)
{
	struct ntbr_win_desc d = {
		.base = 0,
		.size = cpu_to_le64(pf->in_size),
		.widx = 0,
	};

	pf_copy(pf, PF_FIELD(hello.win[0]), &d, sizeof(d));
	pf_write32(pf, PF_FIELD(hello.win_count), 1);
	pf_write32(pf, PF_FIELD(hello.from), pf->session);
	pf_write32(pf, PF_FIELD(hello.to), pf->peer_session);
	wmb(); /* windows and sessions before the magic */
	pf_write32(pf, PF_FIELD(hello.magic), NTBR_HELLO_MAGIC);
	ntb_peer_db_set(pf->ntb, BIT_ULL(NTBR_DB_CTRL));
}

/*
 * Bring the link up with the victim: a new session, our words, its ack,
 * the hellos both ways.  0, or -ETIMEDOUT after 20 s.
 */
static int pf_bring_up(struct pf_dev *pf)
{
	struct ntb_dev *ntb = pf->ntb;
	unsigned long end = jiffies + 20 * HZ;
	struct ntbr_hello *h = &pf->area->hello;
	u32 p, word;
	u64 off;

	memset(pf->area, 0, sizeof(*pf->area));
	pf->session = get_random_u32() | 1;
	pf->peer_session = 0;
	pf->ctrl_prod = 0;
	pf->net_comp_prod = 0;
	pf->net_post_prod = 0;
	pf_publish(pf, 0);
	while (time_before(jiffies, end)) {
		msleep(20);
		if (!ntb_link_is_up(ntb, NULL, NULL))
			continue;
		/* Inbound window 0 over our DMA space from 0 (needs the link). */
		if (!pf->in_size &&
		    (ntb_mw_get_align(ntb, PF_PIDX, 0, NULL, NULL,
				      &pf->in_size) ||
		     ntb_mw_set_trans(ntb, PF_PIDX, 0, 0, pf->in_size)))
			pf->in_size = 0;
		if (!pf->in_size)
			continue;
		p = ntb_spad_read(ntb, NTBR_INFO_SESSION);
		if (p && p != pf->peer_session) {
			pf->peer_session = p;
			pf_publish(pf, p);
		}
		if (!p || ntb_spad_read(ntb, NTBR_INFO_ACK) != pf->session)
			continue;
		word = ntb_spad_read(ntb, NTBR_INFO_AREA);
		/* The victim's area (window 0 only: it has no other here). */
		off = NTBR_AREA_WORD_OFF(word);
		if (NTBR_AREA_WORD_WIN(word) != 0 ||
		    !pf_in_window(pf, off, PF_AREA_SIZE))
			continue;
		if (pf->peer_area != off || !le32_to_cpu(READ_ONCE(h->magic))) {
			pf->peer_area = off;
			pf_hello(pf);
		}
		if (le32_to_cpu(READ_ONCE(h->magic)) == NTBR_HELLO_MAGIC &&
		    le32_to_cpu(READ_ONCE(h->to)) == pf->session) {
			/* Its link work (50 ms polls) takes our hello. */
			msleep(200);
			pf->st.bring_ups++;
			return 0;
		}
	}
	return -ETIMEDOUT;
}

/* The victim started over (a reset): its session changed or is gone. */
static bool pf_victim_reset(struct pf_dev *pf)
{
	return ntb_spad_read(pf->ntb, NTBR_INFO_SESSION) != pf->peer_session;
}

/* --- the actions ------------------------------------------------------------- */

/* A control message of any type, its fields plausible or random. */
static void pf_ctrl_msg(struct pf_dev *pf)
{
	struct ntbr_ctrl_hdr hdr = {};
	u8 payload[NTBR_CTRL_MAX_PAYLOAD];
	u32 slot = pf->ctrl_prod & (NTBR_CTRL_RING - 1);
	u32 type, len, i;
	__le32 *w = (__le32 *)payload;

	/* Mostly within the room the victim's consumer index leaves. */
	if (pf->ctrl_prod - le32_to_cpu(READ_ONCE(pf->area->ctrl_out_cons.val)) >=
	    NTBR_CTRL_RING && pf_below(pf, 512))
		return;
	/* Mostly the types the victim handles, sometimes anything. */
	type = pf_below(pf, 8) ? pf_below(pf, NTBR_CTRL_QP_LAST + 2) :
				 (u32)pf_value(pf);
	switch (pf_below(pf, 3)) {
	case 0:		/* the size of a real message of that type */
		len = type == NTBR_CTRL_MR_ADD ?
			sizeof(struct ntbr_mr_msg_add) :
		      type == NTBR_CTRL_MR_LIST ?
			sizeof(struct ntbr_mr_msg_list) :
		      type == NTBR_CTRL_QP_RECV_POST ?
			sizeof(struct ntbr_qp_msg_post) +
			sizeof(struct ntbr_qp_msg_rcv) +
			sizeof(struct ntbr_wire_sge) :
		      type == NTBR_CTRL_QP_SRQ_POST ?
			sizeof(struct ntbr_srq_msg_post) +
			sizeof(struct ntbr_qp_msg_rcv) +
			sizeof(struct ntbr_wire_sge) :
		      type == NTBR_CTRL_QP_SRQ_FLUSH ?
			sizeof(struct ntbr_srq_msg_flush) :
		      type == NTBR_CTRL_QP_READ_REQ ?
			sizeof(struct ntbr_qp_msg_read) +
			sizeof(struct ntbr_wire_sge) :
		      type == NTBR_CTRL_QP_ATOMIC_REQ ?
			sizeof(struct ntbr_qp_msg_atomic) :
			sizeof(struct ntbr_qp_msg_done);
		break;
	case 1:
		len = pf_below(pf, NTBR_CTRL_MAX_PAYLOAD + 1);
		break;
	default:	/* too long, sometimes */
		len = (u32)pf_value(pf);
		break;
	}
	for (i = 0; i < ARRAY_SIZE(payload) / 4; i++)
		w[i] = cpu_to_le32((u32)pf_value(pf));
	hdr.type = cpu_to_le16(type);
	hdr.len = cpu_to_le16(len);
	pf_copy(pf, PF_FIELD(ctrl_in[slot].hdr), &hdr, sizeof(hdr));
	pf_copy(pf, PF_FIELD(ctrl_in[slot].payload), payload,
		min_t(u32, len, sizeof(payload)));
	wmb(); /* the entry before the index that publishes it */
	pf->ctrl_prod++;
	pf_write32(pf, PF_FIELD(ctrl_in_prod.val), pf->ctrl_prod);
	ntb_peer_db_set(pf->ntb, BIT_ULL(NTBR_DB_CTRL));
	pf->st.messages++;
}

/* Answer the victim's control messages: its consumer index in our area. */
static void pf_ctrl_consume(struct pf_dev *pf)
{
	u32 prod = le32_to_cpu(READ_ONCE(pf->area->ctrl_in_prod.val));

	pf_write32(pf, PF_FIELD(ctrl_out_cons.val),
		   pf_below(pf, 4) ? prod : (u32)pf_value(pf));
	pf->st.index_writes++;
}

/* An index or flow-control word: plausible (close to the truth) or not. */
static void pf_index(struct pf_dev *pf)
{
	static const size_t field[] = {
		PF_FIELD(ctrl_in_prod.val), PF_FIELD(ctrl_in_wait.val),
		PF_FIELD(ctrl_out_cons.val), PF_FIELD(net_comp_prod.val),
		PF_FIELD(net_tx_wait.val), PF_FIELD(net_post_prod.val),
		PF_FIELD(net_rx_armed.val),
	};
	u32 v = pf_below(pf, 2) ? pf->ctrl_prod + pf_below(pf, 130) - 65 :
				  (u32)pf_value(pf);

	pf_write32(pf, field[pf_below(pf, ARRAY_SIZE(field))], v);
	ntb_peer_db_set(pf->ntb, BIT_ULL(pf_below(pf, 2)));
	pf->st.index_writes++;
}

/* The netdev: completions of the victim's buffers, buffers for its frames. */
static void pf_net(struct pf_dev *pf)
{
	struct ntbr_net_post post;
	struct ntbr_net_comp comp = {};
	u32 slot, posted;

	posted = le32_to_cpu(READ_ONCE(pf->area->net_post_prod.val));
	if (pf_below(pf, 2)) {
		/* Mostly only buffers the victim posted. */
		if (pf->net_comp_prod == posted && pf_below(pf, 512))
			return;
		slot = pf->net_comp_prod & (NTBR_NET_RING - 1);
		comp.len = cpu_to_le32(pf_below(pf, 4) ? 14 + pf_below(pf, 9005) :
						       (u32)pf_value(pf));
		pf_copy(pf, PF_FIELD(net_comp[slot]), &comp, sizeof(comp));
		wmb(); /* the completion before its index */
		pf->net_comp_prod++;
		pf_write32(pf, PF_FIELD(net_comp_prod.val), pf->net_comp_prod);
	} else {
		slot = pf->net_post_prod & (NTBR_NET_RING - 1);
		post.addr = cpu_to_le64(pf_value(pf));
		post.len = cpu_to_le32((u32)pf_value(pf));
		post.rsvd = 0;
		pf_copy(pf, PF_FIELD(net_post[slot]), &post, sizeof(post));
		wmb(); /* the buffer before its index */
		pf->net_post_prod++;
		pf_write32(pf, PF_FIELD(net_post_prod.val), pf->net_post_prod);
	}
	ntb_peer_db_set(pf->ntb, BIT_ULL(NTBR_DB_NET));
	pf->st.index_writes++;
}

/* Any 32-bit word of the victim's area (the hello too). */
static void pf_any_word(struct pf_dev *pf)
{
	pf_write32(pf, ALIGN_DOWN(pf_below(pf, sizeof(struct ntbr_area)), 4),
		   (u32)pf_value(pf));
}

static void pf_action(struct pf_dev *pf)
{
	u32 a = pf_below(pf, 1000);

	/*
	 * A bad index ends the session (the victim resets): rare, so that
	 * sessions last long enough to reach deeper states.
	 */
	if (a < 620)
		pf_ctrl_msg(pf);
	else if (a < 770)
		pf_ctrl_consume(pf);
	else if (a < 970)
		pf_net(pf);
	else if (a < 990)
		pf_index(pf);
	else
		pf_any_word(pf);
	pf->st.actions++;
}

static int pf_run(struct pf_dev *pf, u64 seed, unsigned int seconds)
{
	unsigned long end = jiffies + seconds * HZ;
	int ret;

	memset(&pf->st, 0, sizeof(pf->st));
	pf->st.seed = seed;
	pf->rng = seed ?: 1;
	while (time_before(jiffies, end)) {
		ret = pf_bring_up(pf);
		if (ret)
			return ret;
		while (time_before(jiffies, end) && !pf_victim_reset(pf)) {
			/*
			 * Our hello again now and then: a victim still in
			 * its handshake (our writes hit the hello too) takes
			 * it; a ready one no longer reads it.
			 */
			if (!(pf->st.actions % 512))
				pf_hello(pf);
			pf_action(pf);
			/* Let the victim's handlers run now and then. */
			if (!pf_below(pf, 16))
				usleep_range(200, 2000);
			if (signal_pending(current))
				return -EINTR;
		}
		if (time_before(jiffies, end))
			pf->st.victim_resets++;
	}
	return 0;
}

/* --- debugfs ------------------------------------------------------------------- */

static ssize_t pf_run_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	struct pf_dev *pf = file->private_data;
	unsigned int seconds;
	char buf[64] = {};
	u64 seed;
	int ret;

	if (copy_from_user(buf, ubuf, min(count, sizeof(buf) - 1)))
		return -EFAULT;
	if (sscanf(buf, "%llu %u", &seed, &seconds) != 2 || !seconds ||
	    seconds > PF_MAX_SECONDS)
		return -EINVAL;
	mutex_lock(&pf->lock);
	ret = pf_run(pf, seed, seconds);
	/* Leave: the victim sees our session go and starts over. */
	ntb_peer_spad_write(pf->ntb, PF_PIDX, NTBR_INFO_SESSION, 0);
	mutex_unlock(&pf->lock);

	return ret ? ret : count;
}

static const struct file_operations pf_run_fops = {
	.open = simple_open,
	.write = pf_run_write,
	.llseek = no_llseek,
};

static int pf_stats_show(struct seq_file *s, void *unused)
{
	struct pf_dev *pf = s->private;

	mutex_lock(&pf->lock);
	seq_printf(s, "seed %llu actions %llu messages %llu index_writes %llu bring_ups %llu victim_resets %llu\n",
		   pf->st.seed, pf->st.actions, pf->st.messages,
		   pf->st.index_writes, pf->st.bring_ups,
		   pf->st.victim_resets);
	mutex_unlock(&pf->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pf_stats);

/* --- the NTB client -------------------------------------------------------------- */

static void pf_link_event(void *ctx)
{
}

static void pf_db_event(void *ctx, int vector)
{
	struct pf_dev *pf = ctx;

	/* We read nothing on a doorbell: clear it, the loop polls. */
	ntb_db_clear(pf->ntb, ntb_db_read(pf->ntb));
}

static const struct ntb_ctx_ops pf_ctx_ops = {
	.link_event = pf_link_event,
	.db_event = pf_db_event,
};

static void pf_free(struct pf_dev *pf)
{
	struct device *dma = ntb_get_dma_dev(pf->ntb);

	if (pf->scratch)
		dma_free_coherent(dma, PF_SCRATCH, pf->scratch,
				  pf->scratch_dma);
	dma_free_coherent(dma, PF_AREA_SIZE, pf->area, pf->area_dma);
}

static int pf_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	phys_addr_t base;
	struct pf_dev *pf;
	int ret;

	pf = devm_kzalloc(&ntb->dev, sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	pf->ntb = ntb;
	mutex_init(&pf->lock);
	ret = ntb_peer_mw_get_addr(ntb, 0, &base, &pf->peer_mw_size);
	if (ret)
		return ret;
	pf->peer_mw = devm_ioremap_wc(&ntb->dev, base, pf->peer_mw_size);
	if (!pf->peer_mw)
		return -ENOMEM;
	pf->area = dma_alloc_coherent(ntb_get_dma_dev(ntb), PF_AREA_SIZE,
				      &pf->area_dma, GFP_KERNEL);
	if (!pf->area)
		return -ENOMEM;
	pf->scratch = dma_alloc_coherent(ntb_get_dma_dev(ntb), PF_SCRATCH,
					 &pf->scratch_dma, GFP_KERNEL);
	ret = pf->scratch ? ntb_set_ctx(ntb, pf, &pf_ctx_ops) : -ENOMEM;
	if (ret) {
		pf_free(pf);
		return ret;
	}
	ntb_link_enable(ntb, NTB_SPEED_AUTO, NTB_WIDTH_AUTO);
	ntb_db_clear_mask(ntb, ntb_db_valid_mask(ntb));
	pf->dir = debugfs_create_dir(dev_name(&ntb->dev), pf_root);
	debugfs_create_file("run", 0200, pf->dir, pf, &pf_run_fops);
	debugfs_create_file("stats", 0400, pf->dir, pf, &pf_stats_fops);
	dev_info(&ntb->dev, "ntbrdma_peer_fuzz: hostile peer ready (test only)\n");
	return 0;
}

static void pf_remove(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct pf_dev *pf = ntb->ctx;

	debugfs_remove_recursive(pf->dir);
	ntb_peer_spad_write(ntb, PF_PIDX, NTBR_INFO_SESSION, 0);
	ntb_link_disable(ntb);
	ntb_clear_ctx(ntb);
	ntb_mw_clear_trans(ntb, PF_PIDX, 0);
	pf_free(pf);
}

static struct ntb_client pf_client = {
	.ops = {
		.probe = pf_probe,
		.remove = pf_remove,
	},
};

static int __init pf_init(void)
{
	pf_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	return ntb_register_client(&pf_client);
}
module_init(pf_init);

static void __exit pf_exit(void)
{
	ntb_unregister_client(&pf_client);
	debugfs_remove_recursive(pf_root);
}
module_exit(pf_exit);

MODULE_DESCRIPTION("A hostile NTB peer for ntbrdma (test only)");
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: address handles, for UD QPs (Documentation/rdma-datapath.md,
 * "UD, GSI and SRQ").
 *
 * An AH says where a datagram goes - one of this device's own GIDs
 * (loopback) or, since an NTB link joins exactly two hosts, the peer -
 * and what the GRH the responder writes says (the GIDs, IPv4 or IPv6,
 * hop limit, traffic class, flow label).  What it says lives in a
 * struct ntbr_ah_info with an index in dev->ahs: a UD WQE names its AH by
 * that index (user space learns it from create_ah; kernel WQEs carry it
 * too), and the engine copies the info out under rcu_read_lock()
 * (ntbr_ah_copy), refusing one of another PD than the QP's.  create_ah
 * and destroy_ah may be called in atomic context (without the SLEEPABLE
 * flags): they never sleep then; destroy_ah erases the index and frees
 * the info after a grace period (kfree_rcu), so the engine never reads a
 * freed one.
 */
#include <net/ipv6.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>

#include "ntbrdma_ib.h"

int ntbr_av_dest(struct ib_device *ibdev, struct rdma_ah_attr *attr,
		 bool *local)
{
	const struct ib_global_route *grh;
	const struct ib_gid_attr *gattr;

	if (attr->type != RDMA_AH_ATTR_TYPE_ROCE ||
	    !(rdma_ah_get_ah_flags(attr) & IB_AH_GRH) ||
	    rdma_ah_get_port_num(attr) != 1)
		return -EINVAL;
	grh = rdma_ah_read_grh(attr);
	if (!grh->sgid_attr ||
	    rdma_is_multicast_addr((struct in6_addr *)grh->dgid.raw))
		return -EINVAL;
	gattr = rdma_find_gid(ibdev, &grh->dgid, grh->sgid_attr->gid_type,
			      NULL);
	*local = !IS_ERR(gattr);
	if (*local)
		rdma_put_gid_attr(gattr);
	return 0;
}

static int ntbr_ah_fill(struct ib_device *ibdev, struct ntbr_ah_info *ai,
			struct rdma_ah_attr *attr)
{
	const struct ib_global_route *grh;
	int err;

	err = ntbr_av_dest(ibdev, attr, &ai->local);
	if (err)
		return err;
	grh = rdma_ah_read_grh(attr);
	/* UD datagrams carry a RoCE v2 (IP) GRH only. */
	if (grh->sgid_attr->gid_type != IB_GID_TYPE_ROCE_UDP_ENCAP)
		return -EINVAL;
	ai->sgid = grh->sgid_attr->gid;
	ai->dgid = grh->dgid;
	ai->ipv4 = ipv6_addr_v4mapped((struct in6_addr *)ai->sgid.raw) &&
		   ipv6_addr_v4mapped((struct in6_addr *)ai->dgid.raw);
	ai->hop_limit = grh->hop_limit;
	ai->traffic_class = grh->traffic_class;
	ai->flow_label = grh->flow_label;
	return 0;
}

int ntbr_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		   struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibah->device);
	struct ntbr_ah *ah = to_ntbr_ah(ibah);
	struct ntbrdma_create_ah_resp resp = {};
	gfp_t gfp = init->flags & RDMA_CREATE_AH_SLEEPABLE ? GFP_KERNEL :
							     GFP_ATOMIC;
	struct ntbr_ah_info *ai;
	int err;

	if (udata && udata->outlen && udata->outlen < sizeof(resp))
		return -EINVAL;
	ai = kzalloc(sizeof(*ai), gfp);
	if (!ai)
		return -ENOMEM;
	ai->pd = ibah->pd;
	err = ntbr_ah_fill(ibah->device, ai, init->ah_attr);
	if (err)
		goto err_free;
	if (atomic_inc_return(&dev->num_ah) > NTBR_MAX_AH) {
		err = -ENOMEM;
		goto err_count;
	}
	err = xa_alloc(&dev->ahs, &ai->index, ai, xa_limit_31b, gfp);
	if (err)
		goto err_count;
	if (udata && udata->outlen) {
		resp.ah_num = ai->index;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_xa;
	}
	ah->info = ai;
	return 0;

err_xa:
	xa_erase(&dev->ahs, ai->index);
err_count:
	atomic_dec(&dev->num_ah);
err_free:
	kfree(ai);
	return err;
}

int ntbr_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibah->device);
	struct ntbr_ah_info *ai = to_ntbr_ah(ibah)->info;

	xa_erase(&dev->ahs, ai->index);
	/* The engine reads it under rcu_read_lock() only. */
	kfree_rcu(ai, rcu);
	atomic_dec(&dev->num_ah);
	return 0;
}

int ntbr_query_ah(struct ib_ah *ibah, struct rdma_ah_attr *attr)
{
	struct ntbr_ah_info *ai = to_ntbr_ah(ibah)->info;

	memset(attr, 0, sizeof(*attr));
	attr->type = RDMA_AH_ATTR_TYPE_ROCE;
	rdma_ah_set_port_num(attr, 1);
	rdma_ah_set_grh(attr, &ai->dgid, ai->flow_label, 0, ai->hop_limit,
			ai->traffic_class);
	return 0;
}

u32 ntbr_ah_index(struct ib_ah *ibah)
{
	return to_ntbr_ah(ibah)->info->index;
}

bool ntbr_ah_copy(struct ntbr_ib_dev *dev, u32 index, struct ib_pd *pd,
		  struct ntbr_ah_info *out)
{
	const struct ntbr_ah_info *ai;
	bool ok;

	rcu_read_lock();
	ai = xa_load(&dev->ahs, index);
	ok = ai && ai->pd == pd;
	if (ok)
		*out = *ai;
	rcu_read_unlock();
	return ok;
}

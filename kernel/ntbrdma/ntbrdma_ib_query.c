// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: device and port attributes (RoCE v2 personality).
 */
#include <linux/pci.h>
#include <linux/ntb.h>
#include <net/addrconf.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_mad.h>

#include "ntbrdma_ib.h"

/* 0.1.0 as major << 32 | minor << 16 | sub-minor, 16 bits each */
#define NTBR_FW_VER 0x10000ULL

void ntbr_init_device_attrs(struct ntbr_ib_dev *dev)
{
	struct ib_device *ibdev = &dev->ibdev;
	struct net_device *ndev = ntbr_netdev(dev->nd);

	strscpy(ibdev->node_desc, "ntbrdma", sizeof(ibdev->node_desc));
	ibdev->node_type = RDMA_NODE_IB_CA;
	ibdev->phys_port_cnt = 1;
	ibdev->num_comp_vectors = 1;
	ibdev->local_dma_lkey = 0;
	/* EUI-64 of the netdev's MAC: unique per host as the MAC is. */
	addrconf_addr_eui48((unsigned char *)&ibdev->node_guid,
			    ndev->dev_addr);
}

int ntbr_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
		      struct ib_udata *udata)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibdev);
	struct pci_dev *pdev = ntbr_ntb(dev->nd)->pdev;

	if (udata && (udata->inlen || udata->outlen))
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = NTBR_FW_VER;
	attr->sys_image_guid = ibdev->node_guid;
	attr->max_mr_size = U64_MAX;
	attr->page_size_cap = PAGE_SIZE;
	attr->vendor_id = pdev->vendor;
	attr->vendor_part_id = pdev->device;
	attr->hw_ver = pdev->revision;
	attr->max_qp = NTBR_MAX_QP;
	attr->max_qp_wr = NTBR_MAX_QP_WR;
	attr->device_cap_flags = IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_RC_RNR_NAK_GEN;
	attr->kernel_cap_flags = IBK_ALLOW_USER_UNREG;
	attr->max_send_sge = NTBR_MAX_SGE;
	attr->max_recv_sge = NTBR_MAX_SGE;
	attr->max_sge_rd = NTBR_MAX_SGE;
	attr->max_cq = NTBR_MAX_CQ;
	attr->max_cqe = NTBR_MAX_CQE;
	attr->max_mr = NTBR_MAX_MR;
	attr->max_pd = NTBR_MAX_PD;
	attr->max_qp_rd_atom = NTBR_MAX_RD_ATOM;
	attr->max_qp_init_rd_atom = NTBR_MAX_RD_ATOM;
	attr->max_res_rd_atom = NTBR_MAX_QP * NTBR_MAX_RD_ATOM;
	/*
	 * Atomics are executed by the responder's host with a locked
	 * instruction on the target page (ntbr_eng_atomic): atomic against
	 * every other atomic of the device, which is what IB_ATOMIC_HCA
	 * promises (and against that host's CPUs too).  UCX offers atomics
	 * only with IB_ATOMIC_HCA; no masked atomics.
	 */
	attr->atomic_cap = IB_ATOMIC_HCA;
	/* Address handles for UD (ntbrdma_ib_ah.c), SRQs (ntbrdma_ib_srq.c). */
	attr->max_ah = NTBR_MAX_AH;
	attr->max_srq = NTBR_MAX_SRQ;
	attr->max_srq_wr = NTBR_MAX_SRQ_WR;
	attr->max_srq_sge = NTBR_MAX_SGE;
	attr->max_pkeys = 1;
	attr->local_ca_ack_delay = 15;
	return 0;
}

int ntbr_query_port(struct ib_device *ibdev, u32 port,
		    struct ib_port_attr *attr)
{
	struct ntbr_ib_dev *dev = to_ntbr_ib(ibdev);
	struct net_device *ndev = ntbr_netdev(dev->nd);
	bool ready = ntbr_link_ready(dev->nd);

	/* *attr was zeroed by ib_query_port. */
	attr->state = ready ? IB_PORT_ACTIVE : IB_PORT_DOWN;
	if (ready)
		attr->phys_state = IB_PORT_PHYS_STATE_LINK_UP;
	else if (dev_get_flags(ndev) & IFF_UP)
		attr->phys_state = IB_PORT_PHYS_STATE_POLLING;
	else
		attr->phys_state = IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = iboe_get_mtu(READ_ONCE(ndev->mtu));
	attr->gid_tbl_len = NTBR_GID_TBL_LEN;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_msg_sz = NTBR_MAX_MSG_SZ;
	attr->pkey_tbl_len = 1;
	/* A PCIe Gen3 x8 link carries about 56 Gb/s: 4x FDR. */
	attr->active_width = IB_WIDTH_4X;
	attr->active_speed = IB_SPEED_FDR;
	return 0;
}

int ntbr_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey)
{
	if (index > 0)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

int ntbr_get_port_immutable(struct ib_device *ibdev, u32 port,
			    struct ib_port_immutable *immutable)
{
	immutable->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	immutable->pkey_tbl_len = 1;
	immutable->gid_tbl_len = NTBR_GID_TBL_LEN;
	immutable->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

enum rdma_link_layer ntbr_get_link_layer(struct ib_device *ibdev, u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

void ntbr_get_dev_fw_str(struct ib_device *ibdev, char *str)
{
	snprintf(str, IB_FW_VERSION_NAME_MAX, "%llu.%llu.%llu",
		 (NTBR_FW_VER >> 32) & 0xffff, (NTBR_FW_VER >> 16) & 0xffff,
		 NTBR_FW_VER & 0xffff);
}

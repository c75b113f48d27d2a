// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: raw uverbs commands, written to the context's fd around
 * libibverbs - create, resize and destroy CQ, destroy QP, modify QP, the
 * provider's kick (an empty post_send or post_recv) and post commands with
 * random requests.  Each returns 0 or an errno value.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ufuzz.h"

/* --- raw uverbs commands ---------------------------------------------- */

/*
 * A legacy write() command: header, then req; in_words counts the header,
 * out_words the response.  0 or an errno value.
 */
int ucmd(uint32_t command, const void *req, size_t len, size_t resp_len)
{
	unsigned char msg[1024];
	struct ib_uverbs_cmd_hdr hdr = {
		.command = command,
		.in_words = (uint16_t)((sizeof(hdr) + len) / 4),
		.out_words = (uint16_t)(resp_len / 4),
	};
	size_t n = sizeof(hdr) + len;

	if (n > sizeof(msg))
		return E2BIG;
	memcpy(msg, &hdr, sizeof(hdr));
	memcpy(msg + sizeof(hdr), req, len);
	return write(cmd_fd, msg, n) == (ssize_t)n ? 0 : errno;
}

/*
 * Extended modify_qp with our driver data (include/rdma/ntbrdma-abi.h):
 * a mapping of a peer MR for the QP, attribute mask 0.
 */
struct raw_map_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	struct ib_uverbs_ex_cmd_hdr ex;
	struct ib_uverbs_ex_modify_qp core;
	struct ntbrdma_modify_qp_req drv;
};

struct raw_map_resp {
	struct ib_uverbs_ex_modify_qp_resp core;
	struct ntbrdma_modify_qp_resp drv;
};

int raw_map_peer(uint32_t handle, uint32_t op, uint32_t rkey,
		 struct ntbrdma_modify_qp_resp *drv)
{
	struct raw_map_resp resp;
	struct raw_map_cmd c;

	memset(&c, 0, sizeof(c));
	memset(&resp, 0, sizeof(resp));
	c.hdr.command = IB_USER_VERBS_CMD_FLAG_EXTENDED |
			IB_USER_VERBS_EX_CMD_MODIFY_QP;
	c.hdr.in_words = sizeof(c.core) / 8;
	c.hdr.out_words = sizeof(resp.core) / 8;
	c.ex.response = (uintptr_t)&resp;
	c.ex.provider_in_words = sizeof(c.drv) / 8;
	c.ex.provider_out_words = sizeof(resp.drv) / 8;
	c.core.base.qp_handle = handle;
	c.drv.op = op;
	c.drv.rkey = rkey;
	if (write(cmd_fd, &c, sizeof(c)) != (ssize_t)sizeof(c))
		return errno;
	*drv = resp.drv;
	return 0;
}

struct raw_cq_resp {
	struct ib_uverbs_create_cq_resp core;
	struct ntbrdma_create_cq_resp drv;
};

int raw_create_cq(uint32_t cqe, int channel, uint32_t *handle,
		  struct ntbrdma_create_cq_resp *drv)
{
	struct raw_cq_resp resp;
	struct ib_uverbs_create_cq cmd = {
		.response = (uintptr_t)&resp,
		.cqe = cqe,
		.comp_channel = channel,
	};
	int err;

	memset(&resp, 0, sizeof(resp));
	err = ucmd(IB_USER_VERBS_CMD_CREATE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (err)
		return err;
	*handle = resp.core.cq_handle;
	*drv = resp.drv;
	return 0;
}

int raw_resize_cq(uint32_t handle, uint32_t cqe,
		  struct ntbrdma_resize_cq_resp *drv)
{
	struct {
		struct ib_uverbs_resize_cq_resp core;
		struct ntbrdma_resize_cq_resp drv;
	} resp;
	struct ib_uverbs_resize_cq cmd = {
		.response = (uintptr_t)&resp,
		.cq_handle = handle,
		.cqe = cqe,
	};
	int err;

	memset(&resp, 0, sizeof(resp));
	err = ucmd(IB_USER_VERBS_CMD_RESIZE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (!err)
		*drv = resp.drv;
	return err;
}

int raw_destroy_cq(uint32_t handle)
{
	struct ib_uverbs_destroy_cq_resp resp;
	struct ib_uverbs_destroy_cq cmd = {
		.response = (uintptr_t)&resp,
		.cq_handle = handle,
	};

	return ucmd(IB_USER_VERBS_CMD_DESTROY_CQ, &cmd, sizeof(cmd),
		    sizeof(resp));
}

int raw_destroy_qp(uint32_t handle)
{
	struct ib_uverbs_destroy_qp_resp resp;
	struct ib_uverbs_destroy_qp cmd = {
		.response = (uintptr_t)&resp,
		.qp_handle = handle,
	};

	return ucmd(IB_USER_VERBS_CMD_DESTROY_QP, &cmd, sizeof(cmd),
		    sizeof(resp));
}

/* post_send (sq) or post_recv with one empty request: the provider's kick. */
int raw_kick(uint32_t handle, bool sq)
{
	unsigned char req[sizeof(struct ib_uverbs_post_send) +
			  sizeof(struct ib_uverbs_send_wr)];
	struct ib_uverbs_post_send_resp resp;

	memset(req, 0, sizeof(req));
	if (sq) {
		struct ib_uverbs_post_send cmd = {
			.response = (uintptr_t)&resp,
			.qp_handle = handle,
			.wr_count = 1,
			.wqe_size = sizeof(struct ib_uverbs_send_wr),
		};
		struct ib_uverbs_send_wr wr = { .opcode = IB_UVERBS_WR_SEND };

		memcpy(req, &cmd, sizeof(cmd));
		memcpy(req + sizeof(cmd), &wr, sizeof(wr));
		return ucmd(IB_USER_VERBS_CMD_POST_SEND, req, sizeof(req),
			    sizeof(resp));
	} else {
		struct ib_uverbs_post_recv cmd = {
			.response = (uintptr_t)&resp,
			.qp_handle = handle,
			.wr_count = 1,
			.wqe_size = sizeof(struct ib_uverbs_recv_wr),
		};
		struct ib_uverbs_recv_wr wr = { 0 };

		memcpy(req, &cmd, sizeof(cmd));
		memcpy(req + sizeof(cmd), &wr, sizeof(wr));
		return ucmd(IB_USER_VERBS_CMD_POST_RECV, req,
			    sizeof(cmd) + sizeof(wr), sizeof(resp));
	}
}

/*
 * A post_send or post_recv command with random requests and SGEs: counts,
 * sizes and fields random, lengths consistent or not.  The response
 * pointer always points at our buffer (a random one could be our memory).
 */
int raw_post_random(struct rng *r, uint32_t handle)
{
	uint64_t body[96];
	struct ib_uverbs_post_send_resp resp;
	bool sq = chance(r, 60), sane = chance(r, 80);
	size_t len, hdr, wsz;
	uint32_t nwr = below(r, 4), nsge = below(r, 6), i;

	rfill(r, body, sizeof(body));
	hdr = sq ? sizeof(struct ib_uverbs_post_send) :
		   sizeof(struct ib_uverbs_post_recv);
	wsz = sq ? sizeof(struct ib_uverbs_send_wr) :
		   sizeof(struct ib_uverbs_recv_wr);
	if (sq) {
		struct ib_uverbs_post_send *cmd = (void *)body;

		cmd->qp_handle = handle;
		cmd->wr_count = sane ? nwr : edgy32(r);
		cmd->sge_count = sane ? nsge : edgy32(r);
		cmd->wqe_size = sane ? (uint32_t)wsz : edgy32(r);
	} else {
		struct ib_uverbs_post_recv *cmd = (void *)body;

		cmd->qp_handle = handle;
		cmd->wr_count = sane ? nwr : edgy32(r);
		cmd->sge_count = sane ? nsge : edgy32(r);
		cmd->wqe_size = sane ? (uint32_t)wsz : edgy32(r);
	}
	/* Plausible requests: SGE counts within the command's, opcodes. */
	for (i = 0; sane && i < nwr; i++) {
		char *w = (char *)body + hdr + i * wsz;

		if (sq) {
			struct ib_uverbs_send_wr *s = (void *)w;

			s->num_sge = below(r, nsge + 1);
			s->opcode = chance(r, 90) ? below(r, 9) : edgy32(r);
		} else {
			((struct ib_uverbs_recv_wr *)w)->num_sge =
				below(r, nsge + 1);
		}
	}
	body[0] = (uintptr_t)&resp;
	len = hdr + nwr * wsz + nsge * sizeof(struct ib_uverbs_sge);
	if (!sane || len > sizeof(body))
		len = (8 + below(r, sizeof(body) - 8)) & ~(size_t)3;
	return ucmd(sq ? IB_USER_VERBS_CMD_POST_SEND :
			 IB_USER_VERBS_CMD_POST_RECV,
		    body, len, sizeof(resp));
}

static void attr_to_raw(const struct ibv_qp_attr *a, int mask,
			struct ib_uverbs_modify_qp *c)
{
	memcpy(c->dest.dgid, a->ah_attr.grh.dgid.raw, 16);
	c->dest.flow_label = a->ah_attr.grh.flow_label;
	c->dest.dlid = a->ah_attr.dlid;
	c->dest.sgid_index = a->ah_attr.grh.sgid_index;
	c->dest.hop_limit = a->ah_attr.grh.hop_limit;
	c->dest.traffic_class = a->ah_attr.grh.traffic_class;
	c->dest.sl = a->ah_attr.sl;
	c->dest.static_rate = a->ah_attr.static_rate;
	c->dest.is_global = a->ah_attr.is_global;
	c->dest.port_num = a->ah_attr.port_num;
	c->attr_mask = (uint32_t)mask;
	c->qkey = a->qkey;
	c->rq_psn = a->rq_psn;
	c->sq_psn = a->sq_psn;
	c->dest_qp_num = a->dest_qp_num;
	c->qp_access_flags = (uint32_t)a->qp_access_flags;
	c->pkey_index = a->pkey_index;
	c->qp_state = (uint8_t)a->qp_state;
	c->cur_qp_state = (uint8_t)a->cur_qp_state;
	c->path_mtu = (uint8_t)a->path_mtu;
	c->path_mig_state = (uint8_t)a->path_mig_state;
	c->en_sqd_async_notify = a->en_sqd_async_notify;
	c->max_rd_atomic = a->max_rd_atomic;
	c->max_dest_rd_atomic = a->max_dest_rd_atomic;
	c->min_rnr_timer = a->min_rnr_timer;
	c->port_num = a->port_num;
	c->timeout = a->timeout;
	c->retry_cnt = a->retry_cnt;
	c->rnr_retry = a->rnr_retry;
}

int raw_modify(uint32_t handle, const struct ibv_qp_attr *a, int mask)
{
	struct ib_uverbs_modify_qp cmd;

	memset(&cmd, 0, sizeof(cmd));
	attr_to_raw(a, mask, &cmd);
	cmd.qp_handle = handle;
	return ucmd(IB_USER_VERBS_CMD_MODIFY_QP, &cmd, sizeof(cmd), 0);
}

/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libntbrdma: queue pairs (ntbrdma_qp.c), for the verbs_context_ops table
 * in ntbrdma.c.
 */
#ifndef NTBRDMA_QP_H
#define NTBRDMA_QP_H

#include <infiniband/verbs.h>

struct ibv_qp *ntb_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
int ntb_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask,
		 struct ibv_qp_init_attr *init_attr);
int ntb_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask);
int ntb_destroy_qp(struct ibv_qp *ibqp);
int ntb_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int ntb_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);

#endif /* NTBRDMA_QP_H */

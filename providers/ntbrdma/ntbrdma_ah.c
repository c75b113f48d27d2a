// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: address handles, for UD QPs.  The kernel resolves and
 * checks the address (ntbrdma_ib_ah.c) and answers with the AH's index,
 * which post_send writes into each UD WQE; the kernel looks it up again
 * there and refuses one of another PD.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntbrdma.h"

struct ntb_create_ah_resp {
	struct ib_uverbs_create_ah_resp ibv_resp;
	struct ntbrdma_create_ah_resp drv;
};

struct ibv_ah *ntb_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct ntb_create_ah_resp resp;
	struct ntb_ah *ah;
	int ret;

	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_ah(pd, &ah->ibah, attr, &resp.ibv_resp,
				sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.drv.ah_num;
	return &ah->ibah;
}

int ntb_destroy_ah(struct ibv_ah *ibah)
{
	int ret = ibv_cmd_destroy_ah(ibah);

	if (ret)
		return ret;
	free(to_ah(ibah));
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-verbs-test: verbs checks of an ntbrdma device through libibverbs
 * and the libntbrdma provider, for tests/vm/ntbrdma-verbs.sh and
 * tests/vm/ntbrdma-ibdev.sh.  Every check prints "ok - ..." or
 * "FAIL - ..."; the exit code is 0 only if all passed.
 *
 *   ntbrdma-verbs-test verbs DEV          query, PD, CQ, notify, errors
 *   ntbrdma-verbs-test hold DEV FILE      hold 1 PD + 2 CQs until FILE exists
 *   ntbrdma-verbs-test event DEV EVENT S  wait S seconds for async EVENT
 *                                         (port_err, port_active)
 *   ntbrdma-verbs-test ring DEV           CQ ring: completions injected by
 *                                         the kernel's test hook, polling,
 *                                         arming, resize, wrap, overflow
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "vmtest.h"

/* create_cq must fail with errno err. */
static void expect_cq_fail(struct ibv_context *ctx, int cqe, int vector,
			   int err, const char *what)
{
	struct ibv_cq *cq;

	errno = 0;
	cq = ibv_create_cq(ctx, cqe, NULL, NULL, vector);
	CHECK(!cq && errno == err, "create_cq %s fails with %s (got %s)", what,
	      strerror(err), cq ? "success" : strerror(errno));
	if (cq)
		ibv_destroy_cq(cq);
}

static int do_verbs(const char *name)
{
	struct ibv_device_attr_ex dattr;
	struct ibv_comp_channel *ch;
	struct ibv_port_attr pattr;
	struct ibv_cq *cq, *cq2, *ecq;
	struct ibv_context *ctx;
	struct ibv_wc wc[4];
	struct ibv_pd *pd;
	int ret;

	ctx = open_dev(name);
	if (!ctx)
		return 1;

	ret = ibv_query_device_ex(ctx, NULL, &dattr);
	CHECK(!ret, "query_device_ex (%d)", ret);
	CHECK(dattr.orig_attr.max_cqe == 32768, "max_cqe 32768 (%d)",
	      dattr.orig_attr.max_cqe);
	CHECK(dattr.orig_attr.max_sge >= 8, "max_sge >= 8 (%d)",
	      dattr.orig_attr.max_sge);
	CHECK(dattr.orig_attr.max_qp > 0 && dattr.orig_attr.max_mr > 0 &&
		      dattr.orig_attr.max_pd > 0,
	      "max_qp %d max_mr %d max_pd %d", dattr.orig_attr.max_qp,
	      dattr.orig_attr.max_mr, dattr.orig_attr.max_pd);
	CHECK(dattr.orig_attr.node_guid != 0, "node GUID non-zero");
	CHECK(dattr.orig_attr.vendor_id != 0, "vendor_id 0x%x",
	      dattr.orig_attr.vendor_id);
	CHECK(dattr.orig_attr.phys_port_cnt == 1, "one port");
	CHECK(!strcmp(dattr.orig_attr.fw_ver, "0.1.0"), "fw_ver 0.1.0 (%s)",
	      dattr.orig_attr.fw_ver);

	ret = ibv_query_port(ctx, 1, &pattr);
	CHECK(!ret, "query_port 1 (%d)", ret);
	CHECK(pattr.link_layer == IBV_LINK_LAYER_ETHERNET,
	      "link layer Ethernet (%d)", pattr.link_layer);
	CHECK(pattr.state == IBV_PORT_ACTIVE, "port active (%d)", pattr.state);
	CHECK(pattr.pkey_tbl_len == 1 && pattr.gid_tbl_len > 0,
	      "pkey/gid tables %d/%d", pattr.pkey_tbl_len, pattr.gid_tbl_len);
	errno = 0;
	ret = ibv_query_port(ctx, 2, &pattr);
	CHECK(ret == EINVAL, "query_port 2 fails with EINVAL (%d)", ret);

	pd = ibv_alloc_pd(ctx);
	CHECK(pd != NULL, "alloc_pd (%s)", pd ? "ok" : strerror(errno));

	cq = ibv_create_cq(ctx, 100, NULL, NULL, 0);
	CHECK(cq != NULL, "create_cq 100 without channel (%s)",
	      cq ? "ok" : strerror(errno));
	if (cq) {
		CHECK(cq->cqe == 128, "cqe rounded to 128 (%d)", cq->cqe);
		CHECK(ibv_poll_cq(cq, 4, wc) == 0, "poll empty CQ returns 0");
		CHECK(ibv_req_notify_cq(cq, 0) == 0, "req_notify_cq next");
		CHECK(ibv_req_notify_cq(cq, 1) == 0, "req_notify_cq solicited");
		ret = ibv_resize_cq(cq, 1000);
		CHECK(ret == 0 && cq->cqe == 1024, "resize_cq to 1024 (%d, %d)",
		      ret, cq->cqe);
		CHECK(ibv_poll_cq(cq, 4, wc) == 0, "poll resized CQ returns 0");
		ret = ibv_resize_cq(cq, 0);
		CHECK(ret == EINVAL, "resize_cq 0 fails with EINVAL (%d)", ret);
		ret = ibv_resize_cq(cq, 32769);
		CHECK(ret == EINVAL, "resize_cq 32769 fails with EINVAL (%d)",
		      ret);
	}

	ch = ibv_create_comp_channel(ctx);
	CHECK(ch != NULL, "create_comp_channel");
	cq2 = ch ? ibv_create_cq(ctx, 1, NULL, ch, 0) : NULL;
	CHECK(cq2 != NULL, "create_cq 1 with channel (%s)",
	      cq2 ? "ok" : strerror(errno));
	if (cq2) {
		struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };

		CHECK(cq2->cqe == 1, "cqe 1 (%d)", cq2->cqe);
		CHECK(ibv_req_notify_cq(cq2, 0) == 0, "arm CQ with channel");
		CHECK(poll(&pfd, 1, 200) == 0,
		      "no completion event on an idle CQ");
		CHECK(ibv_poll_cq(cq2, 1, wc) == 0, "poll empty CQ returns 0");
	}

	ecq = ibv_create_cq(ctx, 32768, NULL, NULL, 0);
	CHECK(ecq != NULL && ecq->cqe == 32768, "create_cq max_cqe (32768)");
	if (ecq)
		CHECK(ibv_destroy_cq(ecq) == 0, "destroy max CQ");
	expect_cq_fail(ctx, 32769, 0, EINVAL, "cqe > max_cqe");
	expect_cq_fail(ctx, 0, 0, EINVAL, "cqe 0");
	expect_cq_fail(ctx, -1, 0, EINVAL, "cqe -1");
	expect_cq_fail(ctx, 1, 1, EINVAL, "comp_vector 1 of 1");

	if (cq2)
		CHECK(ibv_destroy_cq(cq2) == 0, "destroy CQ with channel");
	/*
	 * An extended CQ on the channel holds one reference on it, dropped
	 * by its destroy (UCX: ibv_destroy_comp_channel() gave EBUSY).
	 */
	if (ch) {
		struct ibv_cq_init_attr_ex xa = { .cqe = 4, .channel = ch };
		struct ibv_cq_ex *xcq = ibv_create_cq_ex(ctx, &xa);

		CHECK(xcq && ibv_cq_ex_to_cq(xcq)->channel == ch &&
			      ibv_destroy_comp_channel(ch) == EBUSY,
		      "create_cq_ex with channel: the channel is in use");
		CHECK(xcq && ibv_destroy_cq(ibv_cq_ex_to_cq(xcq)) == 0,
		      "destroy extended CQ with channel");
	}
	if (ch)
		CHECK(ibv_destroy_comp_channel(ch) == 0, "destroy channel");
	if (cq)
		CHECK(ibv_destroy_cq(cq) == 0, "destroy CQ");
	if (pd)
		CHECK(ibv_dealloc_pd(pd) == 0, "dealloc_pd");

	/* MRs in detail: ntbrdma-mr-test; here only that they work. */
	pd = ibv_alloc_pd(ctx);
	if (pd) {
		char buf[64];
		struct ibv_mr *mr = ibv_reg_mr(pd, buf, sizeof(buf), 0);

		CHECK(mr, "reg_mr (%s)", mr ? "ok" : strerror(errno));
		if (mr)
			CHECK(ibv_dereg_mr(mr) == 0, "dereg_mr");
		ibv_dealloc_pd(pd);
	}

	CHECK(ibv_close_device(ctx) == 0, "close_device");
	return failures ? 1 : 0;
}

static int do_hold(const char *name, const char *file)
{
	struct ibv_context *ctx;
	struct ibv_cq *cq1, *cq2;
	struct ibv_pd *pd;
	int i;

	ctx = open_dev(name);
	if (!ctx)
		return 1;
	pd = ibv_alloc_pd(ctx);
	cq1 = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	cq2 = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	if (!pd || !cq1 || !cq2) {
		printf("FAIL - hold: could not create PD/CQs: %s\n",
		       strerror(errno));
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	for (i = 0; i < 1200 && access(file, F_OK); i++)
		usleep(50000);
	ibv_destroy_cq(cq2);
	ibv_destroy_cq(cq1);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	printf("released\n");
	return 0;
}

static int do_event(const char *name, const char *want, int seconds)
{
	enum ibv_event_type type;
	struct ibv_async_event ev;
	struct ibv_context *ctx;
	struct pollfd pfd;
	time_t end;

	if (!strcmp(want, "port_err")) {
		type = IBV_EVENT_PORT_ERR;
	} else if (!strcmp(want, "port_active")) {
		type = IBV_EVENT_PORT_ACTIVE;
	} else {
		fprintf(stderr, "unknown event %s\n", want);
		return 2;
	}
	ctx = open_dev(name);
	if (!ctx)
		return 1;
	printf("waiting\n");
	fflush(stdout);
	pfd.fd = ctx->async_fd;
	pfd.events = POLLIN;
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (ibv_get_async_event(ctx, &ev))
			break;
		printf("event %s port %d\n", ibv_event_type_str(ev.event_type),
		       ev.element.port_num);
		ibv_ack_async_event(&ev);
		if (ev.event_type == type && ev.element.port_num == 1) {
			printf("ok - %s: async event %s on port 1\n", name,
			       ibv_event_type_str(type));
			fflush(stdout);
			ibv_close_device(ctx);
			return 0;
		}
	}
	printf("FAIL - %s: no %s within %d s\n", name, ibv_event_type_str(type),
	       seconds);
	ibv_close_device(ctx);
	return 1;
}

static char inject_path[256];

/* Kernel test hook: n completions (solicited or not) to every user CQ. */
static int inject(unsigned int n, int solicited)
{
	char buf[32];
	int fd, len, ret;

	fd = open(inject_path, O_WRONLY);
	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%u %d\n", n, solicited);
	ret = write(fd, buf, len) == len ? 0 : -1;
	close(fd);
	return ret;
}

/* True if the channel delivers an event for cq within ms. */
static int got_event(struct ibv_comp_channel *ch, struct ibv_cq *cq, int ms)
{
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct ibv_cq *ev_cq;
	void *ev_ctx;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	if (ibv_get_cq_event(ch, &ev_cq, &ev_ctx))
		return 0;
	ibv_ack_cq_events(ev_cq, 1);
	return ev_cq == cq;
}

/* Poll exactly n completions with wr_ids *seq, *seq + 1, ... */
static int poll_seq(struct ibv_cq *cq, int n, uint64_t *seq)
{
	struct ibv_wc wc[64];
	int got = 0, i, r;

	while (got < n) {
		r = ibv_poll_cq(cq, n - got > 64 ? 64 : n - got, wc);
		if (r <= 0)
			break;
		for (i = 0; i < r; i++, (*seq)++) {
			if (wc[i].wr_id != *seq ||
			    wc[i].status != IBV_WC_SUCCESS ||
			    wc[i].opcode != IBV_WC_RECV ||
			    wc[i].byte_len != 64 ||
			    !(wc[i].wc_flags & IBV_WC_WITH_IMM) ||
			    wc[i].imm_data != htobe32((uint32_t)*seq)) {
				printf("# bad completion: wr_id %llu (want %llu) "
				       "status %d opcode %d len %u flags %x\n",
				       (unsigned long long)wc[i].wr_id,
				       (unsigned long long)*seq, wc[i].status,
				       wc[i].opcode, wc[i].byte_len,
				       wc[i].wc_flags);
				return -1;
			}
		}
		got += r;
	}
	return got == n && ibv_poll_cq(cq, 1, wc) == 0 ? n : -1;
}

static int do_ring(const char *name)
{
	struct ibv_comp_channel *ch;
	struct ibv_async_event aev;
	struct ibv_context *ctx;
	struct ibv_cq *cq, *small;
	struct ibv_wc wc[2];
	struct pollfd pfd;
	uint64_t seq = 0;
	int i, ok;

	snprintf(inject_path, sizeof(inject_path),
		 "/sys/kernel/debug/ntbrdma_ib/%s/inject_cqe", name);
	ctx = open_dev(name);
	if (!ctx)
		return 1;
	ch = ibv_create_comp_channel(ctx);
	cq = ch ? ibv_create_cq(ctx, 8, NULL, ch, 0) : NULL;
	if (!cq) {
		printf("FAIL - create CQ with channel: %s\n", strerror(errno));
		return 1;
	}

	CHECK(inject(2, 0) == 0, "inject 2 completions (%s)", inject_path);
	CHECK(!got_event(ch, cq, 200), "not armed: no event");
	CHECK(poll_seq(cq, 2, &seq) == 2, "poll 2 completions, in order");

	ibv_req_notify_cq(cq, 0);
	inject(1, 0);
	CHECK(got_event(ch, cq, 2000), "armed (next): event");
	CHECK(poll_seq(cq, 1, &seq) == 1, "poll it");
	inject(1, 0);
	CHECK(!got_event(ch, cq, 200), "the arm was consumed: no event");
	CHECK(poll_seq(cq, 1, &seq) == 1, "poll it");

	ibv_req_notify_cq(cq, 1);
	inject(1, 0);
	CHECK(!got_event(ch, cq, 200), "armed (solicited): no event for "
				       "an unsolicited completion");
	inject(1, 1);
	CHECK(got_event(ch, cq, 2000), "armed (solicited): event for a "
				       "solicited one");
	CHECK(poll_seq(cq, 2, &seq) == 2, "poll both");

	ibv_req_notify_cq(cq, 0);
	ibv_req_notify_cq(cq, 1);
	inject(1, 0);
	CHECK(got_event(ch, cq, 2000),
	      "solicited after next keeps next: event for an unsolicited one");
	CHECK(poll_seq(cq, 1, &seq) == 1, "poll it");

	inject(3, 0);
	CHECK(ibv_poll_cq(cq, 2, wc) == 2 && wc[0].wr_id == seq &&
		      wc[1].wr_id == seq + 1,
	      "partial poll returns 2 of 3");
	seq += 2;
	CHECK(poll_seq(cq, 1, &seq) == 1, "then the third");

	inject(5, 0);
	CHECK(ibv_resize_cq(cq, 100) == 0 && cq->cqe == 128,
	      "resize to 128 with 5 queued (%d)", cq->cqe);
	CHECK(poll_seq(cq, 5, &seq) == 5, "the 5 survive the resize, in order");
	inject(3, 0);
	CHECK(ibv_resize_cq(cq, 2) == EINVAL, "resize below the queued "
					      "count fails with EINVAL");
	CHECK(poll_seq(cq, 3, &seq) == 3, "poll the 3");

	ok = 1;
	for (i = 0; i < 3 && ok; i++) {
		inject(100, 0);
		ok = poll_seq(cq, 100, &seq) == 100;
	}
	CHECK(ok, "3 x 100 completions through a ring of 128 (wrap)");
	inject(128, 0);
	CHECK(poll_seq(cq, 128, &seq) == 128, "a full ring (128)");
	CHECK(ibv_destroy_cq(cq) == 0, "destroy CQ");

	small = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	CHECK(small && small->cqe == 4, "CQ of 4");
	if (small) {
		inject(5, 0);
		pfd.fd = ctx->async_fd;
		pfd.events = POLLIN;
		ok = poll(&pfd, 1, 2000) == 1 &&
		     !ibv_get_async_event(ctx, &aev);
		CHECK(ok && aev.event_type == IBV_EVENT_CQ_ERR &&
			      aev.element.cq == small,
		      "overflow: IBV_EVENT_CQ_ERR on that CQ");
		if (ok)
			ibv_ack_async_event(&aev);
		CHECK(ibv_poll_cq(small, 2, wc) < 0,
		      "overflowed CQ: poll fails");
		CHECK(ibv_destroy_cq(small) == 0, "destroy overflowed CQ");
	}
	ibv_destroy_comp_channel(ch);
	ibv_close_device(ctx);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "verbs"))
		return do_verbs(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "ring"))
		return do_ring(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "event"))
		return do_event(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr,
		"usage: %s verbs DEV | hold DEV FILE | "
		"event DEV port_err|port_active SECONDS | ring DEV\n",
		argv[0]);
	return 2;
}

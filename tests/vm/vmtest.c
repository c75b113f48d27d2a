// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the C programs of the VM tests (see vmtest.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmtest.h"

int failures;

struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	list = ibv_get_device_list(&n);
	if (!list) {
		printf("FAIL - ibv_get_device_list: %s\n", strerror(errno));
		failures++;
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx) {
		printf("FAIL - %s not listed or not opened (%s)\n", name,
		       strerror(errno));
		failures++;
	} else {
		printf("ok - %s opened through its provider\n", name);
	}
	return ctx;
}

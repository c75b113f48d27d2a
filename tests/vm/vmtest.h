/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the C programs of the VM tests: one line per check, "ok - ..."
 * or "FAIL - ...", and a failure count the program turns into its exit
 * code.
 */
#ifndef VMTEST_H
#define VMTEST_H

#include <infiniband/verbs.h>

/* Checks that failed so far in this program. */
extern int failures;

#define CHECK(cond, ...)                   \
	do {                               \
		if (cond) {                \
			printf("ok - ");   \
		} else {                   \
			printf("FAIL - "); \
			failures++;        \
		}                          \
		printf(__VA_ARGS__);       \
		printf("\n");              \
	} while (0)

/*
 * Open the RDMA device called name through libibverbs (and so through its
 * provider); prints the outcome as a check.  NULL (and a failure) if it is
 * not listed or does not open.
 */
struct ibv_context *open_dev(const char *name);

#endif /* VMTEST_H */

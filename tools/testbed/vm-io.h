/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Whole-buffer socket I/O shared by vm-agent and vm-run. */
#ifndef VM_IO_H
#define VM_IO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/*
 * Write all of buf; 0 on success, -1 with errno set on error.  Callers ignore
 * SIGPIPE, so a closed peer shows as EPIPE.
 */
static inline int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes; 0 on success, -1 on error or early EOF. */
static inline int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif /* VM_IO_H */

// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Logging of the ivshmem server.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

bool log_verbose;

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERR] = "error: ",
		[LOG_WARN] = "warning: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "",
	};
	char line[512];
	va_list ap;

	if (level == LOG_DEBUG && !log_verbose)
		return;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	/* One call per line, so lines of concurrent writers do not mix. */
	fprintf(stderr, "ivshmem-server: %s%s\n", prefix[level], line);
}

/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Logging of the ivshmem server: everything goes to stderr, one line per
 * message, prefixed with the program name.
 */
#ifndef IVSHMEM_SERVER_LOG_H
#define IVSHMEM_SERVER_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_ERR,
	LOG_WARN,
	LOG_INFO, /* peer joined / left: always printed */
	LOG_DEBUG, /* per-message trace: only with --verbose */
};

extern bool log_verbose;

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* IVSHMEM_SERVER_LOG_H */

/*
 * wire.h - what confmail-filter (src/client/) and `confmail serve`
 * (cmd_serve.c, which describes the exchange) say to each other.  libc
 * alone: the client links nothing else.
 */
#ifndef CONFMAIL_WIRE_H
#define CONFMAIL_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>

/* The first line of a request. */
#define WIRE_GREETING "confmail-filter 1"

/* The environment an MTA gives the envelope in (intake.c reads it), which
 * the client passes on as "env NAME VALUE". */
#define WIRE_PASSED_ENV { "ORIGINAL_RECIPIENT", "RECIPIENT", "SENDER" }

/* Writes all N bytes of BUF to FD, through interruptions. */
static inline bool
wire_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

#endif

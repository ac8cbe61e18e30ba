/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: the two entry
 * points libFuzzer calls (declared, for -Wmissing-prototypes) and the
 * set-up every target needs once.
 */
#ifndef CONFMAIL_FUZZ_H
#define CONFMAIL_FUZZ_H

#include "confmail.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* GMime once, a fixed clock, and GLib's criticals made fatal: a
 * g_return_if_fail() tripped by some input is a bug to be found, not a
 * line on stderr. */
static inline void
fuzz_setup(void)
{
	g_setenv("CONFMAIL_NOW", "2022-01-17T09:00:00Z", TRUE);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_mime_init();
}

/* The input as the GByteArray the modules take. */
static inline GByteArray *
fuzz_bytes(const uint8_t *data, size_t size)
{
	GByteArray *raw = g_byte_array_sized_new((guint)size);
	g_byte_array_append(raw, data, (guint)size);
	return raw;
}

#endif

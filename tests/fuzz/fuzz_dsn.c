/*
 * fuzz_dsn.c - libFuzzer target: any message read as a bounce by
 * dsn_parse (RFC 3464 reports and the text bounces), whatever its class.
 */
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GByteArray *raw = fuzz_bytes(data, size);
	struct mail *m = mail_parse(raw);
	struct bounce b = { 0 };
	if (dsn_parse(m, &b)) {
		/* what deliver.c relies on: a bounce names its recipients */
		if (!b.recipients || b.recipients->len == 0)
			abort();
	}
	bounce_clear(&b);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
	return 0;
}

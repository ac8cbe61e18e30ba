/*
 * fuzz_mail.c - libFuzzer target: one message as `confmail parse --json`
 * reads it (cmd_parse.c): MIME intake, the body made readable, the class
 * by the real recipes of filters/, the fields extracted, the JSON line.
 * No configuration and no database.
 */
#include "fuzz.h"

#include <string.h>

static struct rules *loaded;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = rules_default_dir();
	loaded = rules_load(dir, &error);
	if (!loaded) {
		fprintf(stderr, "fuzz_mail: %s\n", error->message);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GByteArray *raw = fuzz_bytes(data, size);
	g_autofree char *from_line = intake_strip_from_line(raw);
	struct mail *m = mail_parse(raw);
	struct envelope env = { 0 };
	intake_envelope(&env, NULL, NULL, from_line, m);
	struct verdict v;
	JsonObject *fields = classify_message(loaded, m, &env, NULL, &v, NULL);
	g_autofree char *line = json_verdict(m, &v, fields, noreply_reason(m, &env, NULL));
	g_autofree char *headers = json_headers(m);
	/* what `parse --json` promises: one line of UTF-8 (realmail.sh) */
	if (!g_utf8_validate(line, -1, NULL) || strchr(line, '\n') ||
	    !g_utf8_validate(headers, -1, NULL))
		abort();
	if (fields)
		json_object_unref(fields);
	bounce_clear(&v.bounce);
	envelope_clear(&env);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
	return 0;
}

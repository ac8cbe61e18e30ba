/*
 * fuzz_rules.c - libFuzzer target: the rules loader (rules.c, values.c).
 * The first byte of the input picks which of the six files rules_load
 * reads (by its value modulo six); the rest of the input is written as
 * that file into a directory holding the real five others from filters/.
 * Rules that load are then used on one registration, as the intake
 * would: recipes, then fields.
 */
#include "fuzz.h"

#include <string.h>

static const char *const files[] = {
	"classify.rules", "fields.rules", "countries.table",
	"languages.table", "months.table", "words.table",
};
static char *dir;
static char *originals[G_N_ELEMENTS(files)];
static gsize original_len[G_N_ELEMENTS(files)];
static GByteArray *sample_raw;
static struct mail *sample;

static const char sample_text[] =
	"From: Layla Hassan <layla@example.org>\n"
	"To: register@icssi.example\n"
	"Subject: Registration\n"
	"Date: Mon, 17 Jan 2022 09:00:00 +0300\n"
	"Message-ID: <fuzz-rules@example.org>\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"\n"
	"Please register me for the conference.\n"
	"Name: Layla Hassan\n"
	"Organisation: Women for Peace\n"
	"Country: Iraq\n"
	"City: Basra\n"
	"Phone: 0770 123 4567\n"
	"Arrival: 10 March\n"
	"Languages: Arabic, English\n"
	"Funding: yes\n"
	"I accept the principles: yes\n"
	"\xd8\xa7\xd9\x84\xd8\xa7\xd8\xb3\xd9\x85: \xd9\x84\xdb\x8c\xd9\x84\xd8\xa7\n";

static void
write_or_die(const char *name, const void *data, gsize len)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	/* without the fsync g_file_set_contents does: it cost 150 ms a run */
	if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0600,
				      &error)) {
		fprintf(stderr, "fuzz_rules: %s\n", error->message);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	/* every text the needles of a pattern rule out also goes to PCRE2,
	 * and a match there aborts: the fuzzer hunts the reader's mistakes */
	g_setenv("CONFMAIL_CHECK_NEEDLES", "1", TRUE);
	g_autofree char *real = rules_default_dir();
	g_autoptr(GError) error = NULL;
	dir = g_dir_make_tmp("fuzz-rules-XXXXXX", &error);
	if (!dir) {
		fprintf(stderr, "fuzz_rules: %s\n", error->message);
		abort();
	}
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(real, files[i], NULL);
		if (!g_file_get_contents(path, &originals[i], &original_len[i], &error)) {
			fprintf(stderr, "fuzz_rules: %s\n", error->message);
			abort();
		}
		write_or_die(files[i], originals[i], original_len[i]);
	}
	sample_raw = g_byte_array_new();
	g_byte_array_append(sample_raw, (const guint8 *)sample_text, sizeof sample_text - 1);
	sample = mail_parse(sample_raw);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t which = data[0] % G_N_ELEMENTS(files);
	write_or_die(files[which], data + 1, size - 1);

	g_autoptr(GError) error = NULL;
	g_autoptr(rules) r = rules_load(dir, &error);
	if (!r && (!error || error->code != EX_CONFIG))
		abort();
	if (r) {
		struct envelope env = { .recipient = (char *)"register@icssi.example" };
		struct verdict v;
		JsonObject *fields = classify_message(r, sample, &env, NULL, &v, NULL);
		if (fields)
			json_object_unref(fields);
		bounce_clear(&v.bounce);
	}
	write_or_die(files[which], originals[which], original_len[which]);
	return 0;
}

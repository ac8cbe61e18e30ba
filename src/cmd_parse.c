/*
 * cmd_parse.c - `confmail parse --json FILE...`: what the intake would make
 * of each file, as one JSON line per file (FIELDS.md), touching nothing.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The configuration is optional here: a dry run over a corpus should work
 * without one, but a configuration named explicitly must be valid. */
static struct config *
optional_config(struct command_context *ctx, bool *failed)
{
	*failed = false;
	bool named = g_getenv("CONFMAIL_CONF") || strcmp(ctx->config_path, "confmail.conf") != 0;
	if (!named && !g_file_test(ctx->config_path, G_FILE_TEST_EXISTS))
		return NULL;
	struct config *cfg = cm_load_config(ctx);
	*failed = cfg == NULL;
	return cfg;
}

static GByteArray *
read_input(const char *path, GError **error)
{
	if (strcmp(path, "-") == 0) {
		GByteArray *raw = NULL;
		if (intake_read(STDIN_FILENO, G_MAXINT32, &raw, error) != READ_OK) {
			if (error && !*error)
				g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "standard input too large");
			return NULL;
		}
		return raw;
	}
	char *data;
	gsize len;
	if (!g_file_get_contents(path, &data, &len, error))
		return NULL;
	return g_byte_array_new_take((guint8 *)data, len);
}

int
cmd_parse(struct command_context *ctx, int argc, char **argv)
{
	gboolean json = FALSE;
	GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON (the only format for now)", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("--json FILE... - parse without recording");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("parse: %s", error->message);
		return EX_USAGE;
	}
	if (argc < 2) {
		cm_err("parse: name at least one file ('-' for standard input)");
		return EX_USAGE;
	}
	bool failed;
	g_autoptr(config) cfg = optional_config(ctx, &failed);
	if (failed)
		return EX_CONFIG;

	rules_use_jit(argc > 20);
	g_autofree char *dir = rules_default_dir();
	g_autoptr(rules) r = rules_load(dir, &error);
	if (!r)
		return cm_fail(error);

	int rc = 0;
	for (int i = 1; i < argc; i++) {
		g_autoptr(GError) ferr = NULL;
		GByteArray *raw = read_input(argv[i], &ferr);
		if (!raw) {
			cm_err("parse: %s", ferr ? ferr->message : argv[i]);
			rc = EX_NOINPUT;
			continue;
		}
		g_autofree char *from_line = intake_strip_from_line(raw);
		struct mail *m = mail_parse(raw);
		struct envelope env = { 0 };
		intake_envelope(&env, NULL, NULL, from_line, m);
		struct verdict v;
		JsonObject *fields = classify_message(r, m, &env, cfg, &v, NULL);
		g_autofree char *line = json_verdict(m, &v, fields, noreply_reason(m, &env, cfg));
		if (fields)
			json_object_unref(fields);
		bounce_clear(&v.bounce);
		puts(line);
		envelope_clear(&env);
		mail_free(m);
		g_byte_array_free(raw, TRUE);
	}
	if (fflush(stdout) != 0) {
		cm_err("parse: writing output failed");
		return EX_IOERR;
	}
	return rc;
}

/*
 * cmd_init.c - `confmail init` creates or migrates the database;
 * `confmail check` validates the configuration (rules and templates join
 * it with their issues).
 */
#include "confmail.h"

#include <stdio.h>
#include <sys/stat.h>

static bool
no_arguments(const char *name, int argc, char **argv)
{
	g_autoptr(GOptionContext) oc = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;

	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("%s: %s", name, error->message);
		return false;
	}
	if (argc > 1) {
		cm_err("%s: unexpected argument '%s'", name, argv[1]);
		return false;
	}
	return true;
}

int
cmd_init(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;

	if (!no_arguments("init", argc, argv))
		return EX_USAGE;
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	if (!secret_ensure(cfg, &error))
		return cm_fail(error);
	printf("%s: schema version %d\n", cfg->database, store_schema_version(st));
	return 0;
}

/* The files that hold people's data or a secret must be the owner's
 * alone.  confmail makes them so; a copy, a restore or a hand-made file
 * may not be, and check says so (the secret and the passwords are also
 * refused where they are used). */
static void
warn_loose_modes(const struct config *cfg)
{
	g_autofree char *wal = g_strconcat(cfg->database, "-wal", NULL);
	g_autofree char *shm = g_strconcat(cfg->database, "-shm", NULL);
	g_autofree char *secret = secret_path(cfg);
	const char *const files[] = {
		cfg->database, wal, shm, secret, cfg->transport_password_file, cfg->fetch_password_file,
	};
	struct stat sb;

	for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
		if (files[i] && stat(files[i], &sb) == 0 && (sb.st_mode & 0077))
			cm_err("warning: %s is open to others (mode %03o): chmod 600 it",
			       files[i], (unsigned)(sb.st_mode & 0777));
	g_autofree char *dir = g_path_get_dirname(cfg->database);
	if (stat(dir, &sb) == 0 && (sb.st_mode & 0022))
		cm_err("warning: %s, the database's directory, is writable by others (mode %03o):"
		       " chmod go-w it", dir, (unsigned)(sb.st_mode & 0777));
}

int
cmd_check(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;

	if (!no_arguments("check", argc, argv))
		return EX_USAGE;
	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	g_autofree char *dir = rules_default_dir();
	g_autoptr(rules) r = rules_load(dir, &error);
	if (!r)
		return cm_fail(error);
	/* a broken routing.rules is an error; a name the configuration does
	 * not know sends that topic elsewhere, which may be meant: a note */
	g_autoptr(routing) routes = routing_load(dir, &error);
	if (!routes)
		return cm_fail(error);
	/* [fetch], when there is one: what fetching needs */
	if (cfg->fetch_host && !config_check_fetch(cfg, &error))
		return cm_fail(error);
	g_autofree char *tdir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(tdir);
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	routing_check(routes, cfg, notes);
	bool templates_ok = templates_check(ts, problems, notes);
	for (guint i = 0; i < problems->len; i++)
		cm_err("%s", (const char *)g_ptr_array_index(problems, i));
	if (!templates_ok)
		return EX_CONFIG;
	warn_loose_modes(cfg);
	g_autofree char *deadline = g_date_time_format_iso8601(cfg->registration_deadline);
	printf("%s: OK\n  conference %s (%s)\n  registration until %s (%s)\n  database %s\n"
	       "  rules %s: OK\n  templates %s: OK\n",
	       cfg->path, cfg->name, cfg->reference_prefix, deadline, cfg->timezone,
	       cfg->database, dir, tdir);
	for (guint i = 0; i < notes->len; i++)
		printf("  note: %s\n", (const char *)g_ptr_array_index(notes, i));
	return 0;
}

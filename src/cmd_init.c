/*
 * cmd_init.c - `confmail init` creates or migrates the database;
 * `confmail check` validates the configuration (rules and templates join
 * it with their issues).
 */
#include "confmail.h"

#include <stdio.h>

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
	g_autofree char *deadline = g_date_time_format_iso8601(cfg->registration_deadline);
	printf("%s: OK\n  conference %s (%s)\n  registration until %s (%s)\n  database %s\n"
	       "  rules %s: OK\n  templates %s: OK\n",
	       cfg->path, cfg->name, cfg->reference_prefix, deadline, cfg->timezone,
	       cfg->database, dir, tdir);
	for (guint i = 0; i < notes->len; i++)
		printf("  note: %s\n", (const char *)g_ptr_array_index(notes, i));
	return 0;
}

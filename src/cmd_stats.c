/*
 * cmd_stats.c - `confmail stats [--json]`: the counts of DESIGN.md.
 */
#include "confmail.h"

#include <stdio.h>

static void
print_object(JsonObject *o, int depth)
{
	g_autoptr(GList) members = json_object_get_members(o);

	for (GList *l = members; l; l = l->next) {
		JsonNode *n = json_object_get_member(o, l->data);
		if (JSON_NODE_HOLDS_OBJECT(n)) {
			printf("%*s%s:\n", depth * 2, "", (const char *)l->data);
			print_object(json_node_get_object(n), depth + 1);
		} else {
			printf("%*s%-14s %" G_GINT64_FORMAT "\n", depth * 2, "",
			       (const char *)l->data, json_node_get_int(n));
		}
	}
}

int
cmd_stats(struct command_context *ctx, int argc, char **argv)
{
	gboolean json = FALSE;
	GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "print one JSON object", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("- counts of what is recorded");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("stats: %s", error->message);
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_READ, &cfg, &rc);
	if (!st)
		return rc;
	g_autofree char *text = json_stats(st, &error);
	if (!text)
		return cm_fail(error);
	if (json) {
		puts(text);
		return 0;
	}
	g_autoptr(JsonNode) root = json_from_string(text, &error);
	if (!root)
		return cm_fail(error);
	print_object(json_node_get_object(root), 0);
	return 0;
}

/*
 * cmd_registrations.c - `confmail registrations list|show REF`: what the
 * organisers registered, and every change to one registration with the
 * message behind it.  (Exports come with the organisers' issue.)
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

static const char *
text(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	return s ? s : "-";
}

static int
finish(struct store *st, sqlite3_stmt *stmt, int rc, const char *what)
{
	g_autoptr(GError) error = NULL;

	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, what, &error);
		return cm_fail(error);
	}
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

static int
list(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT reference, status, coalesce(pending, ''), language, email,"
				    " coalesce(name, ''), coalesce(json_extract(fields, '$.organization'), ''),"
				    " coalesce(json_extract(fields, '$.country'), '')"
				    " FROM registrations ORDER BY id", -1, &stmt, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW)
			break;
		printf("%-13s %-10s %-7s %-3s %-34s %s | %s | %s\n", text(stmt, 0), text(stmt, 1),
		       *text(stmt, 2) ? text(stmt, 2) : "-", text(stmt, 3), text(stmt, 4),
		       text(stmt, 5), text(stmt, 6), text(stmt, 7));
	}
	return finish(st, stmt, rc, "listing registrations");
}

static int
show(struct store *st, const char *ref)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *upper = g_ascii_strup(ref, -1);
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT id, reference, status, coalesce(pending, '-'), email, language,"
				    " created_at, updated_at, fields FROM registrations WHERE reference = ?",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, upper, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(stmt);
		cm_err("registrations: no registration %s", upper);
		return EX_NOINPUT;
	}
	if (rc != SQLITE_ROW)
		return finish(st, stmt, rc, "reading the registration");
	gint64 id = sqlite3_column_int64(stmt, 0);
	static const char *labels[] = { NULL, "reference", "status", "pending", "email",
					"language", "created", "updated" };
	for (int i = 1; i < (int)G_N_ELEMENTS(labels); i++)
		printf("%-14s %s\n", labels[i], text(stmt, i));
	g_autoptr(JsonNode) fields = json_from_string(text(stmt, 8), NULL);
	sqlite3_finalize(stmt);
	if (fields && JSON_NODE_HOLDS_OBJECT(fields)) {
		g_autoptr(GList) names = json_object_get_members(json_node_get_object(fields));
		puts("");
		for (GList *l = names; l; l = l->next) {
			JsonNode *n = json_object_get_member(json_node_get_object(fields), l->data);
			if (JSON_NODE_HOLDS_NULL(n))
				continue;
			g_autofree char *v = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
			    ? g_strdup(json_node_get_string(n)) : json_to_string(n, FALSE);
			printf("%-16s %s\n", (const char *)l->data, v);
		}
	}
	puts("\nhistory:");
	rc = sqlite3_prepare_v2(store_db(st),
				"SELECT at, kind, state, coalesce(field, ''), coalesce(old_value, ''),"
				" coalesce(new_value, ''), coalesce(from_addr, ''), coalesce(message, '')"
				" FROM registration_changes WHERE registration = ? ORDER BY id", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(stmt, 1, id);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW)
			break;
		printf("  %s  %-7s %-8s %s%s%s -> %s  (from %s, message %s)\n", text(stmt, 0),
		       text(stmt, 1), text(stmt, 2), text(stmt, 3), *text(stmt, 3) ? ": " : "",
		       *text(stmt, 4) ? text(stmt, 4) : "-", text(stmt, 5), text(stmt, 6), text(stmt, 7));
	}
	return finish(st, stmt, rc, "reading the history");
}

int
cmd_registrations(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("list | show REF");

	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("registrations: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "list";
	bool is_show = strcmp(what, "show") == 0;
	if ((is_show && argc != 3) || (!is_show && strcmp(what, "list") != 0)) {
		cm_err("registrations: expected 'list' or 'show REF'");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_READ, &cfg, &rc);
	if (!st)
		return rc;
	return is_show ? show(st, argv[2]) : list(st);
}

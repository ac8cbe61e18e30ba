/*
 * cmd_registrations.c - `confmail registrations list|show REF|export|
 * forget REF`: what the organisers registered, every change to one
 * registration with the message behind it, the whole table as CSV, JSON
 * or a spreadsheet, one person's data on request, and its erasure.
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
list(struct store *st, const char *status)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT reference, status, coalesce(pending, ''), language, email,"
				    " coalesce(name, ''), coalesce(json_extract(fields, '$.organization'), ''),"
				    " coalesce(json_extract(fields, '$.country'), '')"
				    " FROM registrations WHERE ?1 IS NULL OR status = ?1 ORDER BY id", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_text(stmt, 1, status, -1, SQLITE_STATIC);
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

/* export: FORMAT of ROWS (and the figures, for xlsx) to OUT ("-":
 * standard output). */
static int
export(const struct config *cfg, struct store *st, const char *format, const char *out,
       const char *person)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *now = confmail_now_iso();
	g_autofree char *data = NULL;
	gsize len = 0;
	if (person) {
		g_autoptr(JsonObject) o = privacy_export(st, person);
		g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
		data = json_to_string(node, TRUE);
		len = strlen(data);
	} else if (strcmp(format, "csv") == 0 || strcmp(format, "json") == 0) {
		GString *s = g_string_new(NULL);
		if (strcmp(format, "csv") == 0)
			registrations_csv(st, s);
		else
			registrations_json(st, s);
		len = s->len;
		data = g_string_free(s, FALSE);
	} else {
		if (strcmp(out, "-") == 0) {
			cm_err("registrations export: an xlsx file needs -o FILE");
			return EX_USAGE;
		}
		return xlsx_write(out, st, cfg, now, &error) ? 0 : cm_fail(error);
	}
	if (strcmp(out, "-") == 0)
		return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : EX_IOERR;
	if (!g_file_set_contents(out, data, (gssize)len, &error)) {
		cm_err("registrations export: %s", error->message);
		return EX_CANTCREAT;
	}
	return 0;
}

int
cmd_registrations(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *status = NULL, *format = NULL, *out = NULL, *person = NULL;
	GOptionEntry entries[] = {
		{ "status", 0, 0, G_OPTION_ARG_STRING, &status, "list: only this status", "S" },
		{ "format", 0, 0, G_OPTION_ARG_STRING, &format, "export: csv (default), json or xlsx", "F" },
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "export: to FILE, not standard output", "FILE" },
		{ "person", 0, 0, G_OPTION_ARG_STRING, &person,
		  "export: everything held about this address, as JSON", "ADDRESS" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("list [--status S] | show REF | export"
							      " [--format csv|json|xlsx] [-o FILE] | forget REF");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("registrations: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "list";
	bool with_ref = strcmp(what, "show") == 0 || strcmp(what, "forget") == 0;
	bool known = with_ref || strcmp(what, "list") == 0 || strcmp(what, "export") == 0;
	const char *fmt = format ? format : "csv";
	if (!known || (with_ref && argc != 3) || (!with_ref && argc > 2) ||
	    (strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0 && strcmp(fmt, "xlsx") != 0)) {
		cm_err("usage: confmail registrations list [--status S] | show REF |"
		       " export [--format csv|json|xlsx] [-o FILE] [--person ADDRESS] | forget REF");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	bool writes = strcmp(what, "forget") == 0;
	g_autoptr(store) st = cm_open(ctx, writes ? STORE_CREATE : STORE_READ, &cfg, &rc);
	if (!st)
		return rc;
	if (strcmp(what, "show") == 0)
		return show(st, argv[2]);
	store_for_scans(st);
	if (strcmp(what, "export") == 0)
		return export(cfg, st, fmt, out ? out : "-", person);
	if (strcmp(what, "forget") == 0) {
		g_autofree char *now = confmail_now_iso();
		int messages = 0;
		if (!store_begin(st, &error) ||
		    !privacy_forget(st, argv[2], g_get_user_name(), now, &messages, &error) ||
		    !store_commit(st, &error)) {
			store_rollback(st);
			return cm_fail(error);
		}
		/* the freed pages are zeroed (secure_delete); the WAL copies
		 * of them go now too */
		sqlite3_exec(store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		printf("%s forgotten: the registration, %d message%s and all that referred to them\n",
		       argv[2], messages, messages == 1 ? "" : "s");
		return 0;
	}
	return list(st, status);
}

/*
 * cmd_messages.c - `confmail messages list|show ID|raw ID`: what the intake
 * recorded, and the exact bytes of any message (a quarantined one included)
 * so that nothing accepted is ever out of reach.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

static const char *
col(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	return s ? s : "-";
}

static int
list(struct store *st, bool quarantined_only)
{
	g_autoptr(GError) error = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT id, received_at, state, class, language, deliveries,"
				    " coalesce(from_addr, envelope_sender), subject, quarantine_reason"
				    " FROM messages WHERE (?1 = 0 OR state = 'quarantined') ORDER BY id",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int(stmt, 1, quarantined_only);
	while (rc != SQLITE_DONE && (rc == SQLITE_OK || rc == SQLITE_ROW) &&
	       (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		bool q = strcmp(col(stmt, 2), "quarantined") == 0;
		printf("%5lld  %s  %-12s %-3s x%-2d %-32s %s\n",
		       (long long)sqlite3_column_int64(stmt, 0), col(stmt, 1),
		       q ? "QUARANTINED" : col(stmt, 3), q ? "-" : col(stmt, 4),
		       sqlite3_column_int(stmt, 5), col(stmt, 6),
		       q ? col(stmt, 8) : col(stmt, 7));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "listing messages", &error);
		return cm_fail(error);
	}
	return 0;
}

static int
show(struct store *st, gint64 id, bool raw)
{
	g_autoptr(GError) error = NULL;
	sqlite3_stmt *stmt = NULL;
	const char *sql = raw ? "SELECT raw FROM message_raw WHERE message = ?"
	    : "SELECT id, dedup_key, received_at, deliveries, state, quarantine_reason,"
	      " noreply_reason, class, language, envelope_sender, envelope_recipient,"
	      " size, sha256, headers FROM messages WHERE id = ?";
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(stmt);
		cm_err("messages: no message %" G_GINT64_FORMAT, id);
		return EX_NOINPUT;
	}
	if (rc != SQLITE_ROW) {
		store_set_error(st, rc, "reading the message", &error);
		sqlite3_finalize(stmt);
		return cm_fail(error);
	}
	if (raw) {
		fwrite(sqlite3_column_blob(stmt, 0), 1, (size_t)sqlite3_column_bytes(stmt, 0), stdout);
	} else {
		static const char *labels[] = {
			"id", "key", "received", "deliveries", "state", "quarantined",
			"no reply", "class", "language", "envelope from", "envelope to",
			"size", "sha256",
		};
		for (int i = 0; i < (int)G_N_ELEMENTS(labels); i++)
			printf("%-14s %s\n", labels[i], col(stmt, i));
		g_autoptr(JsonNode) headers = json_from_string(col(stmt, 13), NULL);
		JsonArray *a = headers && JSON_NODE_HOLDS_ARRAY(headers) ? json_node_get_array(headers) : NULL;
		puts("");
		for (guint i = 0; a && i < json_array_get_length(a); i++) {
			JsonArray *h = json_array_get_array_element(a, i);
			printf("%s: %s\n", json_array_get_string_element(h, 0),
			       json_array_get_string_element(h, 1));
		}
	}
	sqlite3_finalize(stmt);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

int
cmd_messages(struct command_context *ctx, int argc, char **argv)
{
	gboolean quarantined = FALSE;
	GOptionEntry entries[] = {
		{ "quarantined", 'q', 0, G_OPTION_ARG_NONE, &quarantined, "list only quarantined messages", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("list | show ID | raw ID");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("messages: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "list";
	gint64 id = 0;
	bool by_id = strcmp(what, "show") == 0 || strcmp(what, "raw") == 0;
	if (by_id && (argc != 3 || !g_ascii_string_to_signed(argv[2], 10, 1, G_MAXINT64, &id, NULL))) {
		cm_err("messages: '%s' needs a message number, as 'messages list' shows", what);
		return EX_USAGE;
	}
	if (!by_id && strcmp(what, "list") != 0) {
		cm_err("messages: unknown action '%s' (list, show ID, raw ID)", what);
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_READ, &cfg, &rc);
	if (!st)
		return rc;
	return by_id ? show(st, id, strcmp(what, "raw") == 0) : list(st, quarantined);
}

/*
 * cmd_queue.c - `confmail queue run --once | list`: deliver what the
 * outbox holds.  This first runner knows the maildir transport only; the
 * SMTP runner (leases, backoff, daemon) is the queue issue's.
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
list(struct store *st)
{
	g_autoptr(GError) error = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT id, created_at, state, kind, coalesce(template, '-'), recipient,"
				    " attempts, coalesce(last_error, '') FROM outbox ORDER BY id", -1, &stmt, NULL);
	while (rc != SQLITE_DONE && (rc == SQLITE_OK || rc == SQLITE_ROW) &&
	       (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		printf("%5lld  %s  %-8s %-7s %-20s %-32s %d %s\n",
		       (long long)sqlite3_column_int64(stmt, 0), col(stmt, 1), col(stmt, 2),
		       col(stmt, 3), col(stmt, 4), col(stmt, 5), sqlite3_column_int(stmt, 6),
		       col(stmt, 7));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "listing the outbox", &error);
		return cm_fail(error);
	}
	return 0;
}

/* Marks row ID sent, or deferred five minutes with ERR. */
static gboolean
settle(struct store *st, gint64 id, const char *err, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), err
				    ? "UPDATE outbox SET state = 'deferred', attempts = attempts + 1,"
				      " last_error = ?2, next_attempt_at ="
				      " strftime('%Y-%m-%dT%H:%M:%SZ', ?3, '+5 minutes') WHERE id = ?1"
				    : "UPDATE outbox SET state = 'sent', attempts = attempts + 1,"
				      " last_error = NULL, sent_at = ?3 WHERE id = ?1 AND ?2 IS NULL",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		if (err)
			sqlite3_bind_text(stmt, 2, err, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording a delivery", error);
		return FALSE;
	}
	return TRUE;
}

static int
run_once(const struct config *cfg, struct store *st)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *now = confmail_now_iso();
	int sent = 0, deferred = 0;

	if (strcmp(cfg->transport_kind, "maildir") != 0) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG,
			    "queue run: [transport] kind = %s is not built yet; only maildir is",
			    cfg->transport_kind);
		return cm_fail(error);
	}
	for (;;) {
		sqlite3_stmt *stmt = NULL;
		gint64 id = 0;
		GBytes *content = NULL;
		int rc = sqlite3_prepare_v2(store_db(st),
					    "SELECT id, content FROM outbox WHERE state IN ('queued', 'deferred')"
					    " AND next_attempt_at <= ? ORDER BY id LIMIT 1", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
			rc = sqlite3_step(stmt);
			if (rc == SQLITE_ROW) {
				id = sqlite3_column_int64(stmt, 0);
				content = g_bytes_new(sqlite3_column_blob(stmt, 1),
						      (gsize)sqlite3_column_bytes(stmt, 1));
			}
		}
		sqlite3_finalize(stmt);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			store_set_error(st, rc, "reading the outbox", &error);
			return cm_fail(error);
		}
		if (!id)
			break;
		g_autofree char *path = NULL;
		g_autoptr(GError) failure = NULL;
		gsize len;
		const void *data = g_bytes_get_data(content, &len);
		bool ok = transport_maildir(cfg->transport_maildir, id, data, len, &path, &failure);
		g_bytes_unref(content);
		if (!settle(st, id, ok ? NULL : failure->message, now, &error))
			return cm_fail(error);
		if (ok) {
			sent++;
			printf("%" G_GINT64_FORMAT " sent: %s\n", id, path);
		} else {
			deferred++;
			printf("%" G_GINT64_FORMAT " deferred: %s\n", id, failure->message);
		}
	}
	printf("queue: %d sent, %d deferred\n", sent, deferred);
	return deferred ? EX_TEMPFAIL : 0;
}

int
cmd_queue(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	gboolean once = FALSE;
	GOptionEntry entries[] = {
		{ "once", 0, 0, G_OPTION_ARG_NONE, &once, "deliver what is due, then exit", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("run --once | list");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("queue: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "";
	if (argc != 2 || (strcmp(what, "run") != 0 && strcmp(what, "list") != 0) ||
	    (strcmp(what, "run") == 0 && !once)) {
		cm_err("usage: confmail queue run --once | queue list");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	g_autoptr(store) st = store_open(cfg, STORE_CREATE, &error);
	if (!st)
		return cm_fail(error);
	return strcmp(what, "list") == 0 ? list(st) : run_once(cfg, st);
}

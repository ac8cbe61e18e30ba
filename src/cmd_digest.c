/*
 * cmd_digest.c - `confmail digest [--since DATE] [--dry-run]`, daily from
 * cron or a systemd timer (contrib/): the organisers' digest (digest.c),
 * each coordinator's list of their open questions, and one reminder to
 * each registration still incomplete [digest] remind_incomplete_days
 * before the deadline.  --dry-run writes the organisers' digest to
 * standard output and changes nothing.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

static void
free_string(gpointer s)
{
	g_string_free(s, TRUE);
}

/* Each coordinator's open tickets, one short message each. */
static gboolean
coordinator_digests(struct store *st, const struct config *cfg, const char *now, int *sent,
		    GError **error)
{
	g_autofree char *dir = rules_default_dir();
	g_autoptr(routing) r = routing_load(dir, NULL);
	g_autoptr(GHashTable) lists = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_string);
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT t.reference, coalesce(t.assignee, t.topic, 'other'),"
			       " t.created_at, t.email, coalesce(m.subject, '') FROM tickets t"
			       " LEFT JOIN messages m ON m.id = t.message WHERE t.status = 'open' ORDER BY t.id",
			       -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			g_auto(GStrv) to = routing_coordinators(r, cfg, (const char *)sqlite3_column_text(stmt, 1));
			for (int i = 0; to[i]; i++) {
				GString *s = g_hash_table_lookup(lists, to[i]);
				if (!s) {
					s = g_string_new(NULL);
					g_hash_table_insert(lists, g_strdup(to[i]), s);
				}
				g_string_append_printf(s, "  %s  since %s  %s  %s\n",
						       sqlite3_column_text(stmt, 0), sqlite3_column_text(stmt, 2),
						       sqlite3_column_text(stmt, 3), sqlite3_column_text(stmt, 4));
			}
		}
	}
	sqlite3_finalize(stmt);
	GHashTableIter it;
	gpointer addr, list;
	g_hash_table_iter_init(&it, lists);
	*sent = 0;
	while (g_hash_table_iter_next(&it, &addr, &list)) {
		g_autofree char *subject = g_strdup_printf("[%s] Your open questions", cfg->reference_prefix);
		g_autofree char *text = g_strdup_printf(
			"The questions waiting for an answer from you:\n\n%s\n"
			"Answer one by replying to its forward; \"confmail tickets show REF\" shows it whole.\n",
			((GString *)list)->str);
		char *to[] = { addr, NULL };
		struct staff_mail sm = { .subject = subject, .text = text, .to = to };
		g_autofree char *mid = NULL;
		g_autoptr(GMimeMessage) msg = compose_forward(cfg, NULL, &sm, &mid);
		struct outgoing o = { .kind = "digest", .recipient = addr, .envelope_from = cfg->from_address,
				      .message_id = mid, .template = "coordinator-digest" };
		if (!outbox_put(st, &o, msg, now, error))
			return FALSE;
		(*sent)++;
	}
	return TRUE;
}

/* One reminder to each incomplete registration, once, when the deadline
 * is [digest] remind_incomplete_days away or less. */
static gboolean
remind_incomplete(struct store *st, const struct config *cfg, const char *now, int *sent,
		  GError **error)
{
	*sent = 0;
	if (cfg->remind_incomplete_days == 0)
		return TRUE;
	g_autoptr(GDateTime) from = g_date_time_add_days(cfg->registration_deadline,
							 -cfg->remind_incomplete_days);
	g_autoptr(GDateTime) from_utc = g_date_time_to_utc(from);
	g_autofree char *start = g_date_time_format(from_utc, "%Y-%m-%dT%H:%M:%SZ");
	if (strcmp(now, start) < 0)
		return TRUE;
	g_autofree char *dir = rules_default_dir();
	g_autoptr(rules) r = rules_load(dir, error);
	if (!r)
		return FALSE;
	g_autofree char *tdir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(tdir);
	struct envelope env = { 0 };
	struct mail none = { 0 };
	struct reply_context c = { .st = st, .cfg = cfg, .rules = r, .ts = ts, .now = now,
				   .env = &env, .mail = &none };
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT id FROM registrations WHERE status = 'incomplete'"
			       " AND reminded_incomplete_at IS NULL ORDER BY id", -1, &stmt, NULL) == SQLITE_OK)
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			gint64 id = sqlite3_column_int64(stmt, 0);
			g_array_append_val(ids, id);
		}
	sqlite3_finalize(stmt);
	for (guint i = 0; i < ids->len; i++) {
		gint64 id = g_array_index(ids, gint64, i);
		if (!reply_remind_incomplete(&c, id, error))
			return FALSE;
		int rc = sqlite3_prepare_v2(store_db(st), "UPDATE registrations SET reminded_incomplete_at = ?2"
					    " WHERE id = ?1", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, id);
			sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
			rc = sqlite3_step(stmt);
		}
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE) {
			store_set_error(st, rc, "recording a reminder", error);
			return FALSE;
		}
		(*sent)++;
	}
	return TRUE;
}

int
cmd_digest(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *since = NULL;
	gboolean dry_run = FALSE;
	GOptionEntry entries[] = {
		{ "since", 0, 0, G_OPTION_ARG_STRING, &since,
		  "cover from this date (YYYY-MM-DD), not from the last digest", "DATE" },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
		  "write the digest (a MIME message) to standard output; change nothing", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("- the organisers' digest");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error) || argc != 1) {
		cm_err("digest: %s", error ? error->message : "unexpected arguments");
		return EX_USAGE;
	}
	if (since && !(strlen(since) >= 10 && g_ascii_isdigit(since[0]) && since[4] == '-' && since[7] == '-')) {
		cm_err("digest: --since wants a date such as 2022-01-25, got '%s'", since);
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	store_for_scans(st);
	g_autofree char *now = confmail_now_iso();
	g_autofree char *covered = NULL, *mid = NULL;
	g_autoptr(GMimeMessage) msg = digest_build(st, cfg, since, now, &covered, &mid);
	if (dry_run) {
		g_autoptr(GMimeStream) out = g_mime_stream_file_new(stdout);
		g_mime_stream_file_set_owner(GMIME_STREAM_FILE(out), FALSE);
		g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, out);
		g_mime_stream_flush(out);
		return fflush(stdout) == 0 ? 0 : EX_IOERR;
	}
	int coordinators = 0, reminded = 0;
	if (!store_begin(st, &error) || !digest_queue(st, cfg, msg, mid, covered, now, &error) ||
	    !coordinator_digests(st, cfg, now, &coordinators, &error) ||
	    !remind_incomplete(st, cfg, now, &reminded, &error) || !store_commit(st, &error)) {
		store_rollback(st);
		return cm_fail(error);
	}
	printf("digest queued for the organisers (from %s); %d coordinator digest%s; %d incomplete"
	       " registration%s reminded\n", covered, coordinators, coordinators == 1 ? "" : "s",
	       reminded, reminded == 1 ? "" : "s");
	return 0;
}

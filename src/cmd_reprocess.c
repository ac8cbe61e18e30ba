/*
 * cmd_reprocess.c - `confmail reprocess [--since DATE]`: the current rules
 * over the stored messages.  Prints what changed; a registration is never
 * created twice, because the registry finds it by address or reference.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

struct stored {
	gint64 id;
	char *recipient;
	char *sender;
	char *class, *language, *topic;
	bool linked;
	GByteArray *raw;
};

static void
stored_clear(struct stored *s)
{
	g_free(s->recipient);
	g_free(s->sender);
	g_free(s->class);
	g_free(s->language);
	g_free(s->topic);
	if (s->raw)
		g_byte_array_free(s->raw, TRUE);
	memset(s, 0, sizeof *s);
}

static char *
dup_col(sqlite3_stmt *stmt, int i)
{
	const unsigned char *t = sqlite3_column_text(stmt, i);
	return t ? g_strdup((const char *)t) : NULL;
}

/* Re-reads one message and applies what the rules now say, in one
 * transaction; prints a line when something changed. */
static gboolean
reprocess_one(struct store *st, const struct config *cfg, const struct rules *r,
	      struct stored *s, int *changed, GError **error)
{
	g_autofree char *now = confmail_now_iso();
	struct mail *m = mail_parse(s->raw);
	struct envelope env = { .recipient = s->recipient, .sender = s->sender };
	struct verdict v;
	g_autofree char *participant = NULL;
	JsonObject *fields = classify_message(r, m, &env, cfg, &v, &participant);
	gboolean ok = store_begin(st, error);
	struct registry_result res = { 0 };

	if (ok && (g_strcmp0(v.class, s->class) || g_strcmp0(v.language, s->language) ||
		   g_strcmp0(v.topic, s->topic))) {
		sqlite3_stmt *stmt = NULL;
		int rc = sqlite3_prepare_v2(store_db(st), "UPDATE messages SET class = ?, language = ?,"
					    " topic = ? WHERE id = ?", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(stmt, 1, v.class, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt, 2, v.language, -1, SQLITE_STATIC);
			if (v.topic)
				sqlite3_bind_text(stmt, 3, v.topic, -1, SQLITE_STATIC);
			sqlite3_bind_int64(stmt, 4, s->id);
			rc = sqlite3_step(stmt);
		}
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE) {
			store_set_error(st, rc, "updating a message", error);
			ok = FALSE;
		} else {
			printf("message %" G_GINT64_FORMAT ": %s/%s -> %s/%s%s%s\n", s->id,
			       s->class ? s->class : "-", s->language ? s->language : "-",
			       v.class, v.language, v.topic ? " topic " : "", v.topic ? v.topic : "");
			(*changed)++;
		}
	}
	if (ok)
		ok = registry_apply(st, cfg, s->id, m, &v, fields, participant, now, s->linked,
				    &res, error);
	if (ok && (strcmp(res.action, "created") == 0 || res.changed > 0)) {
		printf("message %" G_GINT64_FORMAT ": %s %s (%d field%s)\n", s->id, res.reference,
		       res.action, res.changed, res.changed == 1 ? "" : "s");
		(*changed)++;
	}
	if (ok)
		ok = store_commit(st, error);
	else
		store_rollback(st);
	if (fields)
		json_object_unref(fields);
	bounce_clear(&v.bounce);
	mail_free(m);
	return ok;
}

int
cmd_reprocess(struct command_context *ctx, int argc, char **argv)
{
	g_autofree char *since = NULL;
	GOptionEntry entries[] = {
		{ "since", 0, 0, G_OPTION_ARG_STRING, &since, "only messages received since DATE (ISO 8601)", "DATE" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("- re-run the rules over stored messages");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("reprocess: %s", error->message);
		return EX_USAGE;
	}
	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	rules_use_jit(true);
	g_autofree char *dir = rules_default_dir();
	g_autoptr(rules) r = rules_load(dir, &error);
	if (!r)
		return cm_fail(error);
	g_autoptr(store) st = store_open(cfg, STORE_READ, &error);
	if (!st)
		return cm_fail(error);

	/* The ids first: each message then gets its own transaction. */
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "SELECT id FROM messages WHERE state = 'accepted'"
				    " AND (?1 IS NULL OR received_at >= ?1) ORDER BY id", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		if (since)
			sqlite3_bind_text(stmt, 1, since, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			gint64 id = sqlite3_column_int64(stmt, 0);
			g_array_append_val(ids, id);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "listing messages", &error);
		return cm_fail(error);
	}

	int changed = 0;
	for (guint i = 0; i < ids->len; i++) {
		struct stored s = { .id = g_array_index(ids, gint64, i) };
		rc = sqlite3_prepare_v2(store_db(st),
					"SELECT m.class, m.language, m.topic, r.raw, m.registration IS NOT NULL,"
					" (SELECT envelope_recipient FROM arrivals WHERE message = m.id ORDER BY id LIMIT 1),"
					" (SELECT envelope_sender FROM arrivals WHERE message = m.id ORDER BY id LIMIT 1)"
					" FROM messages m JOIN message_raw r ON r.message = m.id WHERE m.id = ?",
					-1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, s.id);
			rc = sqlite3_step(stmt);
		}
		if (rc == SQLITE_ROW) {
			s.class = dup_col(stmt, 0);
			s.language = dup_col(stmt, 1);
			s.topic = dup_col(stmt, 2);
			s.raw = g_byte_array_new();
			g_byte_array_append(s.raw, sqlite3_column_blob(stmt, 3),
					    (guint)sqlite3_column_bytes(stmt, 3));
			s.linked = sqlite3_column_int(stmt, 4);
			s.recipient = dup_col(stmt, 5);
			s.sender = dup_col(stmt, 6);
		}
		sqlite3_finalize(stmt);
		if (rc != SQLITE_ROW) {
			stored_clear(&s);
			continue;
		}
		gboolean ok = reprocess_one(st, cfg, r, &s, &changed, &error);
		stored_clear(&s);
		if (!ok)
			return cm_fail(error);
	}
	printf("%u message%s read again, %d change%s\n", ids->len, ids->len == 1 ? "" : "s",
	       changed, changed == 1 ? "" : "s");
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

/*
 * messages.c - the messages table: one row per distinct message, its raw
 * bytes beside it, and one arrival per delivery.
 */
#include "confmail.h"

#include <string.h>

char *
messages_dedup_key(const struct mail *m)
{
	if (m->message_id)
		return g_strconcat("mid:", m->message_id, NULL);
	return g_strconcat("sha256:", m->content_sha256, NULL);
}

static int
bind_text(sqlite3_stmt *stmt, const char *name, const char *value)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	g_assert(i > 0);
	return value ? sqlite3_bind_text(stmt, i, value, -1, SQLITE_TRANSIENT)
	    : sqlite3_bind_null(stmt, i);
}

static const char insert_sql[] =
	"INSERT INTO messages (dedup_key, message_id, sha256, size, received_at,"
	"  last_received_at, envelope_sender, envelope_recipient, from_addr,"
	"  from_name, subject, date, in_reply_to, refs, headers, state,"
	"  quarantine_reason, noreply_reason, class, language, topic)"
	" VALUES (:key, :mid, :sha, :size, :now, :now, :sender, :rcpt, :from,"
	"  :name, :subject, :date, :irt, :refs, :headers, :state,"
	"  :qreason, :noreply, :class, :lang, :topic)"
	" ON CONFLICT (dedup_key) DO UPDATE SET deliveries = deliveries + 1,"
	"  last_received_at = excluded.received_at"
	" RETURNING id, deliveries";

static gboolean
insert_raw(struct store *st, gint64 id, const GByteArray *raw, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO message_raw (message, raw) VALUES (?, ?)",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		/* STATIC: SQLite reads RAW in place, no copy of a 25 MB mail */
		sqlite3_bind_blob64(stmt, 2, raw->len ? raw->data : (const guint8 *)"",
				    raw->len, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "storing the raw message", error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
insert_arrival(struct store *st, gint64 id, const struct message_row *row, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO arrivals (message, received_at, envelope_sender,"
				    " envelope_recipient, recipient_source)"
				    " VALUES (:id, :now, :sender, :rcpt, :source)",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		bind_text(stmt, ":now", row->received_at);
		bind_text(stmt, ":sender", row->env->sender);
		bind_text(stmt, ":rcpt", row->env->recipient);
		bind_text(stmt, ":source", row->env->recipient_source);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording the arrival", error);
		return FALSE;
	}
	return TRUE;
}

enum record_result
messages_record(struct store *st, const struct message_row *row, gint64 *id,
		GError **error)
{
	const struct mail *m = row->mail;
	sqlite3_stmt *stmt = NULL;
	g_autofree char *key = messages_dedup_key(m);
	g_autofree char *headers = json_headers(m);
	gint64 deliveries = 0;

	int rc = sqlite3_prepare_v2(store_db(st), insert_sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		bind_text(stmt, ":key", key);
		bind_text(stmt, ":mid", m->message_id);
		bind_text(stmt, ":sha", m->sha256);
		sqlite3_bind_int64(stmt, sqlite3_bind_parameter_index(stmt, ":size"), (gint64)m->size);
		bind_text(stmt, ":now", row->received_at);
		bind_text(stmt, ":sender", row->env->sender);
		bind_text(stmt, ":rcpt", row->env->recipient);
		bind_text(stmt, ":from", m->from_addr);
		bind_text(stmt, ":name", m->from_name);
		bind_text(stmt, ":subject", m->subject);
		bind_text(stmt, ":date", m->date);
		bind_text(stmt, ":irt", m->in_reply_to);
		bind_text(stmt, ":refs", m->references);
		bind_text(stmt, ":headers", headers);
		bind_text(stmt, ":state", m->message ? "accepted" : "quarantined");
		bind_text(stmt, ":qreason", m->parse_error);
		bind_text(stmt, ":noreply", row->noreply);
		bind_text(stmt, ":class", m->message ? row->verdict->class : NULL);
		bind_text(stmt, ":lang", m->message ? row->verdict->language : NULL);
		bind_text(stmt, ":topic", row->verdict->topic);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*id = sqlite3_column_int64(stmt, 0);
			deliveries = sqlite3_column_int64(stmt, 1);
			rc = sqlite3_step(stmt);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording the message", error);
		return RECORD_ERROR;
	}
	if (deliveries == 1 && !insert_raw(st, *id, row->raw, error))
		return RECORD_ERROR;
	if (!insert_arrival(st, *id, row, error))
		return RECORD_ERROR;
	return deliveries == 1 ? RECORD_NEW : RECORD_DUPLICATE;
}

/*
 * outbox.c - what confmail is to send: one row per message and recipient,
 * written in the same transaction as the mail that caused it, so a reply
 * exists exactly when its cause was recorded.  `confmail queue run`
 * delivers the rows (transport.c).
 */
#include "confmail.h"

#include <string.h>

gboolean
outbox_put(struct store *st, const struct outgoing *o, GMimeMessage *msg, const char *now,
	   GError **error)
{
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new();
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	/* RFC 5322 wants CRLF on the wire; the transports add it */
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_UNIX);
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, mem);
	g_mime_format_options_free(fo);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));

	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO outbox (created_at, kind, template, envelope_from,"
				    " recipient, message_id, source_message, registration, content,"
				    " next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?1)",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, o->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, o->template, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, o->envelope_from ? o->envelope_from : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, o->recipient, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 6, o->message_id, -1, SQLITE_STATIC);
		if (o->source_message)
			sqlite3_bind_int64(stmt, 7, o->source_message);
		if (o->registration)
			sqlite3_bind_int64(stmt, 8, o->registration);
		sqlite3_bind_blob(stmt, 9, bytes->data, (int)bytes->len, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "queueing a message", error);
		return FALSE;
	}
	return TRUE;
}

gint64
outbox_replies_since(struct store *st, const char *recipient, const char *now)
{
	sqlite3_stmt *stmt = NULL;
	gint64 n = 0;

	if (sqlite3_prepare_v2(store_db(st),
			       "SELECT count(*) FROM outbox WHERE kind = 'reply' AND recipient = ?1"
			       " AND created_at > strftime('%Y-%m-%dT%H:%M:%SZ', ?2, '-1 day')",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, recipient, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			n = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return n;
}

gboolean
outbox_note_withheld(struct store *st, gint64 message, const char *recipient, const char *tmpl,
		     const char *reason, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO replies_withheld (at, message, recipient, template, reason)"
				    " VALUES (?, ?, ?, ?, ?)", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, message);
		sqlite3_bind_text(stmt, 3, recipient, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, tmpl, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, reason, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording a withheld reply", error);
		return FALSE;
	}
	return TRUE;
}

/*
 * tickets.c - questions: each one opens a ticket with its own reference
 * (ICSSI22-Q-0012) that the acknowledgement cites, so the participant and
 * the coordinators speak of the same thing.
 */
#include "confmail.h"

gboolean
tickets_open(struct store *st, const struct config *cfg, const struct ticket_request *t,
	     char reference[32], GError **error)
{
	sqlite3_stmt *stmt = NULL;
	/* The reference is the row's number: one statement gives both. */
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO tickets (reference, email, name, language, topic, message,"
				    " created_at, updated_at) VALUES (printf('%s-Q-%04d', ?1,"
				    " (SELECT coalesce(max(id), 0) + 1 FROM tickets)), ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
				    " RETURNING id, reference", -1, &stmt, NULL);
	gint64 id = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, cfg->reference_prefix, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, t->email, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, t->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, t->language, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, t->topic, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 6, t->message);
		sqlite3_bind_text(stmt, 7, t->now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			id = sqlite3_column_int64(stmt, 0);
			g_strlcpy(reference, (const char *)sqlite3_column_text(stmt, 1), 32);
			rc = sqlite3_step(stmt);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "opening a ticket", error);
		return FALSE;
	}
	rc = sqlite3_prepare_v2(store_db(st), "UPDATE messages SET ticket = ? WHERE id = ?", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_int64(stmt, 2, t->message);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "linking the question to its ticket", error);
		return FALSE;
	}
	return TRUE;
}

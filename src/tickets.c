/*
 * tickets.c - questions: each one opens a ticket with its own reference
 * (ICSSI22-Q-0012) that the acknowledgement cites, so the participant and
 * the coordinators speak of the same thing.
 */
#include "confmail.h"

#include <string.h>

gboolean
tickets_open(struct store *st, const struct config *cfg, const struct ticket_request *t,
	     char reference[32], gint64 *ticket_id, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	/* The reference is the row's number: one statement gives both. */
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO tickets (reference, email, name, language, topic, message,"
				    " created_at, updated_at, assignee) VALUES (printf('%s-Q-%04d', ?1,"
				    " (SELECT coalesce(max(id), 0) + 1 FROM tickets)), ?2, ?3, ?4, ?5, ?6, ?7, ?7,"
				    " coalesce(?5, 'other'))"
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
	*ticket_id = id;
	return tickets_event(st, id, "opened", t->email, t->message, t->topic, t->now, error);
}

void
ticket_clear(struct ticket *t)
{
	g_free(t->reference);
	g_free(t->email);
	g_free(t->name);
	g_free(t->language);
	g_free(t->topic);
	g_free(t->status);
	g_free(t->assignee);
	g_free(t->created_at);
	g_free(t->updated_at);
	g_free(t->reminded_at);
	memset(t, 0, sizeof *t);
}

static char *
text_at(sqlite3_stmt *stmt, int i)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, i));
}

/* One ticket by WHERE (with one bound value). */
static bool
find(struct store *st, const char *where, gint64 id, const char *text, struct ticket *t)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *sql = g_strdup_printf(
		"SELECT id, reference, email, name, language, topic, status, assignee, message,"
		" created_at, updated_at, reminded_at FROM tickets WHERE %s", where);
	bool found = false;
	memset(t, 0, sizeof *t);
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		if (text)
			sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(stmt, 1, id);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			found = true;
			t->id = sqlite3_column_int64(stmt, 0);
			t->reference = text_at(stmt, 1);
			t->email = text_at(stmt, 2);
			t->name = text_at(stmt, 3);
			t->language = text_at(stmt, 4);
			t->topic = text_at(stmt, 5);
			t->status = text_at(stmt, 6);
			t->assignee = text_at(stmt, 7);
			t->message = sqlite3_column_int64(stmt, 8);
			t->created_at = text_at(stmt, 9);
			t->updated_at = text_at(stmt, 10);
			t->reminded_at = text_at(stmt, 11);
		}
	}
	sqlite3_finalize(stmt);
	return found;
}

bool
tickets_find(struct store *st, gint64 id, struct ticket *t)
{
	return find(st, "id = ?", id, NULL, t);
}

bool
tickets_find_reference(struct store *st, const char *reference, struct ticket *t)
{
	return reference && find(st, "reference = upper(?)", 0, reference, t);
}

gint64
tickets_by_message_ids(struct store *st, const char *ids)
{
	gint64 ticket = 0;
	if (!ids)
		return 0;
	/* "<a@x> <b@y>" or bare ids: each is looked up among ours */
	g_auto(GStrv) words = g_strsplit_set(ids, " \t\r\n,<>", -1);
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT ticket FROM outbox WHERE message_id = ?"
			       " AND ticket IS NOT NULL LIMIT 1", -1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return 0;
	}
	for (int i = 0; words[i] && !ticket; i++) {
		if (!strchr(words[i], '@'))
			continue;
		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, 1, words[i], -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			ticket = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return ticket;
}

gboolean
tickets_event(struct store *st, gint64 ticket, const char *kind, const char *actor,
	      gint64 message, const char *note, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "INSERT INTO ticket_events (ticket, at, kind, actor,"
				    " message, note) VALUES (?, ?, ?, ?, ?, ?)", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, ticket);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, actor, -1, SQLITE_STATIC);
		if (message)
			sqlite3_bind_int64(stmt, 5, message);
		sqlite3_bind_text(stmt, 6, note, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording what happened to a ticket", error);
		return FALSE;
	}
	return TRUE;
}

gboolean
tickets_update(struct store *st, gint64 ticket, const char *status, const char *assignee,
	       const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "UPDATE tickets SET status = coalesce(?2, status),"
				    " assignee = coalesce(?3, assignee), updated_at = ?4,"
				    /* waiting for a coordinator again: reminders start over */
				    " reminded_at = CASE WHEN ?2 = 'open' OR ?3 IS NOT NULL THEN NULL"
				    "  ELSE reminded_at END WHERE id = ?1", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, ticket);
		sqlite3_bind_text(stmt, 2, status, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, assignee, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "updating a ticket", error);
		return FALSE;
	}
	return TRUE;
}

GArray *
tickets_reminders_due(struct store *st, const struct config *cfg, const char *now)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	sqlite3_stmt *stmt = NULL;
	g_autofree char *wait = g_strdup_printf("-%d hours", cfg->remind_after);
	if (sqlite3_prepare_v2(store_db(st),
			       "SELECT id FROM tickets WHERE status = 'open'"
			       " AND updated_at <= strftime('%Y-%m-%dT%H:%M:%SZ', ?1, ?2)"
			       " AND (reminded_at IS NULL"
			       "  OR reminded_at <= strftime('%Y-%m-%dT%H:%M:%SZ', ?1, '-1 day'))"
			       " ORDER BY id", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, wait, -1, SQLITE_STATIC);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			gint64 id = sqlite3_column_int64(stmt, 0);
			g_array_append_val(ids, id);
		}
	}
	sqlite3_finalize(stmt);
	return ids;
}

gboolean
tickets_reminded(struct store *st, gint64 ticket, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "UPDATE tickets SET reminded_at = ?2 WHERE id = ?1",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, ticket);
		sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "recording a reminder", error);
		return FALSE;
	}
	return tickets_event(st, ticket, "reminded", NULL, 0, NULL, now, error);
}

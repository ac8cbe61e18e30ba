/*
 * registry.c - registrations: a reference per person (ICSSI22-0042), a
 * status (registered, incomplete, late, waitlisted, cancelled), and every
 * change kept with the message that caused it.  A change that does not
 * come from the registered address is recorded as pending, never applied:
 * a guessed reference must not let a stranger edit someone's record.
 */
#include "confmail.h"

#include <string.h>

/* Without these a registration is incomplete (the extraction issue). */
static const char *required[] = { "name", "organization", "country", "funding", "principles" };

static gboolean
step_done(struct store *st, sqlite3_stmt *stmt, int rc, const char *what, GError **error)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_set_error(st, rc, what, error);
		return FALSE;
	}
	return TRUE;
}

static void
bind(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, i);
}

/* A JSON value as the text kept in the history: strings bare, the rest
 * as JSON; NULL for null. */
static char *
value_text(JsonNode *n)
{
	if (!n || JSON_NODE_HOLDS_NULL(n))
		return NULL;
	if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(n));
	return json_to_string(n, FALSE);
}

static bool
complete(JsonObject *fields)
{
	for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
		JsonNode *n = json_object_get_member(fields, required[i]);
		if (!n || JSON_NODE_HOLDS_NULL(n))
			return false;
		if (strcmp(required[i], "principles") == 0 && !json_node_get_boolean(n))
			return false;
	}
	return true;
}

static gint64
count_registered(struct store *st)
{
	sqlite3_stmt *stmt;
	gint64 n = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM registrations"
			       " WHERE status IN ('registered', 'incomplete')", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* The status of a new registration received at NOW. */
static const char *
first_status(struct store *st, const struct config *cfg, JsonObject *fields, const char *now)
{
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) at = g_date_time_new_from_iso8601(now, utc);

	if (at && cfg->registration_deadline && g_date_time_compare(at, cfg->registration_deadline) > 0)
		return "late";
	if (cfg->capacity > 0 && count_registered(st) >= cfg->capacity)
		return "waitlisted";
	return complete(fields) ? "registered" : "incomplete";
}

void
registration_clear(struct registration *r)
{
	g_free(r->reference);
	g_free(r->email);
	g_free(r->status);
	g_free(r->name);
	g_free(r->language);
	g_free(r->pending);
	if (r->fields)
		json_object_unref(r->fields);
	memset(r, 0, sizeof *r);
}

static bool
load(struct store *st, const char *where, const char *arg, struct registration *r)
{
	sqlite3_stmt *stmt;
	g_autofree char *sql = g_strdup_printf("SELECT id, reference, email, status, fields, name,"
					       " language, pending"
					       " FROM registrations WHERE %s ORDER BY id LIMIT 1", where);
	bool found = false;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		r->id = sqlite3_column_int64(stmt, 0);
		r->reference = g_strdup((const char *)sqlite3_column_text(stmt, 1));
		r->email = g_strdup((const char *)sqlite3_column_text(stmt, 2));
		r->status = g_strdup((const char *)sqlite3_column_text(stmt, 3));
		g_autoptr(JsonNode) n = json_from_string((const char *)sqlite3_column_text(stmt, 4), NULL);
		r->fields = n && JSON_NODE_HOLDS_OBJECT(n) ? json_object_ref(json_node_get_object(n))
		    : json_object_new();
		r->name = g_strdup((const char *)sqlite3_column_text(stmt, 5));
		r->language = g_strdup((const char *)sqlite3_column_text(stmt, 6));
		r->pending = g_strdup((const char *)sqlite3_column_text(stmt, 7));
		found = true;
	}
	sqlite3_finalize(stmt);
	return found;
}

char *
registry_reference_in(const char *subject, const char *prefix)
{
	if (!subject || !prefix)
		return NULL;
	g_autofree char *pattern = g_strdup_printf("\\b%s-\\d{4,}\\b", prefix);
	g_autoptr(GRegex) re = g_regex_new(pattern, G_REGEX_CASELESS, 0, NULL);
	g_autoptr(GMatchInfo) mi = NULL;
	if (!re || !g_regex_match(re, subject, 0, &mi))
		return NULL;
	g_autofree char *ref = g_match_info_fetch(mi, 0);
	return g_ascii_strup(ref, -1);
}

static gboolean
add_change(struct store *st, gint64 reg, gint64 message, const char *now, const char *kind,
	   const char *field, const char *old, const char *new, const char *state,
	   const char *from, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO registration_changes (registration, message, at, kind,"
				    " field, old_value, new_value, state, from_addr)"
				    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
				    /* the same change from the same message is recorded once
				     * (reprocess reads messages again) */
				    " WHERE NOT EXISTS (SELECT 1 FROM registration_changes WHERE"
				    "  registration = ?1 AND message = ?2 AND kind = ?4 AND"
				    "  field IS ?5 AND new_value IS ?7)", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, reg);
		sqlite3_bind_int64(stmt, 2, message);
		bind(stmt, 3, now);
		bind(stmt, 4, kind);
		bind(stmt, 5, field);
		bind(stmt, 6, old);
		bind(stmt, 7, new);
		bind(stmt, 8, state);
		bind(stmt, 9, from);
	}
	return step_done(st, stmt, rc, "recording a registration change", error);
}

static gboolean
save(struct store *st, const struct registration *r, const char *now, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), r->fields);
	g_autofree char *json = json_to_string(n, FALSE);
	JsonNode *name = json_object_get_member(r->fields, "name");
	int rc = sqlite3_prepare_v2(store_db(st),
				    "UPDATE registrations SET fields = ?, status = ?, updated_at = ?,"
				    " name = ? WHERE id = ?", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		bind(stmt, 1, json);
		bind(stmt, 2, r->status);
		bind(stmt, 3, now);
		bind(stmt, 4, name && !JSON_NODE_HOLDS_NULL(name) ? json_node_get_string(name) : NULL);
		sqlite3_bind_int64(stmt, 5, r->id);
	}
	return step_done(st, stmt, rc, "updating a registration", error);
}

static gboolean
link_message(struct store *st, gint64 message, gint64 reg, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), "UPDATE messages SET registration = ? WHERE id = ?",
				    -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, reg);
		sqlite3_bind_int64(stmt, 2, message);
	}
	return step_done(st, stmt, rc, "linking the message", error);
}

static gboolean
create(struct store *st, const struct config *cfg, gint64 message, const char *email,
       const char *language, JsonObject *fields, const char *now, struct registry_result *out,
       GError **error)
{
	const char *status = first_status(st, cfg, fields, now);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), fields);
	g_autofree char *json = json_to_string(n, FALSE);
	JsonNode *name = json_object_get_member(fields, "name");
	sqlite3_stmt *stmt = NULL;
	/* The reference is the row's number: one statement gives both. */
	int rc = sqlite3_prepare_v2(store_db(st),
				    "INSERT INTO registrations (reference, email, name, language, status,"
				    " fields, created_at, updated_at, message)"
				    " VALUES (printf('%s-%04d', ?1, (SELECT coalesce(max(id), 0) + 1 FROM registrations)),"
				    " ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) RETURNING id, reference", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		bind(stmt, 1, cfg->reference_prefix);
		bind(stmt, 2, email);
		bind(stmt, 3, name && !JSON_NODE_HOLDS_NULL(name) ? json_node_get_string(name) : NULL);
		bind(stmt, 4, language);
		bind(stmt, 5, status);
		bind(stmt, 6, json);
		bind(stmt, 7, now);
		sqlite3_bind_int64(stmt, 8, message);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			out->registration = sqlite3_column_int64(stmt, 0);
			g_strlcpy(out->reference, (const char *)sqlite3_column_text(stmt, 1), sizeof out->reference);
			rc = sqlite3_step(stmt);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "creating a registration", error);
		return FALSE;
	}
	out->action = "created";
	g_strlcpy(out->status, status, sizeof out->status);
	return add_change(st, out->registration, message, now, "created", NULL, NULL, status,
			  "applied", email, error) &&
	    link_message(st, message, out->registration, error);
}

/* Applies the non-null FIELDS to R (or records them as pending). */
static gboolean
change(struct store *st, struct registration *r, gint64 message, JsonObject *fields,
       bool applied, bool fill_only, const char *from, const char *now,
       struct registry_result *out, GError **error)
{
	g_autoptr(GList) names = json_object_get_members(fields);

	for (GList *l = names; l; l = l->next) {
		const char *field = l->data;
		JsonNode *nv = json_object_get_member(fields, field);
		/* an update's name and address say who writes, not a change */
		if (!nv || JSON_NODE_HOLDS_NULL(nv) || strcmp(field, "email") == 0 ||
		    strcmp(field, "name") == 0)
			continue;
		g_autofree char *new = value_text(nv);
		g_autofree char *old = value_text(json_object_get_member(r->fields, field));
		if (g_strcmp0(old, new) == 0 || (fill_only && old))
			continue;
		if (!add_change(st, r->id, message, now, "update", field, old, new,
				applied ? "applied" : "pending", from, error))
			return FALSE;
		out->changed++;
		if (applied)
			json_object_set_member(r->fields, field, json_node_copy(nv));
	}
	if (applied && strcmp(r->status, "incomplete") == 0 && complete(r->fields)) {
		g_free(r->status);
		r->status = g_strdup("registered");
	} else if (applied && strcmp(r->status, "registered") == 0 && !complete(r->fields)) {
		g_free(r->status);
		r->status = g_strdup("incomplete");
	}
	return (!applied || save(st, r, now, error)) && link_message(st, message, r->id, error);
}

gboolean
registry_apply(struct store *st, const struct config *cfg, gint64 message,
	       const struct mail *m, const struct verdict *v, JsonObject *fields,
	       const char *participant, const char *now, bool again,
	       struct registry_result *out, GError **error)
{
	memset(out, 0, sizeof *out);
	out->action = "none";
	const char *sender = participant ? participant : m->from_addr;
	if (!sender)
		return TRUE;
	g_autofree char *email = g_ascii_strdown(sender, -1);
	bool is_reg = strcmp(v->class, "registration") == 0;
	bool is_upd = strcmp(v->class, "update") == 0;
	bool is_cancel = strcmp(v->class, "cancel") == 0;
	if (!is_reg && !is_upd && !is_cancel)
		return TRUE;

	/* Whose registration: the reference cited, else the sender's own. */
	struct registration r = { 0 };
	g_autofree char *ref = registry_reference_in(m->subject, cfg->reference_prefix);
	bool found = (ref && load(st, "reference = ?1", ref, &r)) || load(st, "email = ?1", email, &r);
	bool owner = found && g_ascii_strcasecmp(r.email, email) == 0;
	gboolean ok = TRUE;

	if (!found) {
		if (is_cancel) {
			out->action = "unknown";	/* nothing to cancel */
		} else if (fields) {
			ok = create(st, cfg, message, email, v->language, fields, now, out, error);
		}
		return ok;
	}
	g_strlcpy(out->reference, r.reference, sizeof out->reference);
	out->registration = r.id;
	if (is_cancel && again) {
		out->action = "none";		/* already recorded the first time */
	} else if (is_cancel) {
		/* Takes effect only once the registered address confirms. */
		out->action = "cancel-pending";
		ok = add_change(st, r.id, message, now, "cancel", NULL, r.status, "cancelled",
				"pending", email, error) &&
		    link_message(st, message, r.id, error);
		if (ok) {
			sqlite3_stmt *stmt = NULL;
			int rc = sqlite3_prepare_v2(store_db(st),
						    "UPDATE registrations SET pending = 'cancel' WHERE id = ?",
						    -1, &stmt, NULL);
			if (rc == SQLITE_OK)
				sqlite3_bind_int64(stmt, 1, r.id);
			ok = step_done(st, stmt, rc, "marking the cancellation", error);
		}
	} else if (fields) {
		out->action = owner ? "updated" : "update-pending";
		/* read again (reprocess), a message only fills what is unknown:
		 * it must not undo a later update */
		ok = change(st, &r, message, fields, owner, again, email, now, out, error);
	}
	g_strlcpy(out->status, r.status, sizeof out->status);
	registration_clear(&r);
	return ok;
}

bool
registry_find(struct store *st, gint64 id, struct registration *r)
{
	g_autofree char *arg = g_strdup_printf("%" G_GINT64_FORMAT, id);
	memset(r, 0, sizeof *r);
	return load(st, "id = ?1", arg, r);
}

/* Sets the state of the pending changes of REG that match WHERE. */
static gboolean
settle(struct store *st, gint64 reg, const char *where, gint64 message, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *sql = g_strdup_printf("UPDATE registration_changes SET state = 'applied'"
					       " WHERE registration = ?1 AND state = 'pending' AND %s",
					       where);
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, reg);
		if (message)
			sqlite3_bind_int64(stmt, 2, message);
	}
	return step_done(st, stmt, rc, "settling pending changes", error);
}

gboolean
registry_confirm_cancel(struct store *st, gint64 reg, gint64 message, const char *now,
			bool *applied, GError **error)
{
	struct registration r = { 0 };
	*applied = false;
	if (!registry_find(st, reg, &r))
		return TRUE;
	gboolean ok = TRUE;
	if (g_strcmp0(r.pending, "cancel") == 0 && strcmp(r.status, "cancelled") != 0) {
		char *old = r.status;
		r.status = g_strdup("cancelled");
		ok = add_change(st, r.id, message, now, "status", NULL, old, r.status, "applied",
				r.email, error) &&
		    settle(st, r.id, "kind = 'cancel'", 0, error) && save(st, &r, now, error) &&
		    link_message(st, message, r.id, error);
		g_free(old);
		if (ok) {
			sqlite3_stmt *stmt = NULL;
			int rc = sqlite3_prepare_v2(store_db(st),
						    "UPDATE registrations SET pending = NULL WHERE id = ?",
						    -1, &stmt, NULL);
			if (rc == SQLITE_OK)
				sqlite3_bind_int64(stmt, 1, r.id);
			ok = step_done(st, stmt, rc, "clearing the cancellation", error);
		}
		*applied = ok;
	}
	registration_clear(&r);
	return ok;
}

gboolean
registry_confirm_update(struct store *st, gint64 reg, gint64 source, gint64 message,
			const char *now, bool *applied, GError **error)
{
	struct registration r = { 0 };
	*applied = false;
	if (!registry_find(st, reg, &r))
		return TRUE;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT field, new_value FROM registration_changes WHERE registration = ?1"
				    " AND message = ?2 AND kind = 'update' AND state = 'pending' ORDER BY id",
				    -1, &stmt, NULL);
	int n = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, reg);
		sqlite3_bind_int64(stmt, 2, source);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			const char *field = (const char *)sqlite3_column_text(stmt, 0);
			const char *text = (const char *)sqlite3_column_text(stmt, 1);
			if (!field || !text)
				continue;
			/* the history keeps strings bare and the rest as JSON */
			JsonNode *v = json_from_string(text, NULL);
			if (!v || JSON_NODE_HOLDS_OBJECT(v) ||
			    (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING)) {
				if (v)
					json_node_unref(v);
				v = json_node_new(JSON_NODE_VALUE);
				json_node_set_string(v, text);
			}
			json_object_set_member(r.fields, field, v);
			n++;
		}
	}
	sqlite3_finalize(stmt);
	gboolean ok = TRUE;
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "reading pending changes", error);
		ok = FALSE;
	} else if (n > 0) {
		if (strcmp(r.status, "incomplete") == 0 && complete(r.fields)) {
			g_free(r.status);
			r.status = g_strdup("registered");
		}
		ok = settle(st, r.id, "kind = 'update' AND message = ?2", source, error) &&
		    save(st, &r, now, error) && link_message(st, message, r.id, error);
		*applied = ok;
	}
	registration_clear(&r);
	return ok;
}

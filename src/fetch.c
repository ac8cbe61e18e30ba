/*
 * fetch.c - intake from a hosted mailbox, for a conference address that no
 * local MTA pipes to us: IMAP or POP3 with libetpan, one message at a
 * time.  Each message goes through deliver(), the path every piped message
 * takes, and only once that transaction has committed is it moved, flagged
 * or deleted on the server.  A crash in between leaves it on the server,
 * and deliver() recognises it next time; per IMAP folder the store keeps
 * UIDVALIDITY and the last UID done, so nothing is read twice or skipped.
 */
#include "confmail.h"
#include "etpan.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

struct fetch_session {
	const struct config *cfg;
	bool pop3;
	mailimap *imap;
	mailpop3 *pop;
	int port;
	char *account;		/* imap://user@host:port/folder, for messages */
	const char *folder;	/* the state's key: the folder, "" for POP3 */
	bool can_move, can_uidplus, can_idle;
	uint32_t uidvalidity;
};

/* Errors --------------------------------------------------------------- */

/* What a libetpan error says when the server said nothing itself. */
static const char *
imap_strerror(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return "connection lost";
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		return "connection refused";
	case MAILIMAP_ERROR_SSL:
		return "TLS failed";
	case MAILIMAP_ERROR_PARSE:
		return "the server's answer could not be read";
	case MAILIMAP_ERROR_MEMORY:
		return "out of memory";
	default:
		return "refused";
	}
}

/* Sets ERROR (CODE, else EX_TEMPFAIL) for an IMAP command DOING that failed
 * with R; the server's own words where it gave some. */
static bool
imap_failed(struct fetch_session *s, const char *doing, int r, int code, GError **error)
{
	bool network = r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_CONNECTION_REFUSED ||
	    r == MAILIMAP_ERROR_SSL || r == MAILIMAP_ERROR_PARSE || r == MAILIMAP_ERROR_MEMORY;
	const char *said = s->imap && s->imap->imap_response && *s->imap->imap_response
	    ? s->imap->imap_response : NULL;
	g_set_error(error, CONFMAIL_ERROR, network || !code ? EX_TEMPFAIL : code, "%s: %s: %s",
		    s->account, doing, !network && said ? said : imap_strerror(r));
	return false;
}

static bool
pop3_failed(struct fetch_session *s, const char *doing, int r, int code, GError **error)
{
	bool network = r == MAILPOP3_ERROR_STREAM || r == MAILPOP3_ERROR_CONNECTION_REFUSED ||
	    r == MAILPOP3_ERROR_SSL || r == MAILPOP3_ERROR_MEMORY;
	const char *said = s->pop && s->pop->pop3_response && *s->pop->pop3_response
	    ? s->pop->pop3_response : NULL;
	g_set_error(error, CONFMAIL_ERROR, network || !code ? EX_TEMPFAIL : code, "%s: %s: %s",
		    s->account, doing,
		    !network && said ? said : r == MAILPOP3_ERROR_STREAM ? "connection lost"
		    : r == MAILPOP3_ERROR_CONNECTION_REFUSED ? "connection refused"
		    : r == MAILPOP3_ERROR_SSL ? "TLS failed" : "refused");
	return false;
}

/* Verifies the certificate on *STREAM before anything else is said; a
 * server that fails is hung up on (*STREAM closed and NULL), not even
 * told LOGOUT. */
static bool
verified(struct fetch_session *s, mailstream **stream, GError **error)
{
	g_autofree char *why = etpan_verify_peer(*stream, s->cfg->fetch_host, s->cfg->fetch_ca_file);
	if (!why)
		return true;
	mailstream_close(*stream);
	*stream = NULL;
	g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "%s: %s; hung up without logging in",
		    s->account, why);
	return false;
}

/* The store: where each folder stands ------------------------------------ */

/* The UIDVALIDITY and last UID recorded for the session's folder; false
 * when there is none yet. */
static bool
state_get(struct fetch_session *s, struct store *st, uint32_t *validity, uint32_t *last)
{
	sqlite3_stmt *q = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(store_db(st),
			       "SELECT uidvalidity, last_uid FROM fetch_state"
			       " WHERE host = ?1 AND user = ?2 AND folder = ?3", -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(q, 1, s->cfg->fetch_host, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->cfg->fetch_user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, s->folder, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*validity = (uint32_t)sqlite3_column_int64(q, 0);
		*last = (uint32_t)sqlite3_column_int64(q, 1);
		found = true;
	}
	sqlite3_finalize(q);
	return found;
}

/* SQL with the session's host, user and folder as ?1 ?2 ?3 and now as ?4;
 * the caller binds the rest and runs it with state_step(). */
static sqlite3_stmt *
state_prepare(struct fetch_session *s, struct store *st, const char *sql, const char *now,
	      GError **error)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL);
	if (rc != SQLITE_OK) {
		store_set_error(st, rc, "fetch state", error);
		sqlite3_finalize(q);
		return NULL;
	}
	sqlite3_bind_text(q, 1, s->cfg->fetch_host, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->cfg->fetch_user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, s->folder, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, now, -1, SQLITE_STATIC);
	return q;
}

/* Runs Q (and finalizes it) in a transaction of its own; *CHANGED, when
 * given, says whether a row changed. */
static bool
state_step(struct store *st, sqlite3_stmt *q, bool *changed, GError **error)
{
	if (!q)
		return false;
	if (!store_begin(st, error)) {
		sqlite3_finalize(q);
		return false;
	}
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "fetch state", error);
		store_rollback(st);
		return false;
	}
	if (changed)
		*changed = sqlite3_changes(store_db(st)) > 0;
	return store_commit(st, error);
}

static bool
state_put(struct fetch_session *s, struct store *st, uint32_t last, GError **error)
{
	g_autofree char *now = confmail_now_iso();
	sqlite3_stmt *q = state_prepare(s, st,
					"INSERT INTO fetch_state (host, user, folder, updated_at, uidvalidity, last_uid)"
					" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (host, user, folder) DO UPDATE"
					" SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
					" updated_at = excluded.updated_at", now, error);
	if (q) {
		sqlite3_bind_int64(q, 5, s->uidvalidity);
		sqlite3_bind_int64(q, 6, last);
	}
	return state_step(st, q, NULL, error);
}

/* A message over [limits] max_message_size stays on the server, as it
 * is, where a person sees it; it is reported once, and kept in
 * fetch_skipped for the organisers. */
static bool
skip_too_big(struct fetch_session *s, struct store *st, const char *id, gint64 size, GError **error)
{
	g_autofree char *now = confmail_now_iso();
	g_autofree char *reason = g_strdup_printf("larger than [limits] max_message_size (%" G_GINT64_FORMAT
						  " bytes)", s->cfg->max_message_size);
	bool added = false;
	sqlite3_stmt *q = state_prepare(s, st,
					"INSERT OR IGNORE INTO fetch_skipped (host, user, folder, at, id, size, reason)"
					" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", now, error);
	if (q) {
		sqlite3_bind_text(q, 5, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 6, size);
		sqlite3_bind_text(q, 7, reason, -1, SQLITE_STATIC);
	}
	if (!state_step(st, q, &added, error))
		return false;
	if (added)
		fprintf(stderr, "confmail: fetch: %s: message %s (%" G_GINT64_FORMAT " bytes) left on the"
			" server: %s\n", s->account, id, size, reason);
	return true;
}

/* The envelope recipient a fetched message was for: its Delivered-To or
 * X-Original-To (deliver() reads them), else the registration address. */
static bool
has_header(const GByteArray *raw, const char *name)
{
	gsize n = strlen(name);
	const char *p = (const char *)raw->data, *end = p + raw->len;
	while (p < end && *p != '\r' && *p != '\n') {
		if ((gsize)(end - p) > n && p[n] == ':' && g_ascii_strncasecmp(p, name, n) == 0)
			return true;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

static const char *
recipient_for(const struct config *cfg, const GByteArray *raw)
{
	return has_header(raw, "Delivered-To") || has_header(raw, "X-Original-To")
	    ? NULL : cfg->register_address;
}

/* Hands one message to deliver(); true when it is committed (new or
 * already there). */
static bool
take(struct fetch_session *s, struct store *st, const struct rules *r, GByteArray *raw,
     struct fetch_counts *counts, GError **error)
{
	enum record_result rec = deliver(st, s->cfg, r, raw, recipient_for(s->cfg, raw), NULL, error);
	if (rec == RECORD_ERROR) {
		g_prefix_error(error, "%s: the message stays on the server: ", s->account);
		return false;
	}
	if (rec == RECORD_NEW)
		counts->recorded++;
	else
		counts->duplicates++;
	return true;
}

/* IMAP ------------------------------------------------------------------- */

static bool
imap_open(struct fetch_session *s, const char *password, GError **error)
{
	const struct config *cfg = s->cfg;
	const char *host = cfg->fetch_host;
	bool implicit = strcmp(cfg->fetch_tls, "implicit") == 0;

	s->imap = mailimap_new(0, NULL);
	mailimap_set_timeout(s->imap, cfg->fetch_timeout);
	int r = implicit ? mailimap_ssl_connect_with_callback(s->imap, host, (uint16_t)s->port,
							      etpan_server_name, (void *)host)
	    : mailimap_socket_connect(s->imap, host, (uint16_t)s->port);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return imap_failed(s, implicit ? "connecting (TLS)" : "connecting", r, 0, error);
	if (strcmp(cfg->fetch_tls, "starttls") == 0 &&
	    (r = mailimap_socket_starttls_with_callback(s->imap, etpan_server_name, (void *)host)) !=
	    MAILIMAP_NO_ERROR)
		return imap_failed(s, "STARTTLS", r, 0, error);
	if (strcmp(cfg->fetch_tls, "off") != 0 && !verified(s, &s->imap->imap_stream, error))
		return false;
	if ((r = mailimap_login(s->imap, cfg->fetch_user, password)) != MAILIMAP_NO_ERROR)
		return imap_failed(s, "LOGIN", r, EX_NOPERM, error);
	/* what the server offers once logged in (libetpan keeps it) */
	struct mailimap_capability_data *cap = NULL;
	if ((r = mailimap_capability(s->imap, &cap)) != MAILIMAP_NO_ERROR)
		return imap_failed(s, "CAPABILITY", r, 0, error);
	mailimap_capability_data_free(cap);
	s->can_move = mailimap_has_extension(s->imap, "MOVE");
	s->can_uidplus = mailimap_has_extension(s->imap, "UIDPLUS");
	s->can_idle = mailimap_has_idle(s->imap);
	if (strcmp(cfg->fetch_after, "move") == 0) {
		clist *found = NULL;
		r = mailimap_list(s->imap, "", cfg->fetch_processed_folder, &found);
		if (r != MAILIMAP_NO_ERROR)
			return imap_failed(s, "LIST", r, 0, error);
		bool exists = clist_count(found) > 0;
		mailimap_list_result_free(found);
		if (!exists && (r = mailimap_create(s->imap, cfg->fetch_processed_folder)) != MAILIMAP_NO_ERROR)
			return imap_failed(s, "CREATE processed_folder", r, 0, error);
	}
	if ((r = mailimap_select(s->imap, cfg->fetch_folder)) != MAILIMAP_NO_ERROR)
		return imap_failed(s, "SELECT", r, EX_CONFIG, error);
	s->uidvalidity = s->imap->imap_selection_info->sel_uidvalidity;
	return true;
}

/* One UID, or UIDs FIRST and up when ALL. */
static struct mailimap_set *
uid_set(uint32_t uid, bool all)
{
	return all ? mailimap_set_new_interval(uid, 0) : mailimap_set_new_single(uid);
}

struct pending {
	uint32_t uid;
	uint32_t size;
};

static int
by_uid(gconstpointer a, gconstpointer b)
{
	uint32_t x = ((const struct pending *)a)->uid, y = ((const struct pending *)b)->uid;
	return x < y ? -1 : x > y;
}

/* The UIDs after LAST and their sizes, in order: a few bytes a message,
 * never the messages themselves. */
static bool
imap_pending(struct fetch_session *s, uint32_t last, GArray *out, GError **error)
{
	struct mailimap_fetch_type *what = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(what, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(what, mailimap_fetch_att_new_rfc822_size());
	struct mailimap_set *set = uid_set(last + 1, true);
	clist *result = NULL;
	int r = mailimap_uid_fetch(s->imap, set, what, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(what);
	if (r != MAILIMAP_NO_ERROR)
		return imap_failed(s, "UID FETCH (sizes)", r, 0, error);
	for (clistiter *c = clist_begin(result); c; c = clist_next(c)) {
		struct mailimap_msg_att *att = clist_content(c);
		struct pending p = { 0, 0 };
		for (clistiter *i = clist_begin(att->att_list); i; i = clist_next(i)) {
			struct mailimap_msg_att_item *item = clist_content(i);
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
				p.uid = item->att_data.att_static->att_data.att_uid;
			else if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE)
				p.size = item->att_data.att_static->att_data.att_rfc822_size;
		}
		/* "LAST+1:*" names the highest UID even when it is LAST */
		if (p.uid > last)
			g_array_append_val(out, p);
	}
	mailimap_fetch_list_free(result);
	g_array_sort(out, by_uid);
	return true;
}

/* The bytes of message UID, without marking it \Seen; *RAW stays NULL
 * when the message is gone (expunged by someone else meanwhile). */
static bool
imap_body(struct fetch_session *s, uint32_t uid, GByteArray **raw, GError **error)
{
	struct mailimap_fetch_type *what = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(what,
						   mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
	struct mailimap_set *set = uid_set(uid, false);
	clist *result = NULL;
	int r = mailimap_uid_fetch(s->imap, set, what, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(what);
	if (r != MAILIMAP_NO_ERROR)
		return imap_failed(s, "UID FETCH (message)", r, 0, error);
	*raw = NULL;
	for (clistiter *c = clist_begin(result); c && !*raw; c = clist_next(c)) {
		struct mailimap_msg_att *att = clist_content(c);
		for (clistiter *i = clist_begin(att->att_list); i && !*raw; i = clist_next(i)) {
			struct mailimap_msg_att_item *item = clist_content(i);
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
			    item->att_data.att_static->att_type != MAILIMAP_MSG_ATT_BODY_SECTION)
				continue;
			struct mailimap_msg_att_body_section *b = item->att_data.att_static->att_data.att_body_section;
			if (b && b->sec_body_part) {
				*raw = g_byte_array_sized_new((guint)b->sec_length);
				g_byte_array_append(*raw, (const guint8 *)b->sec_body_part, (guint)b->sec_length);
			}
		}
	}
	mailimap_fetch_list_free(result);
	return true;
}

/* Adds \Seen or \Deleted to UID. */
static int
imap_flag(struct fetch_session *s, uint32_t uid, bool deleted)
{
	struct mailimap_flag_list *flags = mailimap_flag_list_new_empty();
	mailimap_flag_list_add(flags, deleted ? mailimap_flag_new_deleted() : mailimap_flag_new_seen());
	struct mailimap_store_att_flags *add = mailimap_store_att_flags_new_add_flags_silent(flags);
	struct mailimap_set *set = uid_set(uid, false);
	int r = mailimap_uid_store(s->imap, set, add);
	mailimap_set_free(set);
	mailimap_store_att_flags_free(add);
	return r;
}

/* Deletes UID: \Deleted, then UID EXPUNGE of it alone (UIDPLUS), or an
 * EXPUNGE (which also removes what others marked \Deleted there). */
static int
imap_delete(struct fetch_session *s, uint32_t uid)
{
	int r = imap_flag(s, uid, true);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (!s->can_uidplus)
		return mailimap_expunge(s->imap);
	struct mailimap_set *set = uid_set(uid, false);
	r = mailimap_uid_expunge(s->imap, set);
	mailimap_set_free(set);
	return r;
}

/* What [fetch] after says, done to UID once it is committed. */
static bool
imap_after(struct fetch_session *s, uint32_t uid, GError **error)
{
	const char *after = s->cfg->fetch_after;
	int r;
	if (strcmp(after, "flag") == 0) {
		r = imap_flag(s, uid, false);
	} else if (strcmp(after, "delete") == 0) {
		r = imap_delete(s, uid);
	} else if (s->can_move) {
		struct mailimap_set *set = uid_set(uid, false);
		r = mailimap_uid_move(s->imap, set, s->cfg->fetch_processed_folder);
		mailimap_set_free(set);
	} else {
		struct mailimap_set *set = uid_set(uid, false);
		r = mailimap_uid_copy(s->imap, set, s->cfg->fetch_processed_folder);
		mailimap_set_free(set);
		if (r == MAILIMAP_NO_ERROR)
			r = imap_delete(s, uid);
	}
	if (r == MAILIMAP_NO_ERROR)
		return true;
	g_autofree char *doing = g_strdup_printf("UID %u is recorded, but %s it failed (it will be"
						 " recognised next time)", uid,
						 strcmp(after, "flag") == 0 ? "flagging"
						 : strcmp(after, "delete") == 0 ? "deleting" : "moving");
	return imap_failed(s, doing, r, 0, error);
}

static bool
imap_run(struct fetch_session *s, struct store *st, const struct rules *r,
	 struct fetch_counts *counts, const volatile sig_atomic_t *stop, GError **error)
{
	uint32_t validity = 0, last = 0;
	bool known = state_get(s, st, &validity, &last);
	if (known && validity != s->uidvalidity) {
		/* the server renumbered the folder: read it all again; what
		 * was recorded already is recognised and changes nothing */
		fprintf(stderr, "confmail: fetch: %s: UIDVALIDITY changed (%u, now %u): reading the folder"
			" again\n", s->account, validity, s->uidvalidity);
		last = 0;
	}
	if ((!known || validity != s->uidvalidity) && !state_put(s, st, last, error))
		return false;
	g_autoptr(GArray) pending = g_array_new(FALSE, FALSE, sizeof(struct pending));
	if (!imap_pending(s, last, pending, error))
		return false;
	for (guint i = 0; i < pending->len && !*stop; i++) {
		struct pending p = g_array_index(pending, struct pending, i);
		g_autofree char *id = g_strdup_printf("%u/%u", s->uidvalidity, p.uid);
		GByteArray *raw = NULL;
		if (p.size > s->cfg->max_message_size) {
			if (!skip_too_big(s, st, id, p.size, error))
				return false;
			counts->too_big++;
		} else if (!imap_body(s, p.uid, &raw, error)) {
			return false;
		} else if (raw && raw->len > s->cfg->max_message_size) {
			/* the size announced was not the size sent */
			bool ok = skip_too_big(s, st, id, raw->len, error);
			g_byte_array_free(raw, TRUE);
			if (!ok)
				return false;
			counts->too_big++;
		} else if (raw) {
			bool ok = take(s, st, r, raw, counts, error);
			g_byte_array_free(raw, TRUE);
			if (!ok || !imap_after(s, p.uid, error))
				return false;
		}
		/* done with this UID: after the action on the server, so that
		 * a crash before it reads the message again (recognised) rather
		 * than leave it behind undone */
		if (!state_put(s, st, p.uid, error))
			return false;
	}
	return true;
}

/* POP3 ------------------------------------------------------------------- */

static bool
pop3_open(struct fetch_session *s, const char *password, GError **error)
{
	const struct config *cfg = s->cfg;
	const char *host = cfg->fetch_host;
	bool implicit = strcmp(cfg->fetch_tls, "implicit") == 0;

	s->pop = mailpop3_new(0, NULL);
	mailpop3_set_timeout(s->pop, cfg->fetch_timeout);
	int r = implicit ? mailpop3_ssl_connect_with_callback(s->pop, host, (uint16_t)s->port,
							      etpan_server_name, (void *)host)
	    : mailpop3_socket_connect(s->pop, host, (uint16_t)s->port);
	if (r != MAILPOP3_NO_ERROR)
		return pop3_failed(s, implicit ? "connecting (TLS)" : "connecting", r, 0, error);
	if (strcmp(cfg->fetch_tls, "starttls") == 0 &&
	    (r = mailpop3_socket_starttls_with_callback(s->pop, etpan_server_name, (void *)host)) !=
	    MAILPOP3_NO_ERROR)
		return pop3_failed(s, "STLS", r, 0, error);
	if (strcmp(cfg->fetch_tls, "off") != 0 && !verified(s, &s->pop->pop3_stream, error))
		return false;
	if ((r = mailpop3_user(s->pop, cfg->fetch_user)) != MAILPOP3_NO_ERROR ||
	    (r = mailpop3_pass(s->pop, password)) != MAILPOP3_NO_ERROR)
		return pop3_failed(s, "USER/PASS", r, EX_NOPERM, error);
	return true;
}

/* Every message in the maildrop, then QUIT: POP3 deletes what was marked
 * (DELE, once committed) only then, and a session lost before it deletes
 * nothing, so the next run reads those again and recognises them. */
static bool
pop3_run(struct fetch_session *s, struct store *st, const struct rules *r,
	 struct fetch_counts *counts, const volatile sig_atomic_t *stop, GError **error)
{
	carray *list = NULL;
	int rc = mailpop3_list(s->pop, &list);
	if (rc != MAILPOP3_NO_ERROR)
		return pop3_failed(s, "LIST", rc, 0, error);
	for (unsigned i = 0; i < carray_count(list) && !*stop; i++) {
		struct mailpop3_msg_info *info = carray_get(list, i);
		if (!info || info->msg_deleted)
			continue;
		g_autofree char *id = info->msg_uidl ? g_strdup(info->msg_uidl)
		    : g_strdup_printf("%u", info->msg_index);
		if (info->msg_size > s->cfg->max_message_size) {
			if (!skip_too_big(s, st, id, info->msg_size, error))
				return false;
			counts->too_big++;
			continue;
		}
		char *bytes = NULL;
		size_t len = 0;
		if ((rc = mailpop3_retr(s->pop, info->msg_index, &bytes, &len)) != MAILPOP3_NO_ERROR)
			return pop3_failed(s, "RETR", rc, 0, error);
		GByteArray *raw = g_byte_array_sized_new((guint)len);
		g_byte_array_append(raw, (const guint8 *)bytes, (guint)len);
		mailpop3_retr_free(bytes);
		bool ok = take(s, st, r, raw, counts, error);
		g_byte_array_free(raw, TRUE);
		if (!ok)
			return false;
		if ((rc = mailpop3_dele(s->pop, info->msg_index)) != MAILPOP3_NO_ERROR)
			return pop3_failed(s, "DELE", rc, 0, error);
	}
	rc = mailpop3_quit(s->pop);
	if (rc != MAILPOP3_NO_ERROR)
		return pop3_failed(s, "QUIT (the messages recorded are deleted only by it; they will be"
				   " recognised next time)", rc, 0, error);
	return true;
}

/* The session ------------------------------------------------------------ */

void
fetch_close(struct fetch_session *s)
{
	if (!s)
		return;
	if (s->imap) {
		if (s->imap->imap_stream)
			mailimap_logout(s->imap);
		mailimap_free(s->imap);
	}
	if (s->pop) {
		/* what was DELEted had been committed: QUIT may delete it */
		if (s->pop->pop3_stream)
			mailpop3_quit(s->pop);
		mailpop3_free(s->pop);
	}
	g_free(s->account);
	g_free(s);
}

/* The port when [fetch] port is not set: the protocol's own. */
static int
default_port(const struct config *cfg)
{
	bool implicit = strcmp(cfg->fetch_tls, "implicit") == 0;
	if (strcmp(cfg->fetch_protocol, "pop3") == 0)
		return implicit ? 995 : 110;
	return implicit ? 993 : 143;
}

struct fetch_session *
fetch_connect(const struct config *cfg, GError **error)
{
	g_autofree char *why = NULL;
	bool pop3 = strcmp(cfg->fetch_protocol, "pop3") == 0;

	if (!config_check_fetch(cfg, error))
		return NULL;
	/* a password file others may read is refused before any connection */
	g_autofree char *password = etpan_read_password("fetch", cfg->fetch_password_file, &why);
	if (!password) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s", why);
		return NULL;
	}
	if (!etpan_open(pop3 ? "POP3" : "IMAP", &why)) {
		g_set_error(error, CONFMAIL_ERROR, EX_UNAVAILABLE, "%s", why);
		return NULL;
	}
	struct fetch_session *s = g_new0(struct fetch_session, 1);
	s->cfg = cfg;
	s->pop3 = pop3;
	s->port = cfg->fetch_port ? cfg->fetch_port : default_port(cfg);
	s->folder = pop3 ? "" : cfg->fetch_folder;
	s->account = g_strdup_printf("%s://%s@%s:%d%s%s", cfg->fetch_protocol, cfg->fetch_user,
				     cfg->fetch_host, s->port, pop3 ? "" : "/", s->folder);
	/* libetpan waits on reads for its global delay, not the session's
	 * timeout, which covers only the connect */
	mailstream_network_delay.tv_sec = cfg->fetch_timeout;
	mailstream_network_delay.tv_usec = 0;
	bool ok = pop3 ? pop3_open(s, password, error) : imap_open(s, password, error);
	memset(password, 0, strlen(password));
	if (!ok) {
		fetch_close(s);
		return NULL;
	}
	return s;
}

bool
fetch_run(struct fetch_session *s, struct store *st, const struct rules *r,
	  struct fetch_counts *counts, const volatile sig_atomic_t *stop, GError **error)
{
	return s->pop3 ? pop3_run(s, st, r, counts, stop, error) : imap_run(s, st, r, counts, stop, error);
}

enum fetch_wait
fetch_wait(struct fetch_session *s, int seconds, const volatile sig_atomic_t *stop, GError **error)
{
	/* a POP3 session ends with each run: the next one logs in again */
	if (s->pop3)
		return FETCH_RECONNECT;
	int r, fd = -1;
	if (s->can_idle) {
		if ((r = mailimap_idle(s->imap)) != MAILIMAP_NO_ERROR) {
			imap_failed(s, "IDLE", r, 0, error);
			return FETCH_FAILED;
		}
		fd = mailimap_idle_get_fd(s->imap);
	}
	/* the server's answer to IDLE may have brought news with it ("*
	 * 75 EXISTS" for a message that came just before): libetpan holds it
	 * already, and the socket will say nothing more */
	if (s->can_idle && s->imap->imap_stream && s->imap->imap_stream->read_buffer_len > 0)
		seconds = 0;
	/* without IDLE, the next run's commands show what arrived meanwhile */
	for (int waited = 0; waited < seconds && !*stop; waited++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = fd >= 0 ? poll(&p, 1, 1000) : poll(NULL, 0, 1000);
		if (n > 0)
			break;	/* the server says something: new mail, most likely */
		if (n < 0 && errno != EINTR)
			break;
	}
	if (s->can_idle && (r = mailimap_idle_done(s->imap)) != MAILIMAP_NO_ERROR) {
		imap_failed(s, "IDLE (DONE)", r, 0, error);
		return FETCH_FAILED;
	}
	return FETCH_AGAIN;
}

const char *
fetch_account(const struct fetch_session *s)
{
	return s->account;
}

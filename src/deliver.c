/*
 * deliver.c - what happens to one message once its bytes are here,
 * whichever way they came (`filter` from an MTA, `fetch` from a mailbox):
 * parsed, classified, recorded and acted on in one transaction.  There is
 * one path in, so a message fetched behaves exactly as one delivered.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

/* The outbox row a bounces+ID@ recipient names, or 0. */
static gint64
bounce_id(const struct config *cfg, const char *rcpt)
{
	const char *at = rcpt ? strrchr(rcpt, '@') : NULL;
	if (!at || g_ascii_strcasecmp(at + 1, cfg->domain) != 0 ||
	    g_ascii_strncasecmp(rcpt, "bounces+", 8) != 0)
		return 0;
	char *end;
	gint64 n = g_ascii_strtoll(rcpt + 8, &end, 10);
	return end == at && n > 0 ? n : 0;
}

/* What a new message does: one about a ticket goes to it; a confirmation
 * applies what it confirms; else the registry acts on it; then the answer
 * it deserves is queued. */
static gboolean
act(struct store *st, const struct config *cfg, const struct rules *r, gint64 id,
    const struct mail *m, const struct envelope *env, const struct verdict *v,
    JsonObject *fields, const char *participant, const char *noreply, const char *now,
    struct registry_result *reg, GError **error)
{
	g_autofree char *dir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(dir);
	struct reply_context rc = {
		.st = st, .cfg = cfg, .rules = r, .ts = ts, .message = id, .mail = m, .env = env,
		.verdict = v, .fields = fields, .noreply = noreply, .now = now,
	};
	bool confirmation = false, about_ticket = false;
	const char *what;

	/* a coordinator's answer, or a participant writing again about a
	 * question, belongs to its ticket before anything else */
	if (!questions_handle(&rc, &about_ticket, error))
		return FALSE;
	if (about_ticket) {
		memset(reg, 0, sizeof *reg);
		return TRUE;
	}
	if (!reply_confirm(&rc, &confirmation, error))
		return FALSE;
	if (confirmation) {
		memset(reg, 0, sizeof *reg);
		return TRUE;
	}
	memset(reg, 0, sizeof *reg);
	/* a post to the announcement list is held for the organisers */
	if (env->recipient && g_ascii_strcasecmp(env->recipient, cfg->announce_address) == 0)
		return announce_post(&rc, error);
	/* a bounce to bounces+ID@ names the outbox row it answers (VERP) */
	gint64 bounced = bounce_id(cfg, env->recipient);
	if (bounced && v->has_bounce) {
		bool disabled = false;
		return list_bounce(st, bounced, id, &v->bounce, now, &disabled, error);
	}
	/* "programme" or "guide" alone: the current one, to whoever asks
	 * (a registration titled "Programme" is still a registration) */
	bool may_ask = strcmp(v->class, "question") == 0 || strcmp(v->class, "other") == 0;
	const char *document = may_ask ? announce_requested(m) : NULL;
	gint64 current = document ? announce_latest(st, document) : 0;
	if (current && !noreply) {
		int sent = 0;
		return announce_send(st, cfg, current, m->from_addr, NULL, now, &sent, error);
	}
	if (!registry_apply(st, cfg, id, m, v, fields, participant, now, false, reg, error) ||
	    !reply_act(&rc, reg, &what, error))
		return FALSE;
	/* a new participant joins the list, and gets what was announced */
	if (strcmp(reg->action, "created") == 0 && reg->registration) {
		struct registration who = { 0 };
		gboolean ok = TRUE;
		if (registry_find(st, reg->registration, &who)) {
			if (strcmp(cfg->list_subscribe_registered, "true") == 0)
				ok = list_add(st, who.email, who.name, who.language, "registration", now, error);
			ok = ok && announce_documents_to(st, cfg, who.email, now, error);
		}
		registration_clear(&who);
		return ok;
	}
	return TRUE;
}

/* Records M and acts on it in one transaction on ST.  A failure of the
 * acting that is not transient still keeps the message. */
static enum record_result
record(struct store *st, const struct config *cfg, const struct rules *r, GByteArray *raw,
       struct mail *m, const struct envelope *env, GError **error)
{
	struct verdict v;
	g_autofree char *participant = NULL;
	JsonObject *fields = classify_message(r, m, env, cfg, &v, &participant);
	const char *noreply = noreply_reason(m, env, cfg);
	g_autofree char *now = confmail_now_iso();
	struct message_row row = {
		.mail = m, .env = env, .raw = raw, .verdict = &v,
		.noreply = noreply, .received_at = now,
	};
	gint64 id = 0;
	enum record_result rec = RECORD_ERROR;
	struct registry_result reg;

	if (!store_begin(st, error))
		goto out;
	/* The message and what it does to a registration: one transaction.
	 * A duplicate delivery changes nothing a second time. */
	rec = messages_record(st, &row, &id, error);
	if (rec == RECORD_ERROR) {
		store_rollback(st);
		goto out;
	}
	if (rec == RECORD_NEW && !act(st, cfg, r, id, m, env, &v, fields, participant, noreply,
				      now, &reg, error)) {
		store_rollback(st);
		rec = RECORD_ERROR;
		if ((*error)->code == EX_TEMPFAIL)
			goto out;
		/* Not the moment but the registry failed (a bug, a rule): keep
		 * the message all the same, so nothing waits in the MTA's queue;
		 * `confmail reprocess` acts on it once mended. */
		fprintf(stderr, "confmail: warning: message recorded without acting on it: %s\n",
			(*error)->message);
		g_clear_error(error);
		if (!store_begin(st, error) ||
		    (rec = messages_record(st, &row, &id, error)) == RECORD_ERROR) {
			store_rollback(st);
			rec = RECORD_ERROR;
			goto out;
		}
	}
	if (!store_commit(st, error))
		rec = RECORD_ERROR;
out:
	if (fields)
		json_object_unref(fields);
	bounce_clear(&v.bounce);
	return rec;
}

enum record_result
deliver(struct store *st, const struct config *cfg, const struct rules *r, GByteArray *raw,
	const char *opt_recipient, const char *opt_sender, GError **error)
{
	g_autofree char *from_line = intake_strip_from_line(raw);
	struct mail *m = mail_parse(raw);
	struct envelope env = { 0 };

	intake_envelope(&env, opt_recipient, opt_sender, from_line, m);
	enum record_result rec = record(st, cfg, r, raw, m, &env, error);
	envelope_clear(&env);
	mail_free(m);
	return rec;
}

/*
 * cmd_filter.c - `confmail filter`: the MDA.  One message on stdin becomes
 * one committed row, or the MTA is told to try again.  Exit 0 only after
 * COMMIT; anything transient is 75; bad configuration 78; a message over
 * the size limit 65 (the one case where a bounce is the right answer).
 */
#include "confmail.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* GLib ends the process when memory runs out (g_error: SIGTRAP, or
 * SIGABRT).  The message is not committed, so the right answer to the MTA
 * is "try again later", not a crash it may treat as a hard failure. */
static void
abort_is_tempfail(int sig)
{
	static const char msg[] = "4.3.0 confmail: internal failure (out of memory?); "
	    "the message was not recorded and will be retried\n";
	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(EX_TEMPFAIL);
}

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

static int
record(const struct config *cfg, const struct rules *r, GByteArray *raw, struct mail *m,
       const struct envelope *env)
{
	g_autoptr(GError) error = NULL;
	struct verdict v;
	g_autofree char *participant = NULL;
	JsonObject *fields = classify_message(r, m, env, cfg, &v, &participant);
	int rc = 0;
	const char *noreply = noreply_reason(m, env, cfg);
	g_autofree char *now = confmail_now_iso();
	struct message_row row = {
		.mail = m, .env = env, .raw = raw, .verdict = &v,
		.noreply = noreply, .received_at = now,
	};

	g_autoptr(store) st = store_open(cfg, STORE_CREATE, &error);
	gint64 id = 0;
	enum record_result rec = RECORD_ERROR;
	struct registry_result reg;
	if (!st || !store_begin(st, &error)) {
		rc = cm_fail(error);
		goto out;
	}
	/* The message and what it does to a registration: one transaction.
	 * A duplicate delivery changes nothing a second time. */
	rec = messages_record(st, &row, &id, &error);
	if (rec == RECORD_ERROR) {
		store_rollback(st);
		rc = cm_fail(error);
		goto out;
	}
	if (rec == RECORD_NEW && !act(st, cfg, r, id, m, env, &v, fields, participant, noreply,
				      now, &reg, &error)) {
		store_rollback(st);
		if (error->code == EX_TEMPFAIL) {
			rc = cm_fail(error);
			goto out;
		}
		/* Not the moment but the registry failed (a bug, a rule): keep
		 * the message all the same, so nothing waits in the MTA's queue;
		 * `confmail reprocess` acts on it once mended. */
		cm_err("warning: message recorded without acting on it: %s", error->message);
		g_clear_error(&error);
		if (!store_begin(st, &error) ||
		    messages_record(st, &row, &id, &error) == RECORD_ERROR) {
			store_rollback(st);
			rc = cm_fail(error);
			goto out;
		}
	}
	if (!store_commit(st, &error))
		rc = cm_fail(error);
out:
	if (fields)
		json_object_unref(fields);
	bounce_clear(&v.bounce);
	return rc;
}

int
cmd_filter(struct command_context *ctx, int argc, char **argv)
{
	/* FILENAME, not STRING: the bytes as given, whatever the locale (an
	 * MTA runs us with none), so a UTF-8 address is not refused. */
	g_autofree char *recipient = NULL, *sender = NULL;
	GOptionEntry entries[] = {
		{ "recipient", 'r', 0, G_OPTION_ARG_FILENAME, &recipient,
		  "envelope recipient (else $ORIGINAL_RECIPIENT, $RECIPIENT, Delivered-To)", "ADDR" },
		{ "sender", 'f', 0, G_OPTION_ARG_FILENAME, &sender,
		  "envelope sender, '' for the null sender (else $SENDER, the From_ line, Return-Path)", "ADDR" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("- record one message from stdin");

	/* A wrong command line in the MTA's configuration is a configuration
	 * error (78, deferred), not a reason to bounce everyone's mail. */
	cm_mda_mode = true;
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		g_prefix_error(&error, "filter: ");
		error->domain = CONFMAIL_ERROR;
		error->code = EX_CONFIG;
		return cm_fail(error);
	}
	if (argc > 1) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG,
			    "filter: the message comes on standard input, not as '%s'", argv[1]);
		return cm_fail(error);
	}
	if ((recipient && !g_utf8_validate(recipient, -1, NULL)) ||
	    (sender && !g_utf8_validate(sender, -1, NULL))) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG, "filter: -r or -f is not UTF-8");
		return cm_fail(error);
	}
	signal(SIGABRT, abort_is_tempfail);
	signal(SIGTRAP, abort_is_tempfail);

	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	g_autofree char *dir = rules_default_dir();
	g_autoptr(rules) r = rules_load(dir, &error);
	if (!r)
		return cm_fail(error);

	GByteArray *raw = NULL;
	switch (intake_read(STDIN_FILENO, cfg->max_message_size, &raw, &error)) {
	case READ_OK:
		break;
	case READ_TOO_BIG:
		g_set_error(&error, CONFMAIL_ERROR, EX_DATAERR,
			    "message refused: larger than the limit of %" G_GINT64_FORMAT
			    " bytes ([limits] max_message_size)", cfg->max_message_size);
		return cm_fail(error);
	case READ_FAILED:
		return cm_fail(error);
	}
	g_autofree char *from_line = intake_strip_from_line(raw);
	struct mail *m = mail_parse(raw);
	struct envelope env = { 0 };
	intake_envelope(&env, recipient, sender, from_line, m);

	int rc = record(cfg, r, raw, m, &env);

	envelope_clear(&env);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
	return rc;
}

/*
 * questions.c - the question desk, after Request Tracker's mail gateway.
 * A question goes to the coordinators of its topic (filters/routing.rules)
 * with a short account of who asks, the text decoded and the original
 * attached, Reply-To tickets+REF@.  What comes back to a ticket is sorted
 * by who sent it: a coordinator's answer is relayed to the participant
 * from the conference address, without the quoted forward; "#comment",
 * "#assign TOPIC" and "#close" (or comment+REF@) stay among coordinators;
 * the participant's follow-up goes to the coordinators; anyone else is
 * never relayed.
 */
#include "confmail.h"

#include <string.h>

static const char *
language_name(const char *lang)
{
	return !lang ? "unknown" : strcmp(lang, "ar") == 0 ? "Arabic"
	    : strcmp(lang, "ckb") == 0 ? "Kurdish (Sorani)" : strcmp(lang, "en") == 0 ? "English" : lang;
}

/* LOCAL+reference.MAC@domain, from [addresses] tickets or comments: the
 * MAC (token_ticket) shows a reply comes from someone who received our
 * forward, not from a guessed reference under a forged From. */
static char *
plus_address(const struct config *cfg, const char *address, const char *reference)
{
	const char *at = strchr(address, '@');
	g_autofree char *ref = g_ascii_strdown(reference, -1);
	g_autofree char *secret = secret_load(cfg, NULL);
	g_autofree char *mac = secret ? token_ticket(secret, reference) : NULL;
	return g_strdup_printf("%.*s+%s%s%s%s", (int)(at - address), address, ref, mac ? "." : "",
			       mac ? mac : "", at);
}

/* Whether the recipient's MAC for REFERENCE is ours. */
static bool
mac_ok(const struct config *cfg, const char *reference, const char *given)
{
	g_autofree char *secret = given ? secret_load(cfg, NULL) : NULL;
	g_autofree char *want = secret ? token_ticket(secret, reference) : NULL;
	return want && g_ascii_strcasecmp(want, given) == 0;
}

/* The reference in a tickets+REF[.MAC]@ or comment+REF[.MAC]@ recipient
 * (*COMMENT says which; *MAC receives the MAC, if any), or NULL. */
static char *
reference_in_recipient(const struct config *cfg, const char *rcpt, bool *comment, char **mac)
{
	const char *bases[] = { cfg->tickets_address, cfg->comments_address };
	if (!rcpt)
		return NULL;
	const char *rat = strrchr(rcpt, '@');
	for (int i = 0; i < 2 && rat; i++) {
		const char *at = strchr(bases[i], '@');
		gsize local = (gsize)(at - bases[i]);
		if (g_ascii_strncasecmp(rcpt, bases[i], local) == 0 && rcpt[local] == '+' &&
		    g_ascii_strcasecmp(rat, at) == 0 && rat > rcpt + local + 1) {
			*comment = i == 1;
			char *ref = g_ascii_strup(rcpt + local + 1, rat - (rcpt + local + 1));
			char *dot = strchr(ref, '.');
			if (dot) {
				*mac = g_strdup(dot + 1);
				*dot = '\0';
			}
			return ref;
		}
	}
	return NULL;
}

/* "[ICSSI22-Q-0012]" (any case) in SUBJECT: the reference, upper-cased. */
static char *
reference_in_subject(const struct config *cfg, const char *subject)
{
	if (!subject)
		return NULL;
	g_autofree char *upper = g_ascii_strup(subject, -1);
	g_autofree char *prefix = g_strdup_printf("%s-Q-", cfg->reference_prefix);
	g_autofree char *wanted = g_ascii_strup(prefix, -1);
	for (const char *p = strstr(upper, wanted); p; p = strstr(p + 1, wanted)) {
		const char *d = p + strlen(wanted);
		gsize n = strspn(d, "0123456789");
		if (n > 0 && n < 10)
			return g_strndup(p, (gsize)(d + n - p));
	}
	return NULL;
}

/* The registration of ADDRESS, for the coordinators: "ICSSI22-0042
 * (registered)", or NULL; *ORG its organisation if it gave one. */
static char *
registration_of(struct store *st, const char *address, char **org)
{
	sqlite3_stmt *stmt = NULL;
	char *text = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT reference, status, json_extract(fields,"
			       " '$.organization') FROM registrations WHERE email = ? ORDER BY id DESC"
			       " LIMIT 1", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			text = g_strdup_printf("%s (%s)", sqlite3_column_text(stmt, 0),
					       sqlite3_column_text(stmt, 1));
			if (sqlite3_column_text(stmt, 2) && !*org)
				*org = g_strdup((const char *)sqlite3_column_text(stmt, 2));
		}
	}
	sqlite3_finalize(stmt);
	return text;
}

/* The question's own message, read back from the store (a follow-up, a
 * reassignment and a reminder attach it again).  GMime reads the bytes
 * as it needs them: *RAW must outlive the mail. */
static struct mail *
question_mail(struct store *st, gint64 message, GByteArray **raw)
{
	sqlite3_stmt *stmt = NULL;
	struct mail *m = NULL;
	*raw = g_byte_array_new();
	if (sqlite3_prepare_v2(store_db(st), "SELECT raw FROM message_raw WHERE message = ?", -1,
			       &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, message);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			g_byte_array_append(*raw, sqlite3_column_blob(stmt, 0),
					    (guint)sqlite3_column_bytes(stmt, 0));
			m = mail_parse(*raw);
		}
	}
	sqlite3_finalize(stmt);
	return m;
}

struct to_staff {
	const char *what;	/* "New question", "Follow-up", ... */
	const char *note;	/* who did what, for the first line */
	const char *text;	/* the text to show, or NULL: the question's */
	const struct mail *attach;	/* the message to attach, or NULL */
	const char *except;	/* an address not to send to (the author) */
};

/* Sends TICKET's coordinators (its assignee) a message about it, with
 * the account of who asks, Reply-To tickets+REF@. */
static gboolean
to_coordinators(const struct reply_context *c, const struct ticket *t, const struct to_staff *s,
		GError **error)
{
	g_autofree char *dir = rules_default_dir();
	g_autoptr(GError) local = NULL;
	g_autoptr(routing) r = routing_load(dir, &local);
	if (!r)
		g_printerr("confmail: warning: %s: questions go to the organisers\n", local->message);
	g_auto(GStrv) to = routing_coordinators(r, c->cfg, t->assignee ? t->assignee : t->topic);

	g_autofree char *org = NULL;
	if (c->fields && json_object_has_member(c->fields, "organization") &&
	    !json_object_get_null_member(c->fields, "organization"))
		org = g_strdup(json_object_get_string_member(c->fields, "organization"));
	g_autofree char *reg = registration_of(c->st, t->email, &org);
	g_autoptr(GByteArray) raw = NULL;	/* after question: declared first */
	g_autoptr(mail) question = s->attach ? NULL : question_mail(c->st, t->message, &raw);
	const struct mail *attach = s->attach ? s->attach : question;
	g_autofree char *body = s->text ? g_strdup(s->text)
	    : attach && attach->body ? text_strip_quotes(attach->body) : g_strdup("(no text)");
	const char *subject = attach && attach->subject ? attach->subject : "(no subject)";
	bool foreign = t->language && strcmp(t->language, "en") != 0;

	g_autofree char *title = g_strdup_printf("[%s] %s%s%s (%s): %s", t->reference, s->what,
						 foreign ? " in " : "",
						 foreign ? language_name(t->language) : "",
						 t->topic ? t->topic : "other", subject);
	g_autofree char *who = t->name ? g_strdup_printf("%s <%s>", t->name, t->email) : g_strdup(t->email);
	g_autofree char *comment_to = plus_address(c->cfg, c->cfg->comments_address, t->reference);
	g_autofree char *text = g_strdup_printf(
		"%s\n\n"
		"  ticket        %s (%s)\n"
		"  from          %s\n"
		"  organisation  %s\n"
		"  registration  %s\n"
		"  language      %s\n"
		"  topic         %s\n"
		"  assigned to   %s\n"
		"  asked         %s\n\n"
		"Reply to this message to answer: your reply goes to the participant from\n"
		"%s, without the text you quote.  Start it with a line \"#comment\" to\n"
		"write to the other coordinators only (or write to %s),\n"
		"\"#assign TOPIC\" to pass it on, or \"#close\" to close the ticket.\n\n"
		"-------- %s --------\n%s\n",
		s->note, t->reference, t->status, who, org ? org : "-", reg ? reg : "not registered",
		language_name(t->language), t->topic ? t->topic : "other",
		t->assignee ? t->assignee : "-", t->created_at, c->cfg->from_address, comment_to,
		s->text ? "the message" : "the question", body);
	g_autofree char *reply_to = plus_address(c->cfg, c->cfg->tickets_address, t->reference);

	GPtrArray *rcpts = g_ptr_array_new();
	for (int i = 0; to[i]; i++)
		if (!s->except || g_ascii_strcasecmp(to[i], s->except) != 0)
			g_ptr_array_add(rcpts, to[i]);
	g_ptr_array_add(rcpts, NULL);
	struct staff_mail sm = { .subject = title, .text = text, .to = (char *const *)rcpts->pdata,
				 .reply_to = reply_to };
	g_autofree char *mid = NULL;
	g_autoptr(GMimeMessage) msg = compose_forward(c->cfg, attach, &sm, &mid);
	gboolean ok = TRUE;
	for (guint i = 0; ok && rcpts->pdata[i]; i++) {
		struct outgoing o = {
			.kind = "forward", .recipient = rcpts->pdata[i],
			.envelope_from = c->cfg->from_address, .message_id = mid,
			.template = "ticket", .source_message = c->message, .ticket = t->id,
		};
		ok = outbox_put(c->st, &o, msg, c->now, error);
	}
	g_autofree char *list = g_strjoinv(", ", (char **)rcpts->pdata);
	g_ptr_array_free(rcpts, TRUE);
	return ok && tickets_event(c->st, t->id, "forwarded", NULL, c->message, list, c->now, error);
}

gboolean
questions_opened(const struct reply_context *c, gint64 ticket, GError **error)
{
	struct ticket t;
	if (!tickets_find(c->st, ticket, &t))
		return TRUE;
	g_autofree char *note = g_strdup_printf("A new question for the %s coordinators.",
						t.topic ? t.topic : "other");
	struct to_staff s = { .what = "Question", .note = note, .attach = c->mail };
	gboolean ok = to_coordinators(c, &t, &s, error);
	ticket_clear(&t);
	return ok;
}

/* A coordinator's answer, relayed to the participant in the thread of
 * the question. */
static gboolean
relay_answer(const struct reply_context *c, const struct ticket *t, const char *text,
	     GError **error)
{
	g_autoptr(GByteArray) raw = NULL;	/* after question: declared first */
	g_autoptr(mail) question = question_mail(c->st, t->message, &raw);
	struct answer_mail a = {
		.to_addr = t->email, .to_name = t->name,
		.subject = question ? question->subject : NULL, .reference = t->reference,
		.text = text,
		.in_reply_to = question ? question->message_id : NULL,
		.references = question ? mail_header(question, "References") : NULL,
	};
	g_autofree char *mid = NULL;
	g_autoptr(GMimeMessage) msg = compose_answer(c->cfg, &a, &mid);
	struct outgoing o = {
		.kind = "reply", .recipient = t->email, .envelope_from = c->cfg->from_address,
		.message_id = mid, .template = "answer", .source_message = c->message,
		.ticket = t->id,
	};
	return outbox_put(c->st, &o, msg, c->now, error);
}

/* The commands a coordinator's text starts with (#comment, #assign X,
 * #close), each on its own line; *REST is the text after them. */
struct commands {
	bool comment, close;
	char *assign;
	char *unknown;		/* a line starting with # we do not know */
};

static void
read_commands(const char *text, struct commands *cmd, char **rest)
{
	const char *p = text ? text : "";
	memset(cmd, 0, sizeof *cmd);
	for (;;) {
		while (*p == '\n' || *p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p != '#')
			break;
		const char *end = strchr(p, '\n');
		g_autofree char *line = g_strstrip(g_strndup(p, end ? (gsize)(end - p) : strlen(p)));
		g_auto(GStrv) words = g_strsplit_set(line + 1, " \t", 3);
		g_autofree char *verb = g_ascii_strdown(words[0] ? words[0] : "", -1);
		if (strcmp(verb, "comment") == 0)
			cmd->comment = true;
		else if (strcmp(verb, "close") == 0)
			cmd->close = true;
		else if (strcmp(verb, "assign") == 0 && words[1] && *words[1] && !cmd->assign)
			cmd->assign = g_ascii_strdown(words[1], -1);
		else if (!cmd->unknown)
			cmd->unknown = g_strdup(line);
		p = end ? end + 1 : p + strlen(p);
	}
	*rest = g_strstrip(g_strdup(p));
}

/* Tells AUTHOR (a coordinator) what went wrong with their command. */
static gboolean
tell_author(const struct reply_context *c, const struct ticket *t, const char *author,
	    const char *problem, GError **error)
{
	g_autofree char *subject = g_strdup_printf("[%s] Not done: %s", t->reference, problem);
	g_autofree char *text = g_strdup_printf(
		"Your message about ticket %s was not acted on:\n\n  %s\n\n"
		"The commands are \"#comment\", \"#assign TOPIC\" (travel, visa, accommodation,\n"
		"programme, registration, funding, other; a [coordinators] name; or an\n"
		"organiser's or coordinator's address) and \"#close\", each alone on a line\n"
		"at the top of your message.  Nothing was sent to the participant.\n",
		t->reference, problem);
	char *to[] = { (char *)author, NULL };
	g_autofree char *reply_to = plus_address(c->cfg, c->cfg->tickets_address, t->reference);
	struct staff_mail sm = { .subject = subject, .text = text, .to = to, .reply_to = reply_to };
	g_autofree char *mid = NULL;
	g_autoptr(GMimeMessage) msg = compose_forward(c->cfg, NULL, &sm, &mid);
	struct outgoing o = {
		.kind = "forward", .recipient = author, .envelope_from = c->cfg->from_address,
		.message_id = mid, .template = "ticket-error", .source_message = c->message,
		.ticket = t->id,
	};
	return outbox_put(c->st, &o, msg, c->now, error);
}

/* Whether WHO can be assigned a ticket: a topic, a [coordinators] name,
 * or an organiser's or coordinator's address. */
static bool
assignable(const struct config *cfg, const char *who)
{
	if (strchr(who, '@'))
		return routing_is_staff(cfg, who);
	return routing_is_topic(who) || strcmp(who, "organisers") == 0 ||
	    (cfg->coordinators && g_hash_table_contains(cfg->coordinators, who));
}

/* Passes T to WHO (assignable), by AUTHOR, who may have written NOTE; the
 * new coordinators get the question. */
static gboolean
assign(const struct reply_context *c, const struct ticket *t, const char *who, const char *author,
       const char *note, GError **error)
{
	gboolean ok = tickets_update(c->st, t->id, strcmp(t->status, "closed") == 0 ? "open" : NULL,
				     who, c->now, error) &&
	    tickets_event(c->st, t->id, "assigned", author, c->message, who, c->now, error);
	struct ticket now_t;
	if (ok && tickets_find(c->st, t->id, &now_t)) {
		g_autofree char *text = g_strdup_printf("%s passed this question to you%s%s", author,
							note && *note ? ", writing:\n\n" : ".",
							note ? note : "");
		struct to_staff s = { .what = "Assigned", .note = text, .except = author };
		ok = to_coordinators(c, &now_t, &s, error);
		ticket_clear(&now_t);
	}
	return ok;
}

/* What a coordinator (AUTHOR) sent about T. */
static gboolean
from_coordinator(const struct reply_context *c, const struct ticket *t, const char *author,
		 bool to_comment_address, GError **error)
{
	g_autofree char *stripped = c->mail->body ? text_strip_quotes(c->mail->body) : g_strdup("");
	g_autofree char *rest = NULL;
	struct commands cmd;
	read_commands(stripped, &cmd, &rest);
	gboolean ok = TRUE;

	if (cmd.unknown) {
		g_autofree char *problem = g_strdup_printf("unknown command \"%s\"", cmd.unknown);
		ok = tell_author(c, t, author, problem, error) &&
		    tickets_event(c->st, t->id, "ignored", author, c->message, problem, c->now, error);
	} else if (cmd.assign && !assignable(c->cfg, cmd.assign)) {
		g_autofree char *problem = g_strdup_printf("\"#assign %s\": not a topic, a coordinator"
							   " name or a staff address", cmd.assign);
		ok = tell_author(c, t, author, problem, error) &&
		    tickets_event(c->st, t->id, "ignored", author, c->message, problem, c->now, error);
	} else if (cmd.assign) {
		ok = assign(c, t, cmd.assign, author, rest, error);
	} else if (cmd.comment || to_comment_address || cmd.close) {
		if (*rest) {
			g_autofree char *note = g_strdup_printf("%s wrote a note for the coordinators"
								" (the participant does not see it).", author);
			struct to_staff s = { .what = "Comment", .note = note, .text = rest,
					      .except = author };
			ok = to_coordinators(c, t, &s, error) &&
			    tickets_event(c->st, t->id, "comment", author, c->message, NULL, c->now, error);
		}
	} else if (*rest) {
		ok = relay_answer(c, t, rest, error) &&
		    tickets_update(c->st, t->id, "answered", NULL, c->now, error) &&
		    tickets_event(c->st, t->id, "answered", author, c->message, NULL, c->now, error);
	} else {
		ok = tickets_event(c->st, t->id, "ignored", author, c->message,
				   "nothing written above the quoted text", c->now, error);
	}
	if (ok && cmd.close && !cmd.unknown)
		ok = tickets_update(c->st, t->id, "closed", NULL, c->now, error) &&
		    tickets_event(c->st, t->id, "closed", author, c->message, NULL, c->now, error);
	g_free(cmd.assign);
	g_free(cmd.unknown);
	return ok;
}

gboolean
questions_handle(const struct reply_context *c, bool *handled, GError **error)
{
	const struct config *cfg = c->cfg;
	bool to_comments = false;
	*handled = false;

	/* How the message names a ticket: its address, its subject tag, or
	 * the thread of one of our messages. */
	g_autofree char *given_mac = NULL;
	g_autofree char *by_address = reference_in_recipient(cfg, c->env->recipient, &to_comments,
							     &given_mac);
	g_autofree char *by_tag = by_address ? NULL : reference_in_subject(cfg, c->mail->subject);
	gint64 by_thread = by_address || by_tag ? 0
	    : tickets_by_message_ids(c->st, c->mail->in_reply_to);
	if (!by_address && !by_tag && !by_thread)
		by_thread = tickets_by_message_ids(c->st, c->mail->references);
	struct ticket t;
	bool found = by_address ? tickets_find_reference(c->st, by_address, &t)
	    : by_tag ? tickets_find_reference(c->st, by_tag, &t)
	    : by_thread ? tickets_find(c->st, by_thread, &t) : false;
	if (!found) {
		/* a ticket address that names no ticket answers nothing */
		*handled = by_address != NULL;
		return TRUE;
	}
	g_autofree char *author = c->mail->from_addr ? g_ascii_strdown(c->mail->from_addr, -1) : NULL;
	bool asker = author && g_ascii_strcasecmp(author, t.email) == 0;
	/* A From can be forged and a reference guessed: a coordinator's
	 * mail counts when it also shows it was sent in answer to our
	 * forward, by the MAC of its Reply-To address or by citing one of
	 * our messages about this ticket. */
	bool proven = (by_address && mac_ok(cfg, t.reference, given_mac)) ||
	    tickets_by_message_ids(c->st, c->mail->in_reply_to) == t.id ||
	    tickets_by_message_ids(c->st, c->mail->references) == t.id;
	bool staff = !asker && proven && routing_is_staff(cfg, author);
	gboolean ok = TRUE;

	if (c->noreply && (staff || asker || by_address)) {
		/* an out-of-office or a bounce is nobody's answer */
		*handled = true;
		ok = tickets_event(c->st, t.id, "ignored", author, c->message, c->noreply, c->now, error);
	} else if (staff) {
		*handled = true;
		ok = from_coordinator(c, &t, author, to_comments, error);
	} else if (asker && !to_comments) {
		*handled = true;
		g_autofree char *note = g_strdup_printf("%s wrote again about this question.", t.email);
		g_autofree char *text = c->mail->body ? text_strip_quotes(c->mail->body) : NULL;
		ok = tickets_update(c->st, t.id, strcmp(t.status, "open") == 0 ? NULL : "open", NULL,
				    c->now, error) &&
		    tickets_event(c->st, t.id, "follow-up", author, c->message, NULL, c->now, error);
		if (ok) {
			struct ticket now_t;
			if (tickets_find(c->st, t.id, &now_t)) {
				struct to_staff s = { .what = "Follow-up", .note = note,
						      .text = text ? text : "(no text)", .attach = c->mail };
				ok = to_coordinators(c, &now_t, &s, error);
				ticket_clear(&now_t);
			}
		}
	} else if (by_address) {
		/* someone else writing to a ticket's address reaches nobody */
		*handled = true;
		ok = tickets_event(c->st, t.id, "ignored", author, c->message,
				   routing_is_staff(cfg, author) && !asker
				   ? "a coordinator's address, without proof it answers our forward"
				   : "not the participant, an organiser or a coordinator", c->now, error);
	}
	/* else: a reference alone does not join someone else's ticket; the
	 * message is read as a new one */
	if (ok && *handled) {
		sqlite3_stmt *stmt = NULL;
		if (sqlite3_prepare_v2(store_db(c->st), "UPDATE messages SET ticket = ? WHERE id = ?",
				       -1, &stmt, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, t.id);
			sqlite3_bind_int64(stmt, 2, c->message);
			sqlite3_step(stmt);
		}
		sqlite3_finalize(stmt);
	}
	ticket_clear(&t);
	return ok;
}

gboolean
questions_remind(struct store *st, const struct config *cfg, const char *now, int *sent,
		 GError **error)
{
	g_autoptr(GArray) due = tickets_reminders_due(st, cfg, now);
	*sent = 0;
	for (guint i = 0; i < due->len; i++) {
		struct ticket t;
		if (!tickets_find(st, g_array_index(due, gint64, i), &t))
			continue;
		g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
		g_autoptr(GDateTime) since = g_date_time_new_from_iso8601(t.updated_at, utc);
		g_autoptr(GDateTime) at = g_date_time_new_from_iso8601(now, utc);
		gint64 hours = since && at ? g_date_time_difference(at, since) / G_TIME_SPAN_HOUR : 0;
		g_autofree char *what = g_strdup_printf("Reminder: unanswered for %" G_GINT64_FORMAT " hours",
							hours);
		g_autofree char *note = g_strdup_printf("This question has waited %" G_GINT64_FORMAT
							" hours for an answer.", hours);
		struct envelope env = { 0 };
		struct mail none = { 0 };
		struct reply_context c = { .st = st, .cfg = cfg, .now = now, .env = &env, .mail = &none };
		struct to_staff s = { .what = what, .note = note };
		gboolean ok = to_coordinators(&c, &t, &s, error) && tickets_reminded(st, t.id, now, error);
		ticket_clear(&t);
		if (!ok)
			return FALSE;
		(*sent)++;
	}
	return TRUE;
}

gboolean
questions_assign(struct store *st, const struct config *cfg, const char *reference, const char *who,
		 const char *actor, const char *now, GError **error)
{
	struct ticket t;
	if (!tickets_find_reference(st, reference, &t)) {
		g_set_error(error, CONFMAIL_ERROR, EX_NOINPUT, "no ticket %s", reference);
		return FALSE;
	}
	g_autofree char *lower = g_ascii_strdown(who, -1);
	gboolean ok = FALSE;
	if (!assignable(cfg, lower)) {
		g_set_error(error, CONFMAIL_ERROR, EX_USAGE, "'%s' is not a topic, a [coordinators] name"
			    " or an organiser's or coordinator's address", who);
	} else {
		struct envelope env = { 0 };
		struct mail none = { 0 };
		struct reply_context c = { .st = st, .cfg = cfg, .now = now, .env = &env, .mail = &none };
		ok = assign(&c, &t, lower, actor, NULL, error);
	}
	ticket_clear(&t);
	return ok;
}

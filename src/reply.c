/*
 * reply.c - the answer a message deserves: which template, to whom, in
 * which language, and whether to answer at all.  A reply is queued in the
 * outbox inside the intake's transaction, so it exists exactly when what
 * it reports was recorded.
 *
 * Never to a machine (RFC 3834, noreply.c), never more than
 * [limits] max_replies_per_day to one address nor max_replies_per_hour to
 * everyone together: what is withheld is recorded, with the reason, for
 * the organisers.
 */
#include "confmail.h"

#include <stdlib.h>
#include <string.h>

#define CONFIRM_DAYS 7

/* What the reply needs beyond the template's name. */
struct answer {
	const char *template;
	const char *to;			/* recipient address */
	const char *to_name;
	const char *language;
	const char *reference;		/* subject tag */
	char *reply_to;			/* confirm+TOKEN@domain */
	gint64 ticket;			/* the question's, or 0 */
	JsonObject *vars;
};

static void
answer_clear(struct answer *a)
{
	g_free(a->reply_to);
	if (a->vars)
		json_object_unref(a->vars);
}

static void
set_str(JsonObject *o, const char *name, const char *value)
{
	json_object_set_string_member(o, name, value ? value : "");
}

/* The variables of registration R in LANG. */
static void
registration_vars(const struct reply_context *c, JsonObject *vars, const char *lang,
		  const struct registration *r)
{
	char key[64];

	set_str(vars, "reference", r->reference);
	set_str(vars, "name", r->name);
	set_str(vars, "email", r->email);
	set_str(vars, "status", r->status);
	g_snprintf(key, sizeof key, "status.%s", r->status);
	const char *st = templates_label(c->ts, lang, key);
	set_str(vars, "status_text", st ? st : r->status);
	json_object_set_boolean_member(vars, "incomplete", strcmp(r->status, "incomplete") == 0);
	json_object_set_boolean_member(vars, "late", strcmp(r->status, "late") == 0);
	json_object_set_boolean_member(vars, "waitlisted", strcmp(r->status, "waitlisted") == 0);
	json_object_set_array_member(vars, "fields", compose_field_list(c->ts, c->rules, lang, r->fields));
	json_object_set_array_member(vars, "missing", compose_missing_list(c->ts, lang, r->fields));
}

/* The changes MESSAGE made (or asked for) on registration REG. */
static JsonArray *
change_list(const struct reply_context *c, const char *lang, gint64 reg, gint64 message)
{
	JsonArray *list = json_array_new();
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(store_db(c->st),
			       "SELECT field, old_value, new_value FROM registration_changes"
			       " WHERE registration = ? AND message = ? AND kind = 'update' ORDER BY id",
			       -1, &stmt, NULL) != SQLITE_OK)
		return list;
	sqlite3_bind_int64(stmt, 1, reg);
	sqlite3_bind_int64(stmt, 2, message);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *field = (const char *)sqlite3_column_text(stmt, 0);
		if (!field)
			continue;
		/* old and new written for people, as the record shows them */
		g_autoptr(JsonObject) pair = json_object_new();
		for (int i = 1; i <= 2; i++) {
			const char *text = (const char *)sqlite3_column_text(stmt, i);
			if (!text)
				continue;
			JsonNode *v = json_from_string(text, NULL);
			if (!v || JSON_NODE_HOLDS_OBJECT(v)) {
				if (v)
					json_node_unref(v);
				v = json_node_new(JSON_NODE_VALUE);
				json_node_set_string(v, text);
			}
			json_object_set_member(pair, field, v);
			g_autoptr(JsonArray) shown = compose_field_list(c->ts, c->rules, lang, pair);
			const char *value = json_array_get_length(shown)
			    ? json_object_get_string_member(json_array_get_object_element(shown, 0), "value")
			    : text;
			json_object_set_string_member(pair, i == 1 ? "old" : "new", value);
			json_object_remove_member(pair, field);
		}
		char key[64];
		g_snprintf(key, sizeof key, "field.%s", field);
		const char *label = templates_label(c->ts, lang, key);
		json_object_set_string_member(pair, "field", field);
		json_object_set_string_member(pair, "label", label ? label : field);
		if (!json_object_has_member(pair, "old"))
			json_object_set_string_member(pair, "old", "");
		json_array_add_object_element(list, json_object_ref(pair));
	}
	sqlite3_finalize(stmt);
	return list;
}

/* A confirmation address and its expiry for ACTION on RECORD by TO. */
static gboolean
add_token(const struct reply_context *c, struct answer *a, const char *action, const char *record,
	  GError **error)
{
	g_autofree char *secret = secret_load(c->cfg, error);
	if (!secret)
		return FALSE;
	g_autoptr(GDateTime) now = confmail_now();
	g_autoptr(GDateTime) expires = g_date_time_add_days(now, CONFIRM_DAYS);
	g_autofree char *token = token_make(secret, action, a->to, record, expires);
	a->reply_to = g_strdup_printf("confirm+%s@%s", token, c->cfg->domain);
	g_autofree char *when = compose_date(c->ts, a->language, expires);
	set_str(a->vars, "confirm_address", a->reply_to);
	set_str(a->vars, "expires", when);
	return TRUE;
}

/* Queues A, unless the recipient is a machine or had enough today. */
static gboolean
send(const struct reply_context *c, struct answer *a, gint64 registration, const char **what,
     GError **error)
{
	const char *reason = NULL;

	if (c->noreply)
		reason = c->noreply;
	else if (!compose_address_ok(a->to))
		reason = "no address to answer";
	else if (outbox_replies_since(c->st, a->to, c->now, "-1 day") >= c->cfg->max_replies_per_day)
		reason = "max_replies_per_day reached";
	/* a run of forged senders must not make us a backscatter source */
	else if (c->cfg->max_replies_per_hour &&
		 outbox_replies_since(c->st, NULL, c->now, "-1 hour") >= c->cfg->max_replies_per_hour)
		reason = "max_replies_per_hour reached";
	if (reason) {
		*what = a->template;
		return outbox_note_withheld(c->st, c->message, a->to, a->template, reason, c->now, error);
	}
	g_autofree char *mid = NULL;
	struct reply r = {
		.template = a->template, .language = a->language, .to_addr = a->to,
		.to_name = a->to_name, .reference = a->reference, .reply_to = a->reply_to,
		.answering = c->mail, .vars = a->vars,
	};
	g_autoptr(GMimeMessage) msg = compose_reply(c->cfg, c->ts, &r, &mid, error);
	if (!msg)
		return FALSE;
	struct outgoing o = {
		.kind = "reply", .recipient = a->to, .envelope_from = c->cfg->from_address,
		.message_id = mid, .template = a->template, .source_message = c->message,
		.registration = registration, .ticket = a->ticket,
	};
	*what = a->template;
	return outbox_put(c->st, &o, msg, c->now, error);
}

/* A late registration: the organisers decide, so they get it whole. */
static gboolean
forward_late(const struct reply_context *c, const struct registration *r, GError **error)
{
	g_autofree char *subject = g_strdup_printf("[%s] Late registration from %s: please decide",
						   r->reference, r->name ? r->name : r->email);
	g_autofree char *deadline = c->cfg->registration_deadline
	    ? g_date_time_format(c->cfg->registration_deadline, "%Y-%m-%d") : g_strdup("?");
	g_autofree char *text = g_strdup_printf(
		"A registration arrived after the deadline (%s) and is recorded as late:\n\n"
		"  reference  %s\n  name       %s\n  address    %s\n  received   %s\n\n"
		"The participant was told that registration by email is closed and that\n"
		"you will decide.  Their message is attached.\n\n"
		"  confmail registrations show %s\n",
		deadline, r->reference, r->name ? r->name : "-", r->email, c->now, r->reference);
	g_autofree char *mid = NULL;
	struct staff_mail sm = { .subject = subject, .text = text, .to = c->cfg->organisers };
	g_autoptr(GMimeMessage) msg = compose_forward(c->cfg, c->mail, &sm, &mid);
	for (int i = 0; c->cfg->organisers && c->cfg->organisers[i]; i++) {
		struct outgoing o = {
			.kind = "forward", .recipient = c->cfg->organisers[i],
			.envelope_from = c->cfg->from_address, .message_id = mid, .template = "late",
			.source_message = c->message, .registration = r->id,
		};
		if (!outbox_put(c->st, &o, msg, c->now, error))
			return FALSE;
	}
	return TRUE;
}

static char *
sender_of(const struct reply_context *c)
{
	const char *s = c->mail->from_addr;
	return s ? g_ascii_strdown(s, -1) : NULL;
}

/* Whether the message is a request for help: "help" alone in the subject
 * or the body, in one of our languages. */
static bool
asks_for_help(const struct reply_context *c)
{
	static const char *const words[] = { "help", "مساعدة", "یارمەتی", "ياردة" };
	const char *texts[] = { c->mail->subject, c->mail->body };
	for (size_t t = 0; t < G_N_ELEMENTS(texts); t++) {
		if (!texts[t])
			continue;
		g_autofree char *s = g_utf8_strdown(texts[t], -1);
		g_strstrip(s);
		for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
			if (strcmp(s, words[i]) == 0)
				return true;
	}
	return false;
}

gboolean
reply_staff(const struct reply_context *c, const char *to, const char *subject, const char *text,
	    GError **error)
{
	char *list[] = { (char *)to, NULL };
	struct staff_mail sm = { .subject = subject, .text = text, .to = list };
	g_autofree char *mid = NULL;
	g_autoptr(GMimeMessage) msg = compose_forward(c->cfg, NULL, &sm, &mid);
	struct outgoing o = {
		.kind = "forward", .recipient = to, .envelope_from = c->cfg->from_address,
		.message_id = mid, .template = "staff", .source_message = c->message,
	};
	return outbox_put(c->st, &o, msg, c->now, error);
}

gboolean
reply_remind_incomplete(const struct reply_context *c, gint64 reg, GError **error)
{
	struct registration r = { 0 };
	if (!registry_find(c->st, reg, &r))
		return TRUE;
	const char *lang = compose_language(r.language);
	struct answer a = { .language = lang, .to = r.email, .to_name = r.name,
			    .template = "incomplete", .reference = r.reference };
	const char *what = NULL;
	a.vars = compose_vars(c->cfg, c->ts, lang);
	registration_vars(c, a.vars, lang, &r);
	gboolean ok = send(c, &a, r.id, &what, error);
	answer_clear(&a);
	registration_clear(&r);
	return ok;
}

gboolean
reply_with(const struct reply_context *c, const char *tmpl, GError **error)
{
	const char *lang = compose_language(c->verdict->language);
	g_autofree char *sender = sender_of(c);
	struct answer a = { .language = lang, .to = sender, .to_name = c->mail->from_name,
			    .template = tmpl };
	const char *what = NULL;
	a.vars = compose_vars(c->cfg, c->ts, lang);
	set_str(a.vars, "subject", c->mail->subject);
	set_str(a.vars, "email", sender);
	set_str(a.vars, "name", c->mail->from_name);
	gboolean ok = send(c, &a, 0, &what, error);
	answer_clear(&a);
	return ok;
}

gboolean
reply_act(const struct reply_context *c, const struct registry_result *res, const char **what,
	  GError **error)
{
	const char *cls = c->verdict->class;
	const char *lang = compose_language(c->verdict->language);
	g_autofree char *sender = sender_of(c);
	struct answer a = { .language = lang, .to = sender, .to_name = c->mail->from_name };
	struct registration r = { 0 };
	gboolean ok = TRUE;
	gint64 reg = 0;

	*what = "none";
	a.vars = compose_vars(c->cfg, c->ts, lang);
	set_str(a.vars, "subject", c->mail->subject);
	set_str(a.vars, "email", sender);

	bool about_registration = strcmp(cls, "registration") == 0 || strcmp(cls, "update") == 0 ||
	    strcmp(cls, "cancel") == 0;
	if (about_registration && res->registration && registry_find(c->st, res->registration, &r)) {
		reg = r.id;
		a.reference = r.reference;
		/* A change asked by someone else goes to the registered address,
		 * in the language it registered in. */
		bool to_owner = strcmp(res->action, "update-pending") == 0 ||
		    strcmp(res->action, "cancel-pending") == 0;
		/* The answer goes to the registered address: a colleague who
		 * forwarded a registration is not the one who needs the reference. */
		a.to = r.email;
		a.to_name = r.name ? r.name : c->mail->from_name;
		if (to_owner) {
			set_str(a.vars, "requested_by", sender);
			a.language = lang = compose_language(r.language);
			json_object_unref(a.vars);
			a.vars = compose_vars(c->cfg, c->ts, lang);
			set_str(a.vars, "subject", c->mail->subject);
			set_str(a.vars, "requested_by", sender);
		}
		registration_vars(c, a.vars, lang, &r);
		if (strcmp(res->action, "created") == 0) {
			a.template = strcmp(r.status, "late") == 0 ? "late"
			    : strcmp(r.status, "waitlisted") == 0 ? "waitlisted" : "received";
			if (strcmp(r.status, "late") == 0 && !c->noreply)
				ok = forward_late(c, &r, error);
		} else if (strcmp(res->action, "updated") == 0) {
			a.template = res->changed ? "updated" : "received";
			json_object_set_array_member(a.vars, "changes",
						     change_list(c, lang, r.id, c->message));
		} else if (strcmp(res->action, "update-pending") == 0) {
			a.template = "confirm-change";
			json_object_set_array_member(a.vars, "changes",
						     change_list(c, lang, r.id, c->message));
			g_autofree char *record = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
								  r.id, c->message);
			ok = res->changed == 0 || add_token(c, &a, "update", record, error);
			if (res->changed == 0)
				a.template = NULL;	/* nothing new to confirm */
		} else if (strcmp(res->action, "cancel-pending") == 0) {
			a.template = "cancel-confirm";
			g_autofree char *record = g_strdup_printf("%" G_GINT64_FORMAT, r.id);
			ok = add_token(c, &a, "cancel", record, error);
		}
	} else if (about_registration && strcmp(res->action, "unknown") == 0) {
		a.template = "not-found";
	} else if (strcmp(cls, "question") == 0 && sender) {
		char ticket[32] = "";
		struct ticket_request t = {
			.message = c->message, .email = sender, .name = c->mail->from_name,
			.language = lang, .topic = c->verdict->topic, .now = c->now,
		};
		/* the coordinators hear of it whether or not the asker may be
		 * answered: a person reads what a machine must not answer */
		ok = tickets_open(c->st, c->cfg, &t, ticket, &a.ticket, error) &&
		    questions_opened(c, a.ticket, error);
		char key[64];
		g_snprintf(key, sizeof key, "topic.%s", c->verdict->topic ? c->verdict->topic : "other");
		const char *topic = templates_label(c->ts, lang, key);
		set_str(a.vars, "ticket", ticket);
		set_str(a.vars, "topic_text", topic ? topic : c->verdict->topic);
		a.template = "question";
		a.reference = ticket;
	} else if ((strcmp(cls, "subscribe") == 0 || strcmp(cls, "unsubscribe") == 0) && sender) {
		/* double opt-in both ways: only the address itself can say
		 * yes, by answering the confirmation sent to it */
		bool joining = strcmp(cls, "subscribe") == 0;
		a.template = joining ? "subscribe-confirm" : "unsubscribe-confirm";
		ok = add_token(c, &a, joining ? "subscribe" : "unsubscribe", "list", error);
	} else if (strcmp(cls, "other") == 0 && asks_for_help(c)) {
		a.template = "help";
	}
	if (ok && a.template) {
		/* the reference a reply carries is copied before r goes */
		char reference[32] = "";
		if (a.reference) {
			g_strlcpy(reference, a.reference, sizeof reference);
			a.reference = reference;
		}
		ok = send(c, &a, reg, what, error);
	}
	registration_clear(&r);
	answer_clear(&a);
	return ok;
}

gboolean
reply_confirm(const struct reply_context *c, bool *handled, GError **error)
{
	g_autofree char *token = token_in(c->env->recipient, c->mail->subject);
	*handled = token != NULL;
	if (!token)
		return TRUE;
	g_autofree char *secret = secret_load(c->cfg, error);
	if (!secret)
		return FALSE;
	g_autofree char *sender = sender_of(c);
	g_autofree char *action = NULL, *record = NULL;
	g_autoptr(GDateTime) now = confmail_now();
	enum token_status ts = sender ? token_check(secret, token, sender, now, &action, &record)
	    : TOKEN_INVALID;
	const char *lang = compose_language(c->verdict->language);
	struct answer a = { .language = lang, .to = sender, .to_name = c->mail->from_name };
	struct registration r = { 0 };
	bool applied = false;
	gboolean ok = TRUE;
	const char *what = "none";

	a.vars = compose_vars(c->cfg, c->ts, lang);
	set_str(a.vars, "subject", c->mail->subject);
	set_str(a.vars, "email", sender);
	gint64 reg = record ? g_ascii_strtoll(record, NULL, 10) : 0;
	if (ts == TOKEN_OK && record && strcmp(record, "list") == 0 &&
	    (strcmp(action, "subscribe") == 0 || strcmp(action, "unsubscribe") == 0)) {
		/* joining or leaving the list, confirmed by the address itself
		 * (a List-Unsubscribe token is one of these) */
		bool removed = true;
		ok = strcmp(action, "subscribe") == 0
		    ? list_add(c->st, sender, c->mail->from_name, lang, "email", c->now, error)
		    : list_remove(c->st, sender, c->now, &removed, error);
		a.template = strcmp(action, "subscribe") == 0 ? "subscribed" : "unsubscribed";
		applied = true;
	} else if (ts == TOKEN_OK && strcmp(action, "approve") == 0 && reg > 0) {
		/* an organiser approves a held post, from the address the
		 * request was sent to: a forged From cannot */
		int sent = 0;
		g_autoptr(GError) why = NULL;
		if (announce_send(c->st, c->cfg, reg, NULL, sender, c->now, &sent, &why)) {
			g_autofree char *text = g_strdup_printf(
				"Announcement %" G_GINT64_FORMAT " was approved by %s and is queued for"
				" %d recipients.\n", reg, sender, sent);
			ok = reply_staff(c, sender, "Approved: the announcement is being sent", text, error);
		} else if (why->domain == CONFMAIL_ERROR && why->code == EX_TEMPFAIL) {
			g_propagate_error(error, g_steal_pointer(&why));
			ok = FALSE;
		} else {
			g_autofree char *text = g_strdup_printf("Announcement %" G_GINT64_FORMAT
								" was not sent: %s\n", reg, why->message);
			ok = reply_staff(c, sender, "Not sent: the announcement", text, error);
		}
		*handled = true;
		answer_clear(&a);
		return ok;
	} else if (ts == TOKEN_OK && (strcmp(action, "cancel") == 0 || strcmp(action, "update") == 0) &&
	    reg > 0 && registry_find(c->st, reg, &r)) {
		if (strcmp(action, "cancel") == 0) {
			ok = registry_confirm_cancel(c->st, reg, c->message, c->now, &applied, error);
			a.template = "cancelled";
		} else {
			const char *dot = strchr(record, '.');
			gint64 source = dot ? g_ascii_strtoll(dot + 1, NULL, 10) : 0;
			if (source > 0)
				ok = registry_confirm_update(c->st, reg, source, c->message, c->now,
							     &applied, error);
			a.template = "updated";
			if (ok)
				json_object_set_array_member(a.vars, "changes",
							     change_list(c, lang, reg, source));
		}
		if (ok && applied) {
			registration_clear(&r);
			registry_find(c->st, reg, &r);
			registration_vars(c, a.vars, lang, &r);
			a.reference = r.reference;
		}
	}
	if (ok && !applied) {
		a.template = "confirm-failed";
		json_object_set_boolean_member(a.vars, "expired", ts == TOKEN_EXPIRED);
		json_object_set_boolean_member(a.vars, "invalid", ts == TOKEN_INVALID ||
					       (ts == TOKEN_OK && !r.id));
		json_object_set_boolean_member(a.vars, "done", ts == TOKEN_OK && r.id);
		if (r.id)
			a.reference = r.reference;
	}
	if (ok) {
		char reference[32] = "";
		if (a.reference) {
			g_strlcpy(reference, a.reference, sizeof reference);
			a.reference = reference;
		}
		ok = send(c, &a, r.id, &what, error);
	}
	registration_clear(&r);
	answer_clear(&a);
	return ok;
}

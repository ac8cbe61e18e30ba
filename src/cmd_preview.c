/*
 * cmd_preview.c - `confmail preview NAME [--language L] [--part P]`: what
 * a participant would receive from template NAME, filled with a sample
 * registration, so organisers see their edits before anyone else does.
 * The golden tests of the templates use it too.
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

/* A registration as a participant might have sent it. */
static JsonObject *
sample_fields(void)
{
	JsonObject *f = json_object_new();
	json_object_set_string_member(f, "name", "Amal Rashid");
	json_object_set_string_member(f, "email", "amal@example.org");
	json_object_set_string_member(f, "organization", "Tigris Voices & Partners");
	json_object_set_string_member(f, "country", "IQ");
	json_object_set_string_member(f, "city", "Basra");
	json_object_set_string_member(f, "funding", "needs_sponsorship");
	json_object_set_string_member(f, "arrival", "2022-03-10");
	json_object_set_boolean_member(f, "accommodation", TRUE);
	JsonArray *langs = json_array_new();
	json_array_add_string_element(langs, "ar");
	json_array_add_string_element(langs, "en");
	json_object_set_array_member(f, "languages", langs);
	return f;
}

static JsonObject *
sample_vars(const struct config *cfg, struct templates *ts, const struct rules *r, const char *lang)
{
	JsonObject *v = compose_vars(cfg, ts, lang);
	g_autoptr(JsonObject) fields = sample_fields();
	g_autofree char *reference = g_strdup_printf("%s-0042", cfg->reference_prefix);
	g_autofree char *ticket = g_strdup_printf("%s-Q-0012", cfg->reference_prefix);
	g_autofree char *confirm = g_strdup_printf("confirm+cancel-42-19100-0123456789abcdef0123@%s",
						   cfg->domain);
	g_autoptr(GDateTime) expires = g_date_time_new_utc(2022, 2, 1, 12, 0, 0);
	g_autofree char *when = compose_date(ts, lang, expires);
	const char *status = templates_label(ts, lang, "status.incomplete");
	const char *topic = templates_label(ts, lang, "topic.visa");

	json_object_set_string_member(v, "reference", reference);
	json_object_set_string_member(v, "name", "Amal Rashid");
	json_object_set_string_member(v, "email", "amal@example.org");
	json_object_set_string_member(v, "status", "incomplete");
	json_object_set_string_member(v, "status_text", status ? status : "incomplete");
	json_object_set_boolean_member(v, "incomplete", TRUE);
	json_object_set_boolean_member(v, "late", FALSE);
	json_object_set_boolean_member(v, "waitlisted", FALSE);
	json_object_set_array_member(v, "fields", compose_field_list(ts, r, lang, fields));
	json_object_set_array_member(v, "missing", compose_missing_list(ts, lang, fields));
	JsonArray *changes = json_array_new();
	JsonObject *c = json_object_new();
	const char *label = templates_label(ts, lang, "field.arrival");
	g_autoptr(GDateTime) old = g_date_time_new_utc(2022, 3, 10, 12, 0, 0);
	g_autoptr(GDateTime) new = g_date_time_new_utc(2022, 3, 11, 12, 0, 0);
	g_autofree char *old_text = compose_date(ts, lang, old);
	g_autofree char *new_text = compose_date(ts, lang, new);
	json_object_set_string_member(c, "field", "arrival");
	json_object_set_string_member(c, "label", label ? label : "arrival");
	json_object_set_string_member(c, "old", old_text);
	json_object_set_string_member(c, "new", new_text);
	json_array_add_object_element(changes, c);
	json_object_set_array_member(v, "changes", changes);
	json_object_set_string_member(v, "requested_by", "colleague@example.net");
	json_object_set_string_member(v, "confirm_address", confirm);
	json_object_set_string_member(v, "expires", when);
	json_object_set_string_member(v, "ticket", ticket);
	json_object_set_string_member(v, "topic_text", topic ? topic : "visa");
	json_object_set_string_member(v, "subject", "Registration <ICSSI> & travel");
	json_object_set_boolean_member(v, "expired", TRUE);
	json_object_set_boolean_member(v, "invalid", FALSE);
	json_object_set_boolean_member(v, "done", FALSE);
	return v;
}

int
cmd_preview(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *lang = NULL, *part = NULL;
	GOptionEntry entries[] = {
		{ "language", 'l', 0, G_OPTION_ARG_STRING, &lang, "en (default), ar or ckb", "LANG" },
		{ "part", 'p', 0, G_OPTION_ARG_STRING, &part,
		  "message (default: the whole MIME message), subject, text or html", "PART" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("TEMPLATE - show a reply as it would be sent");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error) || argc != 2) {
		cm_err("usage: confmail preview TEMPLATE [--language en|ar|ckb] "
		       "[--part message|subject|text|html]");
		return EX_USAGE;
	}
	if (!part)
		part = g_strdup("message");
	if (lang && strcmp(compose_language(lang), lang) != 0) {
		cm_err("preview: replies are written in en, ar or ckb, not '%s'", lang);
		return EX_USAGE;
	}
	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	g_autofree char *rdir = rules_default_dir();
	g_autoptr(rules) r = rules_load(rdir, &error);
	if (!r)
		return cm_fail(error);
	g_autofree char *dir = templates_default_dir();
	g_autoptr(templates) ts = templates_open(dir);
	const char *language = lang ? lang : "en", *used;
	const struct template *t = templates_get(ts, language, argv[1], &used, &error);
	if (!t)
		return cm_fail(error);
	g_autoptr(JsonObject) vars = sample_vars(cfg, ts, r, used);

	if (strcmp(part, "message") == 0) {
		g_autofree char *mid = NULL;
		g_autofree char *reference = g_strdup_printf("%s-0042", cfg->reference_prefix);
		struct reply rp = {
			.template = argv[1], .language = language, .to_addr = "amal@example.org",
			.to_name = "Amal Rashid", .reference = reference, .vars = vars,
		};
		g_autoptr(GMimeMessage) msg = compose_reply(cfg, ts, &rp, &mid, &error);
		if (!msg)
			return cm_fail(error);
		g_autofree char *text = g_mime_object_to_string(GMIME_OBJECT(msg), NULL);
		fputs(text, stdout);
		return 0;
	}
	enum template_part p = strcmp(part, "subject") == 0 ? PART_SUBJECT
	    : strcmp(part, "text") == 0 ? PART_TEXT : PART_HTML;
	if (strcmp(part, "subject") != 0 && strcmp(part, "text") != 0 && strcmp(part, "html") != 0) {
		cm_err("preview: --part is message, subject, text or html, not '%s'", part);
		return EX_USAGE;
	}
	if (p == PART_HTML && !template_has_html(t)) {
		cm_err("preview: %s has no HTML body", argv[1]);
		return EX_DATAERR;
	}
	g_autofree char *out = template_render(t, p, vars);
	fputs(out, stdout);
	if (p == PART_SUBJECT)
		fputc('\n', stdout);
	return 0;
}

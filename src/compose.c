/*
 * compose.c - replies: the template in the participant's language filled
 * with what was recorded, built into a MIME message with GMime.
 *
 * Everything taken from a participant's message that reaches a header (a
 * name, a subject) goes through header_safe() and GMime's own encoding, so
 * no value can add a header line or break one.
 */
#include "confmail.h"

#include <string.h>

struct templates {
	char *dir;
	GHashTable *loaded;	/* "lang/name" -> struct template * (NULL: absent) */
	GHashTable *labels;	/* lang -> GHashTable key -> text */
};

/* The languages we write in: the others read English. */
static const char *const languages[] = { "en", "ar", "ckb" };

const char *const template_names[] = {
	"received", "incomplete", "updated", "confirm-change", "cancel-confirm", "cancelled",
	"late", "waitlisted", "question", "subscribe-confirm", "unsubscribe-confirm", "help",
	"not-found", "confirm-failed", "subscribed", "unsubscribed", "post-held",
};

static const char *const globals[] = {
	"conference", "reference", "name", "email", "status", "status_text", "incomplete",
	"late", "waitlisted", "deadline", "register_address", "info_address",
	"organisers_address", "from_address", "fields", "missing", "changes", "requested_by",
	"confirm_address", "expires", "ticket", "topic_text", "subject", "expired", "invalid",
	"done", "list_address", NULL,
};

static const char *const field_items[] = { "field", "label", "value", NULL };
static const char *const missing_items[] = { "field", "label", NULL };
static const char *const change_items[] = { "field", "label", "old", "new", NULL };

static const char *const *
items_of(const char *list)
{
	if (strcmp(list, "fields") == 0)
		return field_items;
	if (strcmp(list, "missing") == 0)
		return missing_items;
	if (strcmp(list, "changes") == 0)
		return change_items;
	return NULL;
}

static const struct template_schema schema = { globals, items_of };

/* Without these a registration is incomplete (registry.c decides the same). */
static const char *const required[] = { "name", "organization", "country", "funding", "principles" };

char *
templates_default_dir(void)
{
	const char *env = g_getenv("CONFMAIL_TEMPLATES");

	if (env && *env)
		return g_strdup(env);
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe) {
		g_autofree char *dir = g_path_get_dirname(exe);
		char *beside = g_build_filename(dir, "templates", NULL);
		g_autofree char *probe = g_build_filename(beside, "en", "labels", NULL);
		if (g_file_test(probe, G_FILE_TEST_EXISTS))
			return beside;
		g_free(beside);
	}
	return g_strdup(CONFMAIL_TEMPLATES_DIR);
}

struct templates *
templates_open(const char *dir)
{
	struct templates *ts = g_new0(struct templates, 1);
	ts->dir = g_strdup(dir);
	ts->loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)template_free);
	ts->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)g_hash_table_destroy);
	return ts;
}

void
templates_free(struct templates *ts)
{
	if (!ts)
		return;
	g_free(ts->dir);
	g_hash_table_destroy(ts->loaded);
	g_hash_table_destroy(ts->labels);
	g_free(ts);
}

/* Loads templates/LANG/NAME.tmpl once; NULL (and no error) when absent. */
static const struct template *
load_one(struct templates *ts, const char *lang, const char *name, GError **error)
{
	g_autofree char *key = g_strdup_printf("%s/%s", lang, name);
	gpointer found;
	if (g_hash_table_lookup_extended(ts->loaded, key, NULL, &found))
		return found;
	g_autofree char *file = g_strdup_printf("%s.tmpl", name);
	g_autofree char *path = g_build_filename(ts->dir, lang, file, NULL);
	struct template *t = NULL;
	if (g_file_test(path, G_FILE_TEST_EXISTS) && !(t = template_load(path, error)))
		return NULL;
	g_hash_table_insert(ts->loaded, g_steal_pointer(&key), t);
	return t;
}

const struct template *
templates_get(struct templates *ts, const char *lang, const char *name, const char **used,
	      GError **error)
{
	const struct template *t = load_one(ts, lang, name, error);
	*used = lang;
	if (!t && error && *error)
		return NULL;
	if (!t && strcmp(lang, "en") != 0) {
		*used = "en";
		t = load_one(ts, "en", name, error);
	}
	if (!t && !(error && *error))
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s/en/%s.tmpl: no such template",
			    ts->dir, name);
	return t;
}

/* templates/LANG/labels: "key = text" lines. */
static GHashTable *
labels_of(struct templates *ts, const char *lang, GPtrArray *problems)
{
	GHashTable *l = g_hash_table_lookup(ts->labels, lang);
	if (l && !problems)
		return l;
	g_autofree char *path = g_build_filename(ts->dir, lang, "labels", NULL);
	g_autofree char *text = NULL;
	GHashTable *fresh = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (g_file_get_contents(path, &text, NULL, NULL)) {
		g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
		for (int i = 0; lines[i]; i++) {
			char *line = g_strstrip(lines[i]);
			char *eq = strchr(line, '=');
			if (!*line || *line == '#')
				continue;
			if (!eq) {
				if (problems)
					g_ptr_array_add(problems, g_strdup_printf(
						"%s:%d: expected 'key = text'", path, i + 1));
				continue;
			}
			*eq = '\0';
			g_hash_table_replace(fresh, g_strdup(g_strstrip(line)), g_strdup(g_strstrip(eq + 1)));
		}
	} else if (problems) {
		g_ptr_array_add(problems, g_strdup_printf("%s: missing", path));
	}
	g_hash_table_replace(ts->labels, g_strdup(lang), fresh);
	return fresh;
}

const char *
templates_label(struct templates *ts, const char *lang, const char *key)
{
	const char *v = g_hash_table_lookup(labels_of(ts, lang, NULL), key);
	if (!v && strcmp(lang, "en") != 0)
		v = g_hash_table_lookup(labels_of(ts, "en", NULL), key);
	return v;
}

bool
templates_check(struct templates *ts, GPtrArray *problems, GPtrArray *notes)
{
	guint before = problems->len;

	for (size_t l = 0; l < G_N_ELEMENTS(languages); l++) {
		labels_of(ts, languages[l], problems);
		for (size_t i = 0; i < G_N_ELEMENTS(template_names); i++) {
			g_autoptr(GError) error = NULL;
			const struct template *t = load_one(ts, languages[l], template_names[i], &error);
			if (error)
				g_ptr_array_add(problems, g_strdup(error->message));
			else if (t)
				template_check(t, &schema, problems);
			else if (strcmp(languages[l], "en") == 0)
				g_ptr_array_add(problems, g_strdup_printf("%s/en/%s.tmpl: missing (English is"
									   " the fallback of every language)",
									   ts->dir, template_names[i]));
			else
				g_ptr_array_add(notes, g_strdup_printf("%s/%s/%s.tmpl: missing; English is sent instead",
								       ts->dir, languages[l], template_names[i]));
		}
	}
	return problems->len == before;
}

const char *
compose_language(const char *detected)
{
	for (size_t l = 0; detected && l < G_N_ELEMENTS(languages); l++)
		if (strcmp(detected, languages[l]) == 0)
			return languages[l];
	return "en";
}

char *
header_safe(const char *s, gsize max)
{
	g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
	GString *out = g_string_new(NULL);
	gsize n = 0;
	bool space = false;

	for (const char *p = valid; *p && n < max; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		/* controls (CR, LF, NUL, TAB, DEL, C1), line and paragraph
		 * separators: all become one space */
		if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029 ||
		    g_unichar_isspace(c)) {
			space = out->len > 0;
			continue;
		}
		if (space) {
			g_string_append_c(out, ' ');
			n++;
			space = false;
		}
		/* text that looks like an encoded-word would be decoded by the
		 * reader, CR LF and all: "=?" never reaches a header as such */
		if (c == '?' && out->len && out->str[out->len - 1] == '=')
			g_string_append_c(out, ' ');
		g_string_append_unichar(out, c);
		n++;
	}
	return g_string_free(out, FALSE);
}

bool
compose_address_ok(const char *addr)
{
	if (!addr || !*addr || strlen(addr) > 254)
		return false;
	const char *at = strchr(addr, '@');
	if (!at || at == addr || !at[1] || strchr(at + 1, '@'))
		return false;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || strchr("<>()[]\\,;:\"", *p))
			return false;
	return g_utf8_validate(addr, -1, NULL);
}

char *
compose_date(struct templates *ts, const char *lang, GDateTime *when)
{
	if (!when)
		return g_strdup("");
	g_autofree char *key = g_strdup_printf("month.%d", g_date_time_get_month(when));
	const char *month = templates_label(ts, lang, key);
	const char *format = templates_label(ts, lang, "date");
	g_autofree char *m = month ? g_strdup(month) : g_date_time_format(when, "%B");
	g_autofree char *day = g_strdup_printf("%d", g_date_time_get_day_of_month(when));
	g_autofree char *year = g_strdup_printf("%d", g_date_time_get_year(when));
	GString *out = g_string_new(format ? format : "{day} {month} {year}");
	g_string_replace(out, "{day}", day, 0);
	g_string_replace(out, "{month}", m, 0);
	g_string_replace(out, "{year}", year, 0);
	return g_string_free(out, FALSE);
}

static char *
date_text(struct templates *ts, const char *lang, const char *iso)
{
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autofree char *midday = g_strdup_printf("%sT12:00:00Z", iso);
	g_autoptr(GDateTime) d = strlen(iso) == 10 ? g_date_time_new_from_iso8601(midday, utc) : NULL;
	return d ? compose_date(ts, lang, d) : g_strdup(iso);
}

/* One value of FIELD written for a reader of LANG. */
static char *
value_for_people(struct templates *ts, const struct rules *r, const char *lang, const char *field,
		 JsonNode *v)
{
	char key[96];

	if (JSON_NODE_HOLDS_ARRAY(v)) {
		JsonArray *a = json_node_get_array(v);
		/* labels lose their trailing blanks: the separator's space is ours */
		const char *sep = templates_label(ts, lang, "separator");
		g_autofree char *spaced = g_strdup_printf("%s ", sep ? sep : ",");
		GString *out = g_string_new(NULL);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			g_autofree char *one = value_for_people(ts, r, lang, field,
								json_array_get_element(a, i));
			if (!*one)
				continue;
			if (out->len)
				g_string_append(out, spaced);
			g_string_append(out, one);
		}
		return g_string_free(out, FALSE);
	}
	if (!JSON_NODE_HOLDS_VALUE(v))
		return g_strdup("");
	if (json_node_get_value_type(v) == G_TYPE_BOOLEAN) {
		const char *l = templates_label(ts, lang, json_node_get_boolean(v) ? "value.true" : "value.false");
		return g_strdup(l ? l : json_node_get_boolean(v) ? "yes" : "no");
	}
	if (json_node_get_value_type(v) != G_TYPE_STRING)
		return json_to_string(v, FALSE);
	const char *s = json_node_get_string(v);
	g_snprintf(key, sizeof key, "value.%s.%s", field, s);
	const char *label = templates_label(ts, lang, key);
	if (label)
		return g_strdup(label);
	if (strcmp(field, "country") == 0 && r) {
		int index = strcmp(lang, "ar") == 0 ? 1 : strcmp(lang, "ckb") == 0 ? 2 : 0;
		const char *name = table_name_of(rules_table(r, "countries"), s, index);
		if (name)
			return g_strdup(name);
	}
	if (strcmp(field, "languages") == 0 || strcmp(field, "interpretation") == 0) {
		g_snprintf(key, sizeof key, "language.%s", s);
		label = templates_label(ts, lang, key);
		if (label)
			return g_strdup(label);
	}
	if (strcmp(field, "arrival") == 0 || strcmp(field, "departure") == 0)
		return date_text(ts, lang, s);
	return g_strdup(s);
}

static const char *
field_label(struct templates *ts, const char *lang, const char *field, char *buf, gsize n)
{
	g_snprintf(buf, n, "field.%s", field);
	const char *l = templates_label(ts, lang, buf);
	return l ? l : field;
}

JsonArray *
compose_field_list(struct templates *ts, const struct rules *r, const char *lang, JsonObject *fields)
{
	JsonArray *list = json_array_new();
	g_autoptr(GList) names = fields ? json_object_get_members(fields) : NULL;
	char buf[96];

	for (GList *l = names; l; l = l->next) {
		JsonNode *v = json_object_get_member(fields, l->data);
		if (!v || JSON_NODE_HOLDS_NULL(v))
			continue;
		g_autofree char *text = value_for_people(ts, r, lang, l->data, v);
		if (!*text)
			continue;
		JsonObject *item = json_object_new();
		json_object_set_string_member(item, "field", l->data);
		json_object_set_string_member(item, "label", field_label(ts, lang, l->data, buf, sizeof buf));
		json_object_set_string_member(item, "value", text);
		json_array_add_object_element(list, item);
	}
	return list;
}

JsonArray *
compose_missing_list(struct templates *ts, const char *lang, JsonObject *fields)
{
	JsonArray *list = json_array_new();
	char buf[96];

	for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
		JsonNode *v = fields ? json_object_get_member(fields, required[i]) : NULL;
		bool have = v && !JSON_NODE_HOLDS_NULL(v);
		if (have && strcmp(required[i], "principles") == 0)
			have = JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_BOOLEAN &&
			    json_node_get_boolean(v);
		if (have)
			continue;
		JsonObject *item = json_object_new();
		json_object_set_string_member(item, "field", required[i]);
		json_object_set_string_member(item, "label", field_label(ts, lang, required[i], buf, sizeof buf));
		json_array_add_object_element(list, item);
	}
	return list;
}

JsonObject *
compose_vars(const struct config *cfg, struct templates *ts, const char *lang)
{
	JsonObject *o = json_object_new();
	g_autofree char *deadline = compose_date(ts, lang, cfg->registration_deadline);

	json_object_set_string_member(o, "conference", cfg->name);
	json_object_set_string_member(o, "deadline", deadline);
	json_object_set_string_member(o, "register_address", cfg->register_address);
	json_object_set_string_member(o, "info_address", cfg->info_address);
	json_object_set_string_member(o, "from_address", cfg->from_address);
	json_object_set_string_member(o, "list_address", cfg->announce_address);
	json_object_set_string_member(o, "organisers_address",
				      cfg->organisers && cfg->organisers[0] ? cfg->organisers[0] : cfg->from_address);
	return o;
}

/* A text part in UTF-8; GMime picks quoted-printable or base64. */
static GMimePart *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
	g_mime_text_part_set_text(p, text);
	g_mime_text_part_set_charset(p, "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(p),
					 g_mime_part_get_best_content_encoding(GMIME_PART(p),
									      GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_PART(p);
}

/* Whether ID (without <>) is a msg-id we may cite: dot-atom text, one @,
 * not absurdly long (RFC 5322 section 3.6.4). */
static bool
msgid_ok(const char *id)
{
	const char *at = strchr(id, '@');
	if (!at || at == id || !at[1] || strchr(at + 1, '@') || strlen(id) > 250)
		return false;
	for (const char *p = id; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("!#$%&'*+/=?^_`{|}~.-@", *p))
			return false;
	return true;
}

/* A mailbox whose name is encoded as UTF-8 when it needs encoding (GMime
 * would otherwise pick the smallest charset that fits, windows-1251 for a
 * dash). */
static void
add_mailbox(GMimeMessage *msg, GMimeAddressType type, const char *name, const char *addr)
{
	InternetAddress *ia = internet_address_mailbox_new(name, addr);
	internet_address_set_charset(ia, "utf-8");
	internet_address_list_add(g_mime_message_get_addresses(msg, type), ia);
	g_object_unref(ia);
}

static char *
html_document(const char *lang, const char *subject, const char *body)
{
	bool rtl = strcmp(lang, "ar") == 0 || strcmp(lang, "ckb") == 0;
	g_autofree char *title = g_markup_escape_text(subject, -1);
	return g_strdup_printf("<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\">\n<head>\n"
			       "<meta charset=\"utf-8\"/>\n<title>%s</title>\n</head>\n"
			       "<body dir=\"%s\">\n%s</body>\n</html>\n",
			       lang, rtl ? "rtl" : "ltr", title, rtl ? "rtl" : "ltr", body);
}

/* In-Reply-To PARENT (a Message-ID without brackets), and References:
 * the valid ids of REFS, the last few (RFC 5322 allows trimming), then
 * PARENT. */
static void
set_thread(GMimeObject *top, const char *parent, const char *refs)
{
	if (!parent || !msgid_ok(parent))
		return;
	g_autofree char *bracketed = g_strdup_printf("<%s>", parent);
	g_autoptr(GString) references = g_string_new(NULL);
	g_auto(GStrv) ids = g_strsplit_set(refs ? refs : "", "<> \t\r\n,", -1);
	guint n = g_strv_length(ids), kept = 0;
	for (guint i = n; i > 0 && kept < 10; i--) {
		const char *id = ids[i - 1];
		if (!*id || !msgid_ok(id) || strcmp(id, parent) == 0)
			continue;
		g_string_prepend(references, "> ");
		g_string_prepend(references, id);
		g_string_prepend_c(references, '<');
		kept++;
	}
	g_string_append(references, bracketed);
	g_mime_object_set_header(top, "In-Reply-To", bracketed, NULL);
	g_mime_object_set_header(top, "References", references->str, NULL);
}

GMimeMessage *
compose_reply(const struct config *cfg, struct templates *ts, const struct reply *r,
	      char **message_id, GError **error)
{
	const char *lang = NULL;
	const struct template *t = templates_get(ts, r->language, r->template, &lang, error);
	if (!t)
		return NULL;
	if (!compose_address_ok(r->to_addr)) {
		g_set_error(error, CONFMAIL_ERROR, EX_DATAERR, "not an address we can write to: %s",
			    r->to_addr ? r->to_addr : "(none)");
		return NULL;
	}
	g_autofree char *subject_raw = template_render(t, PART_SUBJECT, r->vars);
	g_autofree char *subject_text = header_safe(subject_raw, 160);
	g_autoptr(GString) subject = g_string_new(subject_text);
	if (r->reference && *r->reference && !strstr(subject_text, r->reference)) {
		g_string_prepend(subject, "] ");
		g_string_prepend(subject, r->reference);
		g_string_prepend_c(subject, '[');
	}
	/* the token rides in the subject too: a reply that loses the
	 * Reply-To address still confirms */
	g_autofree char *token = r->reply_to ? token_in(r->reply_to, NULL) : NULL;
	if (token)
		g_string_append_printf(subject, " [confirm %s]", token);
	g_autofree char *text = template_render(t, PART_TEXT, r->vars);

	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeObject *top = GMIME_OBJECT(msg);
	g_autofree char *from_name = header_safe(cfg->name, 120);
	g_autofree char *to_name = header_safe(r->to_name, 120);
	add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, from_name, cfg->from_address);
	add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, to_name, r->to_addr);
	if (r->reply_to)
		add_mailbox(msg, GMIME_ADDRESS_TYPE_REPLY_TO, from_name, r->reply_to);
	g_mime_message_set_subject(msg, subject->str, "utf-8");
	g_autoptr(GDateTime) now = confmail_now();
	g_mime_message_set_date(msg, now);
	g_autofree char *mid = g_mime_utils_generate_message_id(cfg->domain);
	g_mime_message_set_message_id(msg, mid);

	/* Threading: answer the participant's message in its own thread. */
	if (r->answering)
		set_thread(top, r->answering->message_id, mail_header(r->answering, "References"));
	/* RFC 3834: say we are a machine, and mark the loop. */
	g_mime_object_set_header(top, "Auto-Submitted", "auto-replied", NULL);
	g_mime_object_set_header(top, "X-Loop", cfg->loop_id, NULL);
	g_mime_object_set_header(top, "Precedence", "bulk", NULL);
	g_mime_object_set_header(top, "X-Auto-Response-Suppress", "All", NULL);
	g_mime_object_set_header(top, "Content-Language", lang, NULL);

	GMimeObject *body;
	if (template_has_html(t)) {
		g_autofree char *fragment = template_render(t, PART_HTML, r->vars);
		g_autofree char *html = html_document(lang, subject_text, fragment);
		GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
		GMimePart *plain = text_part("plain", text), *rich = text_part("html", html);
		g_mime_multipart_add(alt, GMIME_OBJECT(plain));
		g_mime_multipart_add(alt, GMIME_OBJECT(rich));
		g_object_unref(plain);
		g_object_unref(rich);
		body = GMIME_OBJECT(alt);
	} else {
		body = GMIME_OBJECT(text_part("plain", text));
	}
	g_mime_message_set_mime_part(msg, body);
	g_object_unref(body);
	*message_id = g_steal_pointer(&mid);
	return msg;
}

/* A message from the conference with SUBJECT, dated now, with a
 * Message-ID of ours (*MID); the caller adds the recipients. */
static GMimeMessage *
start_message(const struct config *cfg, const char *subject, char **mid)
{
	GMimeMessage *msg = g_mime_message_new(TRUE);
	g_autofree char *from_name = header_safe(cfg->name, 120);
	g_autofree char *subject_safe = header_safe(subject, 200);
	add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, from_name, cfg->from_address);
	g_mime_message_set_subject(msg, subject_safe, "utf-8");
	g_autoptr(GDateTime) now = confmail_now();
	g_mime_message_set_date(msg, now);
	*mid = g_mime_utils_generate_message_id(cfg->domain);
	g_mime_message_set_message_id(msg, *mid);
	return msg;
}

/* One attachment of a message too big to forward: "name (type)". */
static void
list_attachment(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	(void)parent;
	if (!GMIME_IS_PART(part))
		return;
	const char *name = g_mime_part_get_filename(GMIME_PART(part));
	/* the text read above is no attachment; a named file is */
	if (!name && GMIME_IS_TEXT_PART(part))
		return;
	g_autofree char *type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part));
	g_autofree char *safe = name ? header_safe(name, 120) : NULL;
	g_string_append_printf(data, "    %s (%s)\n", safe ? safe : "unnamed", type);
}

/* TEXT, and why the message M is not attached whole: a relay refuses a
 * mail that size (Postfix's default limit is 10 MB), and the organisers
 * need its words, not its files, to decide. */
static char *
too_big_note(const char *text, const struct mail *m)
{
	GString *s = g_string_new(text);
	g_string_append_printf(s, "\nThe message is %.1f MB, over [limits] forward_whole_max: its header and"
			       "\ntext are attached; the whole is kept in the database (confmail messages"
			       "\nlist, then confmail messages raw ID), with what it carried:\n",
			       (double)m->size / (1024.0 * 1024.0));
	gsize before = s->len;
	g_mime_message_foreach(m->message, list_attachment, s);
	if (s->len == before)
		g_string_append(s, "    nothing but text\n");
	return g_string_free(s, FALSE);
}

GMimeMessage *
compose_forward(const struct config *cfg, const struct mail *m, const struct staff_mail *sm,
		char **message_id)
{
	g_autofree char *mid = NULL;
	GMimeMessage *msg = start_message(cfg, sm->subject, &mid);
	GMimeObject *top = GMIME_OBJECT(msg);
	for (int i = 0; sm->to && sm->to[i]; i++)
		add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, sm->to[i]);
	if (sm->reply_to)
		add_mailbox(msg, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, sm->reply_to);
	g_mime_object_set_header(top, "Auto-Submitted", "auto-generated", NULL);
	g_mime_object_set_header(top, "X-Loop", cfg->loop_id, NULL);

	bool whole = m && m->message &&
	    (!cfg->forward_whole_max || (gint64)m->size <= cfg->forward_whole_max);
	g_autofree char *text = whole || !m || !m->message ? g_strdup(sm->text) : too_big_note(sm->text, m);
	GMimePart *note = text_part("plain", text);
	if (m && m->message) {
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, GMIME_OBJECT(note));
		if (whole) {
			/* the participant's own message, whole */
			GMimeMessagePart *original = g_mime_message_part_new_with_message("rfc822", m->message);
			g_mime_multipart_add(mixed, GMIME_OBJECT(original));
			g_object_unref(original);
		} else {
			/* its header and its text; the rest stays in the database */
			g_autofree char *head = g_mime_object_get_headers(GMIME_OBJECT(m->message), NULL);
			GMimePart *headers = text_part("rfc822-headers", head);
			g_mime_multipart_add(mixed, GMIME_OBJECT(headers));
			g_object_unref(headers);
			if (m->body) {
				GMimePart *body = text_part(m->body_type && strcmp(m->body_type, "text/html") == 0
							    ? "html" : "plain", m->body);
				g_mime_multipart_add(mixed, GMIME_OBJECT(body));
				g_object_unref(body);
			}
		}
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));
		g_object_unref(mixed);
	} else {
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(note));
	}
	g_object_unref(note);
	*message_id = g_steal_pointer(&mid);
	return msg;
}

GMimeMessage *
compose_answer(const struct config *cfg, const struct answer_mail *a, char **message_id)
{
	g_autofree char *subject_text = header_safe(a->subject && *a->subject ? a->subject : "Your question", 160);
	g_autoptr(GString) subject = g_string_new(subject_text);
	if (g_ascii_strncasecmp(subject->str, "re:", 3) != 0)
		g_string_prepend(subject, "Re: ");
	if (a->reference && !strstr(subject->str, a->reference))
		g_string_append_printf(subject, " [%s]", a->reference);
	g_autofree char *mid = NULL;
	GMimeMessage *msg = start_message(cfg, subject->str, &mid);
	GMimeObject *top = GMIME_OBJECT(msg);
	g_autofree char *to_name = header_safe(a->to_name, 120);
	add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, to_name, a->to_addr);
	set_thread(top, a->in_reply_to, a->references);
	/* a person's answer, relayed: not auto-submitted, but ours (loops) */
	g_mime_object_set_header(top, "X-Loop", cfg->loop_id, NULL);
	GMimePart *body = text_part("plain", a->text);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(body));
	g_object_unref(body);
	*message_id = g_steal_pointer(&mid);
	return msg;
}

GMimeMessage *
compose_announcement(const struct config *cfg, const struct announcement_mail *a,
		     GPtrArray *placeholders, char **message_id)
{
	g_autofree char *mid = NULL;
	GMimeMessage *msg = start_message(cfg, a->subject, &mid);
	GMimeObject *top = GMIME_OBJECT(msg);
	g_autofree char *to_name = header_safe(a->to_name, 120);
	add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, to_name, a->to_addr);

	/* RFC 2369 and 2919: what a list message says about its list; RFC
	 * 8058 one-click when there is a URL to post to */
	g_mime_object_set_header(top, "List-Id", a->list_id, NULL);
	g_autofree char *unsubscribe = a->unsubscribe_url
	    ? g_strdup_printf("<mailto:%s?subject=unsubscribe>, <%s>", a->unsubscribe_mailto,
			      a->unsubscribe_url)
	    : g_strdup_printf("<mailto:%s?subject=unsubscribe>", a->unsubscribe_mailto);
	/* as written: GMime would encode a long URL as if it were words */
	g_mime_object_set_header(top, "List-Unsubscribe", "-", NULL);
	g_autofree char *raw = g_strdup_printf("\n %s\n", unsubscribe);
	g_mime_header_set_raw_value(g_mime_header_list_get_header(g_mime_object_get_header_list(top),
								  "List-Unsubscribe"), raw);
	if (a->unsubscribe_url)
		g_mime_object_set_header(top, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click", NULL);
	g_autofree char *help = g_strdup_printf("<mailto:%s?subject=help>", cfg->list_request_address);
	g_mime_object_set_header(top, "List-Help", help, NULL);
	g_autofree char *owner = g_strdup_printf("<mailto:%s>", cfg->organisers && cfg->organisers[0]
						 ? cfg->organisers[0] : cfg->from_address);
	g_mime_object_set_header(top, "List-Owner", owner, NULL);
	g_mime_object_set_header(top, "Precedence", "list", NULL);
	g_mime_object_set_header(top, "X-Loop", cfg->loop_id, NULL);
	g_mime_object_set_header(top, "Content-Language", a->language, NULL);

	GMimePart *text = text_part("plain", a->text);
	if (a->files == 0) {
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(text));
	} else {
		/* each file is a small stand-in here; the outbox puts the
		 * stored part, encoded once for everyone, in its place */
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, GMIME_OBJECT(text));
		for (guint i = 0; i < a->files; i++) {
			g_autofree char *marker = g_strdup_printf("confmail placeholder %u\n", i);
			GMimePart *p = text_part("plain", marker);
			g_mime_multipart_add(mixed, GMIME_OBJECT(p));
			g_ptr_array_add(placeholders, p);
			g_object_unref(p);
		}
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));
		g_object_unref(mixed);
	}
	g_object_unref(text);
	*message_id = g_steal_pointer(&mid);
	return msg;
}

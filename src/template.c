/*
 * template.c - the reply templates of templates/LANG/NAME.tmpl: a Subject
 * line, a plain-text body and an optional HTML body after "%% html", with
 * {{var}}, {{#if var}}…{{else}}…{{/if}}, {{#each list}}…{{/each}} and
 * {{! comments }}.  See confmail-templates(5).
 *
 * A file is parsed once into a tree; rendering walks it over a JSON object
 * of variables.  `confmail check` walks the same tree to report unknown
 * variables with file:line, so a typo is found before a participant
 * receives an empty sentence.
 */
#include "confmail.h"

#include <string.h>

enum node_kind { N_TEXT, N_VAR, N_IF, N_EACH };

struct node {
	enum node_kind kind;
	int line;
	char *text;		/* N_TEXT: the text; otherwise the variable */
	bool negate;		/* N_IF: {{#if !var}} */
	GPtrArray *body;	/* N_IF (then), N_EACH */
	GPtrArray *orelse;	/* N_IF */
};

struct template {
	char *path;
	GPtrArray *subject, *text, *html;	/* html may be NULL */
};

static void
node_free(gpointer p)
{
	struct node *n = p;
	g_free(n->text);
	if (n->body)
		g_ptr_array_free(n->body, TRUE);
	if (n->orelse)
		g_ptr_array_free(n->orelse, TRUE);
	g_free(n);
}

void
template_free(struct template *t)
{
	if (!t)
		return;
	g_free(t->path);
	if (t->subject)
		g_ptr_array_free(t->subject, TRUE);
	if (t->text)
		g_ptr_array_free(t->text, TRUE);
	if (t->html)
		g_ptr_array_free(t->html, TRUE);
	g_free(t);
}

static GPtrArray *
nodes_new(void)
{
	return g_ptr_array_new_with_free_func(node_free);
}

/* Parsing ----------------------------------------------------------------- */

struct parser {
	const char *path;
	GPtrArray *stack;	/* open blocks (struct node *), innermost last */
	GPtrArray *top;
	bool in_else;		/* for the innermost N_IF */
	GArray *else_seen;	/* one gboolean per open block */
};

static GPtrArray *
current(struct parser *p)
{
	if (p->stack->len == 0)
		return p->top;
	struct node *open = g_ptr_array_index(p->stack, p->stack->len - 1);
	bool in_else = g_array_index(p->else_seen, gboolean, p->else_seen->len - 1);
	return in_else ? open->orelse : open->body;
}

static void
add_text(struct parser *p, const char *s, gsize n, int line)
{
	if (!n)
		return;
	GPtrArray *into = current(p);
	if (into->len) {
		struct node *last = g_ptr_array_index(into, into->len - 1);
		if (last->kind == N_TEXT) {
			char *joined = g_strdup_printf("%s%.*s", last->text, (int)n, s);
			g_free(last->text);
			last->text = joined;
			return;
		}
	}
	struct node *t = g_new0(struct node, 1);
	t->kind = N_TEXT;
	t->line = line;
	t->text = g_strndup(s, n);
	g_ptr_array_add(into, t);
}

static bool
is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && *s != '_' && *s != '.')
			return false;
	return true;
}

/* Acts on the tag TAG (the text between the braces, trimmed). */
static gboolean
add_tag(struct parser *p, const char *tag, int line, GError **error)
{
	if (*tag == '!')
		return TRUE;
	if (g_str_has_prefix(tag, "#if ") || g_str_has_prefix(tag, "#each ")) {
		bool each = tag[1] == 'e';
		g_autofree char *name = g_strstrip(g_strdup(tag + (each ? 6 : 4)));
		struct node *n = g_new0(struct node, 1);
		n->kind = each ? N_EACH : N_IF;
		n->line = line;
		if (!each && *name == '!') {
			n->negate = true;
			memmove(name, name + 1, strlen(name));
			g_strchug(name);
		}
		if (!is_name(name)) {
			node_free(n);
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: {{%s}}: expected a variable name",
				    p->path, line, tag);
			return FALSE;
		}
		n->text = g_steal_pointer(&name);
		n->body = nodes_new();
		n->orelse = nodes_new();
		g_ptr_array_add(current(p), n);
		g_ptr_array_add(p->stack, n);
		gboolean no = FALSE;
		g_array_append_val(p->else_seen, no);
		return TRUE;
	}
	if (strcmp(tag, "else") == 0 || strcmp(tag, "/if") == 0 || strcmp(tag, "/each") == 0) {
		struct node *open = p->stack->len ? g_ptr_array_index(p->stack, p->stack->len - 1) : NULL;
		bool want_if = tag[0] == 'e' || strcmp(tag, "/if") == 0;
		if (!open || (want_if ? open->kind != N_IF : open->kind != N_EACH)) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: {{%s}} without its {{#%s}}",
				    p->path, line, tag, want_if ? "if" : "each");
			return FALSE;
		}
		gboolean *seen = &g_array_index(p->else_seen, gboolean, p->else_seen->len - 1);
		if (tag[0] == 'e') {
			if (*seen) {
				g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: a second {{else}}",
					    p->path, line);
				return FALSE;
			}
			*seen = TRUE;
			return TRUE;
		}
		g_ptr_array_remove_index(p->stack, p->stack->len - 1);
		g_array_remove_index(p->else_seen, p->else_seen->len - 1);
		return TRUE;
	}
	if (!is_name(tag)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: {{%s}}: not a variable or a known tag",
			    p->path, line, tag);
		return FALSE;
	}
	struct node *n = g_new0(struct node, 1);
	n->kind = N_VAR;
	n->line = line;
	n->text = g_strdup(tag);
	g_ptr_array_add(current(p), n);
	return TRUE;
}

/* Whether LINE (without its newline) is one block tag or comment and
 * blanks: such a line leaves nothing behind, not even its newline. */
static char *
standalone_tag(const char *line, gsize n)
{
	g_autofree char *s = g_strstrip(g_strndup(line, n));
	gsize len = strlen(s);
	if (len < 5 || !g_str_has_prefix(s, "{{") || !g_str_has_suffix(s, "}}"))
		return NULL;
	g_autofree char *inner = g_strstrip(g_strndup(s + 2, len - 4));
	if (strstr(inner, "{{") || strstr(inner, "}}"))
		return NULL;
	if (*inner == '#' || *inner == '/' || *inner == '!' || strcmp(inner, "else") == 0)
		return g_steal_pointer(&inner);
	return NULL;
}

/* Parses TEXT (starting at line FIRST_LINE of the file) into nodes. */
static GPtrArray *
parse_part(const char *path, const char *text, int first_line, GError **error)
{
	struct parser p = {
		.path = path, .stack = g_ptr_array_new(), .top = nodes_new(),
		.else_seen = g_array_new(FALSE, FALSE, sizeof(gboolean)),
	};
	int line = first_line;
	bool ok = true;

	for (const char *s = text; *s && ok; line++) {
		const char *nl = strchr(s, '\n');
		gsize n = nl ? (gsize)(nl - s) : strlen(s);
		g_autofree char *tag = standalone_tag(s, n);
		if (tag) {
			ok = add_tag(&p, tag, line, error);
		} else {
			const char *q = s, *end = s + n + (nl ? 1 : 0);
			while (ok && q < end) {
				const char *open = g_strstr_len(q, end - q, "{{");
				if (!open) {
					add_text(&p, q, (gsize)(end - q), line);
					break;
				}
				add_text(&p, q, (gsize)(open - q), line);
				const char *close = g_strstr_len(open + 2, end - open - 2, "}}");
				if (!close) {
					g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
						    "%s:%d: '{{' without '}}' on the same line", path, line);
					ok = false;
					break;
				}
				g_autofree char *inner = g_strstrip(g_strndup(open + 2, (gsize)(close - open - 2)));
				ok = add_tag(&p, inner, line, error);
				q = close + 2;
			}
		}
		s += n + (nl ? 1 : 0);
	}
	if (ok && p.stack->len) {
		struct node *open = g_ptr_array_index(p.stack, p.stack->len - 1);
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: {{#%s %s}} is never closed",
			    path, open->line, open->kind == N_IF ? "if" : "each", open->text);
		ok = false;
	}
	g_ptr_array_free(p.stack, TRUE);
	g_array_free(p.else_seen, TRUE);
	if (!ok) {
		g_ptr_array_free(p.top, TRUE);
		return NULL;
	}
	return p.top;
}

struct template *
template_load(const char *path, GError **error)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) local = NULL;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &local)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s", local->message);
		return NULL;
	}
	return template_parse(path, data, len, error);
}

struct template *
template_parse(const char *path, const char *data, gsize len, GError **error)
{
	if (!g_utf8_validate(data, (gssize)len, NULL) || strlen(data) != len) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s: not UTF-8 text", path);
		return NULL;
	}
	g_autoptr(template) t = g_new0(struct template, 1);
	t->path = g_strdup(path);

	/* The header block: Subject only, up to the first empty line. */
	const char *s = data;
	int line = 1;
	g_autofree char *subject = NULL;
	for (;; line++) {
		const char *nl = strchr(s, '\n');
		if (!nl) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: expected 'Subject:' lines, then an empty line and the body",
				    path, line);
			return NULL;
		}
		g_autofree char *h = g_strndup(s, (gsize)(nl - s));
		g_strchomp(h);
		s = nl + 1;
		if (!*h)
			break;
		if (g_ascii_strncasecmp(h, "Subject:", 8) != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: only a Subject: header may come before the body", path, line);
			return NULL;
		}
		if (subject) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: a second Subject:", path, line);
			return NULL;
		}
		subject = g_strstrip(g_strdup(h + 8));
	}
	if (!subject || !*subject) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:1: no Subject:", path);
		return NULL;
	}
	int subject_line = 1;
	if (!(t->subject = parse_part(path, subject, subject_line, error)))
		return NULL;

	int body_line = line + 1;
	const char *html = NULL, *marker = NULL;
	int html_line = 0, at = body_line;
	for (const char *q = s; *q; at++) {
		const char *nl = strchr(q, '\n');
		gsize n = nl ? (gsize)(nl - q) : strlen(q);
		if (n == 7 && strncmp(q, "%% html", 7) == 0) {
			marker = q;
			html = nl ? nl + 1 : q + n;
			html_line = at + 1;
			break;
		}
		q += n + (nl ? 1 : 0);
	}
	g_autofree char *text = marker ? g_strndup(s, (gsize)(marker - s)) : g_strdup(s);
	if (!(t->text = parse_part(path, text, body_line, error)))
		return NULL;
	if (html && !(t->html = parse_part(path, html, html_line, error)))
		return NULL;
	return g_steal_pointer(&t);
}

bool
template_has_html(const struct template *t)
{
	return t->html != NULL;
}

/* Checking ---------------------------------------------------------------- */

static void
check_nodes(const struct template *t, GPtrArray *nodes, GPtrArray *scopes,
	    const struct template_schema *schema, GPtrArray *problems)
{
	for (guint i = 0; nodes && i < nodes->len; i++) {
		const struct node *n = g_ptr_array_index(nodes, i);
		if (n->kind == N_TEXT)
			continue;
		bool known = false;
		for (guint k = scopes->len; !known && k > 0; k--) {
			const char *const *names = g_ptr_array_index(scopes, k - 1);
			known = names && g_strv_contains(names, n->text);
		}
		if (!known)
			g_ptr_array_add(problems, g_strdup_printf("%s:%d: unknown variable '%s'",
								   t->path, n->line, n->text));
		if (n->kind == N_IF) {
			check_nodes(t, n->body, scopes, schema, problems);
			check_nodes(t, n->orelse, scopes, schema, problems);
		} else if (n->kind == N_EACH) {
			const char *const *items = known ? schema->items_of(n->text) : NULL;
			if (known && !items)
				g_ptr_array_add(problems, g_strdup_printf("%s:%d: '%s' is not a list",
									   t->path, n->line, n->text));
			g_ptr_array_add(scopes, (gpointer)items);
			check_nodes(t, n->body, scopes, schema, problems);
			g_ptr_array_remove_index(scopes, scopes->len - 1);
		}
	}
}

void
template_check(const struct template *t, const struct template_schema *schema,
	       GPtrArray *problems)
{
	g_autoptr(GPtrArray) scopes = g_ptr_array_new();
	g_ptr_array_add(scopes, (gpointer)schema->globals);
	check_nodes(t, t->subject, scopes, schema, problems);
	check_nodes(t, t->text, scopes, schema, problems);
	check_nodes(t, t->html, scopes, schema, problems);
}

/* Rendering --------------------------------------------------------------- */

static JsonNode *
lookup(GPtrArray *scopes, const char *name)
{
	for (guint k = scopes->len; k > 0; k--) {
		JsonObject *o = g_ptr_array_index(scopes, k - 1);
		if (o && json_object_has_member(o, name))
			return json_object_get_member(o, name);
	}
	return NULL;
}

static bool
truthy(JsonNode *v)
{
	if (!v || JSON_NODE_HOLDS_NULL(v))
		return false;
	if (JSON_NODE_HOLDS_ARRAY(v))
		return json_array_get_length(json_node_get_array(v)) > 0;
	if (JSON_NODE_HOLDS_OBJECT(v))
		return true;
	GType type = json_node_get_value_type(v);
	if (type == G_TYPE_BOOLEAN)
		return json_node_get_boolean(v);
	if (type == G_TYPE_STRING)
		return *json_node_get_string(v) != '\0';
	if (type == G_TYPE_INT64)
		return json_node_get_int(v) != 0;
	return true;
}

static void
append_value(GString *out, JsonNode *v, bool html)
{
	g_autofree char *owned = NULL;
	const char *s = "";

	if (!v || JSON_NODE_HOLDS_NULL(v) || JSON_NODE_HOLDS_ARRAY(v) || JSON_NODE_HOLDS_OBJECT(v))
		return;
	GType type = json_node_get_value_type(v);
	if (type == G_TYPE_STRING)
		s = json_node_get_string(v);
	else if (type == G_TYPE_INT64)
		s = owned = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));
	else if (type == G_TYPE_BOOLEAN)
		s = json_node_get_boolean(v) ? "true" : "false";
	if (!html) {
		g_string_append(out, s);
		return;
	}
	for (; *s; s++) {
		switch (*s) {
		case '&': g_string_append(out, "&amp;"); break;
		case '<': g_string_append(out, "&lt;"); break;
		case '>': g_string_append(out, "&gt;"); break;
		case '"': g_string_append(out, "&quot;"); break;
		case '\'': g_string_append(out, "&#39;"); break;
		default: g_string_append_c(out, *s);
		}
	}
}

static void
render_nodes(GPtrArray *nodes, GPtrArray *scopes, bool html, GString *out)
{
	for (guint i = 0; nodes && i < nodes->len; i++) {
		const struct node *n = g_ptr_array_index(nodes, i);
		switch (n->kind) {
		case N_TEXT:
			g_string_append(out, n->text);
			break;
		case N_VAR:
			append_value(out, lookup(scopes, n->text), html);
			break;
		case N_IF: {
			bool yes = truthy(lookup(scopes, n->text)) != n->negate;
			render_nodes(yes ? n->body : n->orelse, scopes, html, out);
			break;
		}
		case N_EACH: {
			JsonNode *v = lookup(scopes, n->text);
			if (!v || !JSON_NODE_HOLDS_ARRAY(v))
				break;
			JsonArray *a = json_node_get_array(v);
			for (guint k = 0; k < json_array_get_length(a); k++) {
				JsonNode *item = json_array_get_element(a, k);
				g_ptr_array_add(scopes, JSON_NODE_HOLDS_OBJECT(item)
						? json_node_get_object(item) : NULL);
				render_nodes(n->body, scopes, html, out);
				g_ptr_array_remove_index(scopes, scopes->len - 1);
			}
			break;
		}
		}
	}
}

char *
template_render(const struct template *t, enum template_part part, JsonObject *vars)
{
	g_autoptr(GPtrArray) scopes = g_ptr_array_new();
	GString *out = g_string_new(NULL);
	GPtrArray *nodes = part == PART_SUBJECT ? t->subject : part == PART_TEXT ? t->text : t->html;

	g_ptr_array_add(scopes, vars);
	render_nodes(nodes, scopes, part == PART_HTML, out);
	return g_string_free(out, FALSE);
}

/*
 * text.c - the body as a person reads it: HTML flattened to lines, Unicode
 * spaces, digits and invisible marks normalised, quoted history and
 * signatures cut, and a colleague's inline forward split into the note and
 * the forwarded mail.
 *
 * Mail clients in three scripts write the same few markers ("On ...
 * wrote:", Outlook's header block, Gmail's forward line); the rules below
 * are tables of those markers, checked line by line.
 */
#include "confmail.h"

#include <gmodule.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <string.h>

/* HTML ------------------------------------------------------------------ */

enum html_kind {
	HTML_INLINE,
	HTML_SKIP,		/* not text: script, style, head */
	HTML_BREAK,		/* br */
	HTML_BLOCK,		/* its own lines */
	HTML_PARA,		/* its own lines, a blank line around */
	HTML_ROW,		/* tr: the cells on one line */
	HTML_QUOTE,		/* blockquote: "> " lines when it cites */
	HTML_PRE,		/* white space kept */
};

static const struct {
	const char *name;
	enum html_kind kind;
} html_elements[] = {
	{ "script", HTML_SKIP }, { "style", HTML_SKIP }, { "head", HTML_SKIP },
	{ "title", HTML_SKIP }, { "noscript", HTML_SKIP }, { "template", HTML_SKIP },
	{ "xml", HTML_SKIP }, { "object", HTML_SKIP }, { "iframe", HTML_SKIP },
	{ "select", HTML_SKIP },
	{ "br", HTML_BREAK },
	{ "p", HTML_PARA }, { "h1", HTML_PARA }, { "h2", HTML_PARA },
	{ "h3", HTML_PARA }, { "h4", HTML_PARA }, { "h5", HTML_PARA },
	{ "h6", HTML_PARA },
	{ "html", HTML_BLOCK }, { "body", HTML_BLOCK }, { "div", HTML_BLOCK },
	{ "li", HTML_BLOCK }, { "ul", HTML_BLOCK }, { "ol", HTML_BLOCK },
	{ "dl", HTML_BLOCK }, { "dt", HTML_BLOCK }, { "dd", HTML_BLOCK },
	{ "table", HTML_BLOCK }, { "thead", HTML_BLOCK }, { "tbody", HTML_BLOCK },
	{ "tfoot", HTML_BLOCK }, { "caption", HTML_BLOCK }, { "td", HTML_BLOCK },
	{ "th", HTML_BLOCK }, { "hr", HTML_BLOCK }, { "address", HTML_BLOCK },
	{ "article", HTML_BLOCK }, { "aside", HTML_BLOCK }, { "section", HTML_BLOCK },
	{ "header", HTML_BLOCK }, { "footer", HTML_BLOCK }, { "nav", HTML_BLOCK },
	{ "main", HTML_BLOCK }, { "figure", HTML_BLOCK }, { "figcaption", HTML_BLOCK },
	{ "form", HTML_BLOCK }, { "fieldset", HTML_BLOCK }, { "legend", HTML_BLOCK },
	{ "center", HTML_BLOCK }, { "details", HTML_BLOCK }, { "summary", HTML_BLOCK },
	{ "tr", HTML_ROW },
	{ "blockquote", HTML_QUOTE },
	{ "pre", HTML_PRE }, { "xmp", HTML_PRE }, { "listing", HTML_PRE },
	{ "plaintext", HTML_PRE },
};

/* Deeper nesting than this is not a message someone wrote; stop there
 * rather than risk the stack. */
#define HTML_MAX_DEPTH 200

struct render {
	GString *out;
	bool pre;
	int depth;
};

static void render_node(xmlNode *n, struct render *r);

static const char *
node_name(const xmlNode *n)
{
	return (const char *)n->name;
}

static enum html_kind
element_kind(const xmlNode *n)
{
	for (size_t i = 0; i < G_N_ELEMENTS(html_elements); i++)
		if (g_ascii_strcasecmp(node_name(n), html_elements[i].name) == 0)
			return html_elements[i].kind;
	return HTML_INLINE;
}

/* The value of attribute NAME of N, read from the tree (no allocation),
 * or NULL. */
static const char *
attr(xmlNode *n, const char *name)
{
	for (xmlAttr *a = n->properties; a; a = a->next)
		if (a->name && g_ascii_strcasecmp((const char *)a->name, name) == 0)
			return a->children && a->children->content
			    ? (const char *)a->children->content : "";
	return NULL;
}

/* Whether attribute NAME of N contains NEEDLE, ignoring case and spaces. */
static bool
attr_has(xmlNode *n, const char *name, const char *needle)
{
	const char *v = attr(n, name);
	if (!v)
		return false;
	GString *s = g_string_new(NULL);
	for (const char *p = v; *p; p++)
		if (!g_ascii_isspace(*p))
			g_string_append_c(s, g_ascii_tolower(*p));
	bool found = strstr(s->str, needle) != NULL;
	g_string_free(s, TRUE);
	return found;
}

/* libxml2 drops namespace prefixes, so Word's <o:p> arrives as a <p>
 * inside a <p> (which real HTML cannot nest): that one is inline.  Word
 * and Outlook paragraphs have no margin, so they end a line without the
 * blank line a browser puts around an ordinary <p>. */
static enum html_kind
paragraph_kind(xmlNode *n)
{
	if (n->parent && n->parent->type == XML_ELEMENT_NODE &&
	    g_ascii_strcasecmp(node_name(n->parent), "p") == 0)
		return HTML_INLINE;
	const char *cls = attr(n, "class");
	bool word = cls && g_ascii_strncasecmp(cls, "Mso", 3) == 0;
	if (word || attr_has(n, "style", "margin:0") ||
	    attr_has(n, "style", "margin-bottom:0"))
		return HTML_BLOCK;
	return HTML_PARA;
}

static bool
at_line_start(const GString *out)
{
	return out->len == 0 || out->str[out->len - 1] == '\n';
}

static void
end_line(GString *out)
{
	if (!at_line_start(out))
		g_string_append_c(out, '\n');
}

static void
blank_line(GString *out)
{
	end_line(out);
	if (out->len && !(out->len >= 2 && out->str[out->len - 2] == '\n'))
		g_string_append_c(out, '\n');
}

/* Text as a browser lays it out: white space runs are one space, none at
 * the start of a line; a no-break space is a hard space, so Outlook's
 * <p>&nbsp;</p> still makes a blank line.  Word's downlevel conditional
 * comments (<![if !supportLists]>, <![endif]>) reach us as text. */
static void
append_text(struct render *r, const char *s)
{
	GString *out = r->out;

	while (*s) {
		if (s[0] == '<' && s[1] == '!' && s[2] == '[') {
			const char *end = strstr(s, "]>");
			if (end) {
				s = end + 2;
				continue;
			}
		}
		if ((guchar)s[0] == 0xc2 && (guchar)s[1] == 0xa0) {
			if (!out->len || out->str[out->len - 1] != ' ')
				g_string_append_c(out, ' ');
			s += 2;
		} else if (r->pre) {
			if (*s != '\r')
				g_string_append_c(out, *s);
			s++;
		} else if (g_ascii_isspace(*s)) {
			if (!at_line_start(out) && out->str[out->len - 1] != ' ')
				g_string_append_c(out, ' ');
			s++;
		} else {
			g_string_append_c(out, *s++);
		}
	}
}

/* Collapses runs of spaces, trims every line, keeps at most one blank
 * line in a row and none at either end. */
static char *
clean_lines(const char *s)
{
	g_auto(GStrv) lines = g_strsplit(s, "\n", -1);
	GString *out = g_string_new(NULL);
	bool blank = false;

	for (char **l = lines; *l; l++) {
		char *w = *l;
		bool space = false;
		for (const char *p = *l; *p; p++) {
			if (*p == ' ') {
				space = true;
				continue;
			}
			if (space && w > *l)
				*w++ = ' ';
			space = false;
			*w++ = *p;
		}
		*w = '\0';
		g_strstrip(*l);
		if (!**l) {
			blank = out->len > 0;
			continue;
		}
		if (out->len)
			g_string_append(out, blank ? "\n\n" : "\n");
		g_string_append(out, *l);
		blank = false;
	}
	return g_string_free(out, FALSE);
}

/* N and its descendants alone, as clean lines. */
static char *
render_fragment(xmlNode *n, const struct render *parent)
{
	struct render r = { g_string_new(NULL), parent->pre, parent->depth };
	render_node(n, &r);
	char *s = clean_lines(r.out->str);
	g_string_free(r.out, TRUE);
	return s;
}

static void
render_children(xmlNode *n, struct render *r)
{
	if (r->depth >= HTML_MAX_DEPTH)
		return;
	r->depth++;
	for (xmlNode *c = n->children; c; c = c->next)
		render_node(c, r);
	r->depth--;
}

static void
append_lines(GString *out, const char *text, const char *prefix)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	end_line(out);
	for (char **l = lines; *l; l++) {
		if (prefix)
			g_string_append(out, **l ? prefix : ">");
		g_string_append(out, *l);
		g_string_append_c(out, '\n');
	}
}

/* A value cell over several lines: a list ("Arabic" / "English") reads
 * as "Arabic, English", sentences just run on. */
static char *
join_value_lines(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);
	for (char **l = lines; *l; l++) {
		if (!**l)
			continue;
		if (out->len) {
			char last = out->str[out->len - 1];
			g_string_append(out, strchr(".,;:!?", last) ? " " : ", ");
		}
		g_string_append(out, *l);
	}
	return g_string_free(out, FALSE);
}

/* A form row "label | value" becomes "label: value"; a wider row its
 * cells joined with " | ".  Cells holding whole blocks (a layout table)
 * are written one after the other instead. */
static void
render_row(xmlNode *tr, struct render *r)
{
	g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
	bool multiline = false;

	for (xmlNode *c = tr->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE && c->type != XML_TEXT_NODE)
			continue;
		char *t = render_fragment(c, r);
		if (!*t) {
			g_free(t);
			continue;
		}
		multiline = multiline || strchr(t, '\n');
		g_ptr_array_add(cells, t);
	}
	end_line(r->out);
	if (cells->len == 2 && !strchr(cells->pdata[0], '\n') &&
	    g_utf8_strlen(cells->pdata[0], -1) <= 80) {
		const char *label = cells->pdata[0];
		g_autofree char *value = join_value_lines(cells->pdata[1]);
		g_string_append(r->out, label);
		g_string_append(r->out, g_str_has_suffix(label, ":") ? " " : ": ");
		g_string_append(r->out, value);
	} else if (!multiline) {
		for (guint i = 0; i < cells->len; i++) {
			if (i)
				g_string_append(r->out, " | ");
			g_string_append(r->out, cells->pdata[i]);
		}
	} else {
		for (guint i = 0; i < cells->len; i++)
			append_lines(r->out, cells->pdata[i], NULL);
	}
	end_line(r->out);
}

/* Replies cite with <blockquote type="cite"> (Apple, Thunderbird) or
 * class="gmail_quote" and the like; Gmail's "indent" is a blockquote
 * too, but without either mark, and is the writer's own text. */
static bool
cites(xmlNode *n)
{
	return attr_has(n, "type", "cite") || attr_has(n, "class", "quote");
}

static void
render_node(xmlNode *n, struct render *r)
{
	if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
		if (n->content)
			append_text(r, (const char *)n->content);
		return;
	}
	if (n->type != XML_ELEMENT_NODE)
		return;

	enum html_kind kind = element_kind(n);
	if (kind == HTML_PARA)
		kind = paragraph_kind(n);

	switch (kind) {
	case HTML_SKIP:
		return;
	case HTML_INLINE:
		render_children(n, r);
		return;
	case HTML_BREAK:
		g_string_append_c(r->out, '\n');
		return;
	case HTML_BLOCK:
		end_line(r->out);
		render_children(n, r);
		end_line(r->out);
		return;
	case HTML_PARA:
		blank_line(r->out);
		render_children(n, r);
		blank_line(r->out);
		return;
	case HTML_ROW:
		render_row(n, r);
		return;
	case HTML_QUOTE:
		if (cites(n)) {
			struct render inner = { g_string_new(NULL), r->pre, r->depth };
			render_children(n, &inner);
			g_autofree char *text = clean_lines(inner.out->str);
			g_string_free(inner.out, TRUE);
			append_lines(r->out, text, "> ");
		} else {
			end_line(r->out);
			render_children(n, r);
			end_line(r->out);
		}
		return;
	case HTML_PRE: {
		bool pre = r->pre;
		end_line(r->out);
		r->pre = true;
		render_children(n, r);
		r->pre = pre;
		end_line(r->out);
		return;
	}
	}
}

/* libxml2 is opened when the first HTML body needs it, not linked: with
 * ICU and libstdc++ behind it, loading it cost every delivery, HTML or not,
 * more than a third of its time (measured with tests/bench/intake). */
struct libxml {
	htmlDocPtr (*read_memory)(const char *, int, const char *, const char *, int);
	void (*free_doc)(xmlDocPtr);
};

static const struct libxml *
libxml(void)
{
	static struct libxml xml;
	static GModule *module;
	static bool tried;

	if (tried)
		return module ? &xml : NULL;
	tried = true;
	module = g_module_open(LIBXML2_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (!module)
		return NULL;
	if (!g_module_symbol(module, "htmlReadMemory", (gpointer *)&xml.read_memory) ||
	    !g_module_symbol(module, "xmlFreeDoc", (gpointer *)&xml.free_doc)) {
		g_module_close(module);
		module = NULL;
		return NULL;
	}
	return &xml;
}

/* Without libxml2: tags dropped, block ends made line ends.  Crude, but
 * the text is still there to read. */
static char *
strip_tags(const char *html)
{
	GString *out = g_string_new(NULL);
	bool in_tag = false;

	for (const char *p = html; *p; p++) {
		if (*p == '<') {
			in_tag = true;
			if (!g_ascii_strncasecmp(p, "<br", 3) || !g_ascii_strncasecmp(p, "</p", 3) ||
			    !g_ascii_strncasecmp(p, "</div", 5) || !g_ascii_strncasecmp(p, "</tr", 4))
				g_string_append_c(out, '\n');
		} else if (*p == '>') {
			in_tag = false;
		} else if (!in_tag) {
			g_string_append_c(out, *p);
		}
	}
	return g_string_free(out, FALSE);
}

char *
text_from_html(const char *html)
{
	if (!html || !*html)
		return g_strdup("");

	g_autofree char *valid = NULL;
	if (!g_utf8_validate(html, -1, NULL))
		html = valid = g_utf8_make_valid(html, -1);
	size_t len = strlen(html);
	if (len > INT_MAX)
		len = INT_MAX;

	const struct libxml *xml = libxml();
	if (!xml)
		return strip_tags(html);
	/* The text is UTF-8 already (mail.c converted it): a <meta charset>
	 * left over from the original part must not override that. */
	htmlDocPtr doc = xml->read_memory(html, (int)len, NULL, "UTF-8",
					  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
					  HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
	if (!doc)
		return g_strdup("");

	struct render r = { g_string_new(NULL), false, 0 };
	for (xmlNode *n = doc->children; n; n = n->next)
		render_node(n, &r);
	xml->free_doc(doc);

	char *text = clean_lines(r.out->str);
	g_string_free(r.out, TRUE);
	return text;
}

/* Normalisation ---------------------------------------------------------- */

/* Code points that become one ASCII character (DIGITS: TO plus the offset
 * in the range) or, with TO == 0, disappear. */
static const struct {
	gunichar first, last;
	char to;
	bool digits;
} char_map[] = {
	{ 0x00a0, 0x00a0, ' ', false },	/* no-break space */
	{ 0x2000, 0x200a, ' ', false },	/* en quad ... hair space */
	{ 0x202f, 0x202f, ' ', false },	/* narrow no-break space */
	{ 0x205f, 0x205f, ' ', false },	/* medium mathematical space */
	{ 0x3000, 0x3000, ' ', false },	/* ideographic space */
	{ 0x0085, 0x0085, '\n', false },	/* next line */
	{ 0x2028, 0x2029, '\n', false },	/* line, paragraph separator */
	{ 0x0660, 0x0669, '0', true },	/* Arabic-Indic digits */
	{ 0x06f0, 0x06f9, '0', true },	/* Extended (Persian) digits */
	{ 0x066b, 0x066b, '.', false },	/* Arabic decimal separator */
	{ 0x066c, 0x066c, ',', false },	/* Arabic thousands separator */
	{ 0x0640, 0x0640, 0, false },	/* tatweel */
	{ 0x00ad, 0x00ad, 0, false },	/* soft hyphen */
	{ 0x061c, 0x061c, 0, false },	/* Arabic letter mark */
	{ 0x200b, 0x200b, 0, false },	/* zero width space (ZWNJ U+200C stays:
					 * Sorani spelling needs it) */
	{ 0x200e, 0x200f, 0, false },	/* LRM, RLM */
	{ 0x202a, 0x202e, 0, false },	/* embeddings and overrides */
	{ 0x2060, 0x2060, 0, false },	/* word joiner */
	{ 0x2066, 0x2069, 0, false },	/* isolates */
	{ 0xfeff, 0xfeff, 0, false },	/* BOM, zero width no-break space */
};

/* Arabic presentation forms (text copied out of PDFs) stand for the
 * ordinary letters; NFC keeps them, so decompose them here. */
static bool
arabic_presentation_form(gunichar c)
{
	return (c >= 0xfb50 && c <= 0xfdff) || (c >= 0xfe70 && c <= 0xfefe);
}

/* Whether NFC leaves C as it is, whatever stands next to it, as long as
 * every other character passes this test too: below U+0300 nothing
 * composes or decomposes without a combining mark, the Arabic letters
 * are composed already, punctuation has no decomposition.  Marks, and
 * everything else, go through g_utf8_normalize.  tests/unit/test_text.c
 * checks this against GLib over every pair of such characters. */
bool
text_nfc_inert(gunichar c)
{
	if (c < 0x0300)
		return true;
	if ((c >= 0x0600 && c <= 0x06ff) || (c >= 0x0750 && c <= 0x077f))
		return !g_unichar_ismark(c);
	return (c >= 0x2010 && c <= 0x205e) || c == 0x200c || c == 0x200d || c == 0x20ac;
}

/* Whether C is an Arabic mark that NFC leaves alone when no other mark
 * stands beside it: it composes with nothing (hamza and madda above and
 * below do), and only neighbouring marks are put in order. */
bool
text_nfc_lone_mark(gunichar c)
{
	return ((c >= 0x064b && c <= 0x0652) || (c >= 0x0656 && c <= 0x065f) || c == 0x0670 ||
		(c >= 0x06d6 && c <= 0x06ed)) && g_unichar_ismark(c);
}

char *
text_normalise(const char *s)
{
	if (!s)
		return g_strdup("");

	size_t len = strlen(s);
	g_autofree char *copy = NULL;
	if (!g_utf8_validate(s, (gssize)len, NULL))
		s = copy = g_utf8_make_valid(s, (gssize)len);
	GString *out = g_string_sized_new(strlen(s));
	bool inert = true, after_mark = false;

	for (const char *p = s; *p;) {
		/* most text is ASCII: copy a run of it at once */
		const char *q = p;
		while (*q && (unsigned char)*q < 0x80 && *q != '\r')
			q++;
		if (q > p) {
			g_string_append_len(out, p, q - p);
			p = q;
			after_mark = false;
			continue;
		}
		if (!*p)
			break;
		gunichar c = g_utf8_get_char(p);
		p = g_utf8_next_char(p);
		if (c == '\r') {
			if (*p != '\n')
				g_string_append_c(out, '\n');
			continue;
		}
		size_t i;
		for (i = 0; i < G_N_ELEMENTS(char_map); i++)
			if (c >= char_map[i].first && c <= char_map[i].last)
				break;
		if (i < G_N_ELEMENTS(char_map)) {
			/* what disappears leaves its neighbours side by side */
			after_mark = after_mark && !char_map[i].to;
			if (char_map[i].digits)
				g_string_append_c(out, (char)(char_map[i].to + (int)(c - char_map[i].first)));
			else if (char_map[i].to)
				g_string_append_c(out, char_map[i].to);
			continue;
		}
		if (arabic_presentation_form(c)) {
			gunichar d[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
			gsize nd = g_unichar_fully_decompose(c, TRUE, d, G_N_ELEMENTS(d));
			for (gsize k = 0; k < nd; k++)
				g_string_append_unichar(out, d[k]);
			inert = false;
			continue;
		}
		bool lone_mark = text_nfc_lone_mark(c) && !after_mark;
		inert = inert && (text_nfc_inert(c) || lone_mark);
		after_mark = g_unichar_ismark(c);
		g_string_append_unichar(out, c);
	}
	if (inert)
		return g_string_free(out, FALSE);
	/* Last: removing a mark may have joined a letter and its accent. */
	char *nfc = g_utf8_normalize(out->str, (gssize)out->len, G_NORMALIZE_NFC);
	g_string_free(out, TRUE);
	return nfc ? nfc : g_strdup("");
}

/* Lines: quoted history, signatures, forwards ----------------------------- */

enum hdr {
	HDR_NONE,
	HDR_FROM,
	HDR_DATE,
	HDR_TO,
	HDR_CC,
	HDR_SUBJECT,
};

/* Labels of the header block that clients write above quoted or
 * forwarded mail, case-folded: Gmail, Outlook and Apple in English,
 * Arabic and Sorani, and the European languages of partner
 * organisations. */
static const struct {
	const char *label;
	enum hdr kind;
} header_labels[] = {
	{ "from", HDR_FROM }, { "de", HDR_FROM }, { "von", HDR_FROM },
	{ "da", HDR_FROM }, { "van", HDR_FROM }, { "från", HDR_FROM },
	{ "fra", HDR_FROM }, { "من", HDR_FROM }, { "المرسل", HDR_FROM },
	{ "لە", HDR_FROM }, { "نێرەر", HDR_FROM },
	{ "sent", HDR_DATE }, { "date", HDR_DATE }, { "envoyé", HDR_DATE },
	{ "gesendet", HDR_DATE }, { "datum", HDR_DATE }, { "inviato", HDR_DATE },
	{ "enviado", HDR_DATE }, { "enviado el", HDR_DATE }, { "fecha", HDR_DATE },
	{ "data", HDR_DATE }, { "verzonden", HDR_DATE }, { "skickat", HDR_DATE },
	{ "التاريخ", HDR_DATE }, { "تاريخ", HDR_DATE },
	{ "تاريخ الإرسال", HDR_DATE }, { "تاريخ الارسال", HDR_DATE },
	{ "تم الإرسال", HDR_DATE }, { "أرسلت", HDR_DATE }, { "بەروار", HDR_DATE },
	{ "نێردرا", HDR_DATE }, { "نێردراو", HDR_DATE },
	{ "to", HDR_TO }, { "à", HDR_TO }, { "a", HDR_TO }, { "an", HDR_TO },
	{ "para", HDR_TO }, { "aan", HDR_TO }, { "till", HDR_TO }, { "til", HDR_TO },
	{ "إلى", HDR_TO }, { "الى", HDR_TO }, { "بۆ", HDR_TO },
	{ "cc", HDR_CC }, { "bcc", HDR_CC }, { "kopie", HDR_CC },
	{ "reply-to", HDR_CC }, { "نسخة", HDR_CC }, { "نسخة إلى", HDR_CC },
	{ "subject", HDR_SUBJECT }, { "objet", HDR_SUBJECT },
	{ "betreff", HDR_SUBJECT }, { "oggetto", HDR_SUBJECT },
	{ "asunto", HDR_SUBJECT }, { "assunto", HDR_SUBJECT },
	{ "onderwerp", HDR_SUBJECT }, { "ämne", HDR_SUBJECT },
	{ "الموضوع", HDR_SUBJECT }, { "موضوع", HDR_SUBJECT },
	{ "بابەت", HDR_SUBJECT },
};

/* Words that make a dashed line or a short line a forward marker
 * (case-folded substrings). */
static const char *forward_words[] = {
	"forward", "transféré", "réexpédié", "weitergeleitet", "reenviado",
	"inoltrato", "encaminhad", "doorgestuurd", "vidarebefordra",
	"videresend", "iletilen",
	"محول", "محوّل", "توجيه", "ئاڕاستە", "ئاراستە", "فۆروارد", "فوروارد",
};

/* "-----Original Message-----" and its translations. */
static const char *original_message_words[] = {
	"original message", "message d'origine", "ursprüngliche nachricht",
	"messaggio originale", "mensaje original", "mensagem original",
	"oorspronkelijk bericht", "ursprungligt meddelande", "reply message",
	"الرسالة الأصلية", "الرسالة الاصلية", "نامەی ڕەسەن", "نامەی سەرەکی",
};

/* "On <date>, <name> wrote:": the verb ... */
static const char *attribution_verbs[] = {
	"wrote", "writes", "a écrit", "schrieb", "ha scritto", "escribió",
	"escreveu", "skrev", "schreef", "napisał", "kirjoitti", "yazdı",
	"написал", "написала", "كتب", "كتبت", "نووسی", "نووسیویەتی",
};

/* ... and the words such a line starts with. */
static const char *attribution_openers[] = {
	"on", "le", "am", "il", "el", "em", "op", "den", "på", "w dniu",
	"في", "بتاريخ", "لە",
};

static bool
blank(const char *line)
{
	for (; *line; line++)
		if (!g_ascii_isspace(*line))
			return false;
	return true;
}

/* Leading white space and the "*...*" bold marks that HTML-to-text
 * conversions put around header labels ("*From:* ..."). */
static const char *
skip_decoration(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '*')
		s++;
	return s;
}

static bool
quoted(const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '>';
}

/* Whether S has no case beyond ASCII's: ASCII, Arabic script and
 * punctuation, nearly every line here. */
static bool
caseless_beyond_ascii(const char *s)
{
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		if ((unsigned char)*p < 0x80)
			continue;
		gunichar c = g_utf8_get_char(p);
		bool caseless = (c >= 0x0600 && c <= 0x06FF) || (c >= 0x0750 && c <= 0x077F) ||
		    (c >= 0x2000 && c <= 0x206F) || (c >= 0xFB50 && c <= 0xFEFF) || c == 0x00A0;
		if (!caseless)
			return false;
	}
	return true;
}

/* Case-folded text, the cheap way when there is no case beyond ASCII's. */
static char *
fold_fast(const char *s)
{
	return caseless_beyond_ascii(s) ? g_ascii_strdown(s, -1) : g_utf8_casefold(s, -1);
}

static bool
contains_any(const char *line, const char *const *words, size_t n)
{
	g_autofree char *folded = fold_fast(line);
	for (size_t i = 0; i < n; i++)
		if (strstr(folded, words[i]))
			return true;
	return false;
}

/* header_labels as a table: folded label -> kind (the first one listed),
 * made once. */
static GHashTable *
header_label_kinds(void)
{
	static GHashTable *kinds;
	if (g_once_init_enter(&kinds)) {
		GHashTable *t = g_hash_table_new(g_str_hash, g_str_equal);
		for (size_t i = G_N_ELEMENTS(header_labels); i-- > 0;)
			g_hash_table_insert(t, (gpointer)header_labels[i].label,
					    GINT_TO_POINTER(header_labels[i].kind));
		g_once_init_leave(&kinds, t);
	}
	return kinds;
}

/* The kind of header LINE is ("Label: value"), with *VALUE set to the
 * value; HDR_NONE when it is not one. */
static enum hdr
header_line(const char *line, const char **value)
{
	const char *s = skip_decoration(line);
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || colon - s > 40)
		return HDR_NONE;

	/* at most 40 bytes: on the stack, and folded only when it must be */
	char label[41];
	memcpy(label, s, (size_t)(colon - s));
	label[colon - s] = '\0';
	g_strstrip(label);
	g_autofree char *folded = NULL;
	if (caseless_beyond_ascii(label)) {
		for (char *c = label; *c; c++)
			*c = g_ascii_tolower(*c);
	} else {
		folded = g_utf8_casefold(label, -1);
	}
	gpointer kind = g_hash_table_lookup(header_label_kinds(), folded ? folded : label);
	if (!kind)
		return HDR_NONE;
	if (value)
		*value = skip_decoration(colon + 1);
	return (enum hdr)GPOINTER_TO_INT(kind);
}

static int
next_nonblank(char **v, int n, int i)
{
	while (i < n && blank(v[i]))
		i++;
	return i;
}

static bool
has_digit(const char *s)
{
	for (; *s; s = g_utf8_next_char(s))
		if (g_unichar_isdigit(g_utf8_get_char(s)))
			return true;
	return false;
}

/* A dashed line that names a forward: "---------- Forwarded message
 * ---------", "-------- Forwarded Message --------", "----------
 * الرسالة المُعاد توجيهها ---------". */
static bool
dashed_forward(const char *line)
{
	const char *s = skip_decoration(line);
	return g_str_has_prefix(s, "--") &&
	    contains_any(s, forward_words, G_N_ELEMENTS(forward_words));
}

/* A short line naming a forward ("Begin forwarded message:"); it counts
 * only when a header block follows it. */
static bool
forward_phrase(const char *line)
{
	return !quoted(line) && header_line(line, NULL) == HDR_NONE &&
	    g_utf8_strlen(line, -1) <= 80 &&
	    contains_any(line, forward_words, G_N_ELEMENTS(forward_words));
}

static bool
forward_marker(char **v, int n, int i)
{
	if (quoted(v[i]))
		return false;
	if (dashed_forward(v[i]))
		return true;
	/* the "From:" line below first: it is cheaper than the phrase */
	int j = next_nonblank(v, n, i + 1);
	return j < n && j <= i + 3 && header_line(v[j], NULL) == HDR_FROM && forward_phrase(v[i]);
}

/* Removes one level of "> " from LINE, in place. */
static void
unquote_line(char *line)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '>')
		return;
	p++;
	if (*p == ' ')
		p++;
	memmove(line, p, strlen(p) + 1);
}

/* Apple Mail (and our own HTML conversion of its <blockquote
 * type="cite">) quotes the forwarded message below the marker: that text
 * is the forward, not history, so it loses one level of quoting. */
static void
unquote_forwards(char **v, int n)
{
	for (int i = 0; i < n; i++) {
		if (quoted(v[i]))
			continue;
		int j = next_nonblank(v, n, i + 1);
		if (j >= n || !quoted(v[j]) || !(dashed_forward(v[i]) || forward_phrase(v[i])))
			continue;
		if (!dashed_forward(v[i])) {
			g_autofree char *first = g_strdup(v[j]);
			unquote_line(first);
			if (header_line(first, NULL) != HDR_FROM)
				continue;
		}
		for (int k = i + 1; k < n && (blank(v[k]) || quoted(v[k])); k++)
			unquote_line(v[k]);
	}
}

/* The header block below a forward marker at I ("From:", "Date:",
 * "Subject:", "To:" in any order, in any of the label languages); sets
 * *FROM to the From value and returns the first line after the block. */
static int
header_block(char **v, int n, int i, const char **from)
{
	unsigned seen = 0;
	enum hdr last = HDR_NONE;
	int j = i + 1, end = i + 1;

	while (j < n) {
		const char *value = NULL;
		if (blank(v[j])) {
			/* Conversions of <p> headers leave blank lines between
			 * them; a label seen before starts the body instead. */
			int k = next_nonblank(v, n, j);
			enum hdr h = k < n ? header_line(v[k], NULL) : HDR_NONE;
			if (h == HDR_NONE || (seen & (1u << h)))
				break;
			j = k;
			continue;
		}
		enum hdr h = header_line(v[j], &value);
		if (h != HDR_NONE) {
			if (seen & (1u << h))
				break;
			seen |= 1u << h;
			last = h;
			if (h == HDR_FROM && from)
				*from = value;
		} else if (!seen || !(last == HDR_TO || last == HDR_CC) ||
			   !(strchr(v[j], '@') || *v[j] == ' ' || *v[j] == '\t')) {
			break;	/* not a wrapped To/Cc list: the body */
		}
		end = ++j;
	}
	return end;
}

/* Whether the case-folded text starts with WORD as a whole word. */
static bool
starts_with_word(const char *text, const char *word)
{
	size_t len = strlen(word);
	if (strncmp(text, word, len) != 0)
		return false;
	gunichar next = g_utf8_get_char(text + len);
	return !g_unichar_isalnum(next);
}

/* Finds one of the verbs as a whole word in the case-folded TEXT;
 * *AT_END tells whether only ":" follows it. */
static bool
find_verb(const char *text, bool *at_end)
{
	for (size_t i = 0; i < G_N_ELEMENTS(attribution_verbs); i++) {
		const char *verb = attribution_verbs[i];
		size_t len = strlen(verb);
		for (const char *p = strstr(text, verb); p; p = strstr(p + 1, verb)) {
			if (p > text && g_unichar_isalnum(g_utf8_get_char(g_utf8_prev_char(p))))
				continue;
			if (g_unichar_isalnum(g_utf8_get_char(p + len)))
				continue;
			const char *q = p + len;
			while (*q == ' ')
				q++;
			*at_end = strcmp(q, ":") == 0;
			return true;
		}
	}
	return false;
}

/* "On Mon, 10 Jan 2022 at 11:20, ICSSI <announce@icssi.example> wrote:",
 * "في الاثنين، 10 يناير 2022 في 11:05 ص كتب ICSSI <...>:", "Am ...
 * schrieb ...:".  A date or an address must be there, so that "as my
 * colleague wrote:" in a sentence does not count. */
static bool
attribution_text(const char *text)
{
	/* nearly no line ends with ':': asked before any copy is made */
	size_t len = strlen(text);
	while (len && g_ascii_isspace(text[len - 1]))
		len--;
	if (!len || text[len - 1] != ':')
		return false;
	g_autofree char *t = fold_fast(text);
	g_strstrip(t);
	if (!g_str_has_suffix(t, ":") || g_utf8_strlen(t, -1) > 300)
		return false;

	bool at_end = false;
	if (!find_verb(t, &at_end))
		return false;
	bool digit = has_digit(t), at = strchr(t, '@') != NULL;
	if (!digit && !at)
		return false;
	bool opener = false;
	for (size_t i = 0; i < G_N_ELEMENTS(attribution_openers) && !opener; i++)
		opener = starts_with_word(t, attribution_openers[i]);
	return opener || at_end || (digit && at);
}

/* The number of lines (up to three: clients wrap long ones) of an
 * attribution line starting at I, or 0. */
static int
attribution_lines(char **v, int n, int i)
{
	GString *joined = g_string_new(NULL);
	int found = 0;

	for (int k = 0; k < 3 && i + k < n; k++) {
		const char *line = v[i + k];
		if (blank(line) || quoted(line))
			break;
		if (k)
			g_string_append_c(joined, ' ');
		g_string_append(joined, line);
		if (!attribution_text(joined->str))
			continue;
		if (k == 0) {
			found = 1;
			break;
		}
		/* Wrapped: the first line must start like an attribution,
		 * or "Thanks" above one would be taken with it. */
		g_autofree char *first = fold_fast(skip_decoration(v[i]));
		for (size_t o = 0; o < G_N_ELEMENTS(attribution_openers); o++)
			if (starts_with_word(first, attribution_openers[o]))
				found = k + 1;
		break;
	}
	g_string_free(joined, TRUE);
	return found;
}

/* Outlook's block above quoted mail: "From:" and, within a few lines, a
 * "Sent:"/"Date:" with a date and a "Subject:" (or a "To:" when an
 * address shows it is mail, not "From: Baghdad / To: Erbil"). */
static bool
outlook_block(char **v, int n, int i)
{
	const char *value = NULL;
	if (header_line(v[i], &value) != HDR_FROM || blank(value))
		return false;

	bool addr = strchr(value, '@') != NULL, date = false, to = false, subject = false;
	int misses = 0;
	for (int j = i + 1; j < n && j <= i + 12; j++) {
		if (blank(v[j]))
			continue;
		switch (header_line(v[j], &value)) {
		case HDR_DATE:
			date = date || has_digit(value);
			break;
		case HDR_TO:
		case HDR_CC:
			to = true;
			addr = addr || strchr(value, '@');
			break;
		case HDR_SUBJECT:
			subject = true;
			break;
		case HDR_FROM:
		case HDR_NONE:
			misses++;
			break;
		}
		if (misses > 1)
			break;
	}
	return date && (subject || (to && addr));
}

static bool
original_message(const char *line)
{
	const char *s = skip_decoration(line);
	return (g_str_has_prefix(s, "--") || g_str_has_prefix(s, "==")) &&
	    contains_any(s, original_message_words, G_N_ELEMENTS(original_message_words));
}

/* Outlook's "________________________________" above its header block
 * (a line of underscores alone may also be a divider in a form). */
static bool
outlook_separator(char **v, int n, int i)
{
	const char *s = v[i];
	size_t len = strspn(s, "_");
	if (len < 10 || !blank(s + len))
		return false;
	int j = next_nonblank(v, n, i + 1);
	return j < n && j <= i + 3 && header_line(v[j], NULL) == HDR_FROM;
}

/* Quoted history that runs to the end of the text starts at I. */
static bool
history_starts(char **v, int n, int i)
{
	return !quoted(v[i]) && (outlook_block(v, n, i) || original_message(v[i]) ||
				  outlook_separator(v, n, i));
}

/* Whether the line after an attribution (blank lines skipped) is quoted:
 * then the quote is marked and unmarked lines below it are the writer's
 * answers in between. */
static bool
quote_follows(char **v, int n, int i)
{
	int j = next_nonblank(v, n, i);
	return j < n && quoted(v[j]);
}

static bool
signature_delimiter(const char *line)
{
	return g_str_has_prefix(line, "--") && blank(line + 2);
}

/* The text split into lines without their CR, forwarded quotes opened. */
static char **
split_lines(const char *s, int *n)
{
	char **v = g_strsplit(s ? s : "", "\n", -1);
	int count = 0;
	for (; v[count]; count++) {
		size_t len = strlen(v[count]);
		if (len && v[count][len - 1] == '\r')
			v[count][len - 1] = '\0';
	}
	*n = count;
	unquote_forwards(v, count);
	return v;
}

/* After a signature: the forward marker Gmail puts below it, or -1 when
 * only signature and history follow. */
static int
forward_after_signature(char **v, int n, int i)
{
	for (int j = i + 1; j < n; j++) {
		if (forward_marker(v, n, j))
			return j;
		if (history_starts(v, n, j))
			return -1;
		int k = attribution_lines(v, n, j);
		if (k && !quote_follows(v, n, j + k))
			return -1;
	}
	return -1;
}

char *
text_strip_quotes(const char *s)
{
	int n;
	g_auto(GStrv) v = split_lines(s, &n);
	g_autoptr(GPtrArray) kept = g_ptr_array_new();
	bool removed = false, last_blank = true;

	for (int i = 0; i < n;) {
		if (forward_marker(v, n, i)) {
			int end = header_block(v, n, i, NULL);
			for (; i < end; i++)
				g_ptr_array_add(kept, v[i]);
			last_blank = false;
			continue;
		}
		int k = attribution_lines(v, n, i);
		if (k) {
			if (!quote_follows(v, n, i + k))
				break;
			removed = true;
			i += k;
			continue;
		}
		if (history_starts(v, n, i))
			break;
		if (signature_delimiter(v[i])) {
			i = forward_after_signature(v, n, i);
			if (i < 0)
				break;
			removed = true;
			continue;
		}
		if (quoted(v[i])) {
			removed = true;
			i++;
			continue;
		}
		/* A removed quote leaves one blank line, not two. */
		bool b = blank(v[i]);
		if (!(b && last_blank && removed))
			g_ptr_array_add(kept, v[i]);
		if (!b)
			removed = false;
		last_blank = b;
		i++;
	}
	while (kept->len && blank(kept->pdata[kept->len - 1]))
		g_ptr_array_remove_index(kept, kept->len - 1);

	GString *out = g_string_new(NULL);
	for (guint i = 0; i < kept->len; i++) {
		if (i)
			g_string_append_c(out, '\n');
		g_string_append(out, kept->pdata[i]);
	}
	return g_string_free(out, FALSE);
}

/* Forwards --------------------------------------------------------------- */

static bool
addr_char(char c, bool domain)
{
	return g_ascii_isalnum(c) || c == '.' || c == '-' ||
	    (!domain && (c == '_' || c == '+' || c == '%' || c == '=' || c == '~'));
}

/* Trims white space, quotes, bold marks and stray commas. */
static char *
trim_name(const char *s, gsize len)
{
	static const char junk[] = " \t\"'*,;:“”‘’«»";
	const char *end = s + len;

	while (s < end) {
		const char *next = g_utf8_next_char(s);
		g_autofree char *ch = g_strndup(s, (gsize)(next - s));
		if (!strstr(junk, ch))
			break;
		s = next;
	}
	while (end > s) {
		const char *prev = g_utf8_prev_char(end);
		g_autofree char *ch = g_strndup(prev, (gsize)(end - prev));
		if (!strstr(junk, ch))
			break;
		end = prev;
	}
	return end > s ? g_strndup(s, (gsize)(end - s)) : NULL;
}

/* "Name <addr>", "\"Name\" <addr>", "Name [mailto:addr]", "addr (Name)",
 * "addr". */
static void
parse_from(const char *value, char **addr, char **name)
{
	const char *at = NULL;
	const char *start = NULL, *end = NULL;

	for (const char *p = strchr(value, '@'); p; p = strchr(p + 1, '@')) {
		start = p;
		while (start > value && addr_char(start[-1], false))
			start--;
		end = p + 1;
		while (addr_char(*end, true))
			end++;
		while (end > p + 1 && (end[-1] == '.' || end[-1] == '-'))
			end--;
		if (start < p && end > p + 1 && memchr(p + 1, '.', (gsize)(end - p - 1))) {
			at = p;
			break;
		}
	}

	g_autofree char *raw = NULL;
	if (!at) {
		raw = trim_name(value, strlen(value));
	} else {
		g_autofree char *a = g_strndup(start, (gsize)(end - start));
		*addr = g_ascii_strdown(a, -1);

		const char *lt = strpbrk(value, "<[");
		const char *paren = strchr(end, '(');
		if (lt && lt < start) {
			raw = trim_name(value, (gsize)(lt - value));
		} else if (paren && strchr(paren, ')')) {
			const char *close = strchr(paren, ')');
			raw = trim_name(paren + 1, (gsize)(close - paren - 1));
		} else {
			raw = trim_name(value, (gsize)(start - value));
		}
	}
	*name = g_steal_pointer(&raw);
	if (*name && (!**name || strchr(*name, '@')))
		g_clear_pointer(name, g_free);
}

static char *
join_lines(char **v, int from, int to)
{
	GString *out = g_string_new(NULL);
	for (int i = from; i < to; i++) {
		if (i > from)
			g_string_append_c(out, '\n');
		g_string_append(out, v[i]);
	}
	return g_strstrip(g_string_free(out, FALSE));
}

bool
text_find_forward(const char *s, struct forward *fw)
{
	memset(fw, 0, sizeof *fw);
	if (!s)
		return false;

	int n, marker = -1;
	g_auto(GStrv) v = split_lines(s, &n);
	for (int i = 0; i < n && marker < 0; i++) {
		if (forward_marker(v, n, i)) {
			marker = i;
			break;
		}
		/* A forward below quoted history is part of the history. */
		int k = attribution_lines(v, n, i);
		if (k) {
			if (!quote_follows(v, n, i + k))
				return false;
			i += k - 1;
			continue;
		}
		if (history_starts(v, n, i))
			return false;
	}
	if (marker < 0)
		return false;

	const char *from = NULL;
	int end = header_block(v, n, marker, &from);
	if (from)
		parse_from(from, &fw->from_addr, &fw->from_name);
	fw->note = join_lines(v, 0, marker);
	fw->body = join_lines(v, end, n);
	return true;
}

void
forward_clear(struct forward *fw)
{
	g_clear_pointer(&fw->from_addr, g_free);
	g_clear_pointer(&fw->from_name, g_free);
	g_clear_pointer(&fw->note, g_free);
	g_clear_pointer(&fw->body, g_free);
}

char *
text_cut(char *s, size_t max)
{
	if (!s || strnlen(s, max + 1) <= max)
		return s;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
	return s;
}

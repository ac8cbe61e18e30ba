/*
 * xlsx.c - the organisers' spreadsheet: the registrations as one table
 * (bold frozen header, autofilter), then a two-column sheet per statistic
 * of the figures, written with libxlsxwriter.  Text goes in as UTF-8,
 * so names in Arabic or Kurdish arrive as typed; booleans are spreadsheet
 * booleans (TRUE/FALSE), so they sort and filter as such.
 */
#include "confmail.h"

#include <errno.h>
#include <string.h>
#include <xlsxwriter.h>

/* libxlsxwriter is opened when a spreadsheet is asked for, not linked:
 * every `confmail filter` would otherwise load it (and zlib) for nothing,
 * 5 ms of each delivery. */
static struct xlsxwriter {
	lxw_workbook *(*workbook_new_opt)(const char *, lxw_workbook_options *);
	lxw_worksheet *(*workbook_add_worksheet)(lxw_workbook *, const char *);
	lxw_format *(*workbook_add_format)(lxw_workbook *);
	lxw_error (*workbook_close)(lxw_workbook *);
	void (*lxw_workbook_free)(lxw_workbook *);
	void (*format_set_bold)(lxw_format *);
	lxw_error (*worksheet_write_string)(lxw_worksheet *, lxw_row_t, lxw_col_t, const char *, lxw_format *);
	lxw_error (*worksheet_write_number)(lxw_worksheet *, lxw_row_t, lxw_col_t, double, lxw_format *);
	lxw_error (*worksheet_write_boolean)(lxw_worksheet *, lxw_row_t, lxw_col_t, int, lxw_format *);
	lxw_error (*worksheet_set_column)(lxw_worksheet *, lxw_col_t, lxw_col_t, double, lxw_format *);
	void (*worksheet_freeze_panes)(lxw_worksheet *, lxw_row_t, lxw_col_t);
	lxw_error (*worksheet_autofilter)(lxw_worksheet *, lxw_row_t, lxw_col_t, lxw_row_t, lxw_col_t);
	char *(*lxw_strerror)(lxw_error);
} lxw;


/* Opens the library once; false (and why) when it is not installed. */
static gboolean
open_xlsxwriter(GError **error)
{
	static GModule *module;
	if (module)
		return TRUE;
	module = g_module_open(LIBXLSXWRITER_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	static const struct {
		const char *name;
		gpointer *slot;
	} symbols[] = {
		{ "workbook_new_opt", (gpointer *)&lxw.workbook_new_opt },
		{ "workbook_add_worksheet", (gpointer *)&lxw.workbook_add_worksheet },
		{ "workbook_add_format", (gpointer *)&lxw.workbook_add_format },
		{ "workbook_close", (gpointer *)&lxw.workbook_close },
		{ "lxw_workbook_free", (gpointer *)&lxw.lxw_workbook_free },
		{ "format_set_bold", (gpointer *)&lxw.format_set_bold },
		{ "worksheet_write_string", (gpointer *)&lxw.worksheet_write_string },
		{ "worksheet_write_number", (gpointer *)&lxw.worksheet_write_number },
		{ "worksheet_write_boolean", (gpointer *)&lxw.worksheet_write_boolean },
		{ "worksheet_set_column", (gpointer *)&lxw.worksheet_set_column },
		{ "worksheet_freeze_panes", (gpointer *)&lxw.worksheet_freeze_panes },
		{ "worksheet_autofilter", (gpointer *)&lxw.worksheet_autofilter },
		{ "lxw_strerror", (gpointer *)&lxw.lxw_strerror },
	};
	for (size_t i = 0; module && i < G_N_ELEMENTS(symbols); i++) {
		if (!g_module_symbol(module, symbols[i].name, symbols[i].slot)) {
			g_module_close(module);
			module = NULL;
		}
	}
	if (!module) {
		g_set_error(error, CONFMAIL_ERROR, EX_UNAVAILABLE, "xlsx needs %s (Debian package"
			    " libxlsxwriter4): %s", LIBXLSXWRITER_SONAME, g_module_error());
		return FALSE;
	}
	return TRUE;
}

/* From here on, the library's own names call through the table. */
#define workbook_new_opt lxw.workbook_new_opt
#define workbook_add_worksheet lxw.workbook_add_worksheet
#define workbook_add_format lxw.workbook_add_format
#define workbook_close lxw.workbook_close
#define lxw_workbook_free lxw.lxw_workbook_free
#define format_set_bold lxw.format_set_bold
#define worksheet_write_string lxw.worksheet_write_string
#define worksheet_write_number lxw.worksheet_write_number
#define worksheet_write_boolean lxw.worksheet_write_boolean
#define worksheet_set_column lxw.worksheet_set_column
#define worksheet_freeze_panes lxw.worksheet_freeze_panes
#define worksheet_autofilter lxw.worksheet_autofilter
#define lxw_strerror lxw.lxw_strerror

/* Excel's limit for one cell, in characters (libxlsxwriter refuses more). */
#define CELL_MAX 32767
/* Column widths, in characters. */
#define WIDTH_MIN 8
#define WIDTH_MAX 50

/* Writes S; returns its width in characters. */
static glong
write_text(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, const char *s, lxw_format *format)
{
	glong len = g_utf8_strlen(s, -1);
	if (len <= CELL_MAX) {
		worksheet_write_string(ws, row, col, s, format);
		return len;
	}
	/* a pasted essay is cut rather than losing the whole export */
	g_autofree char *cut = g_utf8_substring(s, 0, CELL_MAX);
	worksheet_write_string(ws, row, col, cut, format);
	return CELL_MAX;
}

/* Writes NODE as the cell's own type; returns its width in characters. */
static glong
write_value(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, JsonNode *node)
{
	if (!node || JSON_NODE_HOLDS_NULL(node))
		return 0;
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		/* the languages: "ar, en" reads and filters better than JSON */
		JsonArray *a = json_node_get_array(node);
		g_autoptr(GString) joined = g_string_new(NULL);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *e = json_array_get_element(a, i);
			g_autofree char *json = NULL;
			if (i > 0)
				g_string_append(joined, ", ");
			if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
				g_string_append(joined, json_node_get_string(e));
			else
				g_string_append(joined, json = json_to_string(e, FALSE));
		}
		return write_text(ws, row, col, joined->str, NULL);
	}
	if (!JSON_NODE_HOLDS_VALUE(node)) {
		g_autofree char *json = json_to_string(node, FALSE);
		return write_text(ws, row, col, json, NULL);
	}
	GType type = json_node_get_value_type(node);
	if (type == G_TYPE_BOOLEAN) {
		worksheet_write_boolean(ws, row, col, json_node_get_boolean(node), NULL);
		return 5;
	}
	if (type == G_TYPE_INT64 || type == G_TYPE_DOUBLE) {
		char buf[G_ASCII_DTOSTR_BUF_SIZE];
		double v = json_node_get_double(node);	/* converts integers too */
		worksheet_write_number(ws, row, col, v, NULL);
		return (glong)strlen(g_ascii_dtostr(buf, sizeof buf, v));
	}
	return write_text(ws, row, col, json_node_get_string(node), NULL);
}

static void
set_width(lxw_worksheet *ws, lxw_col_t col, glong chars)
{
	worksheet_set_column(ws, col, col, CLAMP(chars + 2, WIDTH_MIN, WIDTH_MAX), NULL);
}

struct sheet_rows {
	lxw_worksheet *ws;
	const char *const *columns;
	guint ncols, nrows;
	glong *widths;
};

/* One registration, the next row of the sheet. */
static void
write_row(JsonObject *o, gpointer data)
{
	struct sheet_rows *s = data;
	s->nrows++;
	for (guint c = 0; c < s->ncols; c++) {
		glong w = write_value(s->ws, s->nrows, c, json_object_get_member(o, s->columns[c]));
		s->widths[c] = MAX(s->widths[c], w);
	}
}

static void
write_registrations(lxw_worksheet *ws, struct store *st, lxw_format *bold)
{
	const char *const *columns = registration_columns();
	guint ncols = g_strv_length((char **)columns);
	g_autofree glong *widths = g_new0(glong, ncols);
	struct sheet_rows s = { ws, columns, ncols, 0, widths };

	for (guint c = 0; c < ncols; c++)
		widths[c] = write_text(ws, 0, c, columns[c], bold);
	registrations_each(st, NULL, NULL, write_row, &s);
	for (guint c = 0; c < ncols; c++)
		set_width(ws, c, widths[c]);
	worksheet_freeze_panes(ws, 1, 0);
	worksheet_autofilter(ws, 0, 0, s.nrows, ncols - 1);
}

/* Two columns, KEY and count, from [{"key", "count"}] or {key: count}. */
static void
write_counts(lxw_worksheet *ws, JsonNode *node, const char *key, lxw_format *bold)
{
	glong width = write_text(ws, 0, 0, key, bold);
	write_text(ws, 0, 1, "count", bold);
	lxw_row_t row = 1;
	if (node && JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *a = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(a); i++, row++) {
			JsonObject *p = json_array_get_object_element(a, i);
			if (!p)
				continue;
			width = MAX(width, write_value(ws, row, 0, json_object_get_member(p, "key")));
			write_value(ws, row, 1, json_object_get_member(p, "count"));
		}
	} else if (node && JSON_NODE_HOLDS_OBJECT(node)) {
		/* in the order figures.c set them (json_object_iter's is undefined) */
		JsonObject *o = json_node_get_object(node);
		g_autoptr(GList) names = json_object_get_members(o);
		for (GList *l = names; l; l = l->next, row++) {
			width = MAX(width, write_text(ws, row, 0, l->data, NULL));
			write_value(ws, row, 1, json_object_get_member(o, l->data));
		}
	}
	set_width(ws, 0, width);
	set_width(ws, 1, 5);
	worksheet_freeze_panes(ws, 1, 0);
}

/* The sheets after the registrations: name (at most 31 characters, none of
 * []:*?/\), where the figure sits in FIGURES, and its key column's header. */
static const struct {
	const char *sheet, *parent, *member, *key;
} statistics[] = {
	{ "Status", "registrations", "by_status", "status" },
	{ "Countries", NULL, "by_country", "country" },
	{ "Organisation types", NULL, "by_org_type", "organisation type" },
	{ "Gender", NULL, "by_gender", "gender" },
	{ "Languages", NULL, "by_language", "language" },
	{ "Interpretation", NULL, "interpretation", "interpretation" },
	{ "Funding", NULL, "funding", "funding" },
	{ "Arrivals", NULL, "arrivals", "arrival" },
	{ "Departures", NULL, "departures", "departure" },
	{ "Hotel nights", NULL, "hotel_nights", "night" },
	{ "List", NULL, "list", "list" },
	{ "Queue", NULL, "queue", "state" },
	{ "Tickets", NULL, "tickets", "tickets" },
};

static JsonNode *
statistic(JsonObject *figures, const char *parent, const char *member)
{
	JsonNode *node = figures && parent ? json_object_get_member(figures, parent) : NULL;
	if (parent)
		figures = node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	return figures ? json_object_get_member(figures, member) : NULL;
}

gboolean
xlsx_write(const char *path, struct store *st, const struct config *cfg, const char *now,
	   GError **error)
{
	if (!open_xlsxwriter(error))
		return FALSE;
	/* rows go out as they are written, strings inline: a hundred
	 * thousand registrations without holding them all in memory */
	lxw_workbook_options options = { .constant_memory = LXW_TRUE, .tmpdir = (char *)"/dev/shm" };
	g_autoptr(JsonObject) figures = NULL;
	lxw_workbook *wb = workbook_new_opt(path, &options);
	if (!wb) {
		g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "%s: %s", path,
			    lxw_strerror(LXW_ERROR_MEMORY_MALLOC_FAILED));
		return FALSE;
	}
	lxw_format *bold = workbook_add_format(wb);
	format_set_bold(bold);

	lxw_worksheet *ws = workbook_add_worksheet(wb, "Registrations");
	if (!ws)
		goto oom;
	/* the figures are counted while the registrations are written */
	struct figures_job *job = figures_start(cfg, now);
	write_registrations(ws, st, bold);
	figures = figures_join(job, st, cfg, now);
	for (size_t i = 0; i < G_N_ELEMENTS(statistics); i++) {
		if (!(ws = workbook_add_worksheet(wb, statistics[i].sheet)))
			goto oom;
		write_counts(ws, statistic(figures, statistics[i].parent, statistics[i].member),
			     statistics[i].key, bold);
	}

	/* the file is only created here, so this is where a bad PATH shows */
	errno = 0;
	lxw_error err = workbook_close(wb);
	int saved = errno;
	if (err != LXW_NO_ERROR) {
		/* for these its text only guesses ("usually a permissions error") */
		bool sys = saved && (err == LXW_ERROR_CREATING_XLSX_FILE ||
				     err == LXW_ERROR_CREATING_TMPFILE ||
				     err == LXW_ERROR_ZIP_FILE_OPERATION);
		g_set_error(error, CONFMAIL_ERROR,
			    err == LXW_ERROR_CREATING_XLSX_FILE ? EX_CANTCREAT : EX_IOERR, "%s: %s",
			    path, sys ? g_strerror(saved) : lxw_strerror(err));
		return FALSE;
	}
	return TRUE;

oom:	/* a sheet is refused only for want of memory: the names are valid */
	lxw_workbook_free(wb);
	g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "%s: %s", path,
		    lxw_strerror(LXW_ERROR_MEMORY_MALLOC_FAILED));
	return FALSE;
}

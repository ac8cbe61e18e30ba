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


/* libxlsxwriter deflates every part of the file at zlib's default level
 * (6) and has no setting for it: over 100,000 registrations that was
 * half the time of the export (issue 8).  Its calls to minizip come here
 * first, since the program's own definition of a name comes before any
 * library's (the Makefile exports this one), and go on at level 1: a
 * file about a quarter bigger, written in two thirds of the time.  The
 * signature is minizip's zip.h, spelled without its typedefs. */
typedef int (*open_in_zip_fn)(void *, const char *, const void *, const void *, unsigned,
			      const void *, unsigned, const char *, int, int, int, int, int, int,
			      const char *, unsigned long, unsigned long, unsigned long, int);
static open_in_zip_fn minizip_open_in_zip;	/* minizip's own */

#define XLSX_DEFLATE_LEVEL 1

int zipOpenNewFileInZip4_64(void *file, const char *name, const void *info,
			    const void *extra_local, unsigned extra_local_size,
			    const void *extra_global, unsigned extra_global_size,
			    const char *comment, int method, int level, int raw, int window_bits,
			    int mem_level, int strategy, const char *password, unsigned long crc,
			    unsigned long made_by, unsigned long flag_base, int zip64);

int
zipOpenNewFileInZip4_64(void *file, const char *name, const void *info,
			const void *extra_local, unsigned extra_local_size,
			const void *extra_global, unsigned extra_global_size,
			const char *comment, int method, int level, int raw, int window_bits,
			int mem_level, int strategy, const char *password, unsigned long crc,
			unsigned long made_by, unsigned long flag_base, int zip64)
{
	if (!minizip_open_in_zip)
		return -104;	/* ZIP_INTERNALERROR: not reached, see open_xlsxwriter */
	if (level == -1)	/* Z_DEFAULT_COMPRESSION */
		level = XLSX_DEFLATE_LEVEL;
	return minizip_open_in_zip(file, name, info, extra_local, extra_local_size, extra_global,
				   extra_global_size, comment, method, level, raw, window_bits,
				   mem_level, strategy, password, crc, made_by, flag_base, zip64);
}

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
	/* minizip's function, as the library sees it from its own scope
	 * (where this program's is not); a library with a minizip of its own
	 * inside never calls ours */
	gpointer real = NULL;
	if (!g_module_symbol(module, "zipOpenNewFileInZip4_64", &real) ||
	    (open_in_zip_fn)real == zipOpenNewFileInZip4_64) {
		GModule *minizip = g_module_open("libminizip.so.1", G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
		if (!minizip || !g_module_symbol(minizip, "zipOpenNewFileInZip4_64", &real))
			real = NULL;
	}
	if (real && (open_in_zip_fn)real != zipOpenNewFileInZip4_64)
		minizip_open_in_zip = (open_in_zip_fn)real;
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

/* A list as one cell: the languages "ar, en" read and filter better than
 * JSON. */
static char *
joined_list(JsonArray *a)
{
	GString *joined = g_string_new(NULL);
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
	return g_string_free(joined, FALSE);
}

/* Writes NODE as the cell's own type; returns its width in characters. */
static glong
write_value(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, JsonNode *node)
{
	if (!node || JSON_NODE_HOLDS_NULL(node))
		return 0;
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		g_autofree char *joined = joined_list(json_node_get_array(node));
		return write_text(ws, row, col, joined, NULL);
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

/* The registrations sheet is written in two halves: a thread reads the
 * registrations from SQL into batches of ready cells, and the caller's
 * thread, the only one that touches the workbook (libxlsxwriter is not
 * thread-safe), writes them meanwhile.  The figures thread runs beside
 * both. */
enum cell_kind { CELL_NONE, CELL_TEXT, CELL_BOOL, CELL_NUMBER };

struct cell {
	enum cell_kind kind;
	gboolean boolean;
	double number;
	gsize text;	/* offset in the batch's text */
};

#define BATCH_ROWS 512
#define BATCHES 8	/* in flight at most: the memory stays constant */
/* Widths are counted up to what set_width can still show. */
#define WIDTH_CAP (WIDTH_MAX - 2)

struct batch {
	guint nrows;
	struct cell *cells;	/* BATCH_ROWS * ncols */
	GString *text;		/* every cell's text, each ending in NUL */
	glong *widths;		/* the widest cell of each column in this batch */
};

struct sheet_rows {
	lxw_worksheet *ws;
	const char *const *columns;
	guint ncols, nrows;
	glong *widths;
	/* threaded: batches go FULL to the writer, come back EMPTY */
	GAsyncQueue *full, *empty;
	struct batch *batch;	/* being filled */
	struct store *st;
};

static struct batch *
batch_new(guint ncols)
{
	struct batch *b = g_new0(struct batch, 1);
	b->cells = g_new(struct cell, (gsize)BATCH_ROWS * ncols);
	b->text = g_string_sized_new(BATCH_ROWS * 256);
	b->widths = g_new0(glong, ncols);
	return b;
}

static void
batch_free(struct batch *b)
{
	g_free(b->cells);
	g_string_free(b->text, TRUE);
	g_free(b->widths);
	g_free(b);
}

static void
batch_clear(struct batch *b, guint ncols)
{
	b->nrows = 0;
	g_string_truncate(b->text, 0);
	memset(b->widths, 0, ncols * sizeof *b->widths);
}

/* g_utf8_strlen(S, -1), counted only up to WIDTH_CAP: all set_width
 * needs. */
static glong
capped_width(const char *s)
{
	glong n = 0;
	for (; *s && n < WIDTH_CAP; s = g_utf8_next_char(s))
		n++;
	return n;
}

/* Keeps S (cut at CELL_MAX characters) as the cell's text; its width. */
static glong
keep_text(struct batch *b, struct cell *cell, const char *s)
{
	gsize len = strlen(s);
	cell->kind = CELL_TEXT;
	cell->text = b->text->len;
	if (len > CELL_MAX && g_utf8_strlen(s, -1) > CELL_MAX) {
		/* a pasted essay is cut rather than losing the whole export */
		len = (gsize)(g_utf8_offset_to_pointer(s, CELL_MAX) - s);
	}
	g_string_append_len(b->text, s, (gssize)len);
	g_string_append_c(b->text, '\0');
	return capped_width(s);	/* a cut text is far wider than that */
}

/* NODE as the cell's own type; returns its width in characters (what
 * write_value would write). */
static glong
keep_value(struct batch *b, struct cell *cell, JsonNode *node)
{
	cell->kind = CELL_NONE;
	if (!node || JSON_NODE_HOLDS_NULL(node))
		return 0;
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		g_autofree char *joined = joined_list(json_node_get_array(node));
		return keep_text(b, cell, joined);
	}
	if (!JSON_NODE_HOLDS_VALUE(node)) {
		g_autofree char *json = json_to_string(node, FALSE);
		return keep_text(b, cell, json);
	}
	GType type = json_node_get_value_type(node);
	if (type == G_TYPE_BOOLEAN) {
		cell->kind = CELL_BOOL;
		cell->boolean = json_node_get_boolean(node);
		return 5;
	}
	if (type == G_TYPE_INT64 || type == G_TYPE_DOUBLE) {
		char buf[G_ASCII_DTOSTR_BUF_SIZE];
		cell->kind = CELL_NUMBER;
		cell->number = json_node_get_double(node);	/* converts integers too */
		return (glong)strlen(g_ascii_dtostr(buf, sizeof buf, cell->number));
	}
	return keep_text(b, cell, json_node_get_string(node));
}

/* The batch's rows into the sheet: the workbook's thread only. */
static void
write_batch(struct sheet_rows *s, struct batch *b)
{
	const struct cell *cell = b->cells;
	for (guint r = 0; r < b->nrows; r++) {
		lxw_row_t row = ++s->nrows;
		for (guint c = 0; c < s->ncols; c++, cell++) {
			switch (cell->kind) {
			case CELL_TEXT:
				worksheet_write_string(s->ws, row, (lxw_col_t)c, b->text->str + cell->text, NULL);
				break;
			case CELL_BOOL:
				worksheet_write_boolean(s->ws, row, (lxw_col_t)c, cell->boolean, NULL);
				break;
			case CELL_NUMBER:
				worksheet_write_number(s->ws, row, (lxw_col_t)c, cell->number, NULL);
				break;
			case CELL_NONE:
				break;
			}
		}
	}
	for (guint c = 0; c < s->ncols; c++)
		s->widths[c] = MAX(s->widths[c], b->widths[c]);
}

/* The filled batch onward: to the writer thread, or written here. */
static void
hand_over(struct sheet_rows *s)
{
	if (s->full) {
		g_async_queue_push(s->full, s->batch);
		s->batch = g_async_queue_pop(s->empty);
	} else {
		write_batch(s, s->batch);
	}
	batch_clear(s->batch, s->ncols);
}

/* ["ar","en"] as "ar, en" into OUT, when every element is a string with
 * no escape (SQLite gives arrays without spaces); false for anything
 * else, which json-glib then reads. */
static gboolean
join_plain_strings(const char *json, GString *out)
{
	const char *p = json;
	if (*p++ != '[')
		return FALSE;
	if (*p == ']')
		return p[1] == '\0';
	for (;;) {
		if (*p++ != '"')
			return FALSE;
		const char *q = p;
		while (*q && *q != '"' && *q != '\\')
			q++;
		if (*q != '"')
			return FALSE;
		if (out->len)
			g_string_append(out, ", ");
		g_string_append_len(out, p, q - p);
		p = q + 1;
		if (*p == ']')
			return p[1] == '\0';
		if (*p++ != ',')
			return FALSE;
	}
}

/* Cell C of the row at STMT (columns 1 + 2C, the type, NULL for the
 * registration's own column, and 2 + 2C, the value), as registrations_each
 * would have made it; returns its width. */
static glong
keep_column(struct batch *b, struct cell *cell, sqlite3_stmt *stmt, guint c, gboolean own,
	    JsonParser *parser)
{
	int tc = 1 + 2 * (int)c, vc = tc + 1;
	const char *type = own ? NULL : (const char *)sqlite3_column_text(stmt, tc);
	const char *text;
	cell->kind = CELL_NONE;
	if (own || (type && strcmp(type, "text") == 0)) {
		text = (const char *)sqlite3_column_text(stmt, vc);
		return text ? keep_text(b, cell, text) : 0;
	}
	if (!type || strcmp(type, "null") == 0 || sqlite3_column_type(stmt, vc) == SQLITE_NULL)
		return 0;
	if (strcmp(type, "bool") == 0 || strcmp(type, "true") == 0 || strcmp(type, "false") == 0) {
		cell->kind = CELL_BOOL;
		cell->boolean = type[0] == 'b' ? sqlite3_column_int(stmt, vc) != 0 : type[0] == 't';
		return 5;
	}
	if (strcmp(type, "integer") == 0 || strcmp(type, "real") == 0) {
		char buf[G_ASCII_DTOSTR_BUF_SIZE];
		cell->kind = CELL_NUMBER;
		cell->number = type[0] == 'i' ? (double)sqlite3_column_int64(stmt, vc)
					      : sqlite3_column_double(stmt, vc);
		return (glong)strlen(g_ascii_dtostr(buf, sizeof buf, cell->number));
	}
	/* an array, an object, or what a list field holds instead */
	text = (const char *)sqlite3_column_text(stmt, vc);
	g_autoptr(GString) joined = g_string_new(NULL);
	if (join_plain_strings(text, joined))
		return keep_text(b, cell, joined->str);
	if (!json_parser_load_from_data(parser, text, -1, NULL))
		return 0;
	return keep_value(b, cell, json_parser_get_root(parser));
}

/* The end of the rows: a batch with none. */
static struct batch end_of_rows;

/* Every registration, in the order registered, into batches: the cells
 * registrations_each's objects would have given, straight from SQL (its
 * objects cost more than the rest of the reading). */
static gpointer
read_rows(gpointer data)
{
	struct sheet_rows *s = data;
	g_autofree gboolean *own = g_new0(gboolean, s->ncols);
	int name = -1;
	for (guint c = 0; c < s->ncols; c++) {
		own[c] = registration_own_column(s->columns[c]);
		if (strcmp(s->columns[c], "name") == 0)
			name = (int)c;
	}
	/* registrations_each's query, without its objects (they cost more
	 * than all the rest of the reading) */
	g_autofree char *sql = registrations_select(NULL);

	if (s->full)
		s->batch = g_async_queue_pop(s->empty);
	batch_clear(s->batch, s->ncols);
	g_autoptr(JsonParser) parser = json_parser_new();
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(s->st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			struct batch *b = s->batch;
			struct cell *cells = b->cells + (gsize)b->nrows * s->ncols;
			for (guint c = 0; c < s->ncols; c++) {
				glong w = keep_column(b, &cells[c], stmt, c, own[c], parser);
				b->widths[c] = MAX(b->widths[c], w);
			}
			/* the name as registered when the fields have none */
			if (name >= 0 && cells[name].kind == CELL_NONE && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
				glong w = keep_text(b, &cells[name], (const char *)sqlite3_column_text(stmt, 0));
				b->widths[name] = MAX(b->widths[name], w);
			}
			if (++b->nrows == BATCH_ROWS)
				hand_over(s);
		}
	}
	sqlite3_finalize(stmt);

	if (!s->full) {
		write_batch(s, s->batch);
		return NULL;
	}
	if (s->batch->nrows)
		g_async_queue_push(s->full, s->batch);
	else
		g_async_queue_push(s->empty, s->batch);
	s->batch = NULL;
	g_async_queue_push(s->full, &end_of_rows);
	return NULL;
}

static void
write_registrations(lxw_worksheet *ws, struct store *st, lxw_format *bold)
{
	const char *const *columns = registration_columns();
	guint ncols = g_strv_length((char **)columns);
	g_autofree glong *widths = g_new0(glong, ncols);
	struct sheet_rows s = { .ws = ws, .columns = columns, .ncols = ncols, .widths = widths, .st = st };

	for (guint c = 0; c < ncols; c++)
		widths[c] = write_text(ws, 0, c, columns[c], bold);

	s.full = g_async_queue_new();
	s.empty = g_async_queue_new();
	for (int i = 0; i < BATCHES; i++)
		g_async_queue_push(s.empty, batch_new(ncols));
	GThread *reader = g_thread_try_new("rows", read_rows, &s, NULL);
	if (reader) {
		struct batch *b;
		while ((b = g_async_queue_pop(s.full)) != &end_of_rows) {
			write_batch(&s, b);
			g_async_queue_push(s.empty, b);
		}
		g_thread_join(reader);
	} else {
		/* no thread to be had: read and write in turn */
		g_async_queue_unref(s.full);
		s.full = NULL;
		s.batch = g_async_queue_pop(s.empty);
		read_rows(&s);
		g_async_queue_push(s.empty, s.batch);
	}
	struct batch *b;
	while ((b = g_async_queue_try_pop(s.empty)))
		batch_free(b);
	g_async_queue_unref(s.empty);
	if (s.full)
		g_async_queue_unref(s.full);

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

/*
 * report.c - the organisers' one-page report: the figures as SVG bar
 * charts and the registrations as a table that sorts by any column.
 *
 * One file with nothing outside it (no fonts, scripts or images fetched,
 * and a Content-Security-Policy that forbids them), so that it can be
 * mailed, opened offline and archived as it is.  Every value comes from
 * mail that anybody can send: all of it is escaped, and text cells carry
 * dir="auto" so that an Arabic or Kurdish name reads right to left
 * without dragging the punctuation of its neighbours along.
 */
#include "confmail.h"

#include <string.h>

/* The geometry of a chart, in pixels: labels on the left, then a track
 * as long as the chart's scale, then the number. */
#define CHART_WIDTH 560
#define LABEL_END 160		/* labels are right-aligned here */
#define BAR_START 170
#define BAR_SPACE 300		/* the length that stands for the scale */
#define ROW_HEIGHT 22
#define LABEL_MAX 22		/* characters; longer labels are cut */

/* Text into HTML, good in an element and in a quoted attribute alike.
 * Control characters (bar tab and newline) are not allowed in HTML text:
 * they become spaces. */
static void
append_escaped(GString *out, const char *s)
{
	if (!s)
		return;
	g_autofree char *valid = g_utf8_make_valid(s, -1);
	for (const char *p = valid; *p; p++) {
		switch (*p) {
		case '&':
			g_string_append(out, "&amp;");
			break;
		case '<':
			g_string_append(out, "&lt;");
			break;
		case '>':
			g_string_append(out, "&gt;");
			break;
		case '"':
			g_string_append(out, "&quot;");
			break;
		case '\'':
			g_string_append(out, "&#39;");
			break;
		default:
			if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n')
				g_string_append_c(out, ' ');
			else
				g_string_append_c(out, *p);
		}
	}
}

/* A key as people read it: "needs_sponsorship" -> "needs sponsorship". */
static char *
humanise(const char *key)
{
	char *s = g_strdup(key ? key : "");
	g_strdelimit(s, "_", ' ');
	return s;
}

/* A JSON value as table text: "" for null, "yes"/"no", lists joined. */
static char *
node_text(JsonNode *n)
{
	if (!n || JSON_NODE_HOLDS_NULL(n))
		return g_strdup("");
	if (JSON_NODE_HOLDS_ARRAY(n)) {
		JsonArray *a = json_node_get_array(n);
		GString *s = g_string_new(NULL);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			g_autofree char *item = node_text(json_array_get_element(a, i));
			g_string_append_printf(s, "%s%s", i ? ", " : "", item);
		}
		return g_string_free(s, FALSE);
	}
	if (JSON_NODE_HOLDS_OBJECT(n))
		return json_to_string(n, FALSE);
	switch (json_node_get_value_type(n)) {
	case G_TYPE_STRING:
		return g_strdup(json_node_get_string(n));
	case G_TYPE_BOOLEAN:
		return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
	case G_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
	default:
		return g_strdup_printf("%g", json_node_get_double(n));
	}
}

/* Members of the figures, tolerating absence: a report with a missing
 * number is better than no report. */
static JsonObject *
object_member(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;
	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static gint64
int_member(JsonObject *o, const char *name)
{
	return o ? json_object_get_int_member_with_default(o, name, 0) : 0;
}

static const char *
string_member(JsonObject *o, const char *name)
{
	return o ? json_object_get_string_member_with_default(o, name, "") : "";
}

/* --- charts ---------------------------------------------------------- */

struct bar {
	char *label;
	gint64 value;
	const char *kind;	/* CSS class of the bar: bar, limit, warn */
};

static void
bar_clear(gpointer p)
{
	g_free(((struct bar *)p)->label);
}

static GArray *
bars_new(void)
{
	GArray *bars = g_array_new(FALSE, TRUE, sizeof(struct bar));
	g_array_set_clear_func(bars, bar_clear);
	return bars;
}

/* Counts that mean something went wrong are drawn in another colour. */
static const char *const warnings[] = { "cancelled", "deferred", "failed", "disabled", "bounces",
					"overdue", NULL };

static void
bars_add(GArray *bars, const char *key, gint64 value)
{
	struct bar b = {
		.label = humanise(key),
		.value = value,
		.kind = key && g_strv_contains(warnings, key) ? "warn" : "bar",
	};
	g_array_append_val(bars, b);
}

/* Bars from a figure: an array of {"key", "count"} or an object of counts
 * (in its own order: figures.c lists the zeros first, in a fixed order). */
static GArray *
bars_from(JsonNode *n)
{
	GArray *bars = bars_new();
	if (n && JSON_NODE_HOLDS_ARRAY(n)) {
		JsonArray *a = json_node_get_array(n);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *e = json_array_get_element(a, i);
			if (!JSON_NODE_HOLDS_OBJECT(e))
				continue;
			JsonObject *pair = json_node_get_object(e);
			bars_add(bars, string_member(pair, "key"), int_member(pair, "count"));
		}
	} else if (n && JSON_NODE_HOLDS_OBJECT(n)) {
		JsonObject *o = json_node_get_object(n);
		g_autoptr(GList) keys = json_object_get_members(o);
		for (GList *l = keys; l; l = l->next)
			bars_add(bars, l->data, int_member(o, l->data));
	}
	return bars;
}

/* A label that fits left of the bars. */
static char *
short_label(const char *label)
{
	if (g_utf8_strlen(label, -1) <= LABEL_MAX)
		return g_strdup(label);
	g_autofree char *cut = g_utf8_substring(label, 0, LABEL_MAX - 1);
	return g_strconcat(cut, "…", NULL);
}

/* One horizontal bar chart.  SCALE is what a full track stands for; 0:
 * the largest value. */
static void
chart(GString *out, const char *title, GArray *bars, gint64 scale)
{
	for (guint i = 0; i < bars->len; i++)
		scale = MAX(scale, g_array_index(bars, struct bar, i).value);
	scale = MAX(scale, 1);
	int height = MAX((int)bars->len, 1) * ROW_HEIGHT + 8;

	g_string_append(out, "<figure>\n<figcaption>");
	append_escaped(out, title);
	g_string_append_printf(out, "</figcaption>\n<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\""
			       " role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n<title>",
			       CHART_WIDTH, height, CHART_WIDTH, height);
	append_escaped(out, title);
	g_string_append(out, "</title>\n");
	if (bars->len == 0)
		g_string_append_printf(out, "<text x=\"%d\" y=\"19\">none yet</text>\n", BAR_START);
	for (guint i = 0; i < bars->len; i++) {
		const struct bar *b = &g_array_index(bars, struct bar, i);
		int y = 4 + (int)i * ROW_HEIGHT;
		int width = (int)(MIN(MAX(b->value, 0), scale) * BAR_SPACE / scale);
		g_autofree char *label = short_label(b->label);
		g_string_append(out, "<g><title>");
		append_escaped(out, b->label);
		g_string_append_printf(out, ": %" G_GINT64_FORMAT "</title><text class=\"label\" x=\"%d\" y=\"%d\">",
				       b->value, LABEL_END, y + 13);
		append_escaped(out, label);
		g_string_append_printf(out, "</text><rect class=\"track\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\"/>"
				       "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\"/>"
				       "<text class=\"value\" x=\"%d\" y=\"%d\">%" G_GINT64_FORMAT "</text></g>\n",
				       BAR_START, y, BAR_SPACE, b->kind, BAR_START, y, width,
				       BAR_START + width + 6, y + 13, b->value);
	}
	g_string_append(out, "</svg>\n</figure>\n");
}

/* The statuses, with the capacity drawn as one more bar on the same scale. */
static void
status_chart(GString *out, JsonObject *figures)
{
	gint64 capacity = int_member(figures, "capacity");
	JsonObject *regs = object_member(figures, "registrations");
	g_autoptr(GArray) bars = bars_from(regs ? json_object_get_member(regs, "by_status") : NULL);
	g_autofree char *title = NULL;
	if (capacity > 0) {
		struct bar limit = { .label = g_strdup("capacity"), .value = capacity, .kind = "limit" };
		g_array_append_val(bars, limit);
		title = g_strdup_printf("Registrations by status, against the capacity of %" G_GINT64_FORMAT,
					capacity);
	} else {
		title = g_strdup("Registrations by status (no capacity set)");
	}
	chart(out, title, bars, capacity);
}

/* A countdown: the track is four weeks, or all the time left if longer. */
static void
deadline_chart(GString *out, JsonObject *figures)
{
	gint64 left = int_member(figures, "days_left");
	g_autoptr(GArray) bars = bars_new();
	bars_add(bars, "days left", left);
	if (left <= 7)
		g_array_index(bars, struct bar, 0).kind = "warn";
	g_autofree char *title = g_strdup_printf("Days left to the registration deadline (%s)",
						 string_member(figures, "deadline"));
	chart(out, title, bars, MAX(left, 28));
}

/* The other figures, each drawn the same way, in the order shown. */
static const struct {
	const char *member;	/* of the figures */
	const char *title;
} plain_charts[] = {
	{ "by_country", "Participants by country" },
	{ "by_org_type", "Participants by type of organisation" },
	{ "by_gender", "Participants by gender" },
	{ "by_language", "Languages spoken" },
	{ "interpretation", "Interpretation needed" },
	{ "funding", "Funding: own costs, needs sponsorship, sponsors others" },
	{ "arrivals", "Arrivals per day" },
	{ "departures", "Departures per day" },
	{ "hotel_nights", "Hotel rooms needed per night" },
	{ "list", "Announcement list health" },
	{ "queue", "Outgoing mail queue health" },
	{ "tickets", "Questions waiting for an answer" },
};

/* --- the page -------------------------------------------------------- */

static const char style[] =
	"body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:80em;padding:0 1em;color:#222}\n"
	"h1{font-size:1.5em}\n"
	"dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\n"
	"dl.summary dt{font-weight:bold}\n"
	"dl.summary dd{margin:0}\n"
	".charts{display:flex;flex-wrap:wrap;gap:1em 2em}\n"
	"figure{margin:0}\n"
	"figcaption{font-weight:bold;margin:.5em 0}\n"
	"svg.chart{font-size:12px}\n"
	"svg.chart .label{text-anchor:end}\n"
	"svg.chart .track{fill:#eee}\n"
	"svg.chart .bar{fill:#3b6ea8}\n"
	"svg.chart .limit{fill:#999}\n"
	"svg.chart .warn{fill:#c0392b}\n"
	"table{border-collapse:collapse;margin-top:1em;font-size:14px}\n"
	"th,td{border:1px solid #ccc;padding:.25em .5em;text-align:start;vertical-align:top}\n"
	"td{white-space:nowrap}\n"
	"td.prose{white-space:normal;min-width:10em}\n"
	"th button{font:inherit;font-weight:bold;border:0;background:none;padding:0;cursor:pointer}\n"
	"th[aria-sort=ascending] button::after{content:\" \\25B2\"}\n"
	"th[aria-sort=descending] button::after{content:\" \\25BC\"}\n"
	"tbody tr:nth-child(even){background:#f6f6f6}\n";

/* Sorts #registrations by the column whose heading was clicked, again to
 * reverse; empty cells stay last.  Written to run in any browser of the
 * last years without throwing, whatever the table holds. */
static const char script[] =
	"(function () {\n"
	"\t\"use strict\";\n"
	"\tvar table = document.getElementById(\"registrations\");\n"
	"\tif (!table || !table.tHead || !table.tBodies.length)\n"
	"\t\treturn;\n"
	"\tvar body = table.tBodies[0];\n"
	"\tvar heads = table.tHead.rows[0].cells;\n"
	"\tvar collator = new Intl.Collator(undefined, { numeric: true, sensitivity: \"base\" });\n"
	"\tfunction text(row, column) {\n"
	"\t\tvar cell = row.cells[column];\n"
	"\t\treturn cell ? cell.textContent.trim() : \"\";\n"
	"\t}\n"
	"\tArray.prototype.forEach.call(heads, function (th, column) {\n"
	"\t\tvar button = th.querySelector(\"button\");\n"
	"\t\tif (!button)\n"
	"\t\t\treturn;\n"
	"\t\tbutton.addEventListener(\"click\", function () {\n"
	"\t\t\tvar ascending = th.getAttribute(\"aria-sort\") !== \"ascending\";\n"
	"\t\t\tArray.prototype.forEach.call(heads, function (h) { h.removeAttribute(\"aria-sort\"); });\n"
	"\t\t\tth.setAttribute(\"aria-sort\", ascending ? \"ascending\" : \"descending\");\n"
	"\t\t\tvar rows = Array.prototype.slice.call(body.rows);\n"
	"\t\t\trows.sort(function (a, b) {\n"
	"\t\t\t\tvar x = text(a, column), y = text(b, column);\n"
	"\t\t\t\tif (x === \"\" || y === \"\")\n"
	"\t\t\t\t\treturn (x === \"\") - (y === \"\");\n"
	"\t\t\t\tvar c = collator.compare(x, y);\n"
	"\t\t\t\treturn ascending ? c : -c;\n"
	"\t\t\t});\n"
	"\t\t\trows.forEach(function (row) { body.appendChild(row); });\n"
	"\t\t});\n"
	"\t});\n"
	"})();\n";

/* The columns of the table, in order.  CODED ones hold a key of
 * FIELDS.md (needs_sponsorship) shown as words; PROSE ones may wrap, the
 * others (references, dates) read badly broken. */
static const struct {
	const char *member;	/* of a row */
	const char *heading;
	bool coded, prose;
} columns[] = {
	{ "reference", "Reference", false, false },
	{ "status", "Status", false, false },
	{ "name", "Name", false, true },
	{ "organization", "Organisation", false, true },
	{ "country", "Country", false, false },
	{ "funding", "Funding", true, false },
	{ "arrival", "Arrival", false, false },
	{ "departure", "Departure", false, false },
	{ "email", "Email", false, false },
};

static void
summary(GString *out, JsonObject *figures)
{
	JsonObject *regs = object_member(figures, "registrations");
	JsonObject *tickets = object_member(figures, "tickets");
	gint64 capacity = int_member(figures, "capacity");
	g_autofree char *capacity_text = capacity > 0
	    ? g_strdup_printf("%" G_GINT64_FORMAT, capacity) : g_strdup("no limit");
	g_autofree char *deadline = g_strdup_printf("%s (%" G_GINT64_FORMAT " days left)",
						    string_member(figures, "deadline"),
						    int_member(figures, "days_left"));
	g_autofree char *total = g_strdup_printf("%" G_GINT64_FORMAT, int_member(regs, "total"));
	g_autofree char *visas = g_strdup_printf("%" G_GINT64_FORMAT, int_member(figures, "visa_letters"));
	g_autofree char *open = g_strdup_printf("%" G_GINT64_FORMAT " (%" G_GINT64_FORMAT " overdue)",
						int_member(tickets, "open"), int_member(tickets, "overdue"));
	const char *items[][2] = {
		{ "Generated", string_member(figures, "generated_at") },
		{ "Registrations", total },
		{ "Capacity", capacity_text },
		{ "Deadline", deadline },
		{ "Visa letters", visas },
		{ "Open questions", open },
	};
	g_string_append(out, "<dl class=\"summary\">\n");
	for (size_t i = 0; i < G_N_ELEMENTS(items); i++) {
		g_string_append(out, "<dt>");
		append_escaped(out, items[i][0]);
		g_string_append(out, "</dt><dd>");
		append_escaped(out, items[i][1]);
		g_string_append(out, "</dd>\n");
	}
	g_string_append(out, "</dl>\n");
}

/* One registration, a row of the table. */
struct table_rows {
	GString *out;
	gint64 rows;
};

static void
table_row(JsonObject *row, gpointer data)
{
	struct table_rows *t = data;
	GString *out = t->out;
	t->rows++;
	g_string_append(out, "<tr>");
	for (size_t c = 0; c < G_N_ELEMENTS(columns); c++) {
		JsonNode *v = json_object_get_member(row, columns[c].member);
		g_autofree char *raw = node_text(v);
		g_autofree char *shown = columns[c].coded ? humanise(raw) : g_strdup(raw);
		g_string_append_printf(out, "<td dir=\"auto\"%s>",
				       columns[c].prose ? " class=\"prose\"" : "");
		append_escaped(out, shown);
		g_string_append(out, "</td>");
	}
	g_string_append(out, "</tr>\n");
}

/* The table of every registration into OUT; how many rows it has. */
static gint64
registrations_table(GString *out, struct store *st)
{
	struct table_rows t = { out, 0 };
	g_string_append(out, "<table id=\"registrations\">\n<thead>\n<tr>");
	for (size_t c = 0; c < G_N_ELEMENTS(columns); c++)
		g_string_append_printf(out, "<th scope=\"col\"%s><button type=\"button\">%s</button></th>",
				       c == 0 ? " aria-sort=\"ascending\"" : "", columns[c].heading);
	g_string_append(out, "</tr>\n</thead>\n<tbody>\n");
	/* only what the table shows is taken out of the registrations */
	const char *shown[G_N_ELEMENTS(columns) + 1];
	for (size_t c = 0; c < G_N_ELEMENTS(columns); c++)
		shown[c] = columns[c].member;
	shown[G_N_ELEMENTS(columns)] = NULL;
	registrations_each(st, NULL, shown, table_row, &t);
	g_string_append(out, "</tbody>\n</table>\n");
	return t.rows;
}

char *
report_html(const struct config *cfg, struct store *st, const char *now)
{
	/* the table, the long part, is written while the figures are counted */
	struct figures_job *job = figures_start(cfg, now);
	g_autoptr(GString) rows_html = g_string_new(NULL);
	gint64 rows = registrations_table(rows_html, st);
	g_autoptr(JsonObject) figures = figures_join(job, st, cfg, now);
	GString *out = g_string_new("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	/* Nothing may be fetched: the page must look the same offline, and
	 * a name in it must never make a browser call out. */
	g_string_append(out, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"
			" style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
			"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	append_escaped(out, cfg->name);
	g_string_append_printf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1 dir=\"auto\">", style);
	append_escaped(out, cfg->name);
	g_string_append(out, "</h1>\n");
	summary(out, figures);

	g_string_append(out, "<h2>Figures</h2>\n<div class=\"charts\">\n");
	status_chart(out, figures);
	deadline_chart(out, figures);
	for (size_t i = 0; i < G_N_ELEMENTS(plain_charts); i++) {
		JsonNode *n = figures ? json_object_get_member(figures, plain_charts[i].member) : NULL;
		g_autoptr(GArray) bars = bars_from(n);
		chart(out, plain_charts[i].title, bars, 0);
	}
	g_string_append(out, "</div>\n");

	g_string_append_printf(out, "<h2>Registrations (%" G_GINT64_FORMAT ")</h2>\n", rows);
	g_string_append_len(out, rows_html->str, (gssize)rows_html->len);
	g_string_append_printf(out, "<script>\n%s</script>\n</body>\n</html>\n", script);
	return g_string_free(out, FALSE);
}

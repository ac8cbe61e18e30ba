/*
 * cmd_tickets.c - `confmail tickets list [--open] | show REF | assign REF
 * WHO | close REF | remind`: the question desk at the terminal.  assign
 * and close do what "#assign" and "#close" do by mail; remind is for cron
 * (hourly is enough: a ticket is reminded at most once a day).
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>

static const char *
text(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	return s ? s : "-";
}

/* How long ago ISO was, at NOW, for people: "3 h", "2 d". */
static char *
age(const char *iso, const char *now)
{
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) then = g_date_time_new_from_iso8601(iso, utc);
	g_autoptr(GDateTime) at = g_date_time_new_from_iso8601(now, utc);
	if (!then || !at)
		return g_strdup("?");
	gint64 hours = g_date_time_difference(at, then) / G_TIME_SPAN_HOUR;
	return hours < 48 ? g_strdup_printf("%" G_GINT64_FORMAT " h", hours)
	    : g_strdup_printf("%" G_GINT64_FORMAT " d", hours / 24);
}

static int
list(struct store *st, bool open_only)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *now = confmail_now_iso();
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store_db(st),
				    "SELECT t.reference, t.status, coalesce(t.topic, 'other'), t.language,"
				    " coalesce(t.assignee, '-'), t.created_at, t.email,"
				    " coalesce(m.subject, '')"
				    " FROM tickets t LEFT JOIN messages m ON m.id = t.message"
				    " WHERE ?1 = 0 OR t.status = 'open' ORDER BY t.id", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int(stmt, 1, open_only);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(stmt)) != SQLITE_ROW)
			break;
		g_autofree char *old = age(text(stmt, 5), now);
		printf("%-15s %-8s %-13s %-3s %-24s %5s  %s  %s\n", text(stmt, 0), text(stmt, 1),
		       text(stmt, 2), text(stmt, 3), text(stmt, 4), old, text(stmt, 6), text(stmt, 7));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_set_error(st, rc, "listing tickets", &error);
		return cm_fail(error);
	}
	return 0;
}

static int
show(struct store *st, const char *ref)
{
	struct ticket t;
	if (!tickets_find_reference(st, ref, &t)) {
		cm_err("tickets show: no ticket %s", ref);
		return EX_NOINPUT;
	}
	g_autofree char *now = confmail_now_iso();
	g_autofree char *old = age(t.created_at, now);
	printf("ticket      %s\nstatus      %s\nfrom        %s%s%s%s\nlanguage    %s\n"
	       "topic       %s\nassigned to %s\nopened      %s (%s ago)\nupdated     %s\n\n",
	       t.reference, t.status, t.name ? t.name : "", t.name ? " <" : "", t.email,
	       t.name ? ">" : "", t.language ? t.language : "-", t.topic ? t.topic : "other",
	       t.assignee ? t.assignee : "-", t.created_at, old, t.updated_at);
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store_db(st), "SELECT e.at, e.kind, coalesce(e.actor, '-'),"
			       " coalesce(e.note, ''), coalesce(m.subject, '') FROM ticket_events e"
			       " LEFT JOIN messages m ON m.id = e.message WHERE e.ticket = ? ORDER BY e.id",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, t.id);
		while (sqlite3_step(stmt) == SQLITE_ROW)
			printf("%s  %-9s %-30s %s%s%s\n", text(stmt, 0), text(stmt, 1), text(stmt, 2),
			       text(stmt, 3), *text(stmt, 3) && *text(stmt, 4) ? " | " : "", text(stmt, 4));
	}
	sqlite3_finalize(stmt);
	ticket_clear(&t);
	return 0;
}

static int
close_ticket(struct store *st, const char *ref)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *now = confmail_now_iso();
	struct ticket t;
	if (!tickets_find_reference(st, ref, &t)) {
		cm_err("tickets close: no ticket %s", ref);
		return EX_NOINPUT;
	}
	const char *who = g_get_user_name();
	gboolean ok = store_begin(st, &error) &&
	    tickets_update(st, t.id, "closed", NULL, now, &error) &&
	    tickets_event(st, t.id, "closed", who, 0, "from the terminal", now, &error) &&
	    store_commit(st, &error);
	if (!ok)
		store_rollback(st);
	if (ok)
		printf("%s closed\n", t.reference);
	ticket_clear(&t);
	return ok ? 0 : cm_fail(error);
}

int
cmd_tickets(struct command_context *ctx, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	gboolean open_only = FALSE;
	GOptionEntry entries[] = {
		{ "open", 0, 0, G_OPTION_ARG_NONE, &open_only, "list: only the open tickets", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GOptionContext) oc = g_option_context_new("list [--open] | show REF | assign REF WHO"
							      " | close REF | remind");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("tickets: %s", error->message);
		return EX_USAGE;
	}
	const char *what = argc > 1 ? argv[1] : "";
	int want = strcmp(what, "list") == 0 || strcmp(what, "remind") == 0 ? 2
	    : strcmp(what, "show") == 0 || strcmp(what, "close") == 0 ? 3
	    : strcmp(what, "assign") == 0 ? 4 : -1;
	if (argc != want) {
		cm_err("usage: confmail tickets list [--open] | show REF | assign REF TOPIC|NAME|ADDRESS"
		       " | close REF | remind");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = NULL;
	int rc = 0;
	g_autoptr(store) st = cm_open(ctx, STORE_CREATE, &cfg, &rc);
	if (!st)
		return rc;
	if (strcmp(what, "list") == 0)
		return list(st, open_only);
	if (strcmp(what, "show") == 0)
		return show(st, argv[2]);
	if (strcmp(what, "close") == 0)
		return close_ticket(st, argv[2]);
	g_autofree char *now = confmail_now_iso();
	if (strcmp(what, "assign") == 0) {
		if (!store_begin(st, &error) ||
		    !questions_assign(st, cfg, argv[2], argv[3], g_get_user_name(), now, &error) ||
		    !store_commit(st, &error)) {
			store_rollback(st);
			return cm_fail(error);
		}
		printf("%s assigned to %s\n", argv[2], argv[3]);
		return 0;
	}
	int sent = 0;
	if (!store_begin(st, &error) || !questions_remind(st, cfg, now, &sent, &error) ||
	    !store_commit(st, &error)) {
		store_rollback(st);
		return cm_fail(error);
	}
	printf("reminded the coordinators of %d ticket%s\n", sent, sent == 1 ? "" : "s");
	return 0;
}

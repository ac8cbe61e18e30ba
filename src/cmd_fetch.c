/*
 * cmd_fetch.c - `confmail fetch`: the intake for a conference address
 * hosted elsewhere, read over IMAP or POP3 instead of piped in by an MTA.
 * --once takes what is there and exits (for cron: 0 when all is taken, 75
 * when something must be tried again); --daemon stays, woken by IMAP IDLE
 * or every [fetch] interval, reconnecting with backoff after a failure,
 * until SIGTERM (exit 0).
 */
#include "confmail.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* After a failure the daemon tries again after 1 s, 2, 4, ... up to this. */
#define MAX_BACKOFF 300

/* Set by SIGTERM or SIGINT: the message at hand is finished (recorded and
 * acted on, or left on the server), then fetch stops. */
static volatile sig_atomic_t stop_requested;

static void
request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
pause_for(int seconds)
{
	for (int i = 0; i < seconds && !stop_requested; i++)
		sleep(1);
}

static void
report(const struct fetch_session *s, const struct fetch_counts *c, bool always)
{
	if (always || c->recorded || c->duplicates || c->too_big)
		printf("fetch: %s: %d new, %d already recorded, %d too large (left on the server)\n",
		       fetch_account(s), c->recorded, c->duplicates, c->too_big);
	fflush(stdout);
}

static int
run_once(const struct config *cfg, struct store *st, const struct rules *r)
{
	g_autoptr(GError) error = NULL;
	struct fetch_counts counts = { 0 };
	g_autoptr(fetch_session) s = fetch_connect(cfg, &error);
	if (!s)
		return cm_fail(error);
	bool ok = fetch_run(s, st, r, &counts, &stop_requested, &error);
	report(s, &counts, true);
	return ok ? 0 : cm_fail(error);
}

/* Connects, takes what is there, waits (IDLE, or polls every interval),
 * takes again; a lost connection or a transient failure is retried with
 * backoff.  Only a mistake in the configuration ends it (78). */
static int
run_daemon(const struct config *cfg, struct store *st, const struct rules *r)
{
	int backoff = 1;
	while (!stop_requested) {
		g_autoptr(GError) error = NULL;
		struct fetch_session *s = fetch_connect(cfg, &error);
		while (s && !stop_requested) {
			struct fetch_counts counts = { 0 };
			bool ok = fetch_run(s, st, r, &counts, &stop_requested, &error);
			report(s, &counts, false);
			if (!ok)
				break;
			backoff = 1;
			if (stop_requested ||
			    fetch_wait(s, cfg->fetch_interval, &stop_requested, &error) != FETCH_AGAIN)
				break;
		}
		g_clear_pointer(&s, fetch_close);
		if (stop_requested)
			break;
		if (!error) {
			pause_for(cfg->fetch_interval);	/* POP3: the next look */
			continue;
		}
		if (error->code == EX_CONFIG)
			return cm_fail(error);
		cm_err("fetch: %s; trying again in %d s", error->message, backoff);
		pause_for(backoff);
		backoff = MIN(backoff * 2, MAX_BACKOFF);
	}
	printf("fetch: stopped\n");
	return 0;
}

int
cmd_fetch(struct command_context *ctx, int argc, char **argv)
{
	gboolean once = FALSE, daemon = FALSE;
	GOptionEntry entries[] = {
		{ "once", 0, 0, G_OPTION_ARG_NONE, &once, "take what is in the mailbox, then exit", NULL },
		{ "daemon", 0, 0, G_OPTION_ARG_NONE, &daemon,
		  "keep taking new mail (IMAP IDLE, else every [fetch] interval); SIGTERM stops", NULL },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new("--once|--daemon - intake from [fetch]'s mailbox");

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("fetch: %s", error->message);
		return EX_USAGE;
	}
	if (argc != 1 || once == daemon) {
		cm_err("usage: confmail fetch --once|--daemon");
		return EX_USAGE;
	}
	g_autoptr(config) cfg = cm_load_config(ctx);
	if (!cfg)
		return EX_CONFIG;
	if (!config_check_fetch(cfg, &error))
		return cm_fail(error);
	g_autofree char *dir = rules_default_dir();
	g_autofree char *cache = rules_cache_path(cfg);
	g_autoptr(rules) r = rules_load_cached(dir, cache, &error);
	if (!r)
		return cm_fail(error);
	g_autoptr(store) st = store_open(cfg, STORE_CREATE, &error);
	if (!st)
		return cm_fail(error);
	/* The envelope comes from each message (Delivered-To, Return-Path),
	 * never from what an MTA may have left in this environment. */
	g_unsetenv("ORIGINAL_RECIPIENT");
	g_unsetenv("RECIPIENT");
	g_unsetenv("SENDER");
	/* SA_RESTART: a signal mid-message does not break the exchange */
	struct sigaction sa = { .sa_handler = request_stop, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* a server gone mid-command is an error to report, not a reason to die */
	signal(SIGPIPE, SIG_IGN);
	return daemon ? run_daemon(cfg, st, r) : run_once(cfg, st, r);
}

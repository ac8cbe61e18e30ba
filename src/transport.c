/*
 * transport.c - handing a queued message to the world.  The maildir
 * transport writes it into a Maildir (tmp/, fsync, rename into new/), so
 * tests and `make demo` can read every reply; the smtp transport speaks to
 * a relay with libetpan, one session for many messages.
 */
#include "confmail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

static gboolean
make_dirs(const char *maildir, GError **error)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *d = g_build_filename(maildir, subs[i], NULL);
		if (g_mkdir_with_parents(d, 0700) != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "%s: %s", d, g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return FALSE;
	int rc = fsync(fd);
	close(fd);
	return rc == 0;
}

gboolean
transport_maildir(const char *maildir, gint64 id, const void *data, gsize len, char **delivered,
		  GError **error)
{
	static unsigned seq;
	char host[256] = "localhost";

	if (!make_dirs(maildir, error))
		return FALSE;
	gethostname(host, sizeof host - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT ".M%dP%dQ%uO%" G_GINT64_FORMAT ".%s",
						g_date_time_to_unix(now), g_date_time_get_microsecond(now),
						(int)getpid(), ++seq, id, host);
	g_autofree char *tmp = g_build_filename(maildir, "tmp", name, NULL);
	g_autofree char *new = g_build_filename(maildir, "new", name, NULL);
	g_autofree char *newdir = g_build_filename(maildir, "new", NULL);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "%s: %s", tmp, g_strerror(errno));
		return FALSE;
	}
	const char *p = data;
	gsize left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (gsize)n;
	}
	bool ok = left == 0 && fsync(fd) == 0;
	int saved = errno;
	close(fd);
	if (!ok || rename(tmp, new) != 0 || !sync_dir(newdir)) {
		saved = ok ? errno : saved;
		unlink(tmp);
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "delivering into %s: %s", maildir,
			    g_strerror(saved));
		return FALSE;
	}
	*delivered = g_steal_pointer(&new);
	return TRUE;
}

/* SMTP ------------------------------------------------------------------- */

struct smtp {
	mailsmtp *session;
	char *host;
};

/* The outcome of the last exchange, from the reply code itself: libetpan's
 * error enum gives 450 and 550 the same value. */
static enum delivery
outcome_of(mailsmtp *s, int r, char **why)
{
	int code = s->response_code;
	const char *text = s->response ? s->response : "";
	if (r == MAILSMTP_NO_ERROR && code >= 200 && code < 400)
		return DELIVERY_SENT;
	if (code >= 500 && code < 600) {
		*why = g_strdup_printf("%d %s", code, text);
		return DELIVERY_FAILED;
	}
	*why = code >= 400 && code < 500 ? g_strdup_printf("%d %s", code, text)
	    : g_strdup_printf("connection: %s", mailsmtp_strerror(r));
	return DELIVERY_DEFERRED;
}

void
transport_smtp_close(struct smtp *t)
{
	if (!t)
		return;
	if (t->session) {
		mailsmtp_quit(t->session);
		mailsmtp_free(t->session);
	}
	g_free(t->host);
	g_free(t);
}

struct smtp *
transport_smtp_open(const struct config *cfg, char **why)
{
	struct smtp *t = g_new0(struct smtp, 1);
	t->session = mailsmtp_new(0, NULL);
	t->host = g_strdup(cfg->transport_host);
	mailsmtp_set_timeout(t->session, 60);
	int r = mailsmtp_socket_connect(t->session, cfg->transport_host, (uint16_t)cfg->transport_port);
	if (r != MAILSMTP_NO_ERROR) {
		*why = g_strdup_printf("connecting to %s:%d: %s", cfg->transport_host,
				       cfg->transport_port, mailsmtp_strerror(r));
		goto fail;
	}
	r = mailesmtp_ehlo(t->session);
	if (r == MAILSMTP_ERROR_NOT_IMPLEMENTED)
		r = mailsmtp_helo(t->session);
	if (r != MAILSMTP_NO_ERROR) {
		*why = g_strdup_printf("%s: EHLO: %d %s", cfg->transport_host,
				       t->session->response_code, mailsmtp_strerror(r));
		goto fail;
	}
	bool offered = t->session->esmtp & MAILSMTP_ESMTP_STARTTLS;
	if (strcmp(cfg->transport_starttls, "required") == 0) {
		/* Debian's libetpan does not verify certificates, and this
		 * runner does not yet either: "required" would be a promise
		 * it cannot keep. */
		*why = g_strdup("[transport] starttls = required: certificate verification is not"
				" built yet; use a relay on 127.0.0.1 with starttls = off or opportunistic");
		goto fail;
	}
	if (offered && strcmp(cfg->transport_starttls, "opportunistic") == 0) {
		r = mailsmtp_socket_starttls(t->session);
		if (r == MAILSMTP_NO_ERROR)
			r = mailesmtp_ehlo(t->session);
		if (r != MAILSMTP_NO_ERROR) {
			*why = g_strdup_printf("%s: STARTTLS: %s", cfg->transport_host, mailsmtp_strerror(r));
			goto fail;
		}
	}
	return t;
fail:
	mailsmtp_free(t->session);
	t->session = NULL;
	transport_smtp_close(t);
	return NULL;
}

enum delivery
transport_smtp_send(struct smtp *t, const char *from, const char *to, const void *data, gsize len,
		    char **why)
{
	mailsmtp *s = t->session;
	bool esmtp = s->esmtp != 0;
	int r = esmtp ? mailesmtp_mail(s, from, 0, NULL) : mailsmtp_mail(s, from);
	enum delivery d = outcome_of(s, r, why);
	if (d == DELIVERY_SENT) {
		r = esmtp ? mailesmtp_rcpt(s, to, 0, NULL) : mailsmtp_rcpt(s, to);
		d = outcome_of(s, r, why);
	}
	if (d == DELIVERY_SENT) {
		r = mailsmtp_data(s);
		d = outcome_of(s, r, why);
	}
	if (d == DELIVERY_SENT) {
		/* dot-stuffing and CRLF line ends are libetpan's */
		r = mailsmtp_data_message(s, data, len);
		d = outcome_of(s, r, why);
	}
	if (d != DELIVERY_SENT && s->stream)
		mailsmtp_reset(s);	/* the session stays usable for the next */
	return d;
}

bool
transport_smtp_alive(const struct smtp *t)
{
	return t && t->session && t->session->stream;
}

/* sendmail ------------------------------------------------------------------ */

/* The sendmail(8) exit codes that mean "this will never work": the rest
 * (75 above all, or a signal) are worth another try. */
static bool
permanent_exit(int status)
{
	return status == EX_USAGE || status == EX_DATAERR || status == EX_NOUSER ||
	    status == EX_NOHOST || status == EX_NOPERM;
}

enum delivery
transport_sendmail(const struct config *cfg, const char *from, const char *to, const void *data,
		   gsize len, char **why)
{
	g_auto(GStrv) command = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_shell_parse_argv(cfg->transport_sendmail, NULL, &command, &error)) {
		*why = g_strdup_printf("[transport] sendmail: %s", error->message);
		return DELIVERY_DEFERRED;
	}
	/* -oi: a line with a lone dot is not the end; -f: the envelope
	 * sender; --: no recipient is ever read as an option */
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	for (int i = 0; command[i]; i++)
		g_ptr_array_add(argv, command[i]);
	g_ptr_array_add(argv, (gpointer) "-oi");
	g_ptr_array_add(argv, (gpointer) "-f");
	g_ptr_array_add(argv, (gpointer)(*from ? from : "<>"));
	g_ptr_array_add(argv, (gpointer) "--");
	g_ptr_array_add(argv, (gpointer)to);
	g_ptr_array_add(argv, NULL);
	g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *)argv->pdata,
						     G_SUBPROCESS_FLAGS_STDIN_PIPE |
						     G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
						     G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
	if (!p) {
		*why = g_strdup_printf("%s: %s", command[0], error->message);
		return DELIVERY_DEFERRED;
	}
	g_autoptr(GBytes) in = g_bytes_new_static(data, len);
	g_autoptr(GBytes) err = NULL;
	if (!g_subprocess_communicate(p, in, NULL, NULL, &err, &error)) {
		*why = g_strdup_printf("%s: %s", command[0], error->message);
		g_subprocess_force_exit(p);
		g_subprocess_wait(p, NULL, NULL);
		return DELIVERY_DEFERRED;
	}
	if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0)
		return DELIVERY_SENT;
	gsize n = 0;
	const char *text = err ? g_bytes_get_data(err, &n) : NULL;
	g_autofree char *said = g_strstrip(g_strndup(text ? text : "", n));
	int status = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
	*why = status >= 0 ? g_strdup_printf("%s exited %d: %s", command[0], status, said)
	    : g_strdup_printf("%s was killed: %s", command[0], said);
	return status >= 0 && permanent_exit(status) ? DELIVERY_FAILED : DELIVERY_DEFERRED;
}

/*
 * transport.c - handing a queued message to the world.  The maildir
 * transport writes it into a Maildir (tmp/, fsync, rename into new/), so
 * tests and `make demo` can read every reply; SMTP and sendmail come with
 * the queue runner's issue.
 */
#include "confmail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

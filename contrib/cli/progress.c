/* Progress display; see progress.h. */
#include "contrib/cli/progress.h"

#include <string.h>

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)

void progress_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	double b = (double)bytes;

	if (bytes < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (b < MIB)
		snprintf(buf, len, "%.1f KiB", b / KIB);
	else if (b < GIB)
		snprintf(buf, len, "%.1f MiB", b / MIB);
	else
		snprintf(buf, len, "%.2f GiB", b / GIB);
}

void progress_format_rate(uint64_t bytes, uint64_t elapsed_ns, char *buf,
                          size_t len)
{
	if (elapsed_ns == 0) {
		snprintf(buf, len, "-- MiB/s");
		return;
	}
	snprintf(buf, len, "%.1f MiB/s",
	         (double)bytes / MIB / ((double)elapsed_ns / 1e9));
}

void progress_format_eta(uint64_t remaining, double bytes_per_s, char *buf,
                         size_t len)
{
	double secs;
	unsigned long s;

	if (bytes_per_s <= 0) {
		snprintf(buf, len, "--");
		return;
	}
	secs = (double)remaining / bytes_per_s;
	if (secs >= 99.0 * 3600) {
		snprintf(buf, len, "--");
		return;
	}
	s = (unsigned long)(secs + 0.5);
	if (s < 60)
		snprintf(buf, len, "%lus", s);
	else if (s < 3600)
		snprintf(buf, len, "%lum%02lus", s / 60, s % 60);
	else
		snprintf(buf, len, "%luh%02lum", s / 3600, s / 60 % 60);
}

void progress_format_bar(uint64_t done, uint64_t total, int width, char *buf,
                         size_t len)
{
	int cells = width - 2, full;

	if (len == 0)
		return;
	if (cells < 1 || (size_t)width >= len) {
		buf[0] = '\0';
		return;
	}
	if (total == 0 || done >= total)
		full = cells;
	else
		full = (int)((double)done * cells / (double)total);
	buf[0] = '[';
	for (int i = 0; i < cells; i++)
		buf[1 + i] = i < full ? '#' : '.';
	buf[width - 1] = ']';
	buf[width] = '\0';
}

void progress_format_line(const char *name, uint64_t done, uint64_t total,
                          uint64_t elapsed_ns, char *buf, size_t len)
{
	char bar[32], d[PROGRESS_TEXT_LEN], t[PROGRESS_TEXT_LEN];
	char rate[PROGRESS_TEXT_LEN], eta[PROGRESS_TEXT_LEN];
	double bps = elapsed_ns ? (double)done / ((double)elapsed_ns / 1e9) : 0;

	progress_format_bar(done, total, 22, bar, sizeof(bar));
	progress_format_bytes(done, d, sizeof(d));
	progress_format_bytes(total, t, sizeof(t));
	progress_format_rate(done, elapsed_ns, rate, sizeof(rate));
	progress_format_eta(total > done ? total - done : 0, bps, eta,
	                    sizeof(eta));
	snprintf(buf, len, "%-.30s %s %s/%s %s ETA %s", name, bar, d, t, rate,
	         eta);
}

void progress_init(struct progress *p, FILE *f, bool tty, bool quiet,
                   uint64_t total_bytes, uint64_t now_ns)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->tty = tty && !quiet;
	p->quiet = quiet;
	p->total_bytes = total_bytes;
	p->started_ns = now_ns;
}

/* Removes the live lines (the cursor sits at the end of the last). */
static void progress_clear(struct progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", p->f);
	for (int i = 1; i < p->drawn; i++)
		fputs("\033[1A\r\033[K", p->f);
	p->drawn = 0;
}

static void progress_draw(struct progress *p, uint64_t now_ns)
{
	char line[PROGRESS_LINE_LEN];

	progress_clear(p);
	/* Rates count what was sent in this run, not what was resumed. */
	for (unsigned i = 0; i < PROGRESS_MAX_FILES; i++) {
		struct progress_file *pf = &p->files[i];

		if (!pf->active)
			continue;
		progress_format_line(pf->name, pf->done, pf->size,
		                     now_ns - pf->started_ns, line,
		                     sizeof(line));
		fprintf(p->f, "%s\n", line);
		p->drawn++;
	}
	progress_format_line("total", p->total_done, p->total_bytes,
	                     now_ns - p->started_ns, line, sizeof(line));
	fputs(line, p->f);
	fflush(p->f);
	p->drawn++;
	p->last_draw_ns = now_ns;
}

void progress_file_begin(struct progress *p, unsigned slot, const char *name,
                         uint64_t size, uint64_t offset, uint64_t now_ns)
{
	struct progress_file *pf;

	if (slot >= PROGRESS_MAX_FILES)
		return;
	pf = &p->files[slot];
	/* A resumed file counts what upstaged already has towards the
	 * total, once: a restart of the same file moves it back or on. */
	if (strncmp(pf->name, name, sizeof(pf->name) - 1) == 0 &&
	    pf->size == size)
		p->total_done += offset - pf->done;
	else
		p->total_done += offset;
	pf->active = true;
	snprintf(pf->name, sizeof(pf->name), "%s", name);
	pf->size = size;
	pf->done = offset;
	pf->base = offset;
	pf->started_ns = now_ns;
	if (p->quiet)
		return;
	if (p->tty) {
		progress_draw(p, now_ns);
	} else if (offset) {
		fprintf(p->f, "resuming %s at byte %llu of %llu\n", name,
		        (unsigned long long)offset, (unsigned long long)size);
		fflush(p->f);
	}
}

void progress_file_update(struct progress *p, unsigned slot, uint64_t done,
                          uint64_t now_ns)
{
	struct progress_file *pf;

	if (slot >= PROGRESS_MAX_FILES)
		return;
	pf = &p->files[slot];
	if (done > pf->done)
		p->total_done += done - pf->done;
	pf->done = done;
	if (p->tty && now_ns - p->last_draw_ns >= PROGRESS_REDRAW_NS)
		progress_draw(p, now_ns);
}

void progress_file_end(struct progress *p, unsigned slot, const char *outcome,
                       uint64_t now_ns)
{
	char rate[PROGRESS_TEXT_LEN];
	struct progress_file *pf;

	if (slot >= PROGRESS_MAX_FILES)
		return;
	pf = &p->files[slot];
	if (!pf->active)
		return;
	pf->active = false;
	if (p->quiet)
		return;
	progress_clear(p);
	if (!outcome) {
		if (p->tty)
			progress_draw(p, now_ns);
		return;
	}
	progress_format_rate(pf->done - pf->base, now_ns - pf->started_ns,
	                     rate, sizeof(rate));
	if (strcmp(outcome, "done") == 0)
		fprintf(p->f, "uploading %s ... done %s\n", pf->name, rate);
	else
		fprintf(p->f, "%s: %s\n", pf->name, outcome);
	fflush(p->f);
	if (p->tty)
		progress_draw(p, now_ns);
}

void progress_note(struct progress *p, const char *msg)
{
	if (p->quiet)
		return;
	progress_clear(p);
	if (msg)
		fprintf(p->f, "%s\n", msg);
	fflush(p->f);
}

void progress_finish(struct progress *p, uint64_t now_ns)
{
	char line[PROGRESS_LINE_LEN], bytes[PROGRESS_TEXT_LEN];
	char rate[PROGRESS_TEXT_LEN];

	if (p->quiet)
		return;
	progress_clear(p);
	if (p->total_done == 0)
		return;
	progress_format_bytes(p->total_done, bytes, sizeof(bytes));
	progress_format_rate(p->total_done, now_ns - p->started_ns, rate,
	                     sizeof(rate));
	snprintf(line, sizeof(line), "sent %s in total, %s", bytes, rate);
	fprintf(p->f, "%s\n", line);
	fflush(p->f);
}

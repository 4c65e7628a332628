/* Upload progress for sync-agent-binary. The formatting functions are
 * pure (unit-tested); struct progress draws on a terminal (a bar per file
 * and a total line, redrawn at most PROGRESS_REDRAW_NS apart) or prints
 * plain lines when the stream is not a terminal. */
#ifndef UPSTAGE_CLI_PROGRESS_H
#define UPSTAGE_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_REDRAW_NS (100ull * 1000 * 1000)
/* Big enough for every string below. */
#define PROGRESS_TEXT_LEN 32
#define PROGRESS_LINE_LEN 160

/* "512 B", "12.3 KiB", "1.5 MiB", "2.00 GiB". */
void progress_format_bytes(uint64_t bytes, char *buf, size_t len);

/* bytes over elapsed_ns as "12.3 MiB/s" ("-- MiB/s" when elapsed_ns is
 * 0). */
void progress_format_rate(uint64_t bytes, uint64_t elapsed_ns, char *buf,
                          size_t len);

/* Time left for remaining bytes at rate bytes_per_s: "45s", "3m05s",
 * "2h01m"; "--" when the rate is unknown (0) or it is over 99 hours. */
void progress_format_eta(uint64_t remaining, double bytes_per_s, char *buf,
                         size_t len);

/* "[#####.....]" of width cells (including the brackets) for done of
 * total; total 0 draws a full bar. */
void progress_format_bar(uint64_t done, uint64_t total, int width, char *buf,
                         size_t len);

/* One progress line: "NAME [bar] 12.0 MiB/64.0 MiB 310.2 MiB/s ETA 1s". */
void progress_format_line(const char *name, uint64_t done, uint64_t total,
                          uint64_t elapsed_ns, char *buf, size_t len);

/* Files shown at once: one line each (the uploads in flight). */
#define PROGRESS_MAX_FILES 16

struct progress_file {
	bool active;
	char name[96];
	uint64_t size;
	uint64_t done;
	uint64_t base; /* bytes already there when it (re)started */
	uint64_t started_ns;
};

struct progress {
	FILE *f;    /* borrowed; stderr */
	bool tty;   /* redraw in place */
	bool quiet; /* print nothing (e.g. --json with a non-tty stderr) */
	int drawn;  /* live lines on screen (files and the total) */
	uint64_t total_bytes;
	uint64_t total_done;
	uint64_t started_ns; /* first byte of the run */
	uint64_t last_draw_ns;
	/* The files in flight, by the caller's slot number. */
	struct progress_file files[PROGRESS_MAX_FILES];
};

void progress_init(struct progress *p, FILE *f, bool tty, bool quiet,
                   uint64_t total_bytes, uint64_t now_ns);
/* A file starts in slot (< PROGRESS_MAX_FILES; others are not drawn), or
 * resumes at offset after a reconnect. */
void progress_file_begin(struct progress *p, unsigned slot, const char *name,
                         uint64_t size, uint64_t offset, uint64_t now_ns);
/* done bytes of slot's file are through; redraws when due. */
void progress_file_update(struct progress *p, unsigned slot, uint64_t done,
                          uint64_t now_ns);
/* slot's file ended with outcome ("done", "failed: ..."): prints its
 * final line with the rate of the bytes sent; outcome NULL: just takes
 * its line away. Nothing when the slot shows no file. */
void progress_file_end(struct progress *p, unsigned slot, const char *outcome,
                       uint64_t now_ns);
/* A note between files ("connection lost; retrying in 1.0 s"); NULL just
 * clears the live lines. */
void progress_note(struct progress *p, const char *msg);
/* Clears the live lines and prints the total. */
void progress_finish(struct progress *p, uint64_t now_ns);

#endif

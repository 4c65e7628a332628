/* Prometheus text exposition (format 0.0.4), written by hand because it
 * is a few lines of printf: families with HELP and TYPE, samples with
 * labels (values escaped), and a fixed-bucket histogram that the engines
 * keep and the writer prints.
 *
 * Ownership: the writer writes into a FILE * of the caller's (an
 * open_memstream, usually). Histograms are plain structs in their
 * owner's state, updated on one thread. */
#ifndef UPSTAGE_PROTO_METRICS_H
#define UPSTAGE_PROTO_METRICS_H

#include <stdint.h>
#include <stdio.h>

/* Bucket upper bounds in seconds (the +Inf bucket is implied). */
#define UPS_HISTO_BOUNDS                                                       \
	{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
#define UPS_HISTO_BUCKETS 13

struct ups_histogram {
	uint64_t buckets[UPS_HISTO_BUCKETS]; /* observations <= bound i only */
	uint64_t count;
	double sum;
};

void ups_histogram_observe(struct ups_histogram *h, double seconds);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void ups_metric_family(FILE *out, const char *name, const char *type,
                       const char *help);

/* One sample: name{label="value"} v; label NULL for none. The value is
 * escaped (\\, \", \n). */
void ups_metric_sample(FILE *out, const char *name, const char *label,
                       const char *value, double v);

/* A whole histogram family: HELP, TYPE, _bucket (cumulative, le=...),
 * _sum, _count. */
void ups_metric_histogram(FILE *out, const char *name, const char *help,
                          const struct ups_histogram *h);

#endif

/* Prometheus text exposition (metrics.h). */
#include "proto/metrics.h"

static const double ups_histo_bounds[UPS_HISTO_BUCKETS] = UPS_HISTO_BOUNDS;

void ups_histogram_observe(struct ups_histogram *h, double seconds)
{
	for (int i = 0; i < UPS_HISTO_BUCKETS; i++)
		if (seconds <= ups_histo_bounds[i]) {
			h->buckets[i]++;
			break;
		}
	h->count++;
	h->sum += seconds;
}

void ups_metric_family(FILE *out, const char *name, const char *type,
                       const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void ups_metric_escaped(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
}

static void ups_metric_value(FILE *out, double v)
{
	/* Counters and sizes are integers: print them exactly. */
	if (v < 9007199254740992.0 && v > -9007199254740992.0 &&
	    v == (double)(int64_t)v)
		fprintf(out, " %lld\n", (long long)v);
	else
		fprintf(out, " %.9g\n", v);
}

void ups_metric_sample(FILE *out, const char *name, const char *label,
                       const char *value, double v)
{
	fputs(name, out);
	if (label) {
		fprintf(out, "{%s=\"", label);
		ups_metric_escaped(out, value ? value : "");
		fputs("\"}", out);
	}
	ups_metric_value(out, v);
}

void ups_metric_histogram(FILE *out, const char *name, const char *help,
                          const struct ups_histogram *h)
{
	uint64_t cum = 0;

	ups_metric_family(out, name, "histogram", help);
	for (int i = 0; i < UPS_HISTO_BUCKETS; i++) {
		cum += h->buckets[i];
		fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
		        ups_histo_bounds[i], (unsigned long long)cum);
	}
	fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	        (unsigned long long)h->count);
	fprintf(out, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
	        (unsigned long long)h->count);
}

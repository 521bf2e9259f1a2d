/*
 * bench.h — the few helpers every benchmark program needs, in one place:
 * a monotonic clock, a seeded generator (splitmix64, so runs are
 * reproducible), nearest-rank percentiles, /proc/self/status readings, and
 * clean-up of a scratch directory. Header-only (static inline): each bench
 * is one program and links nothing else of the others.
 */
#ifndef TP_BENCH_H
#define TP_BENCH_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline uint64_t bench_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline int64_t bench_rng_range(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(bench_rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* qsort comparator for int64_t. */
static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (p in 0..1) of a sorted array; 0 when empty. */
static inline int64_t bench_pct(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static inline double bench_pct_us(const int64_t *sorted_ns, size_t n, double p)
{
    return (double)bench_pct(sorted_ns, n, p) / 1e3;
}

static inline double bench_pct_ms(const int64_t *sorted_ns, size_t n, double p)
{
    return (double)bench_pct(sorted_ns, n, p) / 1e6;
}

/* A "Key:   123 kB" line of /proc/self/status, in KiB; -1 when absent. */
static inline long bench_proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* "nproc 2, AMD EPYC ..." from sysconf and /proc/cpuinfo, for the header
 * of a table: figures mean little without the machine. */
static inline void bench_machine(char *out, size_t cap)
{
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            const char *p = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && p) {
                p++;
                p += strspn(p, " \t");
                snprintf(model, sizeof model, "%s", p);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    snprintf(out, cap, "nproc %ld, %s", sysconf(_SC_NPROCESSORS_ONLN), model);
}

/* The 1-minute load average (-1 when unknown): other work on the machine
 * skews every figure, so tables print it at start and end. */
static inline double bench_loadavg(void)
{
    double v = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        char line[128], *end = NULL;
        if (fgets(line, sizeof line, f)) {
            v = strtod(line, &end);
            if (end == line)
                v = -1.0;
        }
        fclose(f);
    }
    return v;
}

/* Removes a flat scratch directory (benches create no subdirectories). */
static inline void bench_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        const struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                fprintf(stderr, "bench: cannot remove %s: %s\n", path, strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "bench: cannot remove %s: %s\n", dir, strerror(errno));
}

/* One row of a benchmark's table: figure (in a column `figure_w` wide),
 * value, unit, target, ratio to the run's baseline, verdict. */
static inline void bench_row(int figure_w, const char *figure, const char *value,
                             const char *unit, const char *target, const char *ratio,
                             const char *verdict)
{
    printf("%-*s %12s  %-9s %-10s %-8s %s\n", figure_w, figure, value, unit, target, ratio,
           verdict);
}

/* A row of a number with `decimals`; the ratio to `base` when base > 0;
 * verdict 1 "ok", 0 "MISSED", -1 none (a figure without a target). */
static inline void bench_row_num(int figure_w, const char *figure, double v, int decimals,
                                 const char *unit, const char *target, double base, int verdict)
{
    char buf[32], ratio[32] = "-";
    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    if (base > 0)
        snprintf(ratio, sizeof ratio, "%.2f", v / base);
    bench_row(figure_w, figure, buf, unit, target, ratio,
              verdict < 0 ? "-" : verdict ? "ok" : "MISSED");
}

#endif

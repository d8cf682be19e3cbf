/* bench/hist.h — a log-linear latency histogram shared by the bench tools
 * (tcp-rr, conn-rate): exact below 2^H_SUB_BITS, then H_SUB/2 buckets per
 * power of two (relative error under 2^-(H_SUB_BITS-1)). Header-only: each
 * tool is one translation unit. Values are nanoseconds. */
#ifndef WEFT_BENCH_HIST_H
#define WEFT_BENCH_HIST_H
#include <math.h>
#include <stdint.h>

#define H_SUB_BITS 10             /* 1,024 sub-buckets: 0.25 us at 150 us */
#define H_SUB (1u << H_SUB_BITS)
#define H_HALF (H_SUB / 2)
#define H_MAX_SHIFT 44            /* values up to ~2^54 ns */
#define H_BUCKETS ((H_MAX_SHIFT + 2) * H_HALF)
typedef struct hist {
	uint64_t count, min, max;
	double sum;
	uint64_t b[H_BUCKETS];
} hist_t;

static inline unsigned hist_index(uint64_t v)
{
	if (v < H_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (H_SUB_BITS - 1);
	if (shift > H_MAX_SHIFT)
		return H_BUCKETS - 1;
	return (shift + 1) * H_HALF + (unsigned)(v >> shift) - H_HALF;
}

/* Highest value that falls into bucket idx. */
static inline uint64_t hist_upper(unsigned idx)
{
	if (idx < H_SUB)
		return idx;
	unsigned shift = idx / H_HALF - 1;
	uint64_t low = (uint64_t)(idx % H_HALF + H_HALF) << shift;
	return low + (1ull << shift) - 1;
}

static inline void hist_add(hist_t *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
	h->b[hist_index(v)]++;
}

/* Nearest-rank quantile q in [0,1]: the upper edge of the bucket holding
 * the ceil(q*count)-th smallest value, capped at the exact max; 0 when
 * empty. */
static inline uint64_t hist_quantile(const hist_t *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = hist_upper(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

#endif

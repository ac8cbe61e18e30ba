/*
 * heap.c - the MDA's heap in one transparent huge page.
 *
 * `confmail filter` is one short process per message, and most of what
 * it pays is not instructions but first touches of fresh memory.  On the
 * virtual machines this runs on, each first touch of a 4 KiB page costs
 * about 11 us (the hypervisor keeps its own copy of the page tables), and
 * a delivery touched some 350 heap pages: about 4 ms of 25.  One 2 MiB
 * huge page holds the whole heap of a delivery for one fault (0.1-0.25
 * ms, mostly clearing it).  On bare metal the two cost about the same.
 *
 * glibc's malloc can do this by itself (GLIBC_TUNABLES=glibc.malloc.hugetlb=1),
 * but only when the environment says so, and the MTA sets our
 * environment.  So: grow the heap past the next 2 MiB boundary, mark the
 * aligned part for huge pages, and let malloc go on from the boundary.
 * The few KiB below the boundary are held by one block that is never
 * touched.  Whatever does not go as expected (another malloc, a
 * sanitizer's, valgrind's, THP switched off) leaves the heap working as
 * before: this changes speed, never behaviour.
 */
#include "confmail.h"

#include <stdint.h>
#include <stdlib.h>

#ifdef __GLIBC__
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define GROWTH_PAD (6 << 20)	/* holds a whole aligned 2 MiB wherever it starts */
#define GLIBC_TOP_PAD (128 << 10)	/* glibc's defaults, put back afterwards */
#define GLIBC_MMAP_THRESHOLD (128 << 10)

static void *held_below_boundary;	/* kept, never freed: the process ends first */

bool
heap_use_huge_pages(void)
{
	/* Freed memory is not handed back (trimming would cut into the
	 * huge page); the process is short. */
	if (!mallopt(M_TOP_PAD, GROWTH_PAD) || !mallopt(M_TRIM_THRESHOLD, 64 << 20))
		return false;

	/* Make malloc grow the heap now, by the pad: blocks under the mmap
	 * threshold until the break moves, then give them back to the top. */
	char *start = sbrk(0);
	void *blocks[8];
	size_t n = 0;
	while (n < G_N_ELEMENTS(blocks) && (char *)sbrk(0) == start)
		blocks[n++] = malloc(64 << 10);
	while (n > 0)
		free(blocks[--n]);
	mallopt(M_TOP_PAD, GLIBC_TOP_PAD);
	char *end = sbrk(0);
	struct mallinfo2 mi = mallinfo2();
	if (end == start || end == (char *)-1 || mi.keepcost == 0)
		return false;

	/* The top chunk runs from top to the break; malloc serves from its
	 * start.  Hold everything below the boundary in one block whose
	 * successor's data begins at the boundary. */
	uintptr_t top = (uintptr_t)end - mi.keepcost;
	uintptr_t huge = (top + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t huge_end = (uintptr_t)end & ~(HUGE_PAGE - 1);
	if (huge_end < huge + HUGE_PAGE)
		return false;
	if (huge - top >= 64) {
		mallopt(M_MMAP_THRESHOLD, 4 << 20);
		void *below = malloc(huge - top - 32);	/* chunk: size + 16 */
		mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD);
		if ((uintptr_t)below != top + 16) {
			free(below);	/* came from elsewhere: the heap is as it was */
			return false;
		}
		held_below_boundary = below;
	}
	return madvise((void *)huge, huge_end - huge, MADV_HUGEPAGE) == 0;
}

#else

bool
heap_use_huge_pages(void)
{
	return false;
}

#endif

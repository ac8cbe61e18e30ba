/* heap.c: after heap_use_huge_pages(), malloc serves from a 2 MiB aligned
 * region marked for transparent huge pages, and still works as malloc. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confmail.h"

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* The mapping of /proc/self/smaps that holds ADDR: its bounds, its VmFlags
 * line and its AnonHugePages in KiB.  False when none does. */
static G_GNUC_UNUSED bool
mapping_of(uintptr_t addr, uintptr_t *start, uintptr_t *end, char *flags, size_t flags_size,
	   unsigned long *huge_kib)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false, found = false;

	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		uintptr_t a, b;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (found)
				break;
			inside = a <= addr && addr < b;
			if (inside) {
				*start = a;
				*end = b;
			}
		} else if (inside && strncmp(line, "AnonHugePages:", 14) == 0) {
			*huge_kib = strtoul(line + 14, NULL, 10);
		} else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			g_strlcpy(flags, line + 8, flags_size);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void
test_heap_in_huge_page(void **state)
{
	(void)state;
	bool on = heap_use_huge_pages();
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's own malloc does not grow the break: nothing to do. */
	assert_false(on);
	skip();
#else
	const char *preload = getenv("LD_PRELOAD");
	if (preload && strstr(preload, "vgpreload")) {
		/* valgrind's malloc neither: the same */
		assert_false(on);
		skip();
	}
	assert_true(on);

	/* The next block comes from the top of the heap: the aligned part. */
	char *p = malloc(1000);
	assert_non_null(p);
	memset(p, 'x', 1000);
	uintptr_t start = 0, end = 0;
	unsigned long huge_kib = 0;
	char flags[256] = "";
	assert_true(mapping_of((uintptr_t)p, &start, &end, flags, sizeof flags, &huge_kib));
	assert_int_equal(start % HUGE_PAGE, 0);
	assert_true(end - start >= HUGE_PAGE);
	assert_true((uintptr_t)p - start < 4096);
	assert_non_null(strstr(flags, " hg"));
	/* Whether the kernel had a huge page to give is the machine's
	 * business (THP may be off); say what happened. */
	print_message("heap block %p in %#" PRIxPTR "-%#" PRIxPTR ", AnonHugePages %lu kB\n", (void *)p,
		      start, end, huge_kib);
	free(p);
#endif
}

/* malloc after the change: small and large blocks, realloc across the
 * mmap threshold, everything freed; contents survive. */
static void
test_heap_still_malloc(void **state)
{
	(void)state;
	heap_use_huge_pages();

	enum { N = 300 };
	char *blocks[N];
	size_t sizes[N];
	for (size_t i = 0; i < N; i++) {
		sizes[i] = (i * 7919) % (300 << 10) + 1;
		blocks[i] = malloc(sizes[i]);
		assert_non_null(blocks[i]);
		memset(blocks[i], (int)(i & 0xff), sizes[i]);
	}
	for (size_t i = 0; i < N; i += 2)
		free(blocks[i]);
	char *grown = NULL;
	for (size_t size = 16; size <= (8 << 20); size *= 2) {
		grown = realloc(grown, size);
		assert_non_null(grown);
		grown[size - 1] = 'z';
	}
	assert_int_equal(grown[(8 << 20) - 1], 'z');
	free(grown);
	for (size_t i = 1; i < N; i += 2) {
		assert_int_equal((unsigned char)blocks[i][0], i & 0xff);
		assert_int_equal((unsigned char)blocks[i][sizes[i] - 1], i & 0xff);
		free(blocks[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_in_huge_page),
		cmocka_unit_test(test_heap_still_malloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

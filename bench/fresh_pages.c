/* What a Wasm VM's read of a large pushed document costs in page faults (bench/README.md, "Config push
 * stall"): copies a document of the 100,000-rule config's size (20,755,606 bytes) into memory reserved as a
 * Wasm engine reserves a linear memory (PROT_NONE, made writable as it grows), then again into the same,
 * now touched, pages.
 *
 *   cc -O2 bench/fresh_pages.c -o /tmp/fresh_pages && taskset -c 1 /tmp/fresh_pages
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
  const size_t n = 20755606, reserved = (size_t)1 << 30;
  char *src = malloc(n);
  if (!src) return 1;
  memset(src, 'x', n);
  for (int round = 0; round < 3; round++) {
    char *dst = mmap(NULL, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dst == MAP_FAILED) return 1;
    double t0 = now_ms();
    if (mprotect(dst, n, PROT_READ | PROT_WRITE) != 0) return 1;
    memcpy(dst, src, n);
    double t1 = now_ms();
    memcpy(dst, src, n);
    double t2 = now_ms();
    printf("20.8 MB into fresh pages %.1f ms, into touched pages %.1f ms\n", t1 - t0, t2 - t1);
    munmap(dst, reserved);
  }
  free(src);
  return 0;
}

#ifndef OPSTREAM_FUZZ_H
#define OPSTREAM_FUZZ_H

/* Every harness is one libFuzzer entry point: built with clang by
 * `make fuzz`, and replayed over its seed corpus and kept regressions by
 * tests/fuzz/replay.c in `make check`. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

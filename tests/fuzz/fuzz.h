/* fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_<name>.c defines */
#ifndef MULE5066_FUZZ_H
#define MULE5066_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* LLVMFuzzerTestOneInput - run one input; must never crash, leak or hang */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

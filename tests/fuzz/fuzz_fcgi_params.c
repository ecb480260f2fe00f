/* The first bytes of a FastCGI connection, as the doorman peeks at them:
 * any bytes get a verdict without reading past them, and a verdict of
 * "sane" never hides a pair over the bound among whole records. */
#include "fuzz.h"
#include "doorman.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcgi_params_sane(data, size, 1024);
    fcgi_params_sane(data, size, 0);
    return 0;
}

#ifndef OPSTREAM_STARTUP_H
#define OPSTREAM_STARTUP_H

#include "config.h"

/* What every program does first: read the config (conf_path NULL means
 * the default), set up logging under prog's name, start libsodium. On
 * failure it prints "prog: why" on stderr and returns -1. */
int startup(const char *prog, const char *conf_path, struct config *cfg);

#include <stdio.h>

enum startup_flag { FLAG_TAKEN, FLAG_EXIT, FLAG_OTHER };
/* The flags every program has, at argv[*i]: --help and --version (print,
 * then FLAG_EXIT), -c FILE (sets *conf, FLAG_TAKEN). Anything else is
 * FLAG_OTHER, for the program's own flags. */
enum startup_flag startup_flag(const char *prog, int argc, char **argv, int *i,
                               const char **conf, void (*usage)(FILE *f));

#endif

#ifndef OPSTREAM_CGI_H
#define OPSTREAM_CGI_H

#include "api.h"

/* Answers the CGI request in this process's environment on stdout;
 * returns the process's exit status. */
int cgi_serve(const struct api *app, const struct config *cfg);

#endif

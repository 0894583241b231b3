#ifndef LOGINVAULT_CLIBPQ_SHIM_H
#define LOGINVAULT_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif

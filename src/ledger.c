/* Which engine a database setting names. */
#include "ledger.h"

#include <string.h>

const struct ledger_engine *ledger_engine_for(const char *database)
{
    if (strncmp(database, "postgresql://", 13) == 0 || strncmp(database, "postgres://", 11) == 0)
        return &ledger_postgresql;
    return &ledger_sqlite;
}

/* maestro validate: not built yet (see the open issues). */
#include <stdio.h>

#include "cli/cli.h"

int mae_cmd_validate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "maestro: 'validate' is not implemented yet\n");
    return 2;
}

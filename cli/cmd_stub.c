/* maestro stub: not built yet (see the open issues). */
#include <stdio.h>

#include "cli/cli.h"

int mae_cmd_stub(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "maestro: 'stub' is not implemented yet\n");
    return 2;
}

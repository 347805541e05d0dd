/* Maestro's public API, all of it: include this one header.
 *
 *   base.h       version, MAE_API, error codes, diagnostics
 *   workflow.h   load a workflow (file or memory), override an endpoint
 *   transport.h  the HTTP and gRPC transports (optional: an engine makes its own)
 *   events.h     the events of a run (on_event)
 *   engine.h     the engine, runs, logs
 *
 * A program (examples/embed/embed.c is a complete one):
 *   mae_engine_opts o; mae_engine_opts_init(&o);     // no transports: the engine owns its own
 *   mae_engine_new(loop, &o, &eng);
 *   mae_workflow_load("wf.yaml", &wf, stderr);
 *   mae_run_start(eng, wf, "{\"image\":\"x\"}", NULL, on_done, ud, &run);
 *   uv_run(loop, UV_RUN_DEFAULT);   // on_done: mae_run_free(run); mae_engine_close(eng, ...)
 *   mae_workflow_free(wf); uv_loop_close(loop);
 * Compile: cc prog.c $(pkg-config --cflags --libs maestro) */
#ifndef MAESTRO_H
#define MAESTRO_H

#include "base.h"
#include "engine.h"
#include "events.h"
#include "transport.h"
#include "workflow.h"

#endif

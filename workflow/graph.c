/* maestro graph: the steps as a Graphviz DOT or Mermaid flowchart. Calls are nodes; parallel
 * and foreach are clusters (subgraphs); solid edges follow the run order; each compensation is
 * a dashed node hanging off its step by a dashed edge pointing back at it. */
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/model.h"

typedef struct idlist {
    int *v;
    size_t n, cap;
} idlist;

typedef struct gctx {
    mae_graph_format fmt;
    FILE *out;        /* nodes and clusters, in nesting order */
    FILE *edges;      /* edges, printed after every node */
    char *ebuf;
    size_t elen;
    int next_id;
    int depth;
    bool oom;
} gctx;

static void ids_add(gctx *g, idlist *l, int id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        int *p = realloc(l->v, cap * sizeof *p);
        if (!p) {
            g->oom = true;
            return;
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = id;
}

static void ids_cat(gctx *g, idlist *dst, const idlist *src) {
    for (size_t i = 0; i < src->n; i++) ids_add(g, dst, src->v[i]);
}

/* Label text with the quoting of the output format. */
static void put_label(gctx *g, const char *s) {
    for (; *s; s++) {
        if (*s == '"') fputs(g->fmt == MAE_GRAPH_DOT ? "\\\"" : "#quot;", g->out);
        else if (*s == '\\' && g->fmt == MAE_GRAPH_DOT) fputs("\\\\", g->out);
        else if (*s == '\n') fputs(g->fmt == MAE_GRAPH_DOT ? "\\n" : "<br/>", g->out);
        else fputc(*s, g->out);
    }
}

static void indent(gctx *g) {
    for (int i = 0; i <= g->depth; i++) fputs("  ", g->out);
}

static void node(gctx *g, int id, const char *label, bool dashed) {
    indent(g);
    fprintf(g->out, g->fmt == MAE_GRAPH_DOT ? "n%d [label=\"" : "n%d[\"", id);
    put_label(g, label);
    if (g->fmt == MAE_GRAPH_DOT) fprintf(g->out, "\"%s];\n", dashed ? ", style=dashed" : "");
    else fputs("\"]\n", g->out);
}

static void edge(gctx *g, int from, int to, bool dashed) {
    if (g->fmt == MAE_GRAPH_DOT)
        fprintf(g->edges, "  n%d -> n%d%s;\n", from, to, dashed ? " [style=dashed]" : "");
    else
        fprintf(g->edges, "  n%d %s n%d\n", from, dashed ? "-.->" : "-->", to);
}

static void cluster_open(gctx *g, const char *label) {
    int id = g->next_id++;
    indent(g);
    if (g->fmt == MAE_GRAPH_DOT) {
        fprintf(g->out, "subgraph cluster_%d {\n", id);
        g->depth++;
        indent(g);
        fputs("label=\"", g->out);
        put_label(g, label);
        fputs("\"; style=dashed;\n", g->out);
    } else {
        fprintf(g->out, "subgraph c%d [\"", id);
        put_label(g, label);
        fputs("\"]\n", g->out);
        g->depth++;
    }
}

static void cluster_close(gctx *g) {
    g->depth--;
    indent(g);
    fputs(g->fmt == MAE_GRAPH_DOT ? "}\n" : "end\n", g->out);
}

static void emit_list(gctx *g, const mae_step *steps, size_t n, idlist *in, idlist *out);

/* Emits one step; in/out receive the nodes a predecessor links to and a successor links from. */
static void emit(gctx *g, const mae_step *s, idlist *in, idlist *out) {
    char label[512];
    switch (s->kind) {
    case MAE_STEP_CALL: {
        int id = g->next_id++;
        snprintf(label, sizeof label, "%s\n%s %s%s", s->id ? s->id : "?", s->service ? s->service->name : "?",
                 s->method ? s->method : "?", s->when ? "\n(when)" : "");
        node(g, id, label, false);
        ids_add(g, in, id);
        ids_add(g, out, id);
        if (s->compensate) {
            int c = g->next_id++;
            snprintf(label, sizeof label, "undo %s\n%s %s", s->id ? s->id : "?",
                     s->compensate->service ? s->compensate->service->name : "?",
                     s->compensate->method ? s->compensate->method : "?");
            node(g, c, label, true);
            edge(g, c, id, true);
        }
        return;
    }
    case MAE_STEP_SEQUENCE:
        emit_list(g, s->children, s->n_children, in, out);
        return;
    case MAE_STEP_PARALLEL:
        snprintf(label, sizeof label, "parallel%s%s", s->id ? " " : "", s->id ? s->id : "");
        cluster_open(g, label);
        for (size_t i = 0; i < s->n_children; i++) emit(g, &s->children[i], in, out);
        cluster_close(g);
        return;
    case MAE_STEP_FOREACH:
        snprintf(label, sizeof label, "foreach %s as %s", s->id ? s->id : "?", s->as ? s->as : "?");
        cluster_open(g, label);
        if (s->n_children) emit(g, &s->children[0], in, out);
        cluster_close(g);
        return;
    }
}

static void emit_list(gctx *g, const mae_step *steps, size_t n, idlist *in, idlist *out) {
    idlist prev = {0};
    for (size_t i = 0; i < n; i++) {
        idlist sin = {0}, sout = {0};
        emit(g, &steps[i], &sin, &sout);
        if (i == 0) ids_cat(g, in, &sin);
        for (size_t a = 0; a < prev.n; a++)
            for (size_t b = 0; b < sin.n; b++) edge(g, prev.v[a], sin.v[b], false);
        /* An empty step (nothing drawn) keeps the previous exits. */
        if (sout.n) {
            prev.n = 0;
            ids_cat(g, &prev, &sout);
        }
        free(sin.v);
        free(sout.v);
    }
    ids_cat(g, out, &prev);
    free(prev.v);
}

int mae__workflow_graph(const mae_workflow *wf, mae_graph_format fmt, FILE *out) {
    gctx g = {.fmt = fmt, .out = out};
    g.edges = open_memstream(&g.ebuf, &g.elen);
    if (!g.edges) return MAE_ENOMEM;
    if (fmt == MAE_GRAPH_DOT) {
        fputs("digraph \"", out);
        put_label(&g, wf->name ? wf->name : "workflow");
        fputs("\" {\n  rankdir=TB;\n  node [shape=box, style=rounded];\n", out);
    } else {
        fputs("flowchart TD\n", out);
    }
    idlist in = {0}, last = {0};
    emit_list(&g, wf->steps, wf->n_steps, &in, &last);
    free(in.v);
    free(last.v);
    fclose(g.edges);
    if (g.ebuf) fputs(g.ebuf, out);
    free(g.ebuf);
    if (fmt == MAE_GRAPH_DOT) fputs("}\n", out);
    if (g.oom) return MAE_ENOMEM;
    return ferror(out) ? MAE_EIO : 0;
}

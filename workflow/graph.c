/* maestro graph: the steps as a Graphviz DOT or Mermaid flowchart, from start to end. Calls are
 * nodes whose shape tells HTTP from gRPC and whose label gives the service and method, the
 * attempts, the timeout, `continue_on_error` and the `when` condition; parallel and foreach are
 * clusters (a foreach says what it iterates and how many at a time); solid edges follow the run
 * order. Each compensation is drawn beside its step, outside any cluster (it is not a branch of
 * it), dashed and in an accent colour, with an arrow pointing back at the step it undoes. */
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/model.h"

#define ACCENT "#c2185b"
/* A `when` or foreach expression longer than this is cut in labels. */
#define EXPR_MAX 60

typedef struct idlist {
    int *v;
    size_t n, cap;
} idlist;

typedef struct gctx {
    mae_graph_format fmt;
    FILE *out;        /* nodes and clusters, in nesting order */
    FILE *comps;      /* compensation nodes: at the top level, after the clusters */
    FILE *edges;      /* edges, printed after every node */
    char *cbuf, *ebuf;
    size_t clen, elen;
    int next_id;
    int n_edges;      /* Mermaid numbers its links: the compensations' are coloured by number */
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
static void put_label(gctx *g, FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"') fputs(g->fmt == MAE_GRAPH_DOT ? "\\\"" : "#quot;", f);
        else if (*s == '\\' && g->fmt == MAE_GRAPH_DOT) fputs("\\\\", f);
        else if (*s == '\n') fputs(g->fmt == MAE_GRAPH_DOT ? "\\n" : "<br/>", f);
        else if (g->fmt == MAE_GRAPH_MERMAID && (*s == '<' || *s == '>')) fputs(*s == '<' ? "#lt;" : "#gt;", f);
        else fputc(*s, f);
    }
}

static void indent(gctx *g) {
    for (int i = 0; i <= g->depth; i++) fputs("  ", g->out);
}

typedef enum { N_HTTP, N_GRPC, N_COMP } node_kind;

static void node(gctx *g, FILE *f, int id, const char *label, node_kind k) {
    if (f == g->out) indent(g);
    else fputs("  ", f);
    if (g->fmt == MAE_GRAPH_DOT) {
        fprintf(f, "n%d [label=\"", id);
        put_label(g, f, label);
        if (k == N_GRPC) fputs("\", shape=component, fillcolor=\"#fff3e0\"];\n", f);
        else if (k == N_COMP)
            fputs("\", style=\"rounded,dashed\", color=\"" ACCENT "\", fontcolor=\"" ACCENT "\"];\n", f);
        else fputs("\"];\n", f);
        return;
    }
    /* Mermaid: HTTP rounded, gRPC as a subroutine box, compensations dashed by class */
    fprintf(f, k == N_GRPC ? "n%d[[\"" : "n%d(\"", id);
    put_label(g, f, label);
    fprintf(f, k == N_GRPC ? "\"]]:::grpc\n" : k == N_COMP ? "\"):::comp\n" : "\"):::http\n");
}

static void edge(gctx *g, int from, int to) {
    if (g->fmt == MAE_GRAPH_DOT) fprintf(g->edges, "  n%d -> n%d;\n", from, to);
    else fprintf(g->edges, "  n%d --> n%d\n", from, to);
    g->n_edges++;
}

/* The compensation's arrow points back at the step; it does not order anything. */
static void comp_edge(gctx *g, int comp, int step) {
    if (g->fmt == MAE_GRAPH_DOT) {
        /* drawn from the step with the arrow at its tail: minlen=0 lets the compensation sit on
         * the step's rank (rank=same would pull the step out of its cluster) */
        fprintf(g->edges, "  n%d -> n%d [style=dashed, color=\"" ACCENT "\", dir=back, minlen=0];\n", step, comp);
    } else {
        fprintf(g->edges, "  n%d -.->|undo| n%d\n  linkStyle %d stroke:" ACCENT ",color:" ACCENT "\n", comp, step,
                g->n_edges);
    }
    g->n_edges++;
}

static void cluster_open(gctx *g, const char *label) {
    int id = g->next_id++;
    indent(g);
    if (g->fmt == MAE_GRAPH_DOT) {
        fprintf(g->out, "subgraph cluster_%d {\n", id);
        g->depth++;
        indent(g);
        fputs("label=\"", g->out);
        put_label(g, g->out, label);
        fputs("\"; style=dashed;\n", g->out);
    } else {
        fprintf(g->out, "subgraph c%d [\"", id);
        put_label(g, g->out, label);
        fputs("\"]\n", g->out);
        g->depth++;
    }
}

static void cluster_close(gctx *g) {
    g->depth--;
    indent(g);
    fputs(g->fmt == MAE_GRAPH_DOT ? "}\n" : "end\n", g->out);
}

static void fmt_ms(char *b, size_t n, uint64_t ms) {
    if (ms % 3600000 == 0) snprintf(b, n, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms % 60000 == 0) snprintf(b, n, "%llum", (unsigned long long)(ms / 60000));
    else if (ms % 1000 == 0) snprintf(b, n, "%llus", (unsigned long long)(ms / 1000));
    else snprintf(b, n, "%llums", (unsigned long long)ms);
}

/* An expression for a label: cut at EXPR_MAX bytes (on a UTF-8 boundary). */
static void expr_text(char *b, size_t n, const mae_tmpl *t) {
    const char *s = mae__tmpl_source(t);
    size_t l = strlen(s);
    if (l <= EXPR_MAX) {
        snprintf(b, n, "%s", s);
        return;
    }
    size_t k = EXPR_MAX;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    snprintf(b, n, "%.*s...", (int)k, s);
}

static const char *type_label(const mae_service *svc) {
    if (!svc) return "?";
    if (strcmp(svc->type->name, "http") == 0) return "HTTP";
    if (strcmp(svc->type->name, "grpc") == 0) return "gRPC";
    return svc->type->name;
}

static const char *backoff_name(mae_backoff b) {
    return b == MAE_BACKOFF_CONSTANT ? "constant" : b == MAE_BACKOFF_LINEAR ? "linear" : "exponential";
}

static void emit_list(gctx *g, const mae_step *steps, size_t n, idlist *in, idlist *out);

static void emit_call(gctx *g, const mae_step *s, idlist *in, idlist *out) {
    char label[1024], t[32], w[EXPR_MAX + 8], retry[64] = "";
    int id = g->next_id++;
    const mae_service *svc = s->service;
    fmt_ms(t, sizeof t, s->timeout_ms ? s->timeout_ms : svc ? svc->timeout_ms : 0);
    if (s->retry.attempts > 1)
        snprintf(retry, sizeof retry, ", %d attempts (%s)", s->retry.attempts, backoff_name(s->retry.backoff));
    int k = snprintf(label, sizeof label, "%s\n%s %s\n%s, timeout %s%s%s", s->id ? s->id : "?",
                     svc ? svc->name : "?", s->method ? s->method : "?", type_label(svc), t, retry,
                     s->continue_on_error ? "\ncontinue on error" : "");
    if (s->when && k > 0 && (size_t)k < sizeof label) {
        expr_text(w, sizeof w, s->when);
        snprintf(label + k, sizeof label - (size_t)k, "\nwhen %s", w);
    }
    node(g, g->out, id, label, svc && strcmp(svc->type->name, "grpc") == 0 ? N_GRPC : N_HTTP);
    ids_add(g, in, id);
    ids_add(g, out, id);
    if (s->compensate) {
        int c = g->next_id++;
        const mae_compensate *cp = s->compensate;
        const mae_service *cs = cp->service ? cp->service : svc;
        snprintf(label, sizeof label, "undo %s\n%s %s", s->id ? s->id : "?", cs ? cs->name : "?",
                 cp->method ? cp->method : "?");
        node(g, g->comps, c, label, N_COMP);
        comp_edge(g, c, id);
    }
}

/* Emits one step; in/out receive the nodes a predecessor links to and a successor links from. */
static void emit(gctx *g, const mae_step *s, idlist *in, idlist *out) {
    char label[512], w[EXPR_MAX + 16] = "", f[EXPR_MAX + 8];
    if (s->kind != MAE_STEP_CALL && s->when) {
        char e[EXPR_MAX + 8];
        expr_text(e, sizeof e, s->when);
        snprintf(w, sizeof w, "\nwhen %s", e);
    }
    switch (s->kind) {
    case MAE_STEP_CALL: emit_call(g, s, in, out); return;
    case MAE_STEP_SEQUENCE:
        if (!w[0]) {
            emit_list(g, s->children, s->n_children, in, out);
            return;
        }
        snprintf(label, sizeof label, "sequence%s%s%s", s->id ? " " : "", s->id ? s->id : "", w);
        cluster_open(g, label);
        emit_list(g, s->children, s->n_children, in, out);
        cluster_close(g);
        return;
    case MAE_STEP_PARALLEL:
        snprintf(label, sizeof label, "parallel%s%s%s", s->id ? " " : "", s->id ? s->id : "", w);
        cluster_open(g, label);
        for (size_t i = 0; i < s->n_children; i++) emit(g, &s->children[i], in, out);
        cluster_close(g);
        return;
    case MAE_STEP_FOREACH:
        expr_text(f, sizeof f, s->foreach);
        snprintf(label, sizeof label, "foreach %s\nover %s as %s\n%d at a time%s%s", s->id ? s->id : "?", f,
                 s->as ? s->as : "?", s->concurrency ? s->concurrency : MAE_FOREACH_CONCURRENCY,
                 s->continue_on_error ? ", continue on error" : "", w);
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
        if (i == 0 || !prev.n) ids_cat(g, in, &sin);
        for (size_t a = 0; a < prev.n; a++)
            for (size_t b = 0; b < sin.n; b++) edge(g, prev.v[a], sin.v[b]);
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

/* The start and end nodes; the first/last steps are linked to them. */
static void ends(gctx *g, const idlist *in, const idlist *last) {
    if (g->fmt == MAE_GRAPH_DOT) {
        for (size_t i = 0; i < in->n; i++) fprintf(g->edges, "  start -> n%d;\n", in->v[i]);
        for (size_t i = 0; i < last->n; i++) fprintf(g->edges, "  n%d -> finish;\n", last->v[i]);
        if (!in->n) fputs("  start -> finish;\n", g->edges);
        return;
    }
    /* Mermaid: printed after every other link, so n_edges numbered those right */
    for (size_t i = 0; i < in->n; i++) fprintf(g->edges, "  start --> n%d\n", in->v[i]);
    for (size_t i = 0; i < last->n; i++) fprintf(g->edges, "  n%d --> finish\n", last->v[i]);
    if (!in->n) fputs("  start --> finish\n", g->edges);
}

int mae__workflow_graph(const mae_workflow *wf, mae_graph_format fmt, FILE *out) {
    gctx g = {.fmt = fmt, .out = out};
    g.edges = open_memstream(&g.ebuf, &g.elen);
    g.comps = open_memstream(&g.cbuf, &g.clen);
    if (!g.edges || !g.comps) {
        if (g.edges) fclose(g.edges);
        if (g.comps) fclose(g.comps);
        free(g.ebuf);
        free(g.cbuf);
        return MAE_ENOMEM;
    }
    if (fmt == MAE_GRAPH_DOT) {
        fputs("digraph \"", out);
        put_label(&g, out, wf->name ? wf->name : "workflow");
        fputs("\" {\n  rankdir=TB;\n  fontname=\"Helvetica\";\n"
              "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#e3f2fd\", fontname=\"Helvetica\", "
              "fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n"
              "  start [label=\"start\", shape=circle, fillcolor=\"#eeeeee\"];\n"
              "  finish [label=\"end\", shape=doublecircle, fillcolor=\"#eeeeee\"];\n",
              out);
    } else {
        fputs("flowchart TD\n"
              "  classDef http fill:#e3f2fd,stroke:#1565c0\n"
              "  classDef grpc fill:#fff3e0,stroke:#e65100\n"
              "  classDef comp fill:#fff,stroke:" ACCENT ",stroke-dasharray:4 3,color:" ACCENT "\n"
              "  start((start))\n  finish(((end)))\n",
              out);
    }
    idlist in = {0}, last = {0};
    emit_list(&g, wf->steps, wf->n_steps, &in, &last);
    /* Mermaid numbers links in order: start/end links come after every other */
    ends(&g, &in, &last);
    free(in.v);
    free(last.v);
    fclose(g.comps);
    fclose(g.edges);
    if (g.cbuf) fputs(g.cbuf, out);
    if (g.ebuf) fputs(g.ebuf, out);
    free(g.cbuf);
    free(g.ebuf);
    if (fmt == MAE_GRAPH_DOT) fputs("}\n", out);
    if (g.oom) return MAE_ENOMEM;
    return ferror(out) ? MAE_EIO : 0;
}

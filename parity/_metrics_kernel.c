/* One pass over a pair of tensors: the sums and extremes parity.metrics turns into metrics.
 *
 * accumulate(a, b, rows, totals, limit_a, limit_b, atol, rtol, check, floor, ceiling) -> bool
 *
 * a, b     C-contiguous 2-D buffers of one format, float32 ('f') or float64 ('d'): rows of
 *          one channel of one batch item.
 * rows     writable float64 buffer of (len(a), 5): per row, the sum of b, the sums of
 *          squares of b and of a - b, the largest |a - b| (infinite where the sides
 *          disagree on a special value), and the count of ordinary elements.
 * totals   writable float64 buffer of TOTALS values, in the order of enum total below.
 * limit_*  each side's saturation: a magnitude there or beyond is saturated (finfo.max,
 *          or a mask fill's ceiling); NaN and saturated values are left out of the sums.
 * atol, rtol, check
 *          numpy allclose(equal_nan=True) is checked when check is true.
 * floor, ceiling
 *          a mask fill's (parity.masks.Fill), or infinity: with a fill, a value at or
 *          beyond floor in magnitude that is not a mask (<= -ceiling) contradicts it.
 *
 * Returns False, with the buffers partly filled, when a value contradicts the fill.
 * Every value is taken to double before it is squared; sums run in double.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

enum total { SQ_A, ABS_SUM, MAX_ABS, MAX_REL, NAN_A, NAN_B, INF_A, INF_B, UNMATCHED, MASKED,
             WITHIN, TOTALS };
enum row { ROW_SUM_B, ROW_SQ_B, ROW_SQ_D, ROW_MAX_D, ROW_COUNT, ROW_FIELDS };

static const double TINY = 1e-12;

/* block_limit_*: below it a value is ordinary and cannot contradict a mask fill. */
typedef struct {
    double limit_a, limit_b, atol, rtol, floor, ceiling, block_limit_a, block_limit_b;
    int check, fill;
} Settings;

/* Four lanes of doubles (GCC/Clang vector extensions: SSE2 pairs, or one AVX2 register in
 * the x86-64-v3 clone, chosen at load time where the CPU has it). The sums run in four
 * independent lanes, so that no add waits on the one before it, and are added up at the
 * end of each row. */
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef long long v4i __attribute__((vector_size(32)));

static inline v4d v_abs(v4d x) {
    const v4i magnitude = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    return (v4d)((v4i)x & magnitude);
}

static inline v4d v_max(v4d a, v4d b) {
    v4i greater = a > b;
    return (v4d)((greater & (v4i)a) | (~greater & (v4i)b));
}

static inline int v_all(v4i m) { return (m[0] & m[1] & m[2] & m[3]) != 0; }
static inline int v_any(v4i m) { return (m[0] | m[1] | m[2] | m[3]) != 0; }
static inline double v_sum(v4d x) { return (x[0] + x[1]) + (x[2] + x[3]); }

static inline double v_top(v4d x) {
    double m = x[0] > x[1] ? x[0] : x[1], n = x[2] > x[3] ? x[2] : x[3];
    return m > n ? m : n;
}

static inline v4d load_float(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, v4d);
}

static inline v4d load_double(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Running sums of one row, and of the whole pass (the scalar path adds into lane 0). */
typedef struct {
    v4d sum_b, sq_b, sq_d, max_d;
    Py_ssize_t count;
    int agreed;
} Row;

/* within: numpy allclose so far, per lane (the scalar path clears lane 0). */
typedef struct {
    v4d sq_a, abs_sum;
    double max_abs, max_rel;
    v4i within;
} Pass;

enum special { CLOSE = 1, AGREE = 2 };

/* A value where the sides are not both ordinary: counted in t; CLOSE when numpy isclose
 * holds, AGREE when the sides agree (NaN on both, or saturated with one sign). Kept out of
 * line so the running sums of the common case stay in registers. */
static __attribute__((noinline)) int special(double x, double y, const Settings *s,
                                             double *t) {
    int nan_x = isnan(x), nan_y = isnan(y);
    int sat_x = fabs(x) >= s->limit_a, sat_y = fabs(y) >= s->limit_b;
    int flags = 0;
    t[NAN_A] += nan_x;
    t[NAN_B] += nan_y;
    t[INF_A] += isinf(x) != 0;
    t[INF_B] += isinf(y) != 0;
    if (nan_x || nan_y)
        flags |= nan_x && nan_y ? CLOSE : 0;
    else if (isinf(x) || isinf(y))
        flags |= x == y ? CLOSE : 0;
    else
        flags |= fabs(x - y) <= s->atol + s->rtol * fabs(y) ? CLOSE : 0;
    if (sat_x && sat_y && signbit(x) == signbit(y)) {
        t[MASKED] += 1.0;
        flags |= AGREE;
    } else if (nan_x && nan_y)
        flags |= AGREE;
    else
        t[UNMATCHED] += 1.0;
    return flags;
}

static int contradicts(double v, const Settings *s) {
    return fabs(v) >= s->floor && !(v <= -s->ceiling);
}

#define INLINE static inline __attribute__((always_inline))

/* One element: 0 when it contradicts the mask fill. */
INLINE int step(double x, double y, const Settings *s, Row *row, Pass *pass, double *t) {
    if (s->fill && (contradicts(x, s) || contradicts(y, s)))
        return 0;
    double ay = fabs(y);
    if (!(fabs(x) < s->limit_a) || !(ay < s->limit_b)) {
        int flags = special(x, y, s, t);
        if (s->check && !(flags & CLOSE))
            pass->within[0] = 0;
        row->agreed &= (flags & AGREE) != 0;
        return 1;
    }
    double d = x - y, ad = fabs(d);
    pass->sq_a[0] += x * x;
    row->sum_b[0] += y;
    row->sq_b[0] += y * y;
    row->sq_d[0] += d * d;
    pass->abs_sum[0] += ad;
    row->max_d[0] = ad > row->max_d[0] ? ad : row->max_d[0];
    if (s->check && !(ad <= s->atol + s->rtol * ay))
        pass->within[0] = 0;
    double ref = ay < TINY ? TINY : ay;
    if (ad > pass->max_rel * ref)  /* a division only where the maximum may grow */
        pass->max_rel = ad / ref;
    row->count++;
    return 1;
}

/* Four ordinary elements at once; 0 (nothing added) when one of them is not ordinary, is
 * large enough that it may contradict a mask fill, or raises the largest relative error:
 * those blocks take the scalar path (one test per block, so the common case never leaves
 * the vector registers). */
INLINE int block(v4d x, v4d y, const Settings *s, Row *row, Pass *pass) {
    const v4d tiny = {TINY, TINY, TINY, TINY};
    v4d ay = v_abs(y), d = x - y, ad = v_abs(d), ref = v_max(ay, tiny);
    v4i ordinary = (v_abs(x) < s->block_limit_a) & (ay < s->block_limit_b);
    if (v_any(~ordinary | (ad > pass->max_rel * ref)))
        return 0;
    pass->sq_a += x * x;
    row->sum_b += y;
    row->sq_b += y * y;
    row->sq_d += d * d;
    pass->abs_sum += ad;
    row->max_d = v_max(ad, row->max_d);
    if (s->check)
        pass->within &= ad <= s->atol + s->rtol * ay;
    row->count += 4;
    return 1;
}

INLINE void end_row(const Row *row, double *out, Pass *pass) {
    double max_d = v_top(row->max_d);
    out[ROW_SUM_B] += v_sum(row->sum_b);
    out[ROW_SQ_B] += v_sum(row->sq_b);
    out[ROW_SQ_D] += v_sum(row->sq_d);
    out[ROW_MAX_D] = !row->agreed ? INFINITY : max_d > out[ROW_MAX_D] ? max_d : out[ROW_MAX_D];
    out[ROW_COUNT] += (double)row->count;
    pass->max_abs = max_d > pass->max_abs ? max_d : pass->max_abs;
}

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define WITH_AVX2_CLONE __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define WITH_AVX2_CLONE
#endif

/* The pass over rows of float32 or float64 values, each taken to double: blocks of four,
 * then the row's last few values one by one. */
#define ROWS(TYPE)                                                                      \
    WITH_AVX2_CLONE static int rows_##TYPE(const TYPE *a, const TYPE *b, Py_ssize_t n_rows, \
                                           Py_ssize_t width, const Settings *s,         \
                                           double *rows, double *t) {                   \
        const v4d zero = {0.0, 0.0, 0.0, 0.0};                                          \
        const v4i within = {-(t[WITHIN] != 0.0), -1, -1, -1};                           \
        Pass pass = {zero, zero, t[MAX_ABS], t[MAX_REL], within};                       \
        int ok = 1;                                                                     \
        for (Py_ssize_t r = 0; ok && r < n_rows; r++) {                                 \
            const TYPE *ra = a + r * width, *rb = b + r * width;                        \
            Row row = {zero, zero, zero, zero, 0, 1};                                   \
            Py_ssize_t j = 0;                                                           \
            for (; ok && j + 4 <= width; j += 4)                                        \
                if (!block(load_##TYPE(ra + j), load_##TYPE(rb + j), s, &row, &pass))   \
                    for (int k = 0; ok && k < 4; k++)                                   \
                        ok = step((double)ra[j + k], (double)rb[j + k], s, &row, &pass, t); \
            for (; ok && j < width; j++)                                                \
                ok = step((double)ra[j], (double)rb[j], s, &row, &pass, t);             \
            end_row(&row, rows + r * ROW_FIELDS, &pass);                                \
        }                                                                               \
        t[SQ_A] += v_sum(pass.sq_a);                                                    \
        t[ABS_SUM] += v_sum(pass.abs_sum);                                              \
        t[MAX_ABS] = pass.max_abs;                                                      \
        t[MAX_REL] = pass.max_rel;                                                      \
        t[WITHIN] = v_all(pass.within);                                                 \
        return ok;                                                                      \
    }

ROWS(float)
ROWS(double)

static int writable_doubles(Py_buffer *view, Py_ssize_t count, const char *what) {
    if (view->itemsize != sizeof(double) || view->format == NULL || view->format[0] != 'd'
        || view->len != count * (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd float64 values", what, count);
        return 0;
    }
    return 1;
}

/* The element type of a buffer numpy exports: 'f', 'd', or another letter. */
static char element_kind(const Py_buffer *view) {
    const char *format = view->format;
    return format[0] == '=' || format[0] == '<' || format[0] == '@' ? format[1] : format[0];
}

static PyObject *run_pass(Py_buffer *a, Py_buffer *b, Py_buffer *rows, Py_buffer *totals,
                          const Settings *s) {
    char kind = element_kind(a);
    if (a->ndim != 2 || b->ndim != 2 || a->shape[0] != b->shape[0]
        || a->shape[1] != b->shape[1]) {
        PyErr_SetString(PyExc_ValueError, "a and b: expected two 2-D buffers of one shape");
        return NULL;
    }
    if (kind != element_kind(b) || (kind != 'f' && kind != 'd')) {
        PyErr_SetString(PyExc_ValueError, "a and b: expected float32 or float64, both alike");
        return NULL;
    }
    if (!writable_doubles(rows, a->shape[0] * ROW_FIELDS, "rows")
        || !writable_doubles(totals, TOTALS, "totals"))
        return NULL;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'f')
        ok = rows_float(a->buf, b->buf, a->shape[0], a->shape[1], s, rows->buf, totals->buf);
    else
        ok = rows_double(a->buf, b->buf, a->shape[0], a->shape[1], s, rows->buf, totals->buf);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ok);
}

static PyObject *accumulate(PyObject *self, PyObject *args) {
    enum { A_BUF, B_BUF, ROWS_BUF, TOTALS_BUF, BUFFERS };
    PyObject *objects[BUFFERS];
    Py_buffer views[BUFFERS];
    Settings s;
    if (!PyArg_ParseTuple(args, "OOOOddddpdd", &objects[A_BUF], &objects[B_BUF],
                          &objects[ROWS_BUF], &objects[TOTALS_BUF], &s.limit_a, &s.limit_b,
                          &s.atol, &s.rtol, &s.check, &s.floor, &s.ceiling))
        return NULL;
    s.fill = isfinite(s.ceiling);
    s.block_limit_a = s.fill && s.floor < s.limit_a ? s.floor : s.limit_a;
    s.block_limit_b = s.fill && s.floor < s.limit_b ? s.floor : s.limit_b;
    int held = 0;
    for (; held < BUFFERS; held++) {
        int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (held >= ROWS_BUF ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objects[held], &views[held], flags) < 0)
            break;
    }
    PyObject *result = NULL;
    if (held == BUFFERS)
        result = run_pass(&views[A_BUF], &views[B_BUF], &views[ROWS_BUF], &views[TOTALS_BUF], &s);
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    return result;
}

static PyMethodDef methods[] = {
    {"accumulate", accumulate, METH_VARARGS,
     "accumulate(a, b, rows, totals, limit_a, limit_b, atol, rtol, check, floor, ceiling)"
     " -> bool\n"
     "Add one pass over a pair of 2-D float32/float64 buffers to rows and totals."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_metrics_kernel",
    "One pass over a pair of tensors: sums and extremes for parity.metrics.", -1, methods,
};

PyMODINIT_FUNC PyInit__metrics_kernel(void) { return PyModule_Create(&module); }

/*
 * A bounds-checked decoder for CompressAI's rANS bitstreams, taking and filling
 * buffers (numpy arrays) instead of Python lists.
 *
 * CompressAI's `RansDecoder.decode_with_indexes` takes its indexes and CDF tables as
 * Python lists and returns a Python list: for the 110,592 symbols of a 384x384 image at
 * quality 1, converting those lists costs about three times the decoding itself
 * (docs/benchmarks.md). This module decodes the same streams from int32 buffers into an
 * int32 buffer, and reports a malformed stream as an error where CompressAI's decoder
 * (compiled without assertions) would read past the end of its input.
 *
 * The stream format, as CompressAI's `rans_interface.cpp` writes it (rANS with a 64-bit
 * state and 32-bit renormalisation, after F. Giesen's public-domain rans64):
 *
 *   - the stream is a sequence of native-endian 32-bit words; the first two hold the
 *     final encoder state (low word first), the rest are read one at a time whenever
 *     the state drops below L = 2^31;
 *   - a symbol with CDF table t is read from the low 16 bits of the state (precision
 *     16): s is the last position with cdf[t][s] <= those bits; the state becomes
 *     freq * (x >> 16) + (x & 0xffff) - cdf[t][s], freq = cdf[t][s + 1] - cdf[t][s];
 *   - s == cdf_length[t] - 2 is the escape: the value follows in 4-bit bypass groups
 *     (their count first, as a run of 15s and a final remainder, then the groups, least
 *     significant first), raw r: value = r >> 1 for even r, above the table's range,
 *     and -(r >> 1) - 1 for odd r, below it;
 *   - the symbol is value + offset[t];
 *   - after the last symbol a well-formed stream is used up, with the state back at L.
 *
 * The code below is written from that description; no CompressAI source is included.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define PRECISION 16
#define RANS_L (1ull << 31)
#define BYPASS_BITS 4
#define BYPASS_MAX ((1u << BYPASS_BITS) - 1)
/* A value is an int32: its raw bypass form has at most 32 bits, 8 groups. */
#define BYPASS_MAX_GROUPS 8

typedef struct {
    const uint8_t *next; /* the next unread 32-bit word */
    const uint8_t *end;
    uint64_t x;
} Stream;

/* 0 on success, -1 when the stream has no word left. */
static inline int read_word(Stream *st, uint32_t *word) {
    if (st->end - st->next < 4) return -1;
    memcpy(word, st->next, 4);
    st->next += 4;
    return 0;
}

static inline int renormalise(Stream *st) {
    if (st->x < RANS_L) {
        uint32_t word;
        if (read_word(st, &word)) return -1;
        st->x = (st->x << 32) | word;
    }
    return 0;
}

static inline int get_bits(Stream *st, uint32_t *val) {
    *val = (uint32_t)(st->x & BYPASS_MAX);
    st->x >>= BYPASS_BITS;
    return renormalise(st);
}

/* Why decoding failed; NULL while it has not. */
typedef const char *Failure;

static Failure check_tables(const int32_t *cdfs, Py_ssize_t n_tables, Py_ssize_t width,
                            const int32_t *lengths) {
    for (Py_ssize_t t = 0; t < n_tables; ++t) {
        const int32_t *cdf = cdfs + t * width;
        const int32_t len = lengths[t];
        if (len < 2 || len > width) return "a CDF length is outside its table";
        if (cdf[0] != 0 || cdf[len - 1] != (1 << PRECISION))
            return "a CDF table does not run from 0 to 2^16";
        for (int32_t j = 1; j < len; ++j)
            if (cdf[j] <= cdf[j - 1]) return "a CDF table is not strictly increasing";
    }
    return NULL;
}

static Failure decode(Stream *st, const int32_t *indexes, Py_ssize_t count,
                      const int32_t *cdfs, Py_ssize_t n_tables, Py_ssize_t width,
                      const int32_t *lengths, const int32_t *offsets, int32_t *out) {
    uint32_t lo, hi;
    if (read_word(st, &lo) || read_word(st, &hi)) return "the string is shorter than the 8-byte rANS state";
    st->x = ((uint64_t)hi << 32) | lo;
    const uint64_t mask = (1u << PRECISION) - 1;
    for (Py_ssize_t i = 0; i < count; ++i) {
        const int32_t t = indexes[i];
        if (t < 0 || t >= n_tables) return "a CDF index is outside the tables";
        const int32_t *cdf = cdfs + (Py_ssize_t)t * width;
        const int32_t max_value = lengths[t] - 2;

        const uint32_t cum = (uint32_t)(st->x & mask);
        int32_t s = 0;
        while (s < max_value && (uint32_t)cdf[s + 1] <= cum) ++s;
        const uint64_t start = (uint64_t)cdf[s], freq = (uint64_t)(cdf[s + 1] - cdf[s]);
        st->x = freq * (st->x >> PRECISION) + (st->x & mask) - start;
        if (renormalise(st)) return "it ends before its last symbol";

        int32_t value = s;
        if (value == max_value) {
            uint32_t val, groups;
            if (get_bits(st, &val)) return "it ends before its last symbol";
            groups = val;
            while (val == BYPASS_MAX) {
                if (groups > BYPASS_MAX_GROUPS) break;
                if (get_bits(st, &val)) return "it ends before its last symbol";
                groups += val;
            }
            if (groups > BYPASS_MAX_GROUPS) return "an escaped value is longer than 32 bits";
            uint32_t raw = 0;
            for (uint32_t j = 0; j < groups; ++j) {
                if (get_bits(st, &val)) return "it ends before its last symbol";
                raw |= val << (j * BYPASS_BITS);
            }
            if (raw & 1u)
                value = -(int32_t)(raw >> 1) - 1;
            else
                value = (int32_t)(raw >> 1) + max_value;
        }
        out[i] = value + offsets[t];
    }
    if (st->next != st->end) return "bytes are left over after its last symbol";
    if (st->x != RANS_L) return "the decoder does not end in the encoder's initial state";
    return NULL;
}

/* `obj`'s buffer in `view`, which must be C-contiguous int32 (and writable if asked). */
static int get_int32(PyObject *obj, Py_buffer *view, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') ++f;
    if (view->itemsize != 4 || !(f[0] == 'i' || (f[0] == 'l' && sizeof(long) == 4)) || f[1]) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous int32 array", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(decode_doc,
"decode(string, indexes, cdfs, lengths, offsets, out)\n--\n\n"
"Decode the rANS string `string` (bytes-like) into `out` (int32, writable, as many\n"
"elements as `indexes`): symbol i uses CDF table indexes[i] of `cdfs` (int32, tables\n"
"by rows, each `lengths[t]` long) and is shifted by offsets[t]. Every argument is a\n"
"C-contiguous buffer. Raises ValueError naming what is wrong when the string is not a\n"
"well-formed stream of exactly these symbols. Releases the GIL while decoding.");

static PyObject *py_decode(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o_idx, *o_cdfs, *o_len, *o_off, *o_out;
    Py_buffer string, idx, cdfs, len, off, out;
    if (!PyArg_ParseTuple(args, "y*OOOOO:decode", &string, &o_idx, &o_cdfs, &o_len, &o_off,
                          &o_out))
        return NULL;
    Py_buffer *views[] = {&idx, &cdfs, &len, &off, &out};
    PyObject *objs[] = {o_idx, o_cdfs, o_len, o_off, o_out};
    const char *names[] = {"indexes", "cdfs", "lengths", "offsets", "out"};
    for (int k = 0; k < 5; ++k) {
        if (get_int32(objs[k], views[k], k == 4, names[k]) < 0) {
            for (int j = 0; j < k; ++j) PyBuffer_Release(views[j]);
            PyBuffer_Release(&string);
            return NULL;
        }
    }
    PyObject *result = NULL;
    const Py_ssize_t count = idx.len / 4, n_tables = len.len / 4;
    if (cdfs.ndim != 2 || cdfs.shape[0] != n_tables || off.len / 4 != n_tables) {
        PyErr_SetString(PyExc_ValueError,
                        "cdfs must be a (tables, width) array with one length and one "
                        "offset per table");
        goto done;
    }
    if (out.len / 4 != count) {
        PyErr_SetString(PyExc_ValueError, "out must have as many elements as indexes");
        goto done;
    }
    const Py_ssize_t width = cdfs.shape[1];
    Failure failure;
    Py_BEGIN_ALLOW_THREADS
    failure = check_tables(cdfs.buf, n_tables, width, len.buf);
    if (!failure) {
        Stream st = {(const uint8_t *)string.buf, (const uint8_t *)string.buf + string.len, 0};
        if (string.len % 4)
            failure = "its length is not a whole number of 32-bit words";
        else
            failure = decode(&st, idx.buf, count, cdfs.buf, n_tables, width, len.buf,
                             off.buf, out.buf);
    }
    Py_END_ALLOW_THREADS
    if (failure) {
        PyErr_Format(PyExc_ValueError, "not a well-formed rANS stream of %zd symbols: %s",
                     count, failure);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    for (int j = 0; j < 5; ++j) PyBuffer_Release(views[j]);
    PyBuffer_Release(&string);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", py_decode, METH_VARARGS, decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rans",
    "A bounds-checked decoder for CompressAI's rANS bitstreams, on buffers.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }

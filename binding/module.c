/*
 * module.c: the _inotipy extension module: multi-phase init (one exec that
 * calls one small init per type), the module state's life, and the two
 * helpers the types share (mask reprs, adding a type).
 */
#include "module.h"

#include "batch.h"
#include "event.h"
#include "loop.h"
#include "waiter.h"
#include "watch.h"
#include "watcher.h"

/* The oldest CPython: pyproject.toml's requires-python and classifiers say
 * the same (tests/test_pythons.py checks that they agree).  3.10 brought
 * PyIter_Send() and the am_send slot that waiter.c relies on. */
#if PY_VERSION_HEX < 0x030A0000
#error "inotipy needs CPython 3.10 or later"
#endif

static struct PyModuleDef inotipy_module;

#if PY_VERSION_HEX < 0x030B0000
/* PyType_GetModuleByDef() arrived in 3.11: the same walk over the MRO. */
static PyObject *
PyType_GetModuleByDef(PyTypeObject *type, PyModuleDef *def)
{
    PyObject *mro = type->tp_mro;
    Py_ssize_t i;

    for (i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *t = PyTuple_GET_ITEM(mro, i);
        if (PyType_HasFeature((PyTypeObject *)t, Py_TPFLAGS_HEAPTYPE)) {
            PyObject *m = PyType_GetModule((PyTypeObject *)t);
            if (m != NULL && PyModule_GetDef(m) == def) {
                return m;
            }
            PyErr_Clear();
        }
    }
    PyErr_SetString(PyExc_TypeError, "_inotipy module not found in MRO");
    return NULL;
}
#endif

inotipy_state *
inotipy_state_of_type(PyTypeObject *type)
{
    PyObject *module = PyType_GetModuleByDef(type, &inotipy_module);

    return module == NULL ? NULL : get_state(module);
}

PyObject *
inotipy_decode_mask_repr(inotipy_state *st, uint32_t mask)
{
    PyObject *list, *text = NULL;

    if (st->decode_mask == NULL) {
        PyObject *mod = PyImport_ImportModule("inotipy._constants");
        if (mod != NULL) {
            st->decode_mask = PyObject_GetAttrString(mod, "decode_mask");
            Py_DECREF(mod);
        }
    }
    if (st->decode_mask != NULL) {
        list =
            PyObject_CallFunction(st->decode_mask, "k", (unsigned long)mask);
        if (list != NULL) {
            text = PyObject_Repr(list);
            Py_DECREF(list);
        }
    }
    if (text == NULL) {
        PyErr_Clear();
        text = PyUnicode_FromFormat("0x%x", (unsigned int)mask);
    }
    return text;
}

int
inotipy_types_add(PyObject *module, PyType_Spec *spec, PyObject *base,
                  PyTypeObject **out)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, base);

    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, (PyTypeObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    *out = (PyTypeObject *)type;
    return 0;
}

static int
intern_names(inotipy_state *st)
{
#define INTERN(field, text)                                                   \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL)               \
        return -1;
    INTERN(s_add_reader, "add_reader");
    INTERN(s_remove_reader, "remove_reader");
    INTERN(s_create_future, "create_future");
    INTERN(s_set_result, "set_result");
    INTERN(s_done, "done");
    INTERN(s_cancel, "cancel");
    INTERN(s_call_later, "call_later");
    INTERN(s_is_closed, "is_closed");
    INTERN(s_close, "close");
    INTERN(s_blocking, "_asyncio_future_blocking");
    INTERN(s_trio, "trio");
    INTERN(s_in_trio, "in_trio");
    INTERN(s_raise_no_loop, "raise_no_loop");
    INTERN(s_trio_side, "TrioSide");
    INTERN(s_get, "get");
    INTERN(s_notify_closing, "notify_closing");
    INTERN(s_throw, "throw");
#undef INTERN
    return 0;
}

static int
state_init(PyObject *module, inotipy_state *st)
{
    PyObject *asyncio, *base;

    if (intern_names(st) < 0) {
        return -1;
    }
    st->empty_str = PyUnicode_FromStringAndSize("", 0);
    st->empty_bytes = PyBytes_FromStringAndSize("", 0);
    if (st->empty_str == NULL || st->empty_bytes == NULL) {
        return -1;
    }
    asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return -1;
    }
    /* The running loop or None: under trio no asyncio loop runs, and
     * that is no error (loop.c then waits on trio). */
    st->get_running_loop =
        PyObject_GetAttrString(asyncio, "_get_running_loop");
    st->future_type = PyObject_GetAttrString(asyncio, "Future");
    base = PyObject_GetAttrString(asyncio, "BaseEventLoop");
    st->base_create_future =
        base == NULL ? NULL : PyObject_GetAttrString(base, "create_future");
    Py_XDECREF(base);
    Py_DECREF(asyncio);
    st->kw_loop = Py_BuildValue("(s)", "loop");
    if (st->get_running_loop == NULL || st->future_type == NULL ||
        st->base_create_future == NULL || st->kw_loop == NULL) {
        return -1;
    }
    st->closed_error = PyErr_NewExceptionWithDoc(
        "inotipy.WatcherClosedError",
        "An operation on a closed Watcher, or a get() that was waiting "
        "when the watcher was closed.",
        PyExc_ValueError, NULL);
    if (st->closed_error == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "WatcherClosedError", st->closed_error) <
        0) {
        return -1;
    }
    st->tree_warning = PyErr_NewExceptionWithDoc(
        "inotipy.TreeWarning",
        "Part of a watched tree could not be watched (no permission, or "
        "the watch limit was reached); the rest is still watched.",
        PyExc_RuntimeWarning, NULL);
    if (st->tree_warning == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "TreeWarning", st->tree_warning);
}

static int
inotipy_exec(PyObject *module)
{
    inotipy_state *st = get_state(module);

    if (state_init(module, st) < 0) {
        goto fail;
    }
    if (event_init_type(module, st) < 0 || batch_init_type(module, st) < 0 ||
        watch_init_type(module, st) < 0 || waiter_init_type(module, st) < 0 ||
        loop_init_type(module, st) < 0 || watcher_init_type(module, st) < 0) {
        goto fail;
    }
    if (PyModule_AddIntConstant(module, "DEFAULT_MAX_QUEUED",
                                INO_DEFAULT_MAX_QUEUED) < 0) {
        goto fail;
    }
    return 0;
fail:
    return -1;
}

/* clang-format off: one field a line, which clang-format cannot keep. */
#define STATE_FIELDS(X)                                                       \
    X(watcher_type)                                                           \
    X(watch_type)                                                             \
    X(event_type)                                                             \
    X(batch_type)                                                             \
    X(get_awaitable_type)                                                     \
    X(reader_type)                                                            \
    X(closed_error)                                                           \
    X(tree_warning)                                                           \
    X(get_running_loop)                                                       \
    X(trio_module)                                                            \
    X(future_type)                                                            \
    X(base_create_future)                                                     \
    X(kw_loop)                                                                \
    X(decode_mask)                                                            \
    X(empty_str)                                                              \
    X(empty_bytes)                                                            \
    X(s_add_reader)                                                           \
    X(s_remove_reader)                                                        \
    X(s_create_future)                                                        \
    X(s_set_result)                                                           \
    X(s_done)                                                                 \
    X(s_cancel)                                                               \
    X(s_call_later)                                                           \
    X(s_is_closed)                                                            \
    X(s_close)                                                                \
    X(s_blocking)                                                             \
    X(s_trio)                                                                 \
    X(s_in_trio)                                                              \
    X(s_raise_no_loop)                                                        \
    X(s_trio_side)                                                            \
    X(s_get)                                                                  \
    X(s_notify_closing)                                                       \
    X(s_throw)
/* clang-format on */

static int
inotipy_traverse(PyObject *module, visitproc visit, void *arg)
{
    inotipy_state *st = get_state(module);
#define VISIT(field) Py_VISIT(st->field);
    STATE_FIELDS(VISIT)
#undef VISIT
    return inotipy_freelist_traverse(&st->free_events, visit, arg);
}

static int
inotipy_clear(PyObject *module)
{
    inotipy_state *st = get_state(module);
#define CLEAR(field) Py_CLEAR(st->field);
    STATE_FIELDS(CLEAR)
#undef CLEAR
    inotipy_freelist_clear(&st->free_events);
    return 0;
}

static void
inotipy_free(void *module)
{
    inotipy_clear((PyObject *)module);
}

/* The binding counts on the GIL, and says so (Py_MOD_GIL_USED): a
 * free-threaded build (3.13t and later) turns the GIL back on when it
 * imports us, with a RuntimeWarning, unless told otherwise with
 * PYTHON_GIL=0 or -X gil=0, which is not safe here.  Why: the spare
 * GetAwaitable is reused when Py_REFCNT() == 1 (waiter_new()), a test
 * another thread could falsify before the reuse; the Event free list
 * pushes and pops without a lock (freelist.h); the watcher's lists, its
 * `closed` flag (checked before every use of the core) and its flavour
 * (loop.c) are plain fields; and the core itself has no locks. */
static PyModuleDef_Slot inotipy_slots[] = {
    /* Everything is made per module object, in one exec function. */
    {Py_mod_exec, inotipy_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* No globals, no static types: each interpreter, with its own GIL,
     * has its own module state, types and free list. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* Py_mod_gil came with 3.13: see above. */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef inotipy_module = {
    PyModuleDef_HEAD_INIT,
    /* The package's private extension; inotipy re-exports what is public. */
    .m_name = "inotipy._inotipy",
    .m_doc = "The C binding of inotipy: watchers, watches and events.",
    /* inotipy_state, zeroed by the interpreter before exec runs. */
    .m_size = sizeof(inotipy_state),
    .m_slots = inotipy_slots,
    /* The state holds types and objects: the collector must see them. */
    .m_traverse = inotipy_traverse,
    /* Breaks cycles through the state, and drains the free list. */
    .m_clear = inotipy_clear,
    /* The module is freed without m_clear on some paths: clear then. */
    .m_free = inotipy_free,
};

PyMODINIT_FUNC
PyInit__inotipy(void)
{
    return PyModuleDef_Init(&inotipy_module);
}

/*
 * module.h: what module.c offers the type files besides the state.
 */
#ifndef INOTIPY_MODULE_H
#define INOTIPY_MODULE_H

#include "state.h"

/* Returns a new reference to repr(decode_mask(mask)), falling back to a
 * hex number: reprs must never raise. */
PyObject *inotipy_decode_mask_repr(inotipy_state *st, uint32_t mask);
/* Makes a heap type from spec, bound to module, and adds it by name. */
int inotipy_types_add(PyObject *module, PyType_Spec *spec, PyObject *base,
                      PyTypeObject **out);

#endif /* INOTIPY_MODULE_H */

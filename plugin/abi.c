/*
 * abi.c — sizes and strides at the ABI boundary (abi.h, tillpoints.h).
 */
#include <string.h>

#include "abi.h"
#include "instance.h"
#include "util.h"

uint32_t tp_abi_size_of(const void *s)
{
    uint32_t size;
    memcpy(&size, s, sizeof size);
    return size;
}

static size_t smaller(size_t a, size_t b) { return a < b ? a : b; }

static tp_status too_small(size_t got, size_t min, const char *type, const char *what,
                           tp_message *msg)
{
    tp_msg_set(msg,
               "The host passed a %s with %s %zu; tillpoints ABI 2 needs at least %zu "
               "(set it to sizeof(%s) from the tillpoints headers).",
               type, what, got, min, type);
    return TP_ERR_INVALID_ARGUMENT;
}

tp_status tp_abi_read_in(void *local, size_t local_size, const void *in, size_t min,
                         const char *type, tp_message *msg)
{
    size_t size = tp_abi_size_of(in);
    if (size < min)
        return too_small(size, min, type, "struct_size", msg);
    memset(local, 0, local_size);
    memcpy(local, in, smaller(size, local_size));
    return TP_OK;
}

tp_status tp_abi_check_out(const void *out, size_t min, const char *type, tp_message *msg)
{
    size_t size = tp_abi_size_of(out);
    return size < min ? too_small(size, min, type, "struct_size", msg) : TP_OK;
}

void tp_abi_write_out(void *out, const void *local, size_t local_size)
{
    uint32_t n = (uint32_t)smaller(tp_abi_size_of(out), local_size);
    memcpy(out, local, n);
    memcpy(out, &n, sizeof n);
}

tp_status tp_abi_check_stride(size_t stride, size_t min, const char *type, tp_message *msg)
{
    return stride < min ? too_small(stride, min, type, "an array stride of", msg) : TP_OK;
}

void *tp_abi_elem(void *base, size_t stride, size_t i) { return (char *)base + i * stride; }

const void *tp_abi_elem_const(const void *base, size_t stride, size_t i)
{
    return (const char *)base + i * stride;
}

void tp_abi_put(void *base, size_t stride, size_t i, const void *local, size_t local_size,
                int sized)
{
    void *dst = tp_abi_elem(base, stride, i);
    uint32_t n = (uint32_t)smaller(stride, local_size);
    memcpy(dst, local, n);
    if (sized)
        memcpy(dst, &n, sizeof n);
}

void tp_abi_get(void *local, size_t local_size, const void *base, size_t stride, size_t i)
{
    memset(local, 0, local_size);
    memcpy(local, tp_abi_elem_const(base, stride, i), smaller(stride, local_size));
}

#ifdef TP_EXT_CODES
static tp_status codes_length_range(const tp_plugin *plugin, uint32_t *min, uint32_t *max,
                                    tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!min || !max) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    *min = (uint32_t)in->cfg.scan.code_min_length;
    *max = (uint32_t)in->cfg.scan.code_max_length;
    return TP_OK;
}

const tp_codes_ext tp_codes_extension = {.struct_size = sizeof(tp_codes_ext),
                                         .length_range = codes_length_range};
#endif

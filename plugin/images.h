/*
 * images.h — the image extension's table (include/tillpoints/ext/images.h):
 * pictures from the host through the camera driver's decoder and the
 * scanner path's payload rules.
 */
#ifndef TP_IMAGES_H
#define TP_IMAGES_H

#include "tillpoints/ext/images.h"

extern const tp_images_ext tp_images_extension;

#endif /* TP_IMAGES_H */

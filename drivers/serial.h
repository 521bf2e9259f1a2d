/*
 * serial.h — the serial barcode-scanner driver (RS-232, USB CDC-ACM and
 * USB-serial adapters) over libserialport, framed by drivers/framer.h.
 *
 * Config keys of a `driver = serial` section:
 *   port          /dev/ttyS0, /dev/ttyACM0 ... or a stable
 *                 /dev/serial/by-id/... symlink (resolved on every open)
 *   baud          1200..921600 (default 9600)
 *   data_bits     5..8 (default 8)
 *   parity        none | odd | even | mark | space (default none)
 *   stop_bits     1 | 2 (default 1)
 *   flow_control  none | xonxoff | rtscts (default none); dtrdsr is
 *                 refused with a sentence: libserialport 0.1.1 cannot do
 *                 DTR/DSR flow control on Linux
 *   framing, suffix, prefix, aim, max_length, frame_timeout_ms
 *                 as in framer.h
 *
 * The driver follows the tp_driver_ops contract of driver.h; see serial.c
 * for what it reports and when.
 */
#ifndef TP_DRIVERS_SERIAL_H
#define TP_DRIVERS_SERIAL_H

#include "driver.h"

/* [any thread] The ops table; its functions run on the scanner thread. */
extern const tp_driver_ops tp_serial_driver;

#endif /* TP_DRIVERS_SERIAL_H */

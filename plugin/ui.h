/*
 * ui.h — the forms thread of an instance (ui.c): the ui extension's calls
 * enqueue, a thread of its own runs the flows (retro*.c), and the host's
 * main thread is handed the forms (docs/DESIGN.md §6).
 */
#ifndef TP_UI_H
#define TP_UI_H

#include "instance.h"

tp_status tp_ui_start(tp_instance *in, tp_message *msg) TP_MUST_CHECK;
void tp_ui_stop(tp_instance *in);
void tp_ui_deliver(tp_instance *in); /* main thread, from on_main_thread */

#endif /* TP_UI_H */

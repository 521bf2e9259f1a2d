/*
 * admin.h — every manager-side extension in one include, for back-office
 * tools such as the `tillpoints` CLI. It defines no extension of its own:
 *
 *   ext/members.h   "tillpoints.members/1"   members, cards, balances
 *   ext/ledger.h    "tillpoints.ledger/1"    activity, adjustments
 *   ext/transfer.h  "tillpoints.transfer/1"  CSV import and export
 *   ext/managers.h  "tillpoints.managers/1"  approving managers and PINs
 *   ext/queue.h     "tillpoints.queue/1"     the outbox to the central database
 *   ext/audit.h     "tillpoints.audit/3"     the audit log and verify
 *   ext/stats.h     "tillpoints.stats/1"     a dashboard's figures per day (2.3)
 *   ext/expiry.h    "tillpoints.expiry/1"    points that expire (2.4)
 *
 * Unlike checkout, these calls read and write the database before they
 * return, so they may wait on the disk. They are [thread-safe, blocking]:
 * a POS calls them from a worker thread or a back-office process, never
 * from the thread that runs the checkout screen. Every write is one
 * transaction: it happens whole or not at all. Out-structs and arrays are
 * caller-allocated (sizes and strides: tillpoints.h); callbacks are called
 * on the calling thread, during the call.
 */
#ifndef TILLPOINTS_EXT_ADMIN_H
#define TILLPOINTS_EXT_ADMIN_H

#include "audit.h"
#include "expiry.h"
#include "ledger.h"
#include "managers.h"
#include "members.h"
#include "queue.h"
#include "redeem.h"
#include "stats.h"
#include "transfer.h"

#endif /* TILLPOINTS_EXT_ADMIN_H */

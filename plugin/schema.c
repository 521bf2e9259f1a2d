/*
 * schema.c — the migrations of both databases (schema.h). Each migration is
 * applied whole inside one write transaction and is never edited once
 * released: a change is a new migration. Length limits come from the
 * public limits header, so the CHECK constraints, the plugin's own checks
 * and verify agree (docs/DESIGN.md §2).
 */
#include "schema.h"


/* ---- the terminal's SQLite database --------------------------------------- */

static const char *const schema_v1 =
    "CREATE TABLE members("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL UNIQUE CHECK(length(code) BETWEEN 1 AND " TP_SQL_INT(TP_MEMBER_CODE_MAX) "),"
    "  name TEXT NOT NULL DEFAULT '' CHECK(length(name) <= " TP_SQL_INT(TP_NAME_MAX) "),"
    "  phone TEXT CHECK(phone IS NULL OR length(phone) <= " TP_SQL_INT(TP_PHONE_MAX) "),"
    "  email TEXT CHECK(email IS NULL OR length(email) <= " TP_SQL_INT(TP_EMAIL_MAX) "),"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE receipts("
    "  id INTEGER PRIMARY KEY,"
    "  location TEXT NOT NULL, terminal TEXT NOT NULL, receipt TEXT NOT NULL,"
    "  txn TEXT NOT NULL, staff TEXT NOT NULL DEFAULT '',"
    "  time_ms INTEGER NOT NULL, currency TEXT NOT NULL CHECK(length(currency) = " TP_SQL_INT(TP_CURRENCY_MAX) "),"
    "  total_minor INTEGER NOT NULL CHECK(total_minor >= 0),"
    "  eligible_minor INTEGER NOT NULL CHECK(eligible_minor BETWEEN 0 AND total_minor),"
    "  line_count INTEGER NOT NULL CHECK(line_count >= 0),"
    "  member_id INTEGER REFERENCES members(id),"
    "  scanned_code TEXT NOT NULL DEFAULT '',"
    "  journaled_ms INTEGER NOT NULL,"
    "  UNIQUE(location, receipt));"
    "CREATE TABLE refunds("
    "  id INTEGER PRIMARY KEY,"
    "  location TEXT NOT NULL, terminal TEXT NOT NULL, refund TEXT NOT NULL,"
    "  receipt_id INTEGER NOT NULL REFERENCES receipts(id),"
    "  amount_minor INTEGER NOT NULL CHECK(amount_minor > 0),"
    "  time_ms INTEGER NOT NULL, journaled_ms INTEGER NOT NULL,"
    "  UNIQUE(location, refund));"
    "CREATE INDEX refunds_receipt ON refunds(receipt_id);"
    "CREATE TABLE ledger("
    "  id INTEGER PRIMARY KEY,"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  location TEXT NOT NULL, terminal TEXT NOT NULL, receipt TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK(kind IN"
    "    ('earn','retro','adjust','bulk','import','reversal','expire')),"
    "  points INTEGER NOT NULL CHECK(points <> 0 AND"
    "    points BETWEEN -" TP_SQL_INT(TP_ENTRY_POINTS_MAX) " AND " TP_SQL_INT(TP_ENTRY_POINTS_MAX) "),"
    "  reverses INTEGER REFERENCES ledger(id),"
    "  staff TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
    "  time_ms INTEGER NOT NULL, recorded_ms INTEGER NOT NULL,"
    "  CHECK((kind = 'reversal') = (reverses IS NOT NULL)),"
    "  UNIQUE(location, receipt, kind));"
    "CREATE INDEX ledger_member ON ledger(member_id, id);"
    "CREATE INDEX ledger_reverses ON ledger(reverses) WHERE reverses IS NOT NULL;"
    "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger"
    "  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;"
    "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger"
    "  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;"
    "CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts"
    "  BEGIN SELECT RAISE(ABORT, 'the receipt journal is append-only'); END;"
    "CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts"
    "  BEGIN SELECT RAISE(ABORT, 'the receipt journal is append-only'); END;"
    "CREATE TRIGGER refunds_no_update BEFORE UPDATE ON refunds"
    "  BEGIN SELECT RAISE(ABORT, 'the refund journal is append-only'); END;"
    "CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds"
    "  BEGIN SELECT RAISE(ABORT, 'the refund journal is append-only'); END;"
    "CREATE TRIGGER ledger_reversal_bounded BEFORE INSERT ON ledger"
    "  WHEN NEW.kind = 'reversal' BEGIN"
    "  SELECT RAISE(ABORT, 'a reversal must undo part of a positive entry of the"
    " same member, and never more than it earned')"
    "  WHERE NEW.points >= 0"
    "     OR NOT EXISTS (SELECT 1 FROM ledger o WHERE o.id = NEW.reverses"
    "          AND o.member_id = NEW.member_id AND o.points > 0"
    "          AND o.kind <> 'reversal')"
    "     OR (SELECT o.points FROM ledger o WHERE o.id = NEW.reverses)"
    "        + (SELECT COALESCE(SUM(r.points), 0) FROM ledger r"
    "           WHERE r.reverses = NEW.reverses) + NEW.points < 0;"
    "  END;";

/* v2: members get an app id and alternate codes (cards); phone, email and
 * name become searchable; ledger entries carry a customer-visible comment;
 * the per-member index also covers points, so a balance is an index-only
 * sum. Phone and email are not unique: a family may share one, and the
 * retro dialog shows several matches for choice. */
static const char *const schema_v2 =
    "ALTER TABLE members ADD COLUMN app_id TEXT CHECK(app_id IS NULL OR"
    "  length(app_id) BETWEEN 1 AND " TP_SQL_INT(TP_MEMBER_CODE_MAX) ");"
    "CREATE UNIQUE INDEX members_app_id ON members(app_id) WHERE app_id IS NOT NULL;"
    "CREATE INDEX members_phone ON members(phone) WHERE phone IS NOT NULL;"
    "CREATE INDEX members_email ON members(email) WHERE email IS NOT NULL;"
    "CREATE INDEX members_name ON members(name COLLATE NOCASE);"
    "CREATE TABLE member_cards("
    "  code TEXT PRIMARY KEY CHECK(length(code) BETWEEN 1 AND " TP_SQL_INT(TP_MEMBER_CODE_MAX) "),"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  added_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX member_cards_member ON member_cards(member_id);"
    "ALTER TABLE ledger ADD COLUMN comment TEXT NOT NULL DEFAULT ''"
    "  CHECK(length(comment) <= " TP_SQL_INT(TP_COMMENT_MAX) ");"
    "DROP INDEX ledger_member;"
    "CREATE INDEX ledger_member ON ledger(member_id, id, points);"
    "CREATE INDEX ledger_staff ON ledger(staff, id);";

/* v3: retroactive visits. Managers (Argon2id PIN hashes, a failure
 * counter and a lockout that survive restarts), the hash-chained audit
 * log (append-only like the ledger), and missed-scan claims with their
 * resolutions (a claim is open while it has no resolution row). */
static const char *const schema_v3 =
    "CREATE TABLE managers("
    "  id TEXT PRIMARY KEY CHECK(length(id) BETWEEN 1 AND " TP_SQL_INT(TP_MANAGER_ID_MAX) "),"
    "  name TEXT NOT NULL DEFAULT '' CHECK(length(name) <= " TP_SQL_INT(TP_NAME_MAX) "),"
    "  pin_hash TEXT NOT NULL,"
    "  failures INTEGER NOT NULL DEFAULT 0 CHECK(failures >= 0),"
    "  locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE audit("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  action TEXT NOT NULL CHECK(length(action) BETWEEN 1 AND " TP_SQL_INT(TP_AUDIT_NAME_MAX) "),"
    "  actor TEXT NOT NULL DEFAULT '', approver TEXT NOT NULL DEFAULT '',"
    "  member TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',"
    "  receipt TEXT NOT NULL DEFAULT '', points INTEGER NOT NULL DEFAULT 0,"
    "  reason TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    "  prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE INDEX audit_approver_time ON audit(approver, action, time_ms);"
    "CREATE TABLE claims("
    "  id INTEGER PRIMARY KEY,"
    "  location TEXT NOT NULL, receipt TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, staff TEXT NOT NULL DEFAULT '',"
    "  contact_phone TEXT, contact_email TEXT, note TEXT NOT NULL DEFAULT '',"
    "  UNIQUE(location, receipt));"
    "CREATE TABLE claim_resolutions("
    "  claim_id INTEGER PRIMARY KEY REFERENCES claims(id),"
    "  resolved_ms INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL CHECK(outcome IN ('credited', 'dismissed')),"
    "  staff TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
    "  ledger_id INTEGER REFERENCES ledger(id));"
    "CREATE TRIGGER claims_no_delete BEFORE DELETE ON claims"
    "  BEGIN SELECT RAISE(ABORT, 'claims are kept'); END;"
    "CREATE TRIGGER claim_resolutions_no_update BEFORE UPDATE ON claim_resolutions"
    "  BEGIN SELECT RAISE(ABORT, 'a claim is resolved once'); END;"
    "CREATE INDEX receipts_location_time ON receipts(location, time_ms);";

/* v4 (sync): the outbox, filled by triggers in the same transaction as the
 * rows it carries (outbox.c reads and marks it). */
static const char schema_v4[] =
    "CREATE TABLE outbox("
    "  id INTEGER PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK(kind IN ('ledger', 'member', 'card', 'audit')),"
    "  member TEXT NOT NULL DEFAULT '',"
    "  points INTEGER NOT NULL DEFAULT 0,"
    "  payload TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  parked INTEGER NOT NULL DEFAULT 0 CHECK(parked IN (0, 1)),"
    "  delivered_ms INTEGER);"
    "CREATE INDEX outbox_pending ON outbox(id) WHERE delivered_ms IS NULL AND parked = 0;"
    "CREATE INDEX outbox_member_open ON outbox(member, parked) WHERE delivered_ms IS NULL;"
    "CREATE TABLE sync_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO sync_state(key, value) VALUES('pulling', 0), ('outbox_on', 0), ('members_seq', 0),"
    "  ('cards_seq', 0), ('balances_seq', 0), ('retry_ms', 0), ('last_success_ms', 0),"
    "  ('last_pull_ms', 0);"
    "CREATE TABLE central_balances("
    "  code TEXT PRIMARY KEY, balance INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  pulled_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER outbox_ledger AFTER INSERT ON ledger"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, points, payload, created_ms)"
    "  SELECT 'ledger:' || NEW.location || '/' || NEW.terminal || '/' || NEW.receipt || '/'"
    "         || NEW.kind, 'ledger', m.code, NEW.points,"
    "    json_object('location', NEW.location, 'terminal', NEW.terminal,"
    "      'receipt', NEW.receipt, 'kind', NEW.kind, 'member', m.code,"
    "      'points', NEW.points, 'staff', NEW.staff, 'reason', NEW.reason,"
    "      'comment', NEW.comment, 'time_ms', NEW.time_ms, 'recorded_ms', NEW.recorded_ms,"
    "      'reverses', json((SELECT json_object('terminal', o.terminal, 'receipt', o.receipt,"
    "                        'kind', o.kind) FROM ledger o WHERE o.id = NEW.reverses))),"
    "    NEW.recorded_ms"
    "  FROM members m WHERE m.id = NEW.member_id;"
    "END;"
    "CREATE TRIGGER outbox_member AFTER INSERT ON members"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'pulling') = 0"
    "   AND (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, payload, created_ms)"
    "  VALUES('member:' || NEW.code, 'member', NEW.code,"
    "    json_object('code', NEW.code, 'name', NEW.name, 'phone', NEW.phone,"
    "      'email', NEW.email, 'app_id', NEW.app_id, 'created_ms', NEW.created_ms),"
    "    NEW.created_ms);"
    "END;"
    "CREATE TRIGGER outbox_card AFTER INSERT ON member_cards"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'pulling') = 0"
    "   AND (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, payload, created_ms)"
    "  SELECT 'card:' || NEW.code, 'card', m.code,"
    "    json_object('card', NEW.code, 'member', m.code, 'added_ms', NEW.added_ms),"
    "    NEW.added_ms FROM members m WHERE m.id = NEW.member_id;"
    "END;"
    "CREATE TRIGGER outbox_audit AFTER INSERT ON audit"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, payload, created_ms)"
    "  VALUES('audit:' || NEW.hash, 'audit', NEW.member,"
    "    json_object('time_ms', NEW.time_ms, 'action', NEW.action, 'actor', NEW.actor,"
    "      'approver', NEW.approver, 'member', NEW.member, 'location', NEW.location,"
    "      'receipt', NEW.receipt, 'points', NEW.points, 'reason', NEW.reason,"
    "      'detail', NEW.detail, 'prev_hash', NEW.prev_hash, 'hash', NEW.hash),"
    "    NEW.time_ms);"
    "END;"
    /* History is kept: delivered rows are the record of what left. */
    "CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox"
    "  BEGIN SELECT RAISE(ABORT, 'outbox rows are kept'); END;";

/* v5: a record's ledger range (NULL: it covers none); the index finds the
 * record covering an entry (activity's approver, verify). The outbox
 * payload gains the record number, which the central database checks
 * against the head it holds, and the ledger part, so the central copy of a
 * record can be hashed again. */
static const char schema_v5[] =
    "ALTER TABLE audit ADD COLUMN ledger_first INTEGER;"
    "ALTER TABLE audit ADD COLUMN ledger_last INTEGER;"
    "ALTER TABLE audit ADD COLUMN ledger_count INTEGER;"
    "ALTER TABLE audit ADD COLUMN ledger_sum INTEGER;"
    "ALTER TABLE audit ADD COLUMN ledger_digest TEXT;"
    "CREATE INDEX audit_ledger_range ON audit(ledger_first, ledger_last)"
    "  WHERE ledger_first IS NOT NULL;"
    "DROP TRIGGER outbox_audit;"
    "CREATE TRIGGER outbox_audit AFTER INSERT ON audit"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, payload, created_ms)"
    "  VALUES('audit:' || NEW.hash, 'audit', NEW.member,"
    "    json_object('id', NEW.id, 'time_ms', NEW.time_ms, 'action', NEW.action,"
    "      'actor', NEW.actor, 'approver', NEW.approver, 'member', NEW.member,"
    "      'location', NEW.location, 'receipt', NEW.receipt, 'points', NEW.points,"
    "      'reason', NEW.reason, 'detail', NEW.detail, 'ledger_first', NEW.ledger_first,"
    "      'ledger_last', NEW.ledger_last, 'ledger_count', NEW.ledger_count,"
    "      'ledger_sum', NEW.ledger_sum, 'ledger_digest', NEW.ledger_digest,"
    "      'prev_hash', NEW.prev_hash, 'hash', NEW.hash),"
    "    NEW.time_ms);"
    "END;";

/* v6 (sync): a parked outbox row can be dismissed for good (queue_dismiss:
 * it stays parked, is never sent again, and stops counting as refused;
 * the trigger makes that final), and the link's state as the sync thread
 * last recorded it, in one row any process reads (queue status in the CLI
 * shows what the till's thread knows): the state, the status and sentence
 * of the last error and when it happened, the next attempt while backing
 * off, and when the row was written. */
static const char schema_v6[] =
    "ALTER TABLE outbox ADD COLUMN dismissed_ms INTEGER;"
    "CREATE TRIGGER outbox_dismissed_final BEFORE UPDATE ON outbox"
    "  WHEN OLD.dismissed_ms IS NOT NULL"
    "  BEGIN SELECT RAISE(ABORT, 'a dismissed outbox entry is resolved for good'); END;"
    "CREATE TABLE sync_link("
    "  id INTEGER PRIMARY KEY CHECK(id = 1),"
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT NOT NULL DEFAULT '' CHECK(length(error) <= " TP_SQL_INT(TP_MESSAGE_MAX) "),"
    "  error_ms INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  updated_ms INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO sync_link(id) VALUES(1);";

/* v7: the dashboard's figures (stats.c) read a range of days: the ledger
 * and the receipt journal by time, each index covering what is counted,
 * so a month of a busy store is one range scan of each. On a large
 * database the upgrade builds them once, at the first start. */
static const char schema_v7[] =
    "CREATE INDEX ledger_time ON ledger(time_ms, kind, points);"
    "CREATE INDEX receipts_time ON receipts(time_ms, terminal, member_id);";

/* v8: spending points (docs/DESIGN.md §5, "Spending points").
 *
 * The ledger learns two kinds: "redeem" (negative: points a receipt spent)
 * and "unredeem" (positive: points a refund or a manager's reversal gave
 * back from a redemption, which it references like a reversal does). A
 * CHECK constraint cannot be altered, and copying the ledger into a new
 * table would rewrite every entry of an append-only history; the kinds
 * are widened in place instead, the way SQLite documents for a change
 * that leaves every stored row valid ("Making Other Kinds Of Table Schema
 * Changes"): the table's CREATE text is edited in sqlite_schema under
 * writable_schema, and the migration then bumps the schema cookie
 * (store.c), so every connection reads the new text. Both edits only
 * accept more than before: every row already stored still satisfies them.
 *
 * reservations: points held by open transactions (checkout's redeem),
 * removed when the transaction completes, is cancelled, or its till
 * restarts; redemptions: what each redeem entry bought, for refunds and
 * the offline allowance; overdrafts: the central database's reports,
 * pulled. The outbox payload of a ledger entry gains its transaction, so
 * the central side can drop the hold the redemption took. */
static const char schema_v8[] =
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(replace(sql,"
    "  '(''earn'',''retro'',''adjust'',''bulk'',''import'',''reversal'',''expire'')',"
    "  '(''earn'',''retro'',''adjust'',''bulk'',''import'',''reversal'',''expire'',"
    "''redeem'',''unredeem'')'),"
    "  'CHECK((kind = ''reversal'') = (reverses IS NOT NULL))',"
    "  'CHECK((kind IN (''reversal'', ''unredeem'')) = (reverses IS NOT NULL))')"
    "  WHERE type = 'table' AND name = 'ledger';"
    "PRAGMA writable_schema = OFF;"
    "CREATE TRIGGER ledger_redeem_negative BEFORE INSERT ON ledger"
    "  WHEN NEW.kind = 'redeem' AND NEW.points >= 0 BEGIN"
    "  SELECT RAISE(ABORT, 'a redemption spends points: its entry is negative'); END;"
    "CREATE TRIGGER ledger_unredeem_bounded BEFORE INSERT ON ledger"
    "  WHEN NEW.kind = 'unredeem' BEGIN"
    "  SELECT RAISE(ABORT, 'points given back must come from a redemption of the same"
    " member, and never more than it spent')"
    "  WHERE NEW.points <= 0"
    "     OR NOT EXISTS (SELECT 1 FROM ledger o WHERE o.id = NEW.reverses"
    "          AND o.member_id = NEW.member_id AND o.kind = 'redeem')"
    "     OR (SELECT o.points FROM ledger o WHERE o.id = NEW.reverses)"
    "        + (SELECT COALESCE(SUM(r.points), 0) FROM ledger r"
    "           WHERE r.reverses = NEW.reverses) + NEW.points > 0;"
    "  END;"
    "CREATE TABLE reservations("
    "  location TEXT NOT NULL, terminal TEXT NOT NULL, txn TEXT NOT NULL,"
    "  no INTEGER NOT NULL CHECK(no BETWEEN 1 AND 32),"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  points INTEGER NOT NULL CHECK(points > 0),"
    "  source TEXT NOT NULL DEFAULT '' CHECK(source IN ('', 'local', 'central', 'offline')),"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(location, terminal, txn, no)) WITHOUT ROWID;"
    "CREATE INDEX reservations_member ON reservations(member_id, source);"
    "CREATE TABLE redemptions("
    "  ledger_id INTEGER PRIMARY KEY REFERENCES ledger(id),"
    "  receipt_id INTEGER NOT NULL UNIQUE REFERENCES receipts(id),"
    "  discount_minor INTEGER NOT NULL CHECK(discount_minor >= 0),"
    "  source TEXT NOT NULL CHECK(source IN ('local', 'central', 'offline')),"
    "  offline_points INTEGER NOT NULL DEFAULT 0 CHECK(offline_points >= 0),"
    "  day INTEGER NOT NULL);" /* the UTC day (ms / 86400000) of the sale */
    "CREATE INDEX redemptions_offline ON redemptions(day) WHERE offline_points > 0;"
    "CREATE TRIGGER redemptions_no_update BEFORE UPDATE ON redemptions"
    "  BEGIN SELECT RAISE(ABORT, 'redemptions are append-only'); END;"
    "CREATE TRIGGER redemptions_no_delete BEFORE DELETE ON redemptions"
    "  BEGIN SELECT RAISE(ABORT, 'redemptions are append-only'); END;"
    "CREATE TABLE overdrafts("
    "  id INTEGER PRIMARY KEY," /* the central report's seq */
    "  member TEXT NOT NULL, balance INTEGER NOT NULL,"
    "  location TEXT NOT NULL DEFAULT '', terminal TEXT NOT NULL DEFAULT '',"
    "  receipt TEXT NOT NULL DEFAULT '', detected_ms INTEGER NOT NULL,"
    "  pulled_ms INTEGER NOT NULL);"
    "INSERT INTO sync_state(key, value) VALUES('overdrafts_seq', 0);"
    "DROP TRIGGER outbox_ledger;"
    "CREATE TRIGGER outbox_ledger AFTER INSERT ON ledger"
    "  WHEN (SELECT value FROM sync_state WHERE key = 'outbox_on') = 1 BEGIN"
    "  INSERT INTO outbox(event_id, kind, member, points, payload, created_ms)"
    "  SELECT 'ledger:' || NEW.location || '/' || NEW.terminal || '/' || NEW.receipt || '/'"
    "         || NEW.kind, 'ledger', m.code, NEW.points,"
    "    json_object('location', NEW.location, 'terminal', NEW.terminal,"
    "      'receipt', NEW.receipt, 'kind', NEW.kind, 'member', m.code,"
    "      'points', NEW.points, 'staff', NEW.staff, 'reason', NEW.reason,"
    "      'comment', NEW.comment, 'time_ms', NEW.time_ms, 'recorded_ms', NEW.recorded_ms,"
    "      'reverses', json((SELECT json_object('terminal', o.terminal, 'receipt', o.receipt,"
    "                        'kind', o.kind) FROM ledger o WHERE o.id = NEW.reverses)),"
    "      'txn', (SELECT r.txn FROM receipts r WHERE NEW.kind = 'redeem'"
    "               AND r.location = NEW.location AND r.receipt = NEW.receipt)),"
    "    NEW.recorded_ms"
    "  FROM members m WHERE m.id = NEW.member_id;"
    "END;";

const char *const tp_schema_migrations[TP_SCHEMA_VERSION] = {
    schema_v1, schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7, schema_v8};

/* ---- the central PostgreSQL database -------------------------------------- */

static const char central_v1[] =
    "CREATE TABLE schema_version(version integer PRIMARY KEY,"
    "  applied_at timestamptz NOT NULL DEFAULT now());"
    "CREATE SEQUENCE tp_seq;"
    "CREATE TABLE events("
    "  event_id text PRIMARY KEY,"
    "  kind text NOT NULL CHECK (kind IN ('ledger', 'member', 'card', 'audit')),"
    "  location text NOT NULL, terminal text NOT NULL,"
    "  payload jsonb NOT NULL,"
    "  received_at timestamptz NOT NULL DEFAULT now(),"
    "  seq bigint NOT NULL DEFAULT nextval('tp_seq'));"
    "CREATE TABLE ledger("
    "  event_id text PRIMARY KEY,"
    "  location text NOT NULL, terminal text NOT NULL, receipt text NOT NULL,"
    "  kind text NOT NULL, member text NOT NULL, points bigint NOT NULL,"
    "  time_ms bigint NOT NULL);"
    /* A receipt earns at most once across the whole chain. */
    "CREATE UNIQUE INDEX ledger_earns_once ON ledger(location, receipt)"
    "  WHERE kind IN ('earn', 'retro');"
    "CREATE TABLE members("
    "  code text PRIMARY KEY, name text NOT NULL DEFAULT '', phone text, email text,"
    "  app_id text, created_ms bigint NOT NULL,"
    "  location text NOT NULL, terminal text NOT NULL,"
    "  seq bigint NOT NULL DEFAULT nextval('tp_seq'));"
    "CREATE INDEX members_seq ON members(seq);"
    "CREATE TABLE member_cards("
    "  code text PRIMARY KEY, member text NOT NULL, added_ms bigint NOT NULL,"
    "  seq bigint NOT NULL DEFAULT nextval('tp_seq'));"
    "CREATE INDEX member_cards_seq ON member_cards(seq);"
    "CREATE TABLE balances("
    "  member text PRIMARY KEY, balance bigint NOT NULL, seq bigint NOT NULL);"
    "CREATE INDEX balances_seq ON balances(seq);"
    "CREATE FUNCTION tp_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$BEGIN RAISE EXCEPTION 'tillpoints: % is append-only', TG_TABLE_NAME; END$$;"
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
    "  FOR EACH ROW EXECUTE FUNCTION tp_append_only();"
    "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger"
    "  FOR EACH ROW EXECUTE FUNCTION tp_append_only();";

/* v2: each terminal's audit chain head (anchor.c, docs/DESIGN.md §8). An audit
 * event must continue the head the central holds for its terminal: its
 * prev_hash is the head's hash and its record number the next one, or it is
 * refused (SQLSTATE 23514, so the terminal parks it with the sentence).
 * A terminal whose history was rewritten — records altered and every hash
 * recomputed, the newest ones deleted, or an old copy restored — can then
 * never deliver another audit record, and `tillpoints verify` names the
 * difference. A resent event (same event_id, same hash) passes to ON
 * CONFLICT DO NOTHING untouched. Heads of terminals that synced under v1
 * start at their newest delivered record (v1 payloads had no number: the
 * count of their records is it, since a terminal sends its chain from the
 * first record, in order). */
static const char central_v2[] =
    "CREATE TABLE audit_heads("
    "  location text NOT NULL, terminal text NOT NULL,"
    "  seq bigint NOT NULL, hash text NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (location, terminal));"
    "INSERT INTO audit_heads(location, terminal, seq, hash)"
    "  SELECT location, terminal, n, hash FROM (SELECT location, terminal,"
    "    payload->>'hash' AS hash, count(*) OVER (PARTITION BY location, terminal) AS n,"
    "    row_number() OVER (PARTITION BY location, terminal ORDER BY seq DESC) AS r"
    "    FROM events WHERE kind = 'audit') h WHERE r = 1;"
    "CREATE FUNCTION tp_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$"
    "DECLARE"
    "  head record;"
    "  v_prev text := NEW.payload->>'prev_hash';"
    "  v_hash text := NEW.payload->>'hash';"
    "  v_seq bigint := (NEW.payload->>'id')::bigint;"
    "  v_name text := NEW.location || '/' || NEW.terminal;"
    "BEGIN"
    "  IF EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id) THEN"
    "    RETURN NEW;"
    "  END IF;"
    "  IF v_hash IS NULL OR v_hash !~ '^[0-9a-f]{64}$' OR NEW.event_id <> 'audit:' || v_hash THEN"
    "    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format("
    "      'The audit event %s of terminal %s has no valid hash', NEW.event_id, v_name);"
    "  END IF;"
    "  SELECT seq, hash INTO head FROM audit_heads"
    "    WHERE location = NEW.location AND terminal = NEW.terminal FOR UPDATE;"
    "  IF NOT FOUND THEN"
    "    IF v_prev IS DISTINCT FROM repeat('0', 64) OR COALESCE(v_seq, 1) <> 1 THEN"
    "      RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format("
    "        'Audit record %s of terminal %s does not start a chain, and the central database"
    " holds none of that terminal''s records: the records before it are missing',"
    "        COALESCE(v_seq::text, '?'), v_name);"
    "    END IF;"
    "    INSERT INTO audit_heads(location, terminal, seq, hash)"
    "      VALUES (NEW.location, NEW.terminal, 1, v_hash);"
    "    RETURN NEW;"
    "  END IF;"
    "  IF v_prev IS DISTINCT FROM head.hash OR COALESCE(v_seq, head.seq + 1) <> head.seq + 1 THEN"
    "    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format("
    "      'Audit record %s of terminal %s does not follow record %s, the last one the central"
    " database holds (hash %s): the terminal''s audit log was rewritten, or restored from an"
    " older copy', COALESCE(v_seq::text, '?'), v_name, head.seq, left(head.hash, 16));"
    "  END IF;"
    "  UPDATE audit_heads SET seq = head.seq + 1, hash = v_hash, updated_at = now()"
    "    WHERE location = NEW.location AND terminal = NEW.terminal;"
    "  RETURN NEW;"
    "END$$;"
    "CREATE TRIGGER events_audit_chain BEFORE INSERT ON events FOR EACH ROW"
    "  WHEN (NEW.kind = 'audit') EXECUTE FUNCTION tp_audit_chain();";

/* v3: no double spending between terminals (docs/DESIGN.md §8, "No double
 * spending between terminals").
 *
 * holds: points a terminal's open transaction reserved, taken by tp_hold()
 * (the confirmation thread, confirm.c) and counted against every other
 * terminal's holds of the member until they expire. tp_hold serialises
 * the holds of one member on a transaction-scoped advisory lock in the
 * two-key space (class 7321, the member's hashtext), which never meets the
 * one-key locks of pushes and central init. What a terminal may spend is
 * the central balance plus its own pending (undelivered) entries for the
 * member, less the other live holds; balance and holds are read in one
 * statement, so a push committing meanwhile (balance lowered and hold
 * dropped together, below) is seen whole or not at all. A hold sent again
 * (a lost answer) replaces itself; one refused leaves none behind.
 *
 * The redeem entry of a transaction drops its holds when it reaches the
 * central events (the terminal's outbox payload names the transaction
 * since its local schema v8): the points are then in the balance.
 *
 * overdrafts: a member's balance taken (or taken further) below zero by a
 * push — redemptions of terminals that spent offline, within their
 * allowance, delivered later — is recorded with the newest negative entry
 * of the member (which terminal, which receipt) for every terminal to pull
 * by seq. Balances change only inside a push, which draws its sequence
 * numbers under the push lock held until COMMIT (sync.c); the trigger runs
 * inside that transaction, so an overdraft's seq too is in commit order
 * and a pull by seq never misses one. The trigger fires after the push's
 * single WITH statement and sees the ledger rows that statement inserted
 * (checked by tests/test_confirm.c): AFTER ROW triggers run at the end of
 * the statement, with its effects visible. */
static const char central_v3[] =
    "CREATE TABLE holds("
    "  location text NOT NULL, terminal text NOT NULL, txn text NOT NULL, no integer NOT NULL,"
    "  member text NOT NULL, points bigint NOT NULL CHECK (points > 0),"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz NOT NULL,"
    "  PRIMARY KEY (location, terminal, txn, no));"
    "CREATE INDEX holds_member ON holds(member);"
    "CREATE FUNCTION tp_hold(p_location text, p_terminal text, p_txn text, p_no integer,"
    "  p_member text, p_points bigint, p_pending bigint, p_ttl_ms bigint,"
    "  OUT ok boolean, OUT available bigint) LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  PERFORM pg_advisory_xact_lock(7321, hashtext(p_member));"
    "  DELETE FROM holds WHERE member = p_member AND expires_at <= now();"
    "  SELECT COALESCE((SELECT b.balance FROM balances b WHERE b.member = p_member), 0)"
    "       + p_pending"
    "       - COALESCE((SELECT sum(h.points) FROM holds h WHERE h.member = p_member"
    "           AND h.expires_at > now() AND (h.location, h.terminal, h.txn, h.no)"
    "           IS DISTINCT FROM (p_location, p_terminal, p_txn, p_no)), 0)"
    "    INTO available;"
    "  ok := available >= p_points;"
    "  IF ok THEN"
    "    INSERT INTO holds(location, terminal, txn, no, member, points, expires_at)"
    "      VALUES (p_location, p_terminal, p_txn, p_no, p_member, p_points,"
    "              now() + p_ttl_ms * interval '1 millisecond')"
    "      ON CONFLICT (location, terminal, txn, no) DO UPDATE SET member = EXCLUDED.member,"
    "        points = EXCLUDED.points, expires_at = EXCLUDED.expires_at;"
    "  ELSE"
    "    DELETE FROM holds WHERE location = p_location AND terminal = p_terminal"
    "      AND txn = p_txn AND no = p_no;"
    "  END IF;"
    "END$$;"
    "CREATE FUNCTION tp_hold_spent() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  DELETE FROM holds WHERE location = NEW.location AND terminal = NEW.terminal"
    "    AND txn = NEW.payload->>'txn';"
    "  RETURN NULL;"
    "END$$;"
    "CREATE TRIGGER events_redeem_drops_hold AFTER INSERT ON events FOR EACH ROW"
    "  WHEN (NEW.kind = 'ledger' AND NEW.payload->>'kind' = 'redeem'"
    "        AND NEW.payload->>'txn' IS NOT NULL)"
    "  EXECUTE FUNCTION tp_hold_spent();"
    "CREATE TABLE overdrafts("
    "  seq bigint PRIMARY KEY DEFAULT nextval('tp_seq'),"
    "  member text NOT NULL, balance bigint NOT NULL,"
    "  location text NOT NULL DEFAULT '', terminal text NOT NULL DEFAULT '',"
    "  receipt text NOT NULL DEFAULT '',"
    "  detected_at timestamptz NOT NULL DEFAULT now());"
    "CREATE FUNCTION tp_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$"
    "DECLARE e record;"
    "BEGIN"
    "  IF TG_OP = 'UPDATE' AND NEW.balance >= OLD.balance THEN"
    "    RETURN NULL;"
    "  END IF;"
    "  SELECT l.location, l.terminal, l.receipt INTO e FROM ledger l"
    "    JOIN events v ON v.event_id = l.event_id"
    "    WHERE l.member = NEW.member AND l.points < 0 ORDER BY v.seq DESC LIMIT 1;"
    "  INSERT INTO overdrafts(member, balance, location, terminal, receipt)"
    "    VALUES (NEW.member, NEW.balance, COALESCE(e.location, ''), COALESCE(e.terminal, ''),"
    "            COALESCE(e.receipt, ''));"
    "  RETURN NULL;"
    "END$$;"
    "CREATE TRIGGER balances_overdraft AFTER INSERT OR UPDATE ON balances FOR EACH ROW"
    "  WHEN (NEW.balance < 0) EXECUTE FUNCTION tp_overdraft();";

const char *const tp_central_migrations[TP_CENTRAL_VERSION] = {central_v1, central_v2,
                                                               central_v3};

"""The service's durable log: rating and item events in SQLite (WAL).

The database holds events, not model state: users' supports and added items
are rebuilt by replaying the events in order (`replay`), so the same events
on the same model version give the same recommendations. An event is
committed (WAL, synchronous=FULL) before its request is answered, so an
acknowledged event survives a kill -9 of the server.

  events(seq, kind, user_id, item_id, rating, body)
    kind "rating": user_id rated item_id `rating`;
    kind "item":   item_id was added or updated; body is its JSON
                   {"features", "text", "title"}.
"""

import json
import os
import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('rating', 'item')),
  user_id TEXT,
  item_id TEXT NOT NULL,
  rating REAL,
  body TEXT
)"""


class EventStore:
  """One connection, writes serialised by a lock (SQLite has one writer)."""

  def __init__(self, path: str):
    self.path = path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    self._conn = sqlite3.connect(path, check_same_thread=False,
                                 isolation_level=None)
    self._lock = threading.Lock()
    with self._lock:
      self._conn.execute("PRAGMA journal_mode=WAL")
      self._conn.execute("PRAGMA synchronous=FULL")
      self._conn.execute(SCHEMA)

  def _write(self, rows: list) -> None:
    with self._lock:
      self._conn.execute("BEGIN IMMEDIATE")
      try:
        self._conn.executemany(
            "INSERT INTO events (kind, user_id, item_id, rating, body) "
            "VALUES (?, ?, ?, ?, ?)", rows)
      except BaseException:
        self._conn.execute("ROLLBACK")
        raise
      self._conn.execute("COMMIT")

  def add_ratings(self, user_id: str, ratings: list) -> None:
    """ratings: [(item id str, float)], committed as one transaction."""
    self._write([("rating", user_id, item, float(r), None)
                 for item, r in ratings])

  def put_item(self, item_id: str, body: dict) -> None:
    self._write([("item", None, item_id, None,
                  json.dumps(body, sort_keys=True))])

  def replay(self):
    """Yields every event in commit order: ("rating", user, item, rating)
    or ("item", item, body dict)."""
    with self._lock:
      rows = self._conn.execute(
          "SELECT kind, user_id, item_id, rating, body FROM events "
          "ORDER BY seq").fetchall()
    for kind, user, item, rating, body in rows:
      if kind == "rating":
        yield "rating", user, item, rating
      else:
        yield "item", item, json.loads(body)

  def count(self) -> int:
    with self._lock:
      return self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

  def close(self) -> None:
    with self._lock:
      self._conn.close()
